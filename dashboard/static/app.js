// The nurses' station: one tile per chair, live over the dashboard's websocket.
//
// How this works: the server sends the whole state of a chair whenever it changes ("chair"),
// each alarm transition as it happens ("alarm"), the health of the path behind it ("link") and a
// ping every 2 s. We keep the newest state per chair and redraw that chair's tile; a one-second
// tick moves the clocks and ages on between messages, using the chair's own clinical clock
// (its `ts`, carried on by the time since the message arrived), so a tile whose data stopped keeps
// ageing and turns to NO DATA instead of looking calm. Anything that says the screen may be out of
// date (socket closed, nothing heard for 5 s, broker or monitoring service down) raises the red
// banner and greys every tile. Everything from the network is shown with textContent only.
//
// Each vital has its own NO DATA as well: a vital the service marks `stale`, or one missing from a
// session's state, shows NO DATA in place of its number while the other vitals keep theirs. A
// relative alarm the service shows under its absolute one (`suppressed_by`) is no line of its
// own and never sounds: the absolute alarm's line says "(+ rise over baseline)".

import { kindLabel, underLabel } from "./alarm-kinds.js";

const STALE_LINK_MS = 5000; // nothing heard for this long: the banner goes up
const DEAD_LINK_MS = 10000; // nothing heard for this long: drop the socket and reconnect
const BACKOFF_S = [1, 2, 4, 5]; // reconnect delays, then 5 s for ever
const SERVICE_UNKNOWN_GRACE_MS = 10000; // "no word from the service" only after this long
const NO_DATA_S = 60; // newest vital older than this: NO DATA
const OLD_S = { hr: 30, spo2: 30, bp: 15 * 60 }; // a numeric older than this is greyed
const TREND_S = 30 * 60; // what a sparkline spans
const ERROR_SHOW_MS = 8000;
const RESULT_TIMEOUT_MS = 10000;
const CONFIRM_TIMEOUT_MS = 30000; // a forgotten confirmation must not block the station
const TILE_ASPECT = 1.3; // width / height the tiles look best at

const PRIORITY_RANK = { high: 3, medium: 2, low: 1 };
const MARKS = { high: "***", medium: "**", low: "*" };
const SHOWN_STATES = ["active", "latched", "acknowledged"];
const NEEDS_ACK = ["active", "latched"];
const IN_SESSION = ["baseline", "infusing", "paused", "recovery"];
// Legal nurse steps per phase (the session's transition table in monitor/domain/session.py).
const STEPS = {
  empty: ["admit"],
  discharged: ["admit"],
  baseline: ["start", "discharge"],
  infusing: ["pause", "stop"],
  paused: ["resume", "stop"],
  recovery: ["discharge"],
};
const STEP_LABELS = {
  admit: "Admit…", start: "Start", pause: "Pause", resume: "Resume", stop: "Stop…",
  discharge: "Discharge…",
};
const CAN_ACT = ["nurse", "admin"];

const station = {
  user: null,
  site: "",
  audioPauseS: 120,
  chairs: new Map(), // chair name -> entry (see newEntry)
  link: null, // the last "link" message
  socket: null,
  socketOpen: false,
  everOpened: false, // before the first connection, the banner waits STALE_LINK_MS
  connectedAt: 0,
  lastHeard: performance.now(),
  attempt: 0,
  reconnectAt: null,
  nextId: 1,
  pending: new Map(), // action id -> {chair, key, label, timer}
  problems: [],
};

const $ = (id) => document.getElementById(id);

// Small DOM helpers ---------------------------------------------------------------------------

