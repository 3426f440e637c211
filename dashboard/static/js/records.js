// Session records (/records): past sessions found by date, chair, patient and outcome, each
// with its report (HTML and PDF) and exports, and the clinic summary of the same dates. Read
// only: every link is a GET. Everything from the network goes in as text, never as markup.

import { $, el, setText } from "./dom.js";
import { clockText, parseTime } from "./time.js";

const OUTCOME_MARKS = {
  recovered: "✓", recovered_late: "◷", overdue: "✕", discharged_unconfirmed: "!",
  cannot_assess: "?", no_infusion: "–", open: "…",
};
const EXPORTS = [
  ["report", "report.html", "Report"],
  ["pdf", "report.pdf", "PDF"],
  ["jsonl", "export?format=jsonl", "JSONL"],
  ["csv", "export?format=csv&table=readings", "CSV"],
  ["fhir", "export?format=fhir", "FHIR"],
];

function query(form) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (value.trim()) params.append(name, value.trim());
  return params;
}

async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
  } catch (err) {
    throw new Error("The monitor service cannot be reached.");
  }
  if (response.status === 401) {
    location.assign("/login");
    throw new Error("Log in first.");
  }
  if (response.status === 404) throw new Error("This station has no record to read: session records are served by the monitor service.");
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).detail; } catch (err) { /* no detail */ }
    throw new Error(`The server answered ${response.status}${detail ? `: ${detail}` : ""}.`);
  }
  return response.json();
}

function when(text) {
  const ts = parseTime(text);
  return ts === null ? "" : new Date(ts * 1000).toLocaleString([], { hour12: false });
}

function sessionRow(row) {
  const base = `/api/audit/sessions/${encodeURIComponent(row.id)}/`;
  const links = EXPORTS.map(([kind, path, label]) =>
    el("a", { href: base + path, "data-export": kind,
              target: kind === "report" ? "_blank" : null, rel: "noopener" }, label));
  const outcome = el("td", { class: "outcome", "data-outcome": row.outcome },
    `${OUTCOME_MARKS[row.outcome] || "?"} ${row.outcome_text || row.outcome}`);
  return el("tr", { "data-session": row.id },
    el("td", { class: "time" }, when(row.admitted_at)),
    el("td", {}, row.chair),
    el("td", {}, row.patient),
    outcome,
    el("td", { class: "time" }, row.duration_s === null ? "open" : clockText(row.duration_s)),
    el("td", {}, String(row.alarms)),
    el("td", { class: "exports" }, ...links.flatMap((a, i) => (i ? [" · ", a] : [a]))));
}

function percent(share) {
  return share === null ? "-" : `${Math.round(share * 100)} %`;
}

function number(value, unit) {
  return value === null || value === undefined ? "-" : `${Math.round(value * 10) / 10} ${unit}`;
}

function showSummary(summary) {
  const recovery = summary.recovery;
  const alarms = summary.alarms;
  const items = [
    ["Sessions", String(summary.sessions)],
    ["Back to baseline in the window", `${recovery.recovered} of ${recovery.assessable} (${percent(recovery.recovered_share)})`],
    ["Median time to baseline", number(recovery.time_to_baseline_median_min, "min")],
    ["Alarms per session-hour", number(alarms.per_session_hour, "")],
    ["Median time to acknowledge", number(alarms.ack_median_s, "s")],
    ["90th percentile to acknowledge", number(alarms.ack_p90_s, "s")],
    ["Unacknowledged high alarms", String(alarms.unacknowledged_high)],
    ["Pages sent", String(summary.paging.pages_sent)],
    ["Escalations", String(summary.paging.escalations)],
  ];
  $("summary").replaceChildren(...items.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  $("burden-body").replaceChildren(...alarms.by_kind_and_priority.map((b) =>
    el("tr", { "data-priority": b.priority },
      el("td", {}, b.kind), el("td", { class: "priority" }, b.priority), el("td", {}, String(b.alarms)),
      el("td", {}, number(b.per_session_hour, "")), el("td", {}, number(b.ack_median_s, "s")))));
}

async function search(form) {
  const params = query(form);
  setText($("records-error"), "");
  $("records-error").hidden = true;
  try {
    const [rows, summary] = await Promise.all([
      getJson(`/api/audit/sessions?${params}`),
      getJson(`/api/audit/summary?${new URLSearchParams([...params].filter(([k]) => ["from", "to", "chair"].includes(k)))}`),
    ]);
    $("records-body").replaceChildren(...rows.slice().reverse().map(sessionRow)); // newest first
    setText($("records-caption"), `Sessions (${rows.length})`);
    showSummary(summary);
  } catch (err) {
    setText($("records-error"), err.message);
    $("records-error").hidden = false;
  }
}

const form = $("records-search");
form.addEventListener("submit", (event) => {
  event.preventDefault();
  history.replaceState(null, "", `?${query(form)}`);
  search(form);
});
for (const [name, value] of new URLSearchParams(location.search)) {
  const field = form.elements.namedItem(name);
  if (field) field.value = value;
}
search(form);
