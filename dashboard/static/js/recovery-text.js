// Recovery at a glance: one line per chair in recovery with a mark, words and (by the tile's
// CSS) a colour for its status, so it reads from across the room and without colour vision:
// "◷ Watching: 12 min left · 1 of 2 cuffs in range", "✓ Back to baseline 14 min after stop",
// "✓ Back late, 26 min after stop", "✕ Not back at 20 min", "? Cannot assess: no baseline".
// Beside it, when the cuff was last taken ("last cuff 3:10 ago"): the chair's state carries
// no cuff interval, so the station cannot say when the next one is due. Pure text.

import { clockText } from "./time.js";

export const RECOVERY_MARKS = {
  watching: "◷",
  recovered: "✓",
  recovered_late: "✓",
  overdue: "✕",
  cannot_assess: "?",
  discharged_unconfirmed: "!",
};

/** {status, mark, words, cuffs, lastCuff} for a chair in recovery, or null when it is not.
 * `since` (s) is how long ago the state was current, `now` the chair's clinical now,
 * `recoveryEvent` the session's latest recovery event (the hub sends only the current
 * session's), `lastCuffTs` the current patient's newest cuff. */
export function recoveryGlance(state, recoveryEvent, since, now, lastCuffTs) {
  const r = state.recovery;
  if (!r || state.phase !== "recovery") return null;
  const status = r.status;
  const mark = RECOVERY_MARKS[status] ?? "?";
  const window = Number.isFinite(r.window_minutes) ? r.window_minutes : 20;
  const minutes = Math.round(r.minutes_since_stop ?? 0);
  const lastCuff = Number.isFinite(lastCuffTs) ? `last cuff ${clockText(now - lastCuffTs)} ago` : "no cuff yet";
  let words;
  let cuffs = "";
  if (status === "watching") {
    const leftS = window * 60 - ((r.minutes_since_stop ?? 0) * 60 + Math.max(0, since));
    const left = `${Math.max(0, Math.ceil(leftS / 60))} min left`; // 13:20 left: "14 min left"
    words = `Watching: ${left}`;
    cuffs = cuffsText(state, recoveryEvent);
  } else if (status === "recovered") {
    words = `Back to baseline ${minutes} min after stop`;
  } else if (status === "recovered_late") {
    words = `Back late, ${minutes} min after stop`;
  } else if (status === "overdue") {
    words = `Not back at ${Math.round(window)} min`;
  } else if (status === "cannot_assess") {
    words = "Cannot assess: no baseline";
  } else if (status === "discharged_unconfirmed") {
    words = "Discharged before recovery was confirmed";
  } else {
    words = String(status);
  }
  const done = status === "recovered" || status === "recovered_late" || status === "cannot_assess";
  return { status, mark, words, cuffs, lastCuff: done ? "" : lastCuff };
}

/** "1 of 2 cuffs in range" while watching, from the session's latest recovery event; "" when
 * the station has no event that matches the state (it never guesses the count). */
function cuffsText(state, event) {
  if (!event || event.status !== state.recovery.status) return "";
  if (event.session && state.session && event.session !== state.session) return "";
  const have = event.consecutive_in_tolerance;
  if (!Number.isFinite(have)) return "";
  const need = (state.limits || {}).recovery_readings ?? 2;
  return `${Math.min(have, need)} of ${need} cuffs in range`;
}
