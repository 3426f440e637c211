// The station-wide alarm bar and the recent-alarms list.
//
// The bar (under the header, above the tiles) has one row per alarm standing on any chair
// (active, latched or acknowledged; not one shown under another), ordered by priority, then by
// age (oldest first): mark, priority word, chair, text, age, state, and a one-touch Acknowledge
// for an unacknowledged one that sends what the tile's Ack sends (actions.js: the row carries
// data-chair and data-alarm like a tile's line). Its height is capped so the tiles keep the
// screen; it scrolls, high alarms first, and says "+N more" when rows are cut.
//
// The recent list remembers every alarm this station has seen in the last hour (at most
// RECENT_MAX), cleared ones included, with how each ended: from the alarm transitions the
// server sends, and from each chair's state (an alarm gone from a chair's state ended then, even
// if its transition never came). It outlives a reconnect, not a reload of the page.
// Everything from the network goes in as text.

import { kindLabel, PRIORITY_MARKS } from "./alarm-kinds.js";
import { alarmTone, NEEDS_ACK, shownAlarms } from "./alarms.js";
import { $, el, setData, setText } from "./dom.js";
import { priorityRank } from "./rules.js";
import { canAct, isPending, station } from "./state.js";
import { chairNow, clockText, parseTime, timeText } from "./time.js";

const RECENT_S = 3600; // the recent list's hour
const RECENT_MAX = 200; // and at most this many alarms
const PANEL_IDLE_MS = 60000; // the open list closes by itself when left

// How a cleared alarm ended, in words (the transition's reason).
const ENDINGS = {
  condition_ends: "the condition ended", session_ends: "the session ended",
  discharged_over: "discharged over it",
};


// The bar ----------------------------------------------------------------------------------------

/** Every standing alarm across the chairs, by priority (worst first), then oldest first. */
function standing() {
  const rows = [];
  for (const entry of station.chairs.values()) {
    if (!entry.state) continue;
    for (const alarm of shownAlarms(entry.state)) rows.push({ entry, alarm });
  }
  const raised = (r) => parseTime(r.alarm.raised_at) ?? Infinity;
  return rows.sort((a, b) => priorityRank(b.alarm.priority) - priorityRank(a.alarm.priority)
    || raised(a) - raised(b)
    || a.entry.name.localeCompare(b.entry.name, undefined, { numeric: true }));
}

