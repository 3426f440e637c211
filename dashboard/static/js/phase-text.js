// A tile's phase line in words: the phase with its clock, a detail beside it and, small under
// it, why (no BP baseline, why the last cuff did not count). Pure text from a chair's state.

import { clockText, parseTime } from "./time.js";

/** [phase with its clock, detail, reason (small, below)]; `since` is how long ago (s) the state
 * was current, `now` the chair's clinical now, `recoveryEvent` its latest recovery event. */
export function phaseText(state, recoveryEvent, since, now) {
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
    const by = recoveryEvent && recoveryEvent.discharged_by ? `by ${recoveryEvent.discharged_by}` : "";
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
