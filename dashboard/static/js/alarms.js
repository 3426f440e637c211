// A chair's alarm list as the station reads it: which alarms have a line of their own, which is
// worst, which sound, and how one transition patches the list until the chair's next state.
// Priorities are ranked by the server's table (rules.js); nothing here touches the page.

import { breaksAudioPause, priorityRank } from "./rules.js";
import { parseTime } from "./time.js";

export const SHOWN_STATES = ["active", "latched", "acknowledged"];
export const NEEDS_ACK = ["active", "latched"];

/** Colour as monitors use it: high red, medium yellow, low and technical cyan. */
export function alarmTone(alarm) {
  if (alarm.priority === "high") return "red"; // a high alarm is never shown as merely cyan
  if (alarm.class === "technical" || alarm.priority === "low") return "cyan";
  return "yellow";
}

/** Higher is worse: priority first, then physiological over technical. */
function alarmRank(alarm) {
  return priorityRank(alarm.priority) * 2 + (alarm.class === "technical" ? 0 : 1);
}

function byWorst(a, b) {
  const unacked = (x) => (NEEDS_ACK.includes(x.state) ? 1 : 0);
  return alarmRank(b) - alarmRank(a) || unacked(b) - unacked(a)
    || (parseTime(a.raised_at) || 0) - (parseTime(b.raised_at) || 0);
}

/** True while `alarm` adds nothing: the absolute alarm it is shown under is on the tile. An alarm
 * whose absolute one is not (a transition still on its way) shows by itself: doubt shows. */
function underAnother(alarm, alarms) {
  return Boolean(alarm.suppressed_by) && alarms.some(
    (a) => a.kind === alarm.suppressed_by && a.alarm !== alarm.alarm && SHOWN_STATES.includes(a.state));
}

/** The alarms shown under `alarm`'s line. */
export function alarmsUnder(alarm, alarms) {
  return alarms.filter((a) => a.suppressed_by === alarm.kind && SHOWN_STATES.includes(a.state)
    && underAnother(a, alarms));
}

/** The alarms with a line of their own, worst first. */
export function shownAlarms(state) {
  const alarms = state.alarms || [];
  return alarms.filter((a) => SHOWN_STATES.includes(a.state) && !underAnother(a, alarms))
    .sort(byWorst);
}

/** What the station must hear: active, above low, and not shown under another alarm. */
export function sounding(alarm, alarms) {
  return alarm.state === "active" && alarm.priority !== "low" && !underAnother(alarm, alarms);
}

/** High-priority alarms nobody acknowledged: the service refuses a plain discharge over them. */
export function unacknowledgedHigh(state) {
  return (state.alarms || []).filter((a) => a.priority === "high" && NEEDS_ACK.includes(a.state))
    .sort(byWorst);
}

export function worstOf(alarms, states) {
  return alarms.filter((a) => states.includes(a.state)).sort(byWorst)[0] || null;
}

/** A chair's state with one alarm transition applied at clinical time `now`, and whether the
 * transition raised the alarm (newly active, or active and no longer shown under another). */
export function withTransition(state, alarm, now) {
  const old = state.alarms || [];
  const alarms = old.filter((a) => a.alarm !== alarm.alarm);
  const before = old.find((a) => a.alarm === alarm.alarm);
  if (alarm.state !== "cleared") alarms.push(alarm);
  const heard = (a, list) => a.state === "active" && !underAnother(a, list);
  const raised = heard(alarm, alarms) && !(before && heard(before, old));
  // A newly raised alarm the server says ends any audio pause sounds at once (the chair's rule).
  const breaksPause = raised && breaksAudioPause(alarm.priority);
  return { state: { ...state, alarms, audio: patchedAudio(state, alarms, breaksPause, now) }, raised };
}

/** The server's audible verdict, brought forward for one transition until the next state. */
function patchedAudio(state, alarms, breaksPause, now) {
  const audio = { ...(state.audio || {}) };
  const paused = !breaksPause && (parseTime(audio.paused_until) ?? -Infinity) > now;
  audio.audible = alarms.some((a) => sounding(a, alarms)) && !paused;
  return audio;
}