/** Redraw the bar from the chairs' alarms (rows kept by alarm id, so a focused button stays). */
export function renderBar() {
  const list = $("alarm-bar-list");
  if (!list) return;
  const rows = standing();
  const old = new Map([...list.children].map((li) => [li.dataset.alarm, li]));
  rows.forEach(({ entry, alarm }, i) => {
    const li = old.get(alarm.alarm) || buildRow(alarm);
    old.delete(alarm.alarm);
    updateRow(entry, li, alarm);
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
  for (const li of old.values()) li.remove();
  $("alarm-bar-none").hidden = rows.length > 0;
  setData($("alarm-bar"), "count", String(rows.length));
  renderRecentCount(); // "+N more" follows on the next tick (it reads the layout)
}

function buildRow(alarm) {
  const part = (cls, role) => el("span", { class: cls, "data-role": role });
  return el("li", { class: "bar-row", "data-alarm": alarm.alarm },
    el("span", { class: "bar-mark", "data-role": "mark", "aria-hidden": "true" }),
    part("bar-word", "priority"), part("bar-chair", "chair"), part("bar-text", "text"),
    part("bar-age", "age"), part("bar-state", "state"));
}

function updateRow(entry, li, alarm) {
  const part = (role) => li.querySelector(`[data-role="${role}"]`);
  setData(li, "chair", entry.name);
  setData(li, "level", alarm.priority || "");
  setData(li, "tone", alarmTone(alarm));
  setData(li, "state", alarm.state);
  setData(li, "class", alarm.class || "physiological");
  setData(li, "raisedAt", String(parseTime(alarm.raised_at) ?? ""));
  setText(part("mark"), PRIORITY_MARKS[alarm.priority] || "");
  setText(part("priority"), (alarm.priority || "").toUpperCase());
  setText(part("chair"), entry.name);
  const text = alarm.text || kindLabel(alarm.kind);
  setText(part("text"), text);
  li.title = typeof alarm.note === "string" && alarm.note ? `${text} · ${alarm.note}` : text;
  setText(part("state"), stateText(alarm));
  tickRow(entry, li);
  updateAck(entry, li, alarm, text);
}

function stateText(alarm) {
  if (alarm.state === "latched") return "LATCHED";
  if (alarm.state === "acknowledged") {
    return alarm.acknowledged_by ? `acknowledged by ${alarm.acknowledged_by}` : "acknowledged";
  }
  return "";
}

/** The one-touch Acknowledge, while the alarm waits for one and the user may act. */
function updateAck(entry, li, alarm, text) {
  let button = li.querySelector('[data-action="ack"]');
  if (!(NEEDS_ACK.includes(alarm.state) && canAct())) {
    if (button) button.remove();
    return;
  }
  if (!button) {
    button = el("button", { type: "button", class: "bar-ack", "data-action": "ack" },
      "Acknowledge");
    li.append(button);
  }
  button.disabled = isPending(entry.name, `ack:${alarm.alarm}`);
  button.setAttribute("aria-label", `Acknowledge ${text} on chair ${entry.name}`);
}

/** A row's age, on its chair's clinical clock (the clock its raised_at is on). */
function tickRow(entry, li) {
  const raised = Number(li.dataset.raisedAt);
  const known = li.dataset.raisedAt !== "" && Number.isFinite(raised);
  setText(li.querySelector('[data-role="age"]'), known ? clockText(chairNow(entry) - raised) : "");
}

/** Ages move on, and "+N more" follows the scroll (the station's half-second tick). */
export function tickBar() {
  const list = $("alarm-bar-list");
  if (!list) return;
  for (const li of list.children) {
    const entry = station.chairs.get(li.dataset.chair);
    if (entry && entry.state) tickRow(entry, li);
  }
  updateMore();
  if ($("recent-dialog").open) renderRecent();
}

/** "+N more": the rows the capped bar does not show whole now (below its scroll). */
function updateMore() {
  const list = $("alarm-bar-list");
  const bottom = list.getBoundingClientRect().bottom + 1;
  let cut = 0;
  for (const li of list.children) if (li.getBoundingClientRect().bottom > bottom) cut += 1;
  const more = $("alarm-bar-more");
  more.hidden = cut === 0;
  setText(more, cut ? `+${cut} more ↓` : "");
}

// The recent list --------------------------------------------------------------------------------

/** One alarm as the server sent it (a transition or a line of a chair's state). */
export function rememberAlarm(alarm) {
  if (!alarm || typeof alarm.alarm !== "string") return;
  const known = station.recentAlarms.get(alarm.alarm);
  const seen = known || { id: alarm.alarm, endedAt: null, reason: null };
  Object.assign(seen, {
    chair: typeof alarm.chair === "string" ? alarm.chair : seen.chair || "",
    priority: alarm.priority, klass: alarm.class || "physiological",
    text: alarm.text || kindLabel(alarm.kind),
    raisedAt: parseTime(alarm.raised_at) ?? seen.raisedAt ?? Date.now() / 1000,
    state: alarm.state,
    acknowledgedBy: alarm.acknowledged_by || seen.acknowledgedBy || null,
    acknowledgedAt: parseTime(alarm.acknowledged_at) ?? seen.acknowledgedAt ?? null,
    seenAt: Date.now() / 1000,
  });
  if (alarm.state === "cleared") {
    seen.endedAt = parseTime(alarm.ts) ?? seen.endedAt ?? Date.now() / 1000;
    seen.reason = alarm.reason || seen.reason;
  } else {
    seen.endedAt = null;
  }
  station.recentAlarms.set(alarm.alarm, seen);
  if (!known) prune();
}

/** A chair's whole state: its alarms, and the end of those no longer in it. */
export function rememberChair(state) {
  if (!state || typeof state.chair !== "string") return;
  const alarms = Array.isArray(state.alarms) ? state.alarms : [];
  for (const alarm of alarms) rememberAlarm({ chair: state.chair, ...alarm });
  const ids = new Set(alarms.map((a) => a.alarm));
  const at = parseTime(state.ts) ?? Date.now() / 1000;
  for (const seen of station.recentAlarms.values()) {
    if (seen.chair === state.chair && seen.state !== "cleared" && !ids.has(seen.id)) {
      seen.state = "cleared";
      seen.endedAt = at; // when the station learnt it: its transition did not come
      seen.seenAt = Date.now() / 1000;
    }
  }
}

/** The last hour, at most RECENT_MAX alarms: older and extra ones go, never a standing one.
 * An hour by this browser's clock since the station last heard of the alarm (a chair's clock
 * may be off; what the nurse saw an hour ago is what goes). */
function prune() {
  const from = Date.now() / 1000 - RECENT_S;
  newestFirst().forEach((seen, i) => {
    const over = seen.state === "cleared" && (seen.seenAt < from || i >= RECENT_MAX);
    if (over) station.recentAlarms.delete(seen.id);
  });
}

function newestFirst() {
  return [...station.recentAlarms.values()].sort((a, b) => b.raisedAt - a.raisedAt);
}

function recentRows() {
  prune();
  return newestFirst().slice(0, RECENT_MAX);
}

/** "Recent alarms (N)" ("Recent (N)" where the header is short of room: the CSS drops a word). */
function renderRecentCount() {
  const toggle = $("recent-toggle");
  const count = ` (${recentRows().length})`;
  if (toggle.textContent === `Recent alarms${count}`) return;
  toggle.replaceChildren("Recent", el("span", { class: "recent-word" }, " alarms"), count);
}

function endText(seen) {
  const ackAt = seen.acknowledgedAt ? ` at ${timeText(seen.acknowledgedAt)}` : "";
  const ack = seen.acknowledgedBy ? `acknowledged by ${seen.acknowledgedBy}${ackAt}` : "";
  if (seen.state === "cleared") {
    const reason = seen.reason && Object.hasOwn(ENDINGS, seen.reason) ? ENDINGS[seen.reason]
      : (seen.reason || "").replaceAll("_", " ");
    const why = reason ? ` (${reason})` : "";
    return [`cleared at ${timeText(seen.endedAt)}${why}`, ack].filter(Boolean).join(" · ");
  }
  const now = seen.state === "latched" ? "latched, not acknowledged"
    : seen.state === "acknowledged" ? "standing" : "active, not acknowledged";
  return [now, ack].filter(Boolean).join(" · ");
}

function renderRecent() {
  const rows = recentRows();
  const body = $("recent-rows");
  body.replaceChildren(...rows.map((seen) => el("tr", {
    "data-alarm": seen.id, "data-level": seen.priority || "", "data-state": seen.state,
    "data-tone": alarmTone({ priority: seen.priority, class: seen.klass }),
  },
  el("td", { class: "recent-time" }, timeText(seen.raisedAt)),
  el("td", { class: "recent-chair" }, seen.chair),
  el("td", { class: "recent-priority" },
    `${PRIORITY_MARKS[seen.priority] || ""} ${(seen.priority || "").toUpperCase()}`),
  el("td", { class: "recent-text" }, seen.text),
  el("td", { class: "recent-end", "data-role": "end" }, endText(seen)))));
  $("recent-empty").hidden = rows.length > 0;
  renderRecentCount();
}

function openRecent() {
  renderRecent();
  const dialog = $("recent-dialog");
  if (!dialog.open) dialog.showModal();
  touchRecent();
}

function touchRecent() {
  clearTimeout(station.recentPanel.idleTimer);
  station.recentPanel.idleTimer = setTimeout(() => {
    const dialog = $("recent-dialog");
    if (dialog.open) dialog.close();
  }, PANEL_IDLE_MS);
}

/** The header's "Recent alarms (N)", the list's Close, and the bar's scroll. */
export function wireAlarmBar(onClick) {
  $("alarm-bar").addEventListener("click", onClick);
  $("alarm-bar-list").addEventListener("scroll", updateMore, { passive: true });
  $("recent-toggle").addEventListener("click", openRecent);
  const dialog = $("recent-dialog");
  dialog.querySelector('[data-action="close"]').addEventListener("click", () => dialog.close());
  for (const what of ["pointerdown", "keydown", "scroll"]) {
    dialog.addEventListener(what, touchRecent, { passive: true, capture: true });
  }
  dialog.addEventListener("close", () => clearTimeout(station.recentPanel.idleTimer));
  renderBar();
}
