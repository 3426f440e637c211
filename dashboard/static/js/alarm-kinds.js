// Alarms in words and marks, for the station and the session view. An alarm's own `text` says
// what happened ("SBP 186 > 180 mmHg"); these name the kind where a kind is shown.

// A priority's second cue beside its colour and word, for those who cannot tell the colours.
export const PRIORITY_MARKS = { high: "***", medium: "**", low: "*" };

export const KIND_LABELS = {
  sbp_high: "SBP high",
  sbp_low: "SBP low",
  dbp_high: "DBP high",
  sbp_rise: "SBP rise over baseline",
  dbp_rise: "DBP rise over baseline",
  hr_high: "HR high",
  hr_low: "HR low",
  spo2_low: "SpO₂ low",
  spo2_critical: "SpO₂ critical (below 85 %)",
  no_pulse: "Check patient: no HR and no SpO₂",
  recovery_overdue: "Recovery overdue",
  preinfusion_bp_high: "BP high before the infusion",
  monitor_offline: "Monitor offline",
  vitals_stale: "No vital signs",
  hr_stale: "No HR data",
  spo2_stale: "No SpO₂ data",
  nibp_stale: "No BP data",
  clock_step: "Monitor clock stepped",
  baseline_incomplete: "Baseline incomplete",
  spo2_probe_off: "SpO₂ probe off",
  nibp_failed: "NIBP measurement failed",
  leads_off: "ECG leads off",
  monitor_service_down: "Monitoring service down",
  paging_failed: "Paging failed",
};

// What an alarm shown under another (its `suppressed_by`) adds to that alarm's line.
const UNDER_LABELS = {
  sbp_rise: "rise over baseline",
  dbp_rise: "rise over baseline",
};

/** "sbp_high" -> "SBP high"; a kind this station does not know yet, in plain words. */
export function kindLabel(kind) {
  if (typeof kind !== "string" || !kind) return "alarm";
  return KIND_LABELS[kind] || kind.replaceAll("_", " ");
}

/** "sbp_rise" -> "rise over baseline": beside the absolute alarm it is shown under. */
export function underLabel(kind) {
  return UNDER_LABELS[kind] || kindLabel(kind);
}
