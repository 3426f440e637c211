// The chairs as the server tells them: the whole state of a chair whenever it changes ("chair")
// and each alarm transition as it happens ("alarm"). We keep the newest state per chair and
// redraw that chair's tile; a transition patches the chair's alarm list at once, so tone and
// colour need not wait for its next state.

import { rememberAlarm, rememberChair, renderBar } from "./alarm-bar.js";
import { kindLabel } from "./alarm-kinds.js";
import { withTransition } from "./alarms.js";
import { $, setText } from "./dom.js";
import { updateTone } from "./sound.js";
import { station } from "./state.js";
import { buildTile, placeTiles, renderTile } from "./tiles.js";
import { chairNow, parseTime } from "./time.js";

function newEntry(name) {
  return {
    name, state: null, trend: {}, recoveryEvent: null, ts: 0, receivedAt: 0, vitalTs: {},
    emptySinceTs: null, tile: buildTile(name), actionsKey: null, errorTimer: null,
    session: undefined, afterTs: null, admittedTs: null, newestSeenTs: null,
  };
}

export function onChair(message) {
  const state = message.chair;
  if (!state || typeof state.chair !== "string") return;
  let entry = station.chairs.get(state.chair);
  const isNew = !entry;
  if (isNew) {
    entry = newEntry(state.chair);
    station.chairs.set(state.chair, entry);
  }
  takeState(entry, state, message.trend || {});
  rememberChair(state);
  entry.recoveryEvent = message.recovery || null;
  if (isNew) placeTiles();
  renderTile(entry);
  updateTone();
}

function takeState(entry, state, trend) {
  const current = ownSession(entry, state);
  entry.state = { ...state, vitals: current.vitals };
  entry.trend = current.trend(trend);
  entry.receivedAt = performance.now();
  entry.ts = parseTime(state.ts) ?? Date.now() / 1000;
  entry.vitalTs = {};
  for (const [name, vital] of Object.entries(entry.state.vitals)) {
    entry.vitalTs[name] = parseTime(vital.ts);
  }
  // With no vitals at all, "how long" counts from when we first saw the chair without any.
  const none = Object.keys(entry.vitalTs).length === 0;
  entry.emptySinceTs = none ? (entry.emptySinceTs ?? entry.ts) : null;
}

/** Every tile field belongs to the patient in the chair now: when the state's session changes
 * (an admission), a value no newer than the last one seen before it, or older than the
 * admission (the baseline's start), is the previous patient's and is not shown. */
function ownSession(entry, state) {
  const session = state.session ?? null;
  if (entry.session !== undefined && session !== entry.session) {
    entry.afterTs = entry.newestSeenTs;
    entry.admittedTs = null;
  }
  entry.session = session;
  if (state.phase === "baseline") entry.admittedTs = parseTime(state.phase_since) ?? entry.admittedTs;
  const { afterTs, admittedTs } = entry;
  const mine = (ts) => (afterTs === null || ts > afterTs) && (admittedTs === null || ts >= admittedTs);
  const vitals = {};
  for (const [name, vital] of Object.entries(state.vitals || {})) {
    const ts = parseTime(vital.ts);
    if (Number.isFinite(ts)) entry.newestSeenTs = Math.max(entry.newestSeenTs ?? ts, ts);
    if (mine(ts)) vitals[name] = vital;
  }
  const ownTrend = (trend) => Object.fromEntries(Object.entries(trend).map(
    ([name, points]) => [name, (points || []).filter((p) => mine(parseTime(p[0])))]));
  return { vitals, trend: ownTrend };
}

/** One alarm transition: patch the chair's alarm list, and announce a raised alarm. */
export function onAlarm(message) {
  const alarm = message.alarm;
  rememberAlarm(alarm); // the recent list keeps it, cleared or not, chair known or not
  const entry = alarm && station.chairs.get(alarm.chair);
  if (!entry || !entry.state) return;
  const { state, raised } = withTransition(entry.state, alarm, chairNow(entry));
  entry.state = state;
  if (raised) announce(entry, alarm);
  renderTile(entry);
  updateTone();
}

function announce(entry, alarm) {
  const word = (alarm.priority || "").toUpperCase();
  const note = alarm.note ? ` (${alarm.note})` : "";
  setText($("alarm-announcer"),
    `Chair ${entry.name}: ${word} priority alarm. ${alarm.text || kindLabel(alarm.kind)}${note}`);
}

/** Forget every chair: after a reconnect the new messages are the only truth. */
export function clearChairs() {
  for (const entry of station.chairs.values()) entry.tile.root.remove();
  station.chairs.clear();
  placeTiles();
  renderBar();
  updateTone();
}
