// The station's own dialogs: admit a patient, and confirm an action (never window.confirm,
// which would freeze the whole station while it waits).

import { $, el, setText } from "./dom.js";
import { station } from "./state.js";

const CONFIRM_TIMEOUT_MS = 30000; // a forgotten confirmation must not block the station

/** Ask for the patient to admit to `chair`; `onAdmit(body)` gets the admit action to send. */
export function openAdmit(chair, onAdmit) {
  const dialog = $("admit-dialog");
  $("admit-form").reset();
  setText($("admit-error"), "");
  setText($("admit-chair"), `chair ${chair}`);
  dialog.dataset.chair = chair;
  station.admitting.onAdmit = onAdmit;
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
  const onAdmit = station.admitting.onAdmit;
  station.admitting.onAdmit = null;
  dialog.close();
  if (onAdmit) onAdmit(body);
}

/** Ask in the station's own dialog; `items` (alarm texts, say) are listed under the question. */
export function confirmThen(question, yesLabel, onYes, items = []) {
  const dialog = $("confirm-dialog");
  const confirming = station.confirming;
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

export function wireDialogs() {
  $("admit-form").addEventListener("submit", onAdmitSubmit);
  $("admit-dialog").querySelector('[data-action="cancel"]')
    .addEventListener("click", () => $("admit-dialog").close());
  wireConfirm();
}

/** The confirmation dialog, the same on both pages, built once (the session view has no
 * admission). */
function confirmDialog() {
  const buttons = el("div", { class: "dialog-buttons" },
    el("button", { type: "button", "data-action": "cancel", class: "secondary" }, "Cancel"),
    el("button", { type: "button", "data-action": "confirm", class: "primary danger" }));
  const dialog = el("dialog",
    { id: "confirm-dialog", class: "station-dialog", "aria-labelledby": "confirm-text" },
    el("form", { method: "dialog" },
      el("p", { id: "confirm-text", class: "confirm-text" }),
      el("ul", { id: "confirm-list", class: "confirm-list", hidden: "" }),
      buttons));
  document.body.append(dialog);
  return dialog;
}

/** The confirmation dialog alone (the session view has no admission). */
export function wireConfirm() {
  const confirm = confirmDialog();
  const confirming = station.confirming;
  confirm.querySelector('[data-action="confirm"]').addEventListener("click", () => {
    const onYes = confirming.onYes;
    confirming.onYes = null;
    confirm.close();
    if (onYes) onYes();
  });
  confirm.querySelector('[data-action="cancel"]').addEventListener("click", () => confirm.close());
  // A question asked again from its own yes is open again by now: keep its answer.
  confirm.addEventListener("close", () => { if (!confirm.open) confirming.onYes = null; });
}
