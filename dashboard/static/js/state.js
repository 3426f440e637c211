// The one store of the browser's state: every module reads and writes here, none keeps its own.
//
// `station` is the nurses' station (index.html), `sessionPage` the session view (session.html);
// each page uses its own part. The server's rules (`station.rules`) come in its `hello` and are
// replaced by the next one (see rules.js).

export const station = {
  user: null, // {name, role} from hello
  site: "",
  rules: null, // the server's tables, as rules.js keeps them; null until the first hello
  chairs: new Map(), // chair name -> entry (see chairs.js)
  layoutPending: false, // the grid's layout is due once the chairs arriving now are in
  link: null, // the last "link" message
  serviceOffsetS: 0, // the service's clock minus the browser's (from the link's service_now)
  socket: null,
  socketOpen: false,
  everOpened: false, // before the first connection, the banner waits for STALE_LINK_MS
  connectedAt: 0,
  lastHeard: performance.now(),
  attempt: 0,
  reconnectAt: null,
  nextId: 1,
  pending: new Map(), // action id -> {chair, key, label, timer, onSettle?}
  coverage: null, // who covers which chairs (the last "coverage" message); null: the site does not page
  handOver: null, // the hand-over being chosen or sent: {pager, to, phase, text, timer} (coverage.js)
  problems: [], // the banner's problems: what makes the screen untrustworthy, record_failing
  acknowledged: new Set(), // the station-wide technical alarms acknowledged here (ackKey)
  sound: { ctx: null, current: "none", nextAt: 0, bursts: [] },
  confirming: { onYes: null, timer: null }, // the open confirmation question
  admitting: { onAdmit: null }, // the open admit dialog
  coveragePanel: { idleTimer: null }, // the open coverage panel closes by itself when left
  recentAlarms: new Map(), // alarm id -> the recent list's record of it (alarm-bar.js); kept over reconnects
  recentPanel: { idleTimer: null }, // the open recent-alarms list closes by itself when left
};

export const sessionPage = {
  lastView: null, // the last session view the server sent
  limitSettings: null, // the limits a station may change (GET /api/limits), once
  acting: { chair: null, state: null, mayAct: false }, // what the notes and limits forms act on
};

const CAN_ACT = ["nurse", "admin"];

/** The banner's problems that make the screen untrustworthy (every tile STALE, "link lost"). */
export function untrusted() {
  return station.problems.filter((p) => !p.trusted);
}

/** The station-wide technical alarm sounding now (not acknowledged here), or null. */
export function soundingTechnical() {
  return station.problems.find((p) => p.priority && !station.acknowledged.has(ackKey(p))) ?? null;
}

/** One failure of one kind: a record that fails again after writing is a new alarm. */
export function ackKey(problem) {
  return `${problem.code}@${problem.since ?? ""}`;
}

/** May the logged-in user act (an auditor may only look)? */
export function canAct() {
  return !station.user || CAN_ACT.includes(station.user.role);
}

/** Is an action `key` ("admit", "ack:<alarm id>", ...) of `chair` waiting for its result? */
export function isPending(chair, key) {
  for (const p of station.pending.values()) if (p.chair === chair && p.key === key) return true;
  return false;
}
