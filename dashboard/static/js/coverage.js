// Who covers which chairs (contract v1.3, the service's retained coverage) and the hand-over of
// a pager's chairs to another pager: a "Pagers" button in the header opens a panel with each
// pager, its holder's role and what it covers (its own chairs, "all other chairs" for the
// default, the charge nurse's step, the fail-safe group). A nurse on a break picks another pager
// and confirms; the hand-over goes out as the `hand_over` action, and the panel says when the
// service's new coverage shows it, or that it failed. No coverage message: the site does not
// page, and button and panel stay hidden. An auditor sees the coverage without the hand-over.
//
// The panel is a modal dialog that closes by itself after PANEL_IDLE_MS untouched, so it never
// hides the tiles for long.

import { sendAction } from "./actions.js";
import { $, el, setText } from "./dom.js";
import { canAct, station } from "./state.js";

const PANEL_IDLE_MS = 60000;
const CONFIRM_WAIT_MS = 10000; // a hand-over sent but not in the coverage by then: say so
const ROLE_WORDS = { nurse: "nurse", charge: "charge nurse", failsafe: "fail-safe" };
// A hand-over's phases: choosing (the picker open), sending (waiting for the server's result),
// failed (the picker stays, to try again), sent (waiting for the new coverage), done, unconfirmed.
const PICKING = ["choosing", "sending", "failed"];

export function onCoverage(message) {
  const coverage = message.coverage;
  station.coverage = coverage && Array.isArray(coverage.pagers) ? coverage : null;
  const handOver = station.handOver;
  if (handOver && handOver.phase === "sent" && station.coverage
      && coveredBy(station.coverage, handOver.pager).length === 0) {
    settleHandOver("done", `${pagerName(handOver.pager)}'s chairs are now covered by `
      + `${pagerName(handOver.to)}.`);
  }
  renderCoverage();
}

/** A new connection: its own messages say again whether the site pages. */
export function forgetCoverage() {
  station.coverage = null;
  renderCoverage();
}

export function wireCoverage() {
  const dialog = $("coverage-dialog");
  $("pagers-toggle").addEventListener("click", openPanel);
  dialog.querySelector('[data-action="close"]').addEventListener("click", () => dialog.close());
  $("coverage-list").addEventListener("click", onPanelClick);
  $("coverage-list").addEventListener("change", onPanelChange);
  for (const kind of ["pointerdown", "keydown", "change"]) dialog.addEventListener(kind, keepOpen);
  dialog.addEventListener("close", () => {
    clearTimeout(station.coveragePanel.idleTimer);
    const handOver = station.handOver;
    if (handOver && handOver.phase === "choosing") station.handOver = null;
  });
}

function openPanel() {
  renderCoverage();
  const dialog = $("coverage-dialog");
  if (!dialog.open) dialog.showModal();
  keepOpen();
}

function keepOpen() {
  const panel = station.coveragePanel;
  clearTimeout(panel.idleTimer);
  panel.idleTimer = setTimeout(() => {
    const dialog = $("coverage-dialog");
    if (dialog.open && !(station.handOver && station.handOver.phase === "sending")) dialog.close();
  }, PANEL_IDLE_MS);
}

// What each pager covers --------------------------------------------------------------------

/** What `pager` covers now, in words: "chairs c01, c02", "all other chairs", "charge nurse",
 * "fail-safe". */
function coveredBy(coverage, pager) {
  const primary = coverage.primary || {};
  const chairs = Object.keys(primary).filter((c) => primary[c] === pager)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const parts = [];
  if (chairs.length) parts.push(`${chairs.length === 1 ? "chair" : "chairs"} ${chairs.join(", ")}`);
  if (coverage.default === pager) {
    parts.push(Object.keys(primary).length ? "all other chairs" : "every chair");
  }
  if (coverage.charge === pager) parts.push("charge nurse");
  return parts;
}

function pagerName(id) {
  const pagers = (station.coverage && station.coverage.pagers) || [];
  const pager = pagers.find((p) => p.id === id);
  return pager ? pager.name || pager.id : id;
}

// Drawing -----------------------------------------------------------------------------------

export function renderCoverage() {
  const coverage = station.coverage;
  $("pagers-toggle").hidden = !coverage;
  const dialog = $("coverage-dialog");
  if (!coverage) {
    if (dialog.open) dialog.close();
    $("coverage-list").replaceChildren();
    return;
  }
  $("coverage-list").replaceChildren(...coverage.pagers.map((p) => pagerRow(coverage, p)));
}

function pagerRow(coverage, pager) {
  const covers = coveredBy(coverage, pager.id);
  if ((coverage.failsafe || []).includes(pager.id)) covers.push("fail-safe");
  const row = el("li", { class: "coverage-pager", "data-pager": pager.id },
    el("div", { class: "pager-who" },
      el("span", { class: "pager-name", "data-role": "name" }, pager.name || pager.id),
      el("span", { class: "pager-role", "data-role": "role" }, ROLE_WORDS[pager.role] || pager.role)),
    el("div", { class: "pager-covers", "data-role": "covers" },
      covers.length ? covers.join(" · ") : "covers no chair now"));
  if (canAct()) row.append(...handOverControls(coverage, pager));
  return row;
}

