// A tile's alarm lines, reconciled by alarm id so a line's state survives updates (focus,
// animation). A relative alarm the service shows under its absolute one (`suppressed_by`) is no
// line of its own: the absolute alarm's line says "(+ rise over baseline)".

import { kindLabel, PRIORITY_MARKS, underLabel } from "./alarm-kinds.js";
import { alarmsUnder, alarmTone, NEEDS_ACK, shownAlarms } from "./alarms.js";
import { el, setData, setText } from "./dom.js";
import { canAct, isPending } from "./state.js";

export function renderAlarms(entry) {
  const list = entry.tile.alarms;
  const all = entry.state.alarms || [];
  const alarms = shownAlarms(entry.state);
  const old = new Map([...list.children].map((li) => [li.dataset.alarm, li]));
  alarms.forEach((alarm, i) => {
    const li = old.get(alarm.alarm) || buildAlarmLine(alarm);
    old.delete(alarm.alarm);
    updateAlarmLine(entry, li, alarm, alarmsUnder(alarm, all));
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
  for (const li of old.values()) li.remove();
  // The list shows two lines and scrolls; the head says when there are more.
  const count = entry.tile.alarmCount;
  count.hidden = alarms.length <= 2;
  setText(count, `${alarms.length} alarms`);
}

/** An alarm line: mark, priority word, the text with its note (a caveat: the alarm still counts
 * fully) and what it stands for (a rise shown under it) on a smaller line below, then the flag. */
function buildAlarmLine(alarm) {
  const li = el("li", { class: "alarm", "data-alarm": alarm.alarm });
  const part = (cls, role) => el("span", { class: cls, "data-role": role });
  li.append(
    el("span", { class: "alarm-mark", "data-role": "mark", "aria-hidden": "true" }),
    part("alarm-word", "priority"),
    el("span", { class: "alarm-body" }, part("alarm-text", "text"),
      el("span", { class: "alarm-sub", "data-role": "sub", hidden: "" },
        part("alarm-note", "note"), part("alarm-under", "under"))),
    part("alarm-flag", "flag"));
  return li;
}

function updateAlarmLine(entry, li, alarm, under) {
  const part = (role) => li.querySelector(`[data-role="${role}"]`);
  setData(li, "state", alarm.state);
  setData(li, "priority", alarm.priority);
  setData(li, "tone", alarmTone(alarm));
  setData(li, "class", alarm.class || "physiological");
  setText(part("mark"), PRIORITY_MARKS[alarm.priority] || "");
  setText(part("priority"), (alarm.priority || "").toUpperCase());
  const text = alarm.text || kindLabel(alarm.kind);
  const note = typeof alarm.note === "string" ? alarm.note : "";
  const adds = [...new Set(under.map((a) => underLabel(a.kind)))].map((w) => `(+ ${w})`).join(" ");
  setText(part("text"), text);
  setText(part("note"), note);
  setText(part("under"), adds);
  part("sub").hidden = !note && !adds;
  li.title = [text, note, adds].filter(Boolean).join(" · "); // the whole line when a tile cuts it
  setText(part("flag"), alarmFlag(alarm));
  updateAckButton(entry, li, alarm);
}

/** The acknowledge button exists only while the alarm waits for one (active or latched). */
function updateAckButton(entry, li, alarm) {
  let button = li.querySelector('[data-action="ack"]');
  if (!(NEEDS_ACK.includes(alarm.state) && canAct())) {
    if (button) button.remove();
    return;
  }
  if (!button) {
    button = el("button", { type: "button", class: "ack", "data-action": "ack" }, "Ack");
    li.append(button);
  }
  button.disabled = isPending(entry.name, `ack:${alarm.alarm}`);
  button.setAttribute("aria-label",
    `Acknowledge ${alarm.text || kindLabel(alarm.kind)} on chair ${entry.name}`);
}

function alarmFlag(alarm) {
  if (alarm.state === "latched") return "LATCHED";
  if (alarm.state === "acknowledged") return alarm.acknowledged_by ? `ack ${alarm.acknowledged_by}` : "ack";
  return "";
}
