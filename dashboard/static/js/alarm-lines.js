// A tile's alarm lines, reconciled by alarm id so a line's state survives updates (focus,
// animation). A relative alarm the service shows under its absolute one (`suppressed_by`) is no
// line of its own: the absolute alarm's line says "(+ rise over baseline)". An alarm being or
// once paged has its paging in words across the foot of its line, moved on ten times a second
// ("paged Kim 0:45 ago, no answer · charge nurse in 0:15": see paging-text.js).

import { kindLabel, PRIORITY_MARKS, underLabel } from "./alarm-kinds.js";
import { alarmsUnder, alarmTone, NEEDS_ACK, shownAlarms } from "./alarms.js";
import { el, setData, setText } from "./dom.js";
import { pagingWords } from "./paging-text.js";
import { canAct, isPending, station } from "./state.js";
import { wallNow } from "./time.js";

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
    part("alarm-flag", "flag"),
    el("div", { class: "paging-line", "data-role": "paging", "data-paging-alarm": alarm.alarm,
      "data-paging": "none", hidden: "" },
    part("paging-said", "paging-said"), part("paging-sep", "paging-sep"),
    part("paging-next", "paging-next")));
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
  updatePaging(entry, li);
}

/** Every alarm line's paging words, moved on to now (the tiles' tick). */
export function tickPaging(entry) {
  for (const li of entry.tile.alarms.children) updatePaging(entry, li);
}

function updatePaging(entry, li) {
  const line = li.querySelector('[data-role="paging"]');
  const all = entry.state.paging;
  const paging = all && typeof all === "object" && Object.hasOwn(all, li.dataset.alarm)
    ? all[li.dataset.alarm] : null;
  line.hidden = !paging;
  if (!paging) {
    setData(line, "paging", "none");
    return;
  }
  const words = pagingWords(paging, { chair: entry.name, coverage: station.coverage, now: wallNow() });
  setData(line, "paging", words.state);
  setText(line.querySelector('[data-role="paging-said"]'), words.said);
  setText(line.querySelector('[data-role="paging-sep"]'), words.said && words.next ? " · " : "");
  setText(line.querySelector('[data-role="paging-next"]'), words.next);
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
    li.insertBefore(button, li.querySelector('[data-role="paging"]'));
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