/** "Hand over…", or while this pager's hand-over is open: the other pagers to pick from, the
 * confirm button and what became of it. A pager that covers no chair has nothing to hand. */
function handOverControls(coverage, pager) {
  const handOver = station.handOver && station.handOver.pager === pager.id ? station.handOver : null;
  const status = el("p", { class: "hand-over-status", "data-role": "hand-over-status",
    "data-phase": handOver ? handOver.phase : "none", role: "status" }, handOver ? handOver.text : "");
  const handable = coveredBy(coverage, pager.id).length > 0;
  if (!handOver || !PICKING.includes(handOver.phase)) {
    const start = el("button", { type: "button", class: "hand-over", "data-action": "hand-over",
      disabled: handable && !(handOver && handOver.phase === "sent") ? null : "",
      "aria-label": `Hand over ${pager.name || pager.id}'s chairs…`,
      title: handable ? null : "Covers no chair to hand over (the fail-safe group stays as it is)",
    }, "Hand over…");
    return [start, status];
  }
  const others = coverage.pagers.filter((p) => p.id !== pager.id);
  const pick = el("select", { "data-role": "hand-over-to", "aria-label":
    `Hand ${pager.name || pager.id}'s chairs to`, disabled: handOver.phase === "sending" ? "" : null },
  el("option", { value: "" }, "choose a pager…"),
  ...others.map((p) => el("option", { value: p.id, selected: p.id === handOver.to ? "" : null },
    `${p.name || p.id} (${ROLE_WORDS[p.role] || p.role})`)));
  const confirm = el("button", { type: "button", class: "primary", "data-action": "hand-over-confirm",
    disabled: handOver.to && handOver.phase !== "sending" ? null : "" },
  handOver.to ? `Hand over to ${pagerName(handOver.to)}` : "Hand over");
  const cancel = el("button", { type: "button", class: "secondary", "data-action": "hand-over-cancel",
    disabled: handOver.phase === "sending" ? "" : null }, "Cancel");
  return [el("div", { class: "hand-over-row" },
    el("span", { class: "hand-over-label" }, "Hand over to"), pick, confirm, cancel), status];
}

// The hand-over -----------------------------------------------------------------------------

function onPanelClick(event) {
  const button = event.target.closest("button[data-action]");
  const row = button && button.closest("[data-pager]");
  if (!row || !canAct()) return;
  const pager = row.dataset.pager;
  const action = button.dataset.action;
  if (action === "hand-over") {
    clearTimeout(station.handOver && station.handOver.timer);
    station.handOver = { pager, to: "", phase: "choosing", text: "", timer: null };
  } else if (action === "hand-over-cancel") {
    station.handOver = null;
  } else if (action === "hand-over-confirm") {
    sendHandOver();
  }
  renderCoverage();
  focusIn(pager, action === "hand-over" ? '[data-role="hand-over-to"]' : '[data-action="hand-over"]');
}

function onPanelChange(event) {
  const handOver = station.handOver;
  if (!handOver || event.target.dataset.role !== "hand-over-to") return;
  handOver.to = event.target.value;
  renderCoverage();
  focusIn(handOver.pager, '[data-action="hand-over-confirm"]');
}

function focusIn(pager, selector) {
  const target = $("coverage-list").querySelector(`[data-pager="${CSS.escape(pager)}"] ${selector}`);
  if (target && !target.disabled) target.focus();
}

function sendHandOver() {
  const handOver = station.handOver;
  if (!handOver || !handOver.to || handOver.phase === "sending") return;
  const { pager, to } = handOver;
  handOver.phase = "sending";
  handOver.text = `Handing ${pagerName(pager)}'s chairs to ${pagerName(to)}…`;
  sendAction({ action: "hand_over", pager, to }, (ok, error) => {
    if (station.handOver !== handOver) return;
    if (!ok) {
      settleHandOver("failed", `Hand-over failed: ${error}. ${pagerName(pager)} still covers `
        + "the same chairs.");
      return;
    }
    handOver.phase = "sent";
    handOver.text = `Sent: waiting for the service to show ${pagerName(to)} covering `
      + `${pagerName(pager)}'s chairs…`;
    handOver.timer = setTimeout(() => {
      if (station.handOver === handOver && handOver.phase === "sent") {
        settleHandOver("unconfirmed", "The service has not shown the hand-over yet: "
          + `${pagerName(pager)} may still be paged for those chairs. Check the list, or try again.`);
      }
    }, CONFIRM_WAIT_MS);
    renderCoverage();
  });
}

/** The open hand-over ends: its words stay on its pager's row until another starts. A failed
 * one keeps its choice so that the nurse can try again. */
function settleHandOver(phase, text) {
  const handOver = station.handOver;
  if (!handOver) return;
  clearTimeout(handOver.timer);
  handOver.phase = phase;
  handOver.text = text;
  renderCoverage();
}
