// The chairs' tiles: built once per chair, redrawn on each of its messages and ticked between
// them (clocks, ages, NO DATA, STALE), so a tile whose data stopped keeps ageing instead of
// looking calm. Each vital has its own NO DATA too: a vital the service marks `stale`, or one
// missing from a session's state, shows NO DATA in place of its number while the others keep theirs.

import { renderActions, tickPauseButton } from "./action-row.js";
import { renderBar } from "./alarm-bar.js";
import { renderAlarms } from "./alarm-lines.js";
import { alarmTone, NEEDS_ACK, shownAlarms, worstOf } from "./alarms.js";
import { drawSpark } from "./chart.js";
import { $, el, setData, setText, svgEl } from "./dom.js";
import { phaseText } from "./phase-text.js";
import { recoveryGlance } from "./recovery-text.js";
import { inSession } from "./rules.js";
import { station, untrusted } from "./state.js";
import { ageText, chairNow, clockText, parseTime } from "./time.js";

const NO_DATA_S = 60; // newest vital older than this: NO DATA
const OLD_S = { hr: 30, spo2: 30, bp: 15 * 60 }; // a numeric older than this is greyed
const TREND_S = 30 * 60; // what a sparkline spans
const ERROR_SHOW_MS = 8000;
const TILE_ASPECT = 1.3; // width / height the tiles look best at

// Construction -----------------------------------------------------------------------------------

export function buildTile(name) {
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
  // Recovery at a glance: a mark, words and a colour per status, the cuffs, the last cuff.
  t.recoveryMark = el("span", { class: "recovery-mark", "data-role": "recovery-mark",
    "aria-hidden": "true" });
  t.recoveryWords = el("span", { class: "recovery-words", "data-role": "recovery-words" });
  t.recoveryCuffs = el("span", { class: "recovery-cuffs", "data-role": "recovery-cuffs" });
  t.recoveryLastCuff = el("span", { class: "recovery-last-cuff", "data-role": "recovery-last-cuff" });
  t.recovery = el("div", { class: "recovery-glance", "data-role": "recovery", "data-status": "none",
    hidden: "" }, t.recoveryMark, t.recoveryWords, t.recoveryCuffs, t.recoveryLastCuff);
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
  el("div", { class: "tile-phase" }, t.phase, t.phaseDetail, t.recovery, t.phaseReason),
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
export function placeTiles() {
  const grid = $("tiles");
  const names = [...station.chairs.keys()].sort(
    (a, b) => a.localeCompare(b, undefined, { numeric: true }));
  // Only tiles out of place move (a new chair's): re-appending every tile for each new chair
  // made a station that connects to many chairs take seconds to load.
  let before = grid.querySelector("[data-chair]");
  for (const name of names) {
    const root = station.chairs.get(name).tile.root;
    if (root === before) {
      before = before.nextElementSibling;
      while (before && !before.dataset.chair) before = before.nextElementSibling;
    } else {
      grid.insertBefore(root, before);
    }
  }
  $("no-chairs").hidden = names.length > 0;
  scheduleLayout();
}

/** The grid's shape once the chairs arriving together are all in (reading its size forces a
 * layout of every tile: once per batch, not once per chair). */
function scheduleLayout() {
  if (station.layoutPending) return;
  station.layoutPending = true;
  setTimeout(() => {
    station.layoutPending = false;
    layoutGrid();
  }, 50);
}

/** Columns and rows that give the largest tiles of about TILE_ASPECT in the space there is. */
export function layoutGrid() {
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

// Rendering (on each message) --------------------------------------------------------------------

export function renderTile(entry) {
  const { state, tile } = entry;
  setText(tile.patient, state.patient || "");
  setData(tile.root, "phase", state.phase || "unknown");
  renderVitals(entry);
  renderAlarms(entry);
  renderPriority(entry);
  renderActions(entry);
  tickTile(entry);
  renderBar(); // the station-wide bar follows every chair's alarms
}

/** Redraw a chair's tile, if it has a state to draw. */
export function rerender(chair) {
  const entry = station.chairs.get(chair);
  if (entry && entry.state) renderTile(entry);
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
  const session = inSession(state.phase);
  const round = (v) => (v && Number.isFinite(v.value) ? String(Math.round(v.value)) : "--");
  const fresh = (v, label) => (v && v.stale !== true ? `${label} ${round(v)}` : "");
  const view = (parts, reading, extra) => {
    const present = parts.filter(Boolean);
    const lost = present.some((v) => v.stale === true) || (session && present.length === 0);
    return { reading: present.length ? reading : null, extra, lost };
  };
  return {
    hr: view([vitals.hr], round(vitals.hr), fresh(vitals.pr, "PR")),
    spo2: view([vitals.spo2], round(vitals.spo2), ""),
    bp: view([vitals.sbp, vitals.dbp], `${round(vitals.sbp)}/${round(vitals.dbp)}`,
      fresh(vitals.map, "MAP")),
  };
}

/** A line on the tile that says an action failed; it goes away by itself. */
export function showTileError(chair, text) {
  const entry = station.chairs.get(chair);
  if (!entry) return;
  const box = entry.tile.error;
  setText(box, text);
  box.hidden = false;
  clearTimeout(entry.errorTimer);
  entry.errorTimer = setTimeout(() => { box.hidden = true; }, ERROR_SHOW_MS);
}

// Ticking (twice a second): clocks, ages, NO DATA, the audio pause countdown, STALE ------------

export function tickTile(entry) {
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
  const [text, detail, reason = ""] = phaseText(state, entry.recoveryEvent, now - entry.ts, now);
  setText(tile.phase, text);
  setText(tile.phaseDetail, detail);
  setText(tile.phaseReason, reason);
  tile.phaseReason.title = reason; // the whole reason when a narrow tile cuts it
  const overdue = state.recovery && state.recovery.status === "overdue";
  setData(tile.root, "recovery", state.recovery ? state.recovery.status : "none");
  tile.phaseDetail.classList.toggle("overdue", Boolean(overdue));
  tickRecovery(entry, now);
}

function tickRecovery(entry, now) {
  const { state, tile } = entry;
  const lastCuff = entry.vitalTs.sbp ?? entry.vitalTs.dbp;
  const glance = recoveryGlance(state, entry.recoveryEvent, now - entry.ts, now, lastCuff);
  tile.recovery.hidden = !glance;
  setData(tile.recovery, "status", glance ? glance.status : "none");
  setText(tile.recoveryMark, glance ? glance.mark : "");
  setText(tile.recoveryWords, glance ? glance.words : "");
  setText(tile.recoveryCuffs, glance ? glance.cuffs : "");
  setText(tile.recoveryLastCuff, glance ? glance.lastCuff : "");
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

/** While the screen cannot be trusted, every tile says so (and why). */
export function tickStale(entry) {
  const problem = untrusted()[0];
  setData(entry.tile.root, "stale", String(Boolean(problem)));
  setText(entry.tile.stale, problem ? `STALE: ${problem.short}` : "");
}
