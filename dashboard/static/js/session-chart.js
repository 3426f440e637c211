// The session view's chart: the whole session of one chair against time, BP and HR in one panel
// and SpO2 below, with the limits, the baseline band, the infusion and recovery windows and a
// marker per alarm transition. Everything from the network goes in as SVG attributes or text.

import { linePath } from "./chart.js";
import { $, el, svgEl } from "./dom.js";
import { parseTime, timeText } from "./time.js";

const GAP_S = { hr: 60, spo2: 60, sbp: 1500, dbp: 1500 }; // longer than this: the line breaks
const M = { left: 64, right: 120, top: 40, bottom: 36, gap: 34 }; // chart margins (px)
const BP_PANEL = 0.7; // share of the plot height for BP and HR; SpO2 gets the rest

/** Everything the chart needs, in epoch seconds and plain numbers. */
function chartModel(view) {
  const state = view.chair || {};
  const history = view.history || {};
  const limits = state.limits || {};
  const inf = state.infusion || {};
  const started = parseTime(inf.started_at);
  const stopped = parseTime(inf.stopped_at) ?? parseTime(state.recovery && state.recovery.infusion_stopped_at);
  const now = parseTime(state.ts) ?? Date.now() / 1000;
  const windowS = state.recovery ? state.recovery.window_minutes * 60 : (limits.recovery_window_s || 1200);
  const alarms = (view.alarms || []).map((a) => ({ ...a, t: parseTime(a.ts) })).filter((a) => a.t);
  const times = [now, started, stopped, parseTime(state.phase_since),
    ...Object.values(history).flatMap((pts) => (pts || []).map((p) => p[0])),
    ...alarms.map((a) => a.t)].filter(Number.isFinite);
  let t0 = Math.min(...times);
  let t1 = Math.max(...times, stopped ? stopped + windowS : -Infinity);
  if (t1 - t0 < 600) t1 = t0 + 600; // at least ten minutes wide
  return { state, history, limits, started, stopped, now, windowS, alarms, t0, t1,
    baseline: state.baseline || {}, tolerance: limits.recovery_tolerance ?? 0.2 };
}

export function drawChart(view) {
  const svg = $("session-chart");
  const width = Math.max(640, svg.parentElement.clientWidth - 16);
  const height = Math.max(420, Math.min(680, Math.round(window.innerHeight * 0.62)));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const m = chartModel(view);
  const plotH = height - M.top - M.bottom - M.gap;
  const x = scaleTime(m.t0, m.t1, M.left, width - M.right);
  const bpPanel = panel(M.top, plotH * BP_PANEL, bpRange(m));
  const spo2Panel = panel(M.top + plotH * BP_PANEL + M.gap, plotH * (1 - BP_PANEL), spo2Range(m));
  svg.replaceChildren(defs());
  const layers = { bands: svgEl("g"), grid: svgEl("g"), limits: svgEl("g"), lines: svgEl("g"),
    markers: svgEl("g"), axes: svgEl("g") };
  svg.append(...Object.values(layers));
  drawWindows(layers.bands, m, x, bpPanel, spo2Panel);
  drawBaselineBands(layers.bands, m, x, bpPanel);
  drawGrid(layers.grid, layers.axes, m, x, [bpPanel, spo2Panel], width);
  drawLimits(layers.limits, m, x, bpPanel, spo2Panel);
  drawVitals(layers.lines, m, x, bpPanel, spo2Panel);
  drawAlarmMarkers(layers.markers, m, x, spo2Panel.bottom);
  drawPanelLabels(layers.axes, bpPanel, spo2Panel);
  renderLegend();
}

function scaleTime(t0, t1, left, right) {
  const f = (t) => left + ((t - t0) / (t1 - t0)) * (right - left);
  f.left = left;
  f.right = right;
  f.t0 = t0;
  f.t1 = t1;
  return f;
}

/** A panel: its vertical extent and value range, with y(value) -> px. */
function panel(top, height, [lo, hi]) {
  const y = (v) => top + height - ((v - lo) / (hi - lo)) * height;
  return { top, height, bottom: top + height, lo, hi, y };
}

