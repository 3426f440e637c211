// The server's rules as its `hello` sent them (monitor/wire/station.py builds them from the
// domain): priority ranks, the in-session phases, the nurse's legal steps per phase and the audio
// pause. The browser keeps no copy of its own: a reconnect brings a new hello, which replaces them.

import { station } from "./state.js";

/** Take the tables of a hello; false (and the old rules kept) when they are not usable. */
export function takeTables(tables) {
  if (!tables || typeof tables !== "object") return false;
  const { priorities, in_session: inSession, steps, audio_pause: pause } = tables;
  if (!Array.isArray(priorities) || !Array.isArray(inSession) || !steps || !pause) return false;
  station.rules = {
    rank: new Map(priorities.map((p) => [p.priority, p.rank])),
    inSession: new Set(inSession),
    steps: new Map(Object.entries(steps)),
    pauseSeconds: pause.seconds,
    pauseBrokenBy: new Set(pause.broken_by || []),
  };
  return true;
}

/** Higher is worse; 0 for a priority the server did not name (or before its hello). */
export function priorityRank(priority) {
  return (station.rules && station.rules.rank.get(priority)) || 0;
}

/** A patient is in the chair in this phase. */
export function inSession(phase) {
  return Boolean(station.rules && station.rules.inSession.has(phase));
}

/** The nurse's steps the session accepts in this phase, in the order of the buttons. */
export function legalSteps(phase) {
  return (station.rules && station.rules.steps.get(phase)) || [];
}

/** Does a newly raised alarm of this priority end any audio pause at once? */
export function breaksAudioPause(priority) {
  return Boolean(station.rules && station.rules.pauseBrokenBy.has(priority));
}

/** How long the "Pause audio" button pauses a chair (s). */
export function audioPauseSeconds() {
  return station.rules ? station.rules.pauseSeconds : 0;
}
