// The session view (/session/<chair>): the whole current (or last) session of one chair on one
// chart (session-chart.js) and every alarm transition in a table. Everything from the network
// goes in with textContent or as SVG attributes, never as markup.

import { kindLabel, PRIORITY_MARKS } from "./alarm-kinds.js";
import { $, el } from "./dom.js";
import { renderSessionActions, wireSessionActions } from "./session-actions.js";
import { drawChart } from "./session-chart.js";
import { wireConfirm } from "./dialogs.js";
import { sessionPage } from "./state.js";
import { parseTime, timeText } from "./time.js";

const CHAIR_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const REFRESH_MS = 10000; // a live session keeps drawing itself

function chairFromPath() {
  const parts = location.pathname.split("/").filter(Boolean);
  const name = decodeURIComponent(parts[parts.length - 1] || "");
  return CHAIR_NAME.test(name) ? name : null;
}

// Loading -----------------------------------------------------------------------------------------

async function load(chair) {
  let response;
  try {
    response = await fetch(`/api/dashboard/session/${encodeURIComponent(chair)}`,
      { cache: "no-store", headers: { Accept: "application/json" } });
  } catch (err) {
    return showError("The dashboard server cannot be reached. The chart below may be out of date.");
  }
  if (response.status === 401) return location.assign("/login");
  if (response.status === 404) return showError(`Chair ${chair} has not reported yet.`);
  if (!response.ok) return showError(`The server answered ${response.status}.`);
  let view;
  try {
    view = await response.json();
  } catch (err) {
    return showError("The server's answer could not be read.");
  }
  $("session-error").hidden = true;
  sessionPage.lastView = view;
  render(view);
  await renderSessionActions(chair, view);
  $("updated").textContent = `updated ${timeText(Date.now() / 1000)}`;
}

function showError(text) {
  const box = $("session-error");
  box.textContent = text;
  box.hidden = false;
}

// Title and facts ---------------------------------------------------------------------------------

function render(view) {
  const state = view.chair || {};
  renderTitle(state);
  renderFacts(state);
  drawChart(view);
  renderTable(view.alarms || []);
}

function renderTitle(state) {
  const title = `Chair ${state.chair || "?"}${state.patient ? ` · ${state.patient}` : ""}`;
  $("session-title").textContent = title;
  document.title = `Infusion monitor: ${title}`;
  const status = $("session-status");
  const parts = [el("span", {}, `phase ${state.phase || "unknown"}`)];
  const r = state.recovery;
  if (r) {
    const words = { watching: "watching for return to baseline", recovered: "back to baseline",
      overdue: "OVERDUE: not back to baseline in the window", recovered_late: "back to baseline, late",
      cannot_assess: "cannot be assessed", discharged_unconfirmed: "discharged before it was confirmed" };
    const at = r.recovered_at ? ` at ${timeText(parseTime(r.recovered_at))}` : "";
    parts.push(" · recovery: ", el("span", { class: r.status }, `${words[r.status] || r.status}${at}`));
    if (r.reason) parts.push(" ", el("span", { class: "session-reason" }, `(${r.reason})`));
  }
  status.replaceChildren(...parts);
}

function renderFacts(state) {
  const facts = [];
  const b = state.baseline;
  if (b) {
    const noBp = b.missing ? `no BP (${b.missing})` : "BP not yet known";
    const bp = b.sbp && b.dbp ? `${Math.round(b.sbp)}/${Math.round(b.dbp)} mmHg` : noBp;
    const hr = b.hr ? `, HR ${Math.round(b.hr)}` : "";
    const spo2 = b.spo2 ? `, SpO₂ ${Math.round(b.spo2)} %` : "";
    facts.push(`Baseline ${bp}${hr}${spo2} (${b.source}, ${b.nibp_readings} BP readings${b.frozen ? ", frozen" : ""})`);
  }
  const inf = state.infusion;
  if (inf && inf.started_at) {
    const stop = inf.stopped_at ? ` to ${timeText(parseTime(inf.stopped_at))}` : " (running)";
    const drug = inf.drug ? `${inf.drug}${inf.dose_mg_per_kg ? ` ${inf.dose_mg_per_kg} mg/kg` : ""}, ` : "";
    const planned = inf.planned_minutes ? ` of ${inf.planned_minutes} planned` : "";
    facts.push(`Infusion ${drug}${timeText(parseTime(inf.started_at))}${stop}, ${inf.running_minutes.toFixed(1)} min${planned}`);
  }
  if (state.device) facts.push(`Monitor ${state.device.device || ""} ${state.device.state}`.replace("  ", " "));
  $("session-facts").textContent = facts.join(" · ");
}

// The alarm table ---------------------------------------------------------------------------------

function renderTable(alarms) {
  const body = $("alarm-table").querySelector("tbody");
  $("alarm-empty").hidden = alarms.length > 0;
  body.replaceChildren(...alarms.map((a) => el("tr", { "data-alarm": a.alarm || "",
    "data-priority": a.priority || "", "data-state": a.state || "" },
  el("td", { class: "time" }, timeText(parseTime(a.ts))),
  el("td", {}, kindLabel(a.kind), " ", el("code", { class: "kind" }, a.kind || "")),
  el("td", { class: "priority" }, `${PRIORITY_MARKS[a.priority] || ""} ${(a.priority || "").toUpperCase()}`.trim()),
  el("td", {}, a.state || ""),
  el("td", {}, a.text || "", ...(a.note ? [el("br"), el("small", { class: "note" }, a.note)] : [])),
  el("td", {}, a.acknowledged_by || ""),
  el("td", { class: "time" }, timeText(parseTime(a.acknowledged_at))))));
}

/** Opened from the station in its own tab: close it, the station is still there behind it. */
function backToStation(event) {
  if (history.length > 1) return; // reached by navigation: follow the link
  event.preventDefault();
  window.close();
  setTimeout(() => location.assign("/"), 200); // the browser would not close it
}

// Start -------------------------------------------------------------------------------------------

function start() {
  const chair = chairFromPath();
  if (!chair) {
    showError("This address names no chair: open a session from the dashboard.");
    return;
  }
  $("session-title").textContent = `Chair ${chair}`;
  $("refresh").addEventListener("click", () => load(chair));
  $("back-link").addEventListener("click", backToStation);
  wireConfirm();
  wireSessionActions(() => load(chair));
  window.addEventListener("resize", () => sessionPage.lastView && drawChart(sessionPage.lastView));
  load(chair);
  setInterval(() => {
    const last = sessionPage.lastView;
    const phase = last && last.chair && last.chair.phase;
    if (!document.hidden && phase !== "discharged" && phase !== "empty") load(chair);
  }, REFRESH_MS);
}

start();