function bpRange(m) {
  const values = ["sbp", "dbp", "hr"].flatMap((v) => (m.history[v] || []).map((p) => p[1]));
  const l = m.limits;
  const lo = Math.min(30, ...values, l.hr_low ?? 45) - 5;
  const hi = Math.max(200, ...values, l.sbp_high ?? 180) + 10;
  return [Math.floor(lo / 10) * 10, Math.ceil(hi / 10) * 10];
}

function spo2Range(m) {
  const values = (m.history.spo2 || []).map((p) => p[1]);
  const lo = Math.min(84, ...values, (m.limits.spo2_low ?? 90) - 4);
  return [Math.floor(lo / 2) * 2, 100];
}

function defs() {
  const d = svgEl("defs");
  const pattern = svgEl("pattern", { id: "recovery-hatch", width: 12, height: 12,
    patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  pattern.append(svgEl("rect", { width: 12, height: 12, fill: "rgba(60, 240, 124, 0.06)" }),
    svgEl("line", { class: "hatch-line", x1: 0, y1: 0, x2: 0, y2: 12 }));
  d.append(pattern);
  return d;
}

/** The infusion window, and the recovery window after it, across both panels. */
function drawWindows(g, m, x, top, bottom) {
  const span = (a, b, cls, label) => {
    if (!Number.isFinite(a) || !Number.isFinite(b) || b <= a) return;
    const x0 = Math.max(x.left, x(a));
    const x1 = Math.min(x.right, x(b));
    for (const p of [top, bottom]) {
      g.append(svgEl("rect", { class: cls, x: x0, y: p.top, width: x1 - x0, height: p.height }));
    }
    g.append(svgEl("text", { class: "band-label", x: x0 + 4, y: top.top + 14 }, label));
  };
  const infusionEnd = m.stopped ?? m.now;
  span(m.started, infusionEnd, "band-infusion", m.stopped ? "infusion" : "infusion (running)");
  if (m.stopped) {
    span(m.stopped, m.stopped + m.windowS, "band-recovery", `recovery window ${Math.round(m.windowS / 60)} min`);
  }
}

/** Baseline ± tolerance for SBP and DBP: where recovery counts as back to baseline. */
function drawBaselineBands(g, m, x, p) {
  for (const vital of ["sbp", "dbp"]) {
    const base = m.baseline[vital];
    if (!Number.isFinite(base)) continue;
    const yHi = p.y(base * (1 + m.tolerance));
    const yLo = p.y(base * (1 - m.tolerance));
    const title = svgEl("title", {}, `${vital.toUpperCase()} baseline ${Math.round(base)} ± ${Math.round(m.tolerance * 100)} %`);
    const rect = svgEl("rect", { class: `band-baseline ${vital}`, x: x.left, y: yHi,
      width: x.right - x.left, height: yLo - yHi });
    rect.append(title);
    g.append(rect);
  }
}

function drawGrid(grid, axes, m, x, panels, width) {
  for (const p of panels) {
    const step = p.hi - p.lo > 60 ? 20 : 2;
    for (let v = Math.ceil(p.lo / step) * step; v <= p.hi; v += step) {
      grid.append(svgEl("line", { class: "chart-grid", x1: x.left, x2: x.right, y1: p.y(v), y2: p.y(v) }));
      axes.append(svgEl("text", { class: "chart-tick", x: x.left - 6, y: p.y(v) + 4, "text-anchor": "end" }, String(v)));
    }
    axes.append(svgEl("rect", { class: "chart-axis", x: x.left, y: p.top, width: x.right - x.left,
      height: p.height, fill: "none" }));
  }
  const bottom = panels[panels.length - 1].bottom;
  const step = timeStep(m.t1 - m.t0, x.right - x.left);
  for (let t = Math.ceil(m.t0 / step) * step; t <= m.t1; t += step) {
    for (const p of panels) {
      grid.append(svgEl("line", { class: "chart-grid", x1: x(t), x2: x(t), y1: p.top, y2: p.bottom }));
    }
    axes.append(svgEl("text", { class: "chart-tick", x: x(t), y: bottom + 18, "text-anchor": "middle" },
      timeText(t, false)));
  }
  axes.append(svgEl("text", { class: "chart-tick", x: width - M.right, y: bottom + 32, "text-anchor": "end" },
    "local time"));
}

/** Seconds between time labels: about one label per 90 px, on round minutes. */
function timeStep(spanS, px) {
  const wanted = spanS / Math.max(1, px / 90);
  return [60, 120, 300, 600, 900, 1800, 3600, 7200].find((s) => s >= wanted) || 14400;
}

/** The absolute limits as dashed lines, each named at the right edge. */
function drawLimits(g, m, x, bp, spo2) {
  const lines = [
    ["sbp_high", "sbp", bp, "SBP high"], ["sbp_low", "sbp", bp, "SBP low"],
    ["dbp_high", "dbp", bp, "DBP high"], ["hr_high", "hr", bp, "HR high"],
    ["hr_low", "hr", bp, "HR low"], ["spo2_low", "spo2", spo2, "SpO₂ low"],
  ];
  for (const [key, cls, p, label] of lines) {
    const v = m.limits[key];
    if (!Number.isFinite(v) || v < p.lo || v > p.hi) continue;
    g.append(svgEl("line", { class: `chart-limit ${cls}`, "data-limit": key, x1: x.left, x2: x.right,
      y1: p.y(v), y2: p.y(v) }));
    g.append(svgEl("text", { class: `chart-limit-label ${cls}`, x: x.right + 6, y: p.y(v) + 4 },
      `${label} ${Math.round(v)}`));
  }
}

function drawVitals(g, m, x, bp, spo2) {
  const series = [["dbp", bp], ["sbp", bp], ["hr", bp], ["spo2", spo2]];
  for (const [vital, p] of series) {
    const points = (m.history[vital] || []).filter((q) => Number.isFinite(q[0]) && Number.isFinite(q[1]));
    const d = linePath(points, x, p.y, { gapS: GAP_S[vital], digits: 1 });
    if (d) g.append(svgEl("path", { class: `chart-line ${vital}`, "data-vital": vital, d }));
    if (vital === "sbp" || vital === "dbp") {
      for (const [t, v] of points) {
        const dot = svgEl("circle", { class: `chart-dot ${vital}`, cx: x(t), cy: p.y(v), r: 3.5 });
        dot.append(svgEl("title", {}, `${vital.toUpperCase()} ${Math.round(v)} at ${timeText(t)}`));
        g.append(dot);
      }
    }
  }
}

/** A tick per alarm transition in the lane above the chart; a raise also runs down the chart. */
function drawAlarmMarkers(g, m, x, bottom) {
  for (const a of m.alarms) {
    if (a.t < x.t0 || a.t > x.t1) continue;
    const raised = a.state === "active" && a.previous_state !== "acknowledged";
    const tick = svgEl("line", { class: "alarm-marker", "data-marker": "alarm", "data-alarm": a.alarm,
      "data-priority": a.priority, "data-state": a.state, "data-class": a.class || "physiological",
      x1: x(a.t), x2: x(a.t), y1: 6, y2: raised ? bottom : M.top - 6,
      "stroke-opacity": raised ? 0.8 : 1 });
    tick.append(svgEl("title", {}, `${timeText(a.t)} ${(a.priority || "").toUpperCase()} ${a.state}: ${a.text || a.kind}`));
    g.append(tick);
  }
}

function drawPanelLabels(g, bp, spo2) {
  g.append(svgEl("text", { class: "chart-label", x: 8, y: bp.top - 8 }, "mmHg · /min"));
  g.append(svgEl("text", { class: "chart-label", x: 8, y: spo2.top - 8 }, "SpO₂ %"));
}

function renderLegend() {
  const items = [
    ["SBP", "#ff8c8c"], ["DBP", "#ffc08c"], ["HR", "#3cf07c"], ["SpO₂", "#8fc8ff"],
    ["limits (dashed)", "repeating-linear-gradient(90deg,#ff5c5c 0 6px,transparent 6px 10px)"],
    ["baseline ± tolerance", "rgba(255,140,140,0.35)"], ["infusion", "rgba(120,160,255,0.4)"],
    ["recovery window", "repeating-linear-gradient(45deg,rgba(60,240,124,0.5) 0 3px,transparent 3px 8px)"],
    ["alarm: high / medium / low, technical", "linear-gradient(90deg,#ff2d2d 0 33%,#ffd400 33% 66%,#2fd8ff 66%)"],
  ];
  $("chart-legend").replaceChildren(...items.map(([label, colour]) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = colour;
    return el("span", {}, swatch, label);
  }));
}
