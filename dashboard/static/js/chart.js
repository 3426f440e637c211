// Vitals against time as SVG: the path both pages draw a vital's line with, and the tile's
// 30-minute sparkline.

import { svgEl } from "./dom.js";

/** Path data through [t, v] points: lines between them, broken where readings stopped for more
 * than `gapS`; with `dots`, a zero-length segment at each (drawn as a dot by a round cap). Points
 * that are not numbers are left out. */
export function linePath(points, x, y, { gapS, digits = 2, dots = false }) {
  let d = "";
  let last = null;
  for (const [t, v] of points) {
    if (!Number.isFinite(t) || !Number.isFinite(v)) continue;
    const move = last === null || t - last > gapS;
    d += `${move ? "M" : "L"}${x(t).toFixed(digits)} ${y(v).toFixed(digits)}`;
    if (dots) d += "l0 0";
    last = t;
  }
  return d;
}

/** A sparkline from `from` to `to` (epoch s) in a 100x30 box, each series with its baseline as a
 * dashed line; the value range is at least `minSpan` wide. */
export function drawSpark(svg, series, from, to, minSpan) {
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
    const points = (s.points || []).filter((p) => p[0] >= from);
    const d = linePath(points, x, y, { gapS: s.gapS, dots: s.dots });
    if (d) svg.append(svgEl("path", { class: `spark-line ${s.cls || ""}`, d,
      "vector-effect": "non-scaling-stroke" }));
  }
}