/** An element with attributes (class, data-*, aria-*, ...) and text or element children. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setData(node, name, value) {
  if (node.dataset[name] !== value) node.dataset[name] = value;
}

// Time -----------------------------------------------------------------------------------------

/** RFC 3339 string or epoch seconds -> epoch seconds (null when absent or unreadable). */
function parseTime(value) {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** 75 -> "1:15", 3725 -> "1:02:05". */
function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function ageText(seconds) {
  return seconds < 60 ? `${Math.max(0, Math.floor(seconds))} s` : clockText(seconds);
}

/** The chair's clinical now: its ts when the message came, carried on by local elapsed time. */
function chairNow(entry) {
  return entry.ts + (performance.now() - entry.receivedAt) / 1000;
}

// Alarms ---------------------------------------------------------------------------------------

/** Colour as monitors use it: high red, medium yellow, low and technical cyan. */
function alarmTone(alarm) {
  if (alarm.priority === "high") return "red"; // a high alarm is never shown as merely cyan
  if (alarm.class === "technical" || alarm.priority === "low") return "cyan";
  return "yellow";
}

/** Higher is worse: priority first, then physiological over technical. */
function alarmRank(alarm) {
  return (PRIORITY_RANK[alarm.priority] || 0) * 2 + (alarm.class === "technical" ? 0 : 1);
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
function alarmsUnder(alarm, alarms) {
  return alarms.filter((a) => a.suppressed_by === alarm.kind && SHOWN_STATES.includes(a.state)
    && underAnother(a, alarms));
}

/** The alarms with a line of their own, worst first. */
function shownAlarms(state) {
  const alarms = state.alarms || [];
  return alarms.filter((a) => SHOWN_STATES.includes(a.state) && !underAnother(a, alarms))
    .sort(byWorst);
}

/** What the station must hear: active, above low, and not shown under another alarm. */
function sounding(alarm, alarms) {
  return alarm.state === "active" && alarm.priority !== "low" && !underAnother(alarm, alarms);
}

/** High-priority alarms nobody acknowledged: the service refuses a plain discharge over them. */
function unacknowledgedHigh(state) {
  return (state.alarms || []).filter((a) => a.priority === "high" && NEEDS_ACK.includes(a.state))
    .sort(byWorst);
}

function worstOf(alarms, states) {
  return alarms.filter((a) => states.includes(a.state)).sort(byWorst)[0] || null;
}

// Chairs: entries and their tiles ----------------------------------------------------------------

function newEntry(name) {
  return {
    name, state: null, trend: {}, recoveryEvent: null, ts: 0, receivedAt: 0, vitalTs: {},
    emptySinceTs: null, tile: buildTile(name), actionsKey: null, errorTimer: null,
  };
}

function onChair(message) {
  const state = message.chair;
  if (!state || typeof state.chair !== "string") return;
  let entry = station.chairs.get(state.chair);
  const isNew = !entry;
  if (isNew) {
    entry = newEntry(state.chair);
    station.chairs.set(state.chair, entry);
  }
  takeState(entry, state, message.trend || {});
  entry.recoveryEvent = message.recovery || null;
  if (isNew) placeTiles();
  renderTile(entry);
  updateTone();
}

function takeState(entry, state, trend) {
  entry.state = state;
  entry.trend = trend;
  entry.receivedAt = performance.now();
  entry.ts = parseTime(state.ts) ?? Date.now() / 1000;
  entry.vitalTs = {};
  for (const [name, vital] of Object.entries(state.vitals || {})) {
    entry.vitalTs[name] = parseTime(vital.ts);
  }
  // With no vitals at all, "how long" counts from when we first saw the chair without any.
  const none = Object.keys(entry.vitalTs).length === 0;
  entry.emptySinceTs = none ? (entry.emptySinceTs ?? entry.ts) : null;
}

/** One alarm transition: patch the chair's alarm list at once so tone and colour need not wait. */
function onAlarm(message) {
  const alarm = message.alarm;
  const entry = alarm && station.chairs.get(alarm.chair);
  if (!entry || !entry.state) return;
  const old = entry.state.alarms || [];
  const alarms = old.filter((a) => a.alarm !== alarm.alarm);
  const before = old.find((a) => a.alarm === alarm.alarm);
  if (alarm.state !== "cleared") alarms.push(alarm);
  // Raised: newly active, or active and no longer shown under another alarm.
  const heard = (a, list) => a.state === "active" && !underAnother(a, list);
  const raised = heard(alarm, alarms) && !(before && heard(before, old));
  // A newly raised high alarm ends an audio pause (the monitor's rule), so it sounds at once.
  const breaksPause = raised && alarm.priority === "high";
  entry.state = { ...entry.state, alarms, audio: patchedAudio(entry, alarms, breaksPause) };
  if (raised) announce(entry, alarm);
  renderTile(entry);
  updateTone();
}

/** The server's audible verdict, brought forward for one transition until the next state. */
function patchedAudio(entry, alarms, breaksPause) {
  const audio = { ...(entry.state.audio || {}) };
  const paused = !breaksPause && (parseTime(audio.paused_until) ?? -Infinity) > chairNow(entry);
  audio.audible = alarms.some((a) => sounding(a, alarms)) && !paused;
  return audio;
}

function announce(entry, alarm) {
  const word = (alarm.priority || "").toUpperCase();
  const note = alarm.note ? ` (${alarm.note})` : "";
  setText($("alarm-announcer"),
    `Chair ${entry.name}: ${word} priority alarm. ${alarm.text || kindLabel(alarm.kind)}${note}`);
}

/** Forget every chair: after a reconnect the new messages are the only truth. */
function clearChairs() {
  for (const entry of station.chairs.values()) entry.tile.root.remove();
  station.chairs.clear();
  placeTiles();
  updateTone();
}

// Tile construction ------------------------------------------------------------------------------

function buildTile(name) {
  const t = {};
  t.name = el("h2", { class: "chair-name" }, name);
  t.patient = el("span", { class: "patient", "data-role": "patient" });
  // A new tab: leaving this page would silence every chair's alarms while the nurse reads one.
  t.link = el("a", { class: "session-link", href: `/session/${encodeURIComponent(name)}`,
    target: "_blank", rel: "noopener", "data-role": "session-link",
    "aria-label": `Session view of chair ${name} (new tab)` }, "Session ›");
  t.alarmCount = el("span", { class: "alarm-count", "data-role": "alarm-count", hidden: "" });
  t.phase = el("span", { class: "phase", "data-role": "phase" });
  t.phaseDetail = el("span", { class: "phase-detail", "data-role": "phase-detail" });
  t.phaseReason = el("span", { class: "phase-reason", "data-role": "phase-reason" });
  t.vitals = {
    hr: buildVital("hr", "HR", "/min"),
    spo2: buildVital("spo2", "SpO₂", "%"),
    bp: buildVital("bp", "BP", "mmHg"),
  };
  t.nodataMain = el("span", { class: "nodata-main" });
  t.nodataWhy = el("span", { class: "nodata-why" });
  t.nodata = el("div", { class: "nodata", "data-role": "nodata", hidden: "" }, t.nodataMain, t.nodataWhy);
  t.stale = el("div", { class: "stale-reason", "data-role": "stale-reason" });
  t.alarms = el("ul", { class: "alarms", "data-role": "alarms", "aria-label": `Alarms of chair ${name}` });
  t.error = el("div", { class: "tile-error", "data-role": "error", role: "status", hidden: "" });
  t.actions = el("div", { class: "actions", "data-role": "actions" });
  t.root = el("article", { class: "tile", "data-chair": name, "data-priority": "none",
    "data-tone": "none", "data-alarm-state": "none", "data-nodata": "false", "data-stale": "false",
    "aria-label": `Chair ${name}` },
  el("header", { class: "tile-head" }, t.name, t.patient, t.alarmCount, t.link),
  el("div", { class: "tile-phase" }, t.phase, t.phaseDetail, t.phaseReason),
  el("div", { class: "vitals" }, t.vitals.hr.root, t.vitals.spo2.root, t.vitals.bp.root, t.nodata),
  t.alarms, t.actions, t.error, t.stale);
  return t;
}

function buildVital(key, label, unit) {
  const v = {};
  v.age = el("span", { class: "vital-age", "data-role": "age" });
  v.value = el("span", { class: "numeric", "data-role": "value" }, "--");
  v.extra = el("span", { class: "vital-extra" });
  v.spark = svgEl("svg", { class: "spark", viewBox: "0 0 100 30", preserveAspectRatio: "none",
    "aria-hidden": "true" });
  v.root = el("div", { class: `vital vital-${key}`, "data-vital": key, "data-old": "false",
    "data-nodata": "false" },
    el("div", { class: "vital-label" }, el("span", { class: "vital-name" }, label),
      el("span", { class: "vital-unit" }, unit), v.extra, v.age),
    el("div", { class: "vital-reading" }, v.value),
    v.spark);
  return v;
}

/** Put the tiles in chair order and size the grid for their number. */
function placeTiles() {
  const grid = $("tiles");
  const names = [...station.chairs.keys()].sort(
    (a, b) => a.localeCompare(b, undefined, { numeric: true }));
  grid.append(...names.map((n) => station.chairs.get(n).tile.root));
  $("no-chairs").hidden = names.length > 0;
  layoutGrid();
}

/** Columns and rows that give the largest tiles of about TILE_ASPECT in the space there is. */
function layoutGrid() {
  const grid = $("tiles");
  const n = Math.max(1, station.chairs.size);
  const w = grid.clientWidth || window.innerWidth;
  const h = grid.clientHeight || window.innerHeight;
  let best = { score: -1, cols: 1, rows: n };
  for (let cols = 1; cols <= n; cols += 1) {
    const rows = Math.ceil(n / cols);
    const score = Math.min(w / cols, (h / rows) * TILE_ASPECT);
    if (score > best.score + 0.5) best = { score, cols, rows };
  }
  grid.style.setProperty("--cols", String(best.cols));
  grid.style.setProperty("--rows", String(best.rows));
}

// Tile rendering (on each message) ---------------------------------------------------------------

function renderTile(entry) {
  const { state, tile } = entry;
  setText(tile.patient, state.patient || "");
  setData(tile.root, "phase", state.phase || "unknown");
  renderVitals(entry);
  renderAlarms(entry);
  renderPriority(entry);
  renderActions(entry);
  tickTile(entry);
}

function renderPriority(entry) {
  const alarms = shownAlarms(entry.state);
  const unacked = worstOf(alarms, NEEDS_ACK);
  const lead = unacked || worstOf(alarms, ["acknowledged"]);
  const root = entry.tile.root;
  setData(root, "priority", unacked ? unacked.priority : "none");
  setData(root, "tone", lead ? alarmTone(lead) : "none");
  setData(root, "alarmState", lead ? lead.state : "none");
}

function renderVitals(entry) {
  const { state, trend, tile } = entry;
  const vitals = state.vitals || {};
  const baseline = state.baseline || {};
  const from = entry.ts - TREND_S;
  const views = vitalViews(state);
  for (const [key, view] of Object.entries(views)) {
    const cell = tile.vitals[key];
    setText(cell.value, view.lost ? "NO DATA" : view.reading ?? (key === "bp" ? "--/--" : "--"));
    setText(cell.extra, view.lost && view.reading ? `last ${view.reading}` : view.extra);
    setData(cell.root, "nodata", String(view.lost));
  }
  drawSpark(tile.vitals.hr.spark, [{ points: trend.hr, base: baseline.hr, gapS: 60 }], from, entry.ts, 20);
  drawSpark(tile.vitals.spo2.spark, [{ points: trend.spo2, base: baseline.spo2, gapS: 60 }], from, entry.ts, 6);
  drawSpark(tile.vitals.bp.spark, [
    { points: trend.sbp, base: baseline.sbp, gapS: 1500, dots: true, cls: "sbp" },
    { points: trend.dbp, base: baseline.dbp, gapS: 1500, dots: true, cls: "dbp" },
  ], from, entry.ts, 30);
}

/** What each numeric shows: its reading, a small extra (PR beside HR, MAP beside BP), and whether
 * the vital is lost (NO DATA): while the service marks it stale, or when a session's state has
 * no value for it. */
function vitalViews(state) {
  const vitals = state.vitals || {};
  const inSession = IN_SESSION.includes(state.phase);
  const round = (v) => (v && Number.isFinite(v.value) ? String(Math.round(v.value)) : "--");
  const fresh = (v, label) => (v && v.stale !== true ? `${label} ${round(v)}` : "");
  const view = (parts, reading, extra) => {
    const present = parts.filter(Boolean);
    const lost = present.some((v) => v.stale === true) || (inSession && present.length === 0);
    return { reading: present.length ? reading : null, extra, lost };
  };
  return {
    hr: view([vitals.hr], round(vitals.hr), fresh(vitals.pr, "PR")),
    spo2: view([vitals.spo2], round(vitals.spo2), ""),
    bp: view([vitals.sbp, vitals.dbp], `${round(vitals.sbp)}/${round(vitals.dbp)}`,
      fresh(vitals.map, "MAP")),
  };
}

/** A sparkline of the last 30 minutes, with the baseline as a dashed line. */
function drawSpark(svg, series, from, to, minSpan) {
  const values = series.flatMap((s) => [
    ...(s.points || []).filter((p) => p[0] >= from).map((p) => p[1]),
    ...(Number.isFinite(s.base) ? [s.base] : [])]);
  svg.replaceChildren();
  if (values.length === 0) return;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const pad = Math.max(0, minSpan - (hi - lo)) / 2;
  lo -= pad + 1;
  hi += pad + 1;
  const x = (t) => ((t - from) / Math.max(1, to - from)) * 100;
  const y = (v) => 28 - ((v - lo) / (hi - lo)) * 26;
  for (const s of series) {
    if (Number.isFinite(s.base)) {
      svg.append(svgEl("line", { class: "spark-base", x1: 0, x2: 100, y1: y(s.base), y2: y(s.base),
        "vector-effect": "non-scaling-stroke" }));
    }
    const d = sparkPath((s.points || []).filter((p) => p[0] >= from), x, y, s.gapS, s.dots);
    if (d) svg.append(svgEl("path", { class: `spark-line ${s.cls || ""}`, d,
      "vector-effect": "non-scaling-stroke" }));
  }
}

/** Path data: lines between points, broken where readings stopped; zero-length dots if asked. */
function sparkPath(points, x, y, gapS, dots) {
  let d = "";
  let last = null;
  for (const [t, v] of points) {
    if (!Number.isFinite(t) || !Number.isFinite(v)) continue;
    const move = last === null || t - last > gapS;
    d += `${move ? "M" : "L"}${x(t).toFixed(2)} ${y(v).toFixed(2)}`;
    if (dots) d += "l0 0";
    last = t;
  }
  return d;
}

// Alarm lines: reconciled by alarm id so their state survives updates (focus, animation).

function renderAlarms(entry) {
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
  setText(part("mark"), MARKS[alarm.priority] || "");
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

// Actions row: rebuilt only when what is legal changes, so a focused button stays put.

function canAct() {
  return !station.user || CAN_ACT.includes(station.user.role);
}

function renderActions(entry) {
  const { state, tile } = entry;
  const steps = canAct() ? STEPS[state.phase] || [] : [];
  const inSession = !["empty", "discharged"].includes(state.phase);
  const withPause = canAct() && (inSession || (state.alarms || []).length > 0);
  const key = `${steps.join(",")}|${withPause}`;
  if (key !== entry.actionsKey) {
    entry.actionsKey = key;
    const buttons = steps.map((step) => el("button", { type: "button", "data-action": step,
      class: `step step-${step}` }, STEP_LABELS[step]));
    if (withPause) {
      buttons.unshift(el("button", { type: "button", "data-action": "pause-audio",
        class: "pause-audio" }, ""));
    }
    tile.actions.replaceChildren(...buttons);
  }
  for (const button of tile.actions.querySelectorAll("button[data-action]")) {
    button.disabled = isPending(entry.name, button.dataset.action);
  }
}

// Tile ticking (every second): clocks, ages, NO DATA, audio pause countdown ------------------

function tickTile(entry) {
  if (!entry.state) return;
  const now = chairNow(entry);
  tickPhase(entry, now);
  tickVitals(entry, now);
  tickNoData(entry, now);
  tickPauseButton(entry, now);
  tickStale(entry);
}

function tickPhase(entry, now) {
  const { state, tile } = entry;
  const [text, detail, reason = ""] = phaseText(entry, now - entry.ts, now);
  setText(tile.phase, text);
  setText(tile.phaseDetail, detail);
  setText(tile.phaseReason, reason);
  tile.phaseReason.title = reason; // the whole reason when a narrow tile cuts it
  const overdue = state.recovery && state.recovery.status === "overdue";
  setData(tile.root, "recovery", state.recovery ? state.recovery.status : "none");
  tile.phaseDetail.classList.toggle("overdue", Boolean(overdue));
}

/** [phase with its clock, detail, reason (small, below)]; `since` is how long ago (s) the state
 * was current. */
function phaseText(entry, since, now) {
  const state = entry.state;
  const phase = state.phase || "unknown";
  const missing = state.baseline && state.baseline.missing;
  const inf = state.infusion;
  if ((phase === "infusing" || phase === "paused") && inf) {
    const running = inf.running_minutes * 60 + (phase === "infusing" && !inf.paused ? since : 0);
    const of = inf.planned_minutes ? ` of ${clockText(inf.planned_minutes * 60)}` : "";
    const pausedAt = parseTime(state.phase_since);
    const detail = phase === "paused" && pausedAt ? `for ${clockText(now - pausedAt)}` : "";
    return [`${phase} ${clockText(running)}${of}`, detail, missing ? `no BP baseline: ${missing}` : ""];
  }
  if (phase === "recovery" && state.recovery) return recoveryText(state, since);
  if (phase === "baseline") {
    const started = parseTime(state.phase_since);
    const clock = started ? ` ${clockText(now - started)}` : "";
    const n = state.baseline ? state.baseline.nibp_readings : 0;
    return [`baseline${clock}`, `${n} BP reading${n === 1 ? "" : "s"}`,
      missing ? `no BP baseline yet: ${missing}` : ""];
  }
  if (state.recovery && state.recovery.status === "discharged_unconfirmed") {
    const event = entry.recoveryEvent;
    const by = event && event.discharged_by ? `by ${event.discharged_by}` : "";
    return [phase, "before recovery was confirmed",
      [by, state.recovery.reason].filter(Boolean).join(" · ")];
  }
  return [phase, ""];
}

/** The recovery clock, how far off baseline, and why the last cuff did not count. */
function recoveryText(state, since) {
  const r = state.recovery;
  const done = r.status === "recovered" || r.status === "recovered_late";
  const elapsed = r.minutes_since_stop * 60 + (done ? 0 : since);
  const clock = `recovery ${clockText(elapsed)} of ${clockText(r.window_minutes * 60)}`;
  if (r.status === "recovered") return [clock, "back to baseline"];
  if (r.status === "recovered_late") return [clock, "back to baseline (late)"];
  // No BP baseline: nothing to be back to. Never "not back to baseline".
  if (r.status === "cannot_assess") return [clock, "cannot be assessed", r.reason || "no baseline BP"];
  const off = offBaselineText(r.off_baseline || {}, (state.limits || {}).recovery_tolerance ?? 0.2);
  return [clock, r.status === "overdue" ? `OVERDUE ${off}`.trim() : off, r.reason || ""];
}

/** "SBP +25 % DBP +22 %": the vitals outside tolerance, worst first. */
function offBaselineText(off, tolerance) {
  const entries = Object.entries(off).filter(([, v]) => Number.isFinite(v));
  if (entries.length === 0) return "waiting for a BP reading";
  const outside = entries.filter(([, v]) => Math.abs(v) > tolerance + 1e-9)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  if (outside.length === 0) return `within ${Math.round(tolerance * 100)} % of baseline`;
  return outside.slice(0, 2).map(([name, v]) =>
    `${name === "spo2" ? "SpO₂" : name.toUpperCase()} ${v > 0 ? "+" : "−"}${Math.round(Math.abs(v) * 100)} %`,
  ).join(" ");
}

function tickVitals(entry, now) {
  const ts = entry.vitalTs;
  tickVital(entry.tile.vitals.hr, ts.hr, now, OLD_S.hr);
  tickVital(entry.tile.vitals.spo2, ts.spo2, now, OLD_S.spo2);
  tickVital(entry.tile.vitals.bp, ts.sbp ?? ts.dbp, now, OLD_S.bp);
}

function tickVital(vital, ts, now, oldAfter) {
  const has = Number.isFinite(ts);
  const age = has ? now - ts : Infinity;
  setText(vital.age, has ? `${ageText(age)} ago` : "none");
  setData(vital.root, "old", String(!has || age > oldAfter));
}

/** NO DATA: no vitals at all, the monitor offline, or the newest vital over a minute old. */
function tickNoData(entry, now) {
  const { state, tile } = entry;
  const times = Object.values(entry.vitalTs).filter(Number.isFinite);
  const newest = times.length ? Math.max(...times) : null;
  const offline = state.device && state.device.state === "offline";
  const noData = newest === null || offline || now - newest > NO_DATA_S;
  setData(tile.root, "nodata", String(noData));
  tile.nodata.hidden = !noData;
  if (!noData) return;
  const since = newest ?? (offline ? parseTime(state.device.since) : null) ?? entry.emptySinceTs;
  const why = offline ? "monitor offline" : newest === null ? "no vitals" : "";
  setText(tile.nodataMain, `NO DATA ${clockText(now - (since ?? now))}`);
  setText(tile.nodataWhy, why);
}

function tickPauseButton(entry, now) {
  const button = entry.tile.actions.querySelector('[data-action="pause-audio"]');
  if (!button) return;
  const audio = entry.state.audio || {};
  const until = parseTime(audio.paused_until);
  const paused = until !== null && until > now;
  setData(button, "paused", String(paused));
  setText(button, paused ? `Audio paused ${clockText(until - now)}`
    : `Pause audio ${clockText(station.audioPauseS)}`);
  button.title = paused && audio.paused_by ? `Paused by ${audio.paused_by}` : "";
}

function tickStale(entry) {
  const problem = station.problems[0];
  setData(entry.tile.root, "stale", String(Boolean(problem)));
  setText(entry.tile.stale, problem ? `STALE: ${problem.short}` : "");
}

// Nurse actions ----------------------------------------------------------------------------------

function onTileClick(event) {
  const button = event.target.closest("button[data-action]");
  const tile = button && button.closest("[data-chair]");
  if (!tile) return;
  const chair = tile.dataset.chair;
  const action = button.dataset.action;
  if (action === "ack") {
    const alarm = button.closest("[data-alarm]").dataset.alarm;
    send(chair, `ack:${alarm}`, "Acknowledge", { action: "acknowledge", chair, alarm });
  } else if (action === "pause-audio") {
    send(chair, action, "Pause audio", { action: "pause_audio", chair, seconds: station.audioPauseS });
  } else if (action === "admit") {
    openAdmit(chair);
  } else if (action === "start" || action === "pause" || action === "resume") {
    send(chair, action, `${STEP_LABELS[action]} infusion`, { action: "infusion", chair, event: action });
  } else if (action === "stop") {
    confirmThen(`Stop the infusion on chair ${chair}?`, "Stop infusion", () =>
      send(chair, action, "Stop infusion", { action: "infusion", chair, event: "stop" }));
  } else if (action === "discharge") {
    askDischarge(chair);
  }
}

/** Discharge, asking first. Over an unacknowledged high-priority alarm the question names it and
 * says the discharge is recorded with the nurse's name; only a yes to that sends over_alarms.
 * An alarm that came up while the question was open is asked about before anything goes. */
function askDischarge(chair, lead = "") {
  const entry = station.chairs.get(chair);
  if (!entry || !entry.state) return;
  const asked = unacknowledgedHigh(entry.state).map((a) => a.alarm);
  const onYes = () => {
    const now = entry.state ? unacknowledgedHigh(entry.state) : [];
    if (now.some((a) => !asked.includes(a.alarm))) {
      askDischarge(chair, "Another high-priority alarm came up. ");
      return;
    }
    send(chair, "discharge", "Discharge",
      { action: "discharge", chair, over_alarms: now.length > 0 });
  };
  const over = unacknowledgedHigh(entry.state);
  if (over.length === 0) {
    confirmThen(`${lead}Discharge the patient from chair ${chair}?`, "Discharge", onYes);
    return;
  }
  const texts = over.map((a) => a.text || kindLabel(a.kind));
  const name = station.user && station.user.name ? ` (${station.user.name})` : "";
  const record = `This is recorded with your name${name}.`;
  if (over.length === 1) {
    confirmThen(`${lead}Chair ${chair}: ${texts[0]} is not acknowledged: discharge over it? ${record}`,
      "Discharge over the alarm", onYes);
  } else {
    confirmThen(`${lead}Chair ${chair}: ${over.length} high-priority alarms are not acknowledged: `
      + `discharge over them? ${record}`, "Discharge over the alarms", onYes, texts);
  }
}

/** Send one action; its result (or the lack of one) shows on the chair's tile. */
function send(chair, key, label, body) {
  const socket = station.socket;
  if (!station.socketOpen || !socket) {
    showTileError(chair, `${label}: not connected to the dashboard server, nothing was sent`);
    return;
  }
  const id = station.nextId++;
  const timer = setTimeout(() => settle(id, false, "no answer from the dashboard server"),
    RESULT_TIMEOUT_MS);
  station.pending.set(id, { chair, key, label, timer });
  socket.send(JSON.stringify({ id, ...body }));
  rerender(chair);
}

function isPending(chair, key) {
  for (const p of station.pending.values()) if (p.chair === chair && p.key === key) return true;
  return false;
}

function onResult(message) {
  settle(message.id, message.ok === true, message.error || "refused");
}

function settle(id, ok, error) {
  const pending = station.pending.get(id);
  if (!pending) return;
  clearTimeout(pending.timer);
  station.pending.delete(id);
  if (!ok) showTileError(pending.chair, `${pending.label} failed: ${error}`);
  rerender(pending.chair);
}

function failPending(reason) {
  for (const id of [...station.pending.keys()]) settle(id, false, reason);
}

function rerender(chair) {
  const entry = station.chairs.get(chair);
  if (entry && entry.state) renderTile(entry);
}

function showTileError(chair, text) {
  const entry = station.chairs.get(chair);
  if (!entry) return;
  const box = entry.tile.error;
  setText(box, text);
  box.hidden = false;
  clearTimeout(entry.errorTimer);
  entry.errorTimer = setTimeout(() => { box.hidden = true; }, ERROR_SHOW_MS);
}

// Dialogs: admit, and confirmation (not window.confirm, which would freeze the whole station).

function openAdmit(chair) {
  const dialog = $("admit-dialog");
  $("admit-form").reset();
  setText($("admit-error"), "");
  setText($("admit-chair"), `chair ${chair}`);
  dialog.dataset.chair = chair;
  dialog.showModal();
  $("admit-patient").focus();
}

function onAdmitSubmit(event) {
  event.preventDefault();
  const dialog = $("admit-dialog");
  const chair = dialog.dataset.chair;
  const patient = $("admit-patient").value.trim();
  const weightText = $("admit-weight").value.trim();
  const weight = Number(weightText);
  let problem = "";
  if (!patient || patient.length > 64 || /[\x00-\x1f]/.test(patient)) {
    problem = "Enter the patient label (1 to 64 characters).";
  } else if (weightText && !(weight > 0 && weight <= 400)) {
    problem = "The weight must be a number of kilograms, or left empty.";
  }
  if (problem) {
    setText($("admit-error"), problem);
    return;
  }
  const body = { action: "admit", chair, patient };
  if (weightText) body.weight_kg = weight;
  dialog.close();
  send(chair, "admit", "Admit", body);
}

const confirming = { onYes: null, timer: null };

/** Ask in the station's own dialog; `items` (alarm texts, say) are listed under the question. */
function confirmThen(question, yesLabel, onYes, items = []) {
  const dialog = $("confirm-dialog");
  setText($("confirm-text"), question);
  $("confirm-list").replaceChildren(...items.map((item) => el("li", {}, item)));
  $("confirm-list").hidden = items.length === 0;
  setText(dialog.querySelector('[data-action="confirm"]'), yesLabel);
  confirming.onYes = onYes;
  dialog.showModal();
  dialog.querySelector('[data-action="cancel"]').focus(); // the safe choice has the focus
  clearTimeout(confirming.timer);
  confirming.timer = setTimeout(() => dialog.open && dialog.close(), CONFIRM_TIMEOUT_MS);
}

function wireDialogs() {
  $("admit-form").addEventListener("submit", onAdmitSubmit);
  const confirm = $("confirm-dialog");
  confirm.querySelector('[data-action="confirm"]').addEventListener("click", () => {
    const onYes = confirming.onYes;
    confirming.onYes = null;
    confirm.close();
    if (onYes) onYes();
  });
  for (const dialog of [confirm, $("admit-dialog")]) {
    dialog.querySelector('[data-action="cancel"]').addEventListener("click", () => dialog.close());
  }
  // A question asked again from its own yes is open again by now: keep its answer.
  confirm.addEventListener("close", () => { if (!confirm.open) confirming.onYes = null; });
}

// Sound: alarm tones with the Web Audio API ------------------------------------------------------
//
// Patterns after IEC 60601-1-8: high priority a fast burst of 3+2 pulses repeated every few
// seconds, medium 3 slower pulses less often. While the screen cannot be trusted, the chairs'
// tones (which would be stale) give way to a low "link lost" pattern: silence must never mean calm.

const TONES = {
  high: { freq: 880, pulses: [0, 0.2, 0.4, 0.9, 1.1], length: 0.12, every: 3 },
  medium: { freq: 660, pulses: [0, 0.35, 0.7], length: 0.2, every: 7 },
  link: { freq: 440, pulses: [0, 0.45], length: 0.3, every: 15 },
};

const sound = { ctx: null, current: "none", nextAt: 0, bursts: [] };

function soundEnabled() {
  return Boolean(sound.ctx && sound.ctx.state === "running");
}

function enableSound() {
  if (!sound.ctx) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      setText($("sound-toggle"), "No sound in this browser");
      return;
    }
    sound.ctx = new Context();
    sound.ctx.addEventListener("statechange", showSoundControl);
  }
  const wasOn = soundEnabled();
  sound.ctx.resume().then(() => {
    showSoundControl();
    if (wasOn) playBurst(TONES.medium, sound.ctx.currentTime + 0.05); // a click when on: a test
  }).catch(showSoundControl);
}

function showSoundControl() {
  const on = soundEnabled();
  const control = $("sound-toggle");
  control.dataset.enabled = String(on);
  control.setAttribute("aria-pressed", String(on));
  setText(control, on ? "Sound on (click to test)" : "Sound off — click to enable");
}

/** Which pattern the station should sound now: "high", "medium", "link" or "none". */
function wantedTone() {
  if (station.problems.length > 0) return station.chairs.size > 0 || station.user ? "link" : "none";
  let best = "none";
  for (const entry of station.chairs.values()) {
    const s = entry.state;
    if (!s || !s.audio || !s.audio.audible) continue;
    const alarms = s.alarms || [];
    const heard = alarms.filter((a) => sounding(a, alarms));
    if (heard.some((a) => a.priority === "high")) return "high";
    if (heard.some((a) => a.priority === "medium")) best = "medium";
  }
  return best;
}

function updateTone() {
  const wanted = wantedTone();
  setData(document.body, "tone", wanted);
  if (wanted !== sound.current) {
    sound.current = wanted;
    for (const burst of sound.bursts) burst.disconnect(); // silence what was scheduled, at once
    sound.bursts = [];
    sound.nextAt = 0;
  }
  scheduleTone();
}

function scheduleTone() {
  if (!soundEnabled() || sound.current === "none") return;
  const pattern = TONES[sound.current];
  const now = sound.ctx.currentTime;
  if (now + 0.3 < sound.nextAt) return;
  const at = Math.max(now + 0.05, sound.nextAt);
  playBurst(pattern, at);
  sound.nextAt = at + pattern.every;
}

function playBurst(pattern, at) {
  const ctx = sound.ctx;
  const burst = ctx.createGain();
  burst.connect(ctx.destination);
  sound.bursts = [...sound.bursts.slice(-3), burst];
  for (const offset of pattern.pulses) {
    const start = at + offset;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "triangle";
    osc.frequency.value = pattern.freq;
    gain.gain.setValueAtTime(0, start); // short ramps: no clicks
    gain.gain.linearRampToValueAtTime(0.35, start + 0.015);
    gain.gain.setValueAtTime(0.35, start + pattern.length - 0.02);
    gain.gain.linearRampToValueAtTime(0, start + pattern.length);
    osc.connect(gain).connect(burst);
    osc.start(start);
    osc.stop(start + pattern.length);
  }
}

// Trust in the screen: the link banner -----------------------------------------------------------

/** What makes the screen untrustworthy now, worst first. */
function linkProblems(nowMs) {
  const problems = [];
  const link = station.link;
  if (!station.socketOpen && !station.everOpened && nowMs < STALE_LINK_MS) return problems;
  if (!station.socketOpen || nowMs - station.lastHeard > STALE_LINK_MS) {
    problems.push({ code: "connection", short: "connection lost",
      text: "Connection to the dashboard server lost", detail: reconnectDetail(nowMs) });
    return problems;
  }
  if (link && link.broker === false) {
    problems.push({ code: "broker", short: "broker unreachable",
      text: "The dashboard cannot reach the MQTT broker", detail: "" });
  }
  const service = link ? link.service : "unknown";
  if (service === "offline" || service === "silent") {
    problems.push({ code: "service", short: "monitoring service down",
      text: "The monitoring service is not running — alarms are not being raised",
      detail: (link && link.detail) || "" });
  } else if (service !== "online" && nowMs - station.connectedAt > SERVICE_UNKNOWN_GRACE_MS) {
    problems.push({ code: "service-unknown", short: "monitoring service not heard from",
      text: "No word from the monitoring service — alarms may not be raised",
      detail: (link && link.detail) || "" });
  }
  return problems;
}

function reconnectDetail(nowMs) {
  if (station.socketOpen) return "Nothing heard from the server: reconnecting…";
  if (station.reconnectAt === null) return "Connecting…";
  const left = Math.max(0, Math.ceil((station.reconnectAt - nowMs) / 1000));
  return left > 0 ? `Reconnecting in ${left} s…` : "Reconnecting…";
}

function updateLink() {
  const nowMs = performance.now();
  const problems = linkProblems(nowMs);
  const changed = problems.map((p) => p.code).join() !== station.problems.map((p) => p.code).join();
  station.problems = problems;
  const banner = $("link-warning");
  banner.hidden = problems.length === 0;
  banner.dataset.reason = problems.map((p) => p.code).join(" ");
  setData(document.body, "link", problems.length ? problems[0].code : "ok");
  const lines = problems.map((p) => el("span", { class: "reason" }, p.text));
  const text = $("link-warning-text");
  if (text.textContent !== problems.map((p) => p.text).join("")) text.replaceChildren(...lines);
  setText($("link-warning-detail"), problems.map((p) => p.detail).filter(Boolean).join(" · "));
  if (changed) {
    for (const entry of station.chairs.values()) tickStale(entry);
    updateTone();
  }
}

// The websocket ----------------------------------------------------------------------------------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}

function connect() {
  station.reconnectAt = null;
  let socket;
  try {
    socket = new WebSocket(socketUrl());
  } catch (err) {
    scheduleReconnect(false);
    return;
  }
  station.socket = socket;
  let opened = false;
  socket.addEventListener("open", () => {
    if (station.socket !== socket) return;
    opened = true;
    station.everOpened = true;
    station.socketOpen = true;
    station.attempt = 0;
    station.connectedAt = station.lastHeard = performance.now();
    station.link = null;
    clearChairs(); // rebuilt from this connection's messages only
    updateLink();
  });
  socket.addEventListener("message", (event) => {
    if (station.socket === socket) onMessage(event.data);
  });
  socket.addEventListener("close", (event) => {
    if (station.socket !== socket) return;
    dropSocket();
    if (event.code === 4401) {
      location.assign("/login");
      return;
    }
    scheduleReconnect(!opened);
  });
}

/** Forget the current socket (closed, or silent for too long) and fail what awaited an answer. */
function dropSocket() {
  const socket = station.socket;
  station.socket = null;
  station.socketOpen = false;
  failPending("the connection to the dashboard server was lost");
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
  updateLink();
}

function scheduleReconnect(neverOpened) {
  const delay = BACKOFF_S[Math.min(station.attempt, BACKOFF_S.length - 1)];
  station.attempt += 1;
  station.reconnectAt = performance.now() + delay * 1000;
  setTimeout(connect, delay * 1000);
  // The server refuses the socket of a logged-out browser before it opens; a refused socket
  // looks like a network failure, so ask the page itself whether we are still logged in.
  if (neverOpened) checkLoggedIn();
}

async function checkLoggedIn() {
  try {
    const response = await fetch("/", { redirect: "manual", cache: "no-store" });
    if (response.type === "opaqueredirect" || response.status === 401) location.assign("/login");
  } catch (err) {
    // The server is unreachable: the banner already says so.
  }
}

function onMessage(text) {
  station.lastHeard = performance.now();
  let message;
  try {
    message = JSON.parse(text);
  } catch (err) {
    return;
  }
  if (!message || typeof message !== "object") return;
  const handlers = { hello: onHello, chair: onChair, alarm: onAlarm, link: onLinkMessage,
    result: onResult, ping: () => {} };
  const handler = handlers[message.type];
  if (handler) handler(message);
  if (station.problems.length) updateLink(); // heard again: the banner may come down now
}

function onHello(message) {
  station.user = message.user || null;
  station.site = message.site || "";
  if (Number.isFinite(message.audio_pause_s) && message.audio_pause_s > 0) {
    station.audioPauseS = message.audio_pause_s;
  }
  setText($("site-name"), station.site ? `· ${station.site}` : "");
  const user = station.user;
  setText($("user"), user ? `${user.name || "?"} (${user.role || "?"})` : "");
  document.title = `Infusion monitor${station.site ? `: ${station.site}` : ""}`;
  for (const entry of station.chairs.values()) { entry.actionsKey = null; rerender(entry.name); }
}

function onLinkMessage(message) {
  station.link = message;
  updateLink();
}

// The clock ---------------------------------------------------------------------------------------

function tick() {
  const now = new Date();
  const clock = $("clock");
  setText(clock, now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false }));
  clock.dateTime = now.toISOString();
  if (station.socketOpen && performance.now() - station.lastHeard > DEAD_LINK_MS) {
    dropSocket(); // a half-open connection never closes by itself
    scheduleReconnect(false);
  }
  updateLink();
  for (const entry of station.chairs.values()) tickTile(entry);
  updateTone();
}

function start() {
  $("tiles").addEventListener("click", onTileClick);
  $("sound-toggle").addEventListener("click", enableSound);
  wireDialogs();
  new ResizeObserver(layoutGrid).observe($("tiles"));
  enableSoundIfAllowed();
  connect();
  tick();
  // Half-second ticks: the banner is never more than 0.5 s late and the clocks never skip.
  setInterval(tick, 500);
}

/** Where the browser allows sound without a click (a kiosk policy), turn it on straight away. */
function enableSoundIfAllowed() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  const ctx = new Context();
  if (ctx.state === "running") {
    sound.ctx = ctx;
    ctx.addEventListener("statechange", showSoundControl);
  } else {
    ctx.close();
  }
  showSoundControl();
}

start();
