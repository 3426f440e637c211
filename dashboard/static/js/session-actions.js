// The session view's own actions: the session's notes (read from the service's record) with
// "Add note", and the chair's alarm limits with "Save limits". Both go to the station's server
// (POST /api/dashboard/action), which sends them as contract commands in the logged-in user's
// name; the page never says who. A limit moved the way that makes its alarm come later than the
// clinic's default asks first, naming the risk. Offered only to those who may act, and only
// while the chair has an open session.

import { confirmThen } from "./dialogs.js";
import { $, el, setText } from "./dom.js";
import { parseTime, timeText } from "./time.js";

import { sessionPage } from "./state.js";

/** Draw the notes and the limits for the view just loaded. */
export async function renderSessionActions(chair, view) {
  const state = view.chair || {};
  const user = view.user || {};
  const open = user.in_session === true; // the server's phase table says so, not the page
  const current = sessionPage.acting = { chair, state, mayAct: user.may_act === true };
  $("note-form").hidden = !(current.mayAct && open);
  await renderNotes(state.session);
  if (sessionPage.limitSettings === null) sessionPage.limitSettings = await getJson("/api/limits");
  const settings = sessionPage.limitSettings;
  $("limits").hidden = !(current.mayAct && open && Array.isArray(settings));
  if (!$("limits").hidden) renderLimits(state.limits || {});
}

async function renderNotes(session) {
  const notes = session ? await getJson(`/api/sessions/${encodeURIComponent(session)}/notes`) : [];
  const list = Array.isArray(notes) ? notes : [];
  $("note-list").replaceChildren(...list.map((n) => el("li", { class: "note" },
    el("span", { class: "time" }, timeText(parseTime(n.ts))), " ",
    el("span", { class: "by" }, n.by || ""), ": ", el("span", { class: "text" }, n.text || ""))));
  setText($("note-empty"), Array.isArray(notes) ? "No note in this session."
    : "The notes are kept in the monitoring service's record, which this station cannot read.");
  $("note-empty").hidden = list.length > 0;
}

/** The form's inputs stay as the nurse left them while she edits; redrawn only when the
 * chair's limits themselves change. */
function renderLimits(limits) {
  const settings = sessionPage.limitSettings;
  const box = $("limit-fields");
  const key = JSON.stringify(settings.map((s) => limits[s.name]));
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...settings.map((s) => el("label", { class: "limit-field" },
    el("span", {}, s.label), " ",
    el("input", { type: "number", name: s.name, min: s.low, max: s.high, step: "any",
      value: limits[s.name] ?? s.clinic, "data-was": limits[s.name] ?? s.clinic }),
    " ", el("span", { class: "unit" }, `${s.unit} (${s.low}-${s.high})`))));
}

async function getJson(url) {
  try {
    const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    return response.ok ? await response.json() : null;
  } catch (err) {
    return null;
  }
}

async function act(body, result) {
  setText(result, "sending…");
  let answer = null;
  try {
    const response = await fetch("/api/dashboard/action", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    answer = response.ok ? await response.json() : { ok: false, error: `the server answered ${response.status}` };
  } catch (err) {
    answer = { ok: false, error: "the station's server cannot be reached: nothing was sent" };
  }
  setText(result, answer.ok ? "sent" : `not sent: ${answer.error || "refused"}`);
  return answer.ok;
}

// Notes -----------------------------------------------------------------------------------------

async function onNote(event, reload) {
  event.preventDefault();
  // The contract takes one paragraph of printable text: line breaks become spaces.
  const text = $("note-text").value.replace(/\s*[\r\n]+\s*/g, " ").trim();
  if (!text) return setText($("note-result"), "Write the note first.");
  if (await act({ action: "note", chair: sessionPage.acting.chair, text }, $("note-result"))) {
    $("note-text").value = "";
    setTimeout(reload, 500); // the record has it within moments
  }
}

// Limits ----------------------------------------------------------------------------------------

function changedLimits() {
  const changes = {};
  for (const input of $("limit-fields").querySelectorAll("input[name]")) {
    const value = Number(input.value);
    if (input.value !== "" && Number.isFinite(value) && value !== Number(input.dataset.was)) {
      changes[input.name] = value;
    }
  }
  return changes;
}

function widened(changes) {
  return sessionPage.limitSettings.filter((s) => s.name in changes && (s.wider === "up"
    ? changes[s.name] > s.clinic : changes[s.name] < s.clinic)).map((s) => {
    const side = s.wider === "up" ? "above" : "below";
    return `${s.label} ${changes[s.name]} ${s.unit} is ${side} the clinic default ${s.clinic} ${s.unit}`;
  });
}

function onLimits(event, reload) {
  event.preventDefault();
  const changes = changedLimits();
  if (Object.keys(changes).length === 0) return setText($("limits-result"), "No limit changed.");
  const send = async () => {
    if (await act({ action: "set_limits", chair: sessionPage.acting.chair, limits: changes }, $("limits-result"))) {
      setTimeout(reload, 500);
    }
  };
  const wider = widened(changes);
  if (wider.length === 0) return send();
  const risk = wider.length === 1 ? `${wider[0]}: alarms for this patient will come later. Change?`
    : "These limits are wider than the clinic defaults: alarms for this patient will come later. Change?";
  confirmThen(risk, "Change the limits", send, wider.length === 1 ? [] : wider);
}

export function wireSessionActions(reload) {
  $("note-form").addEventListener("submit", (event) => onNote(event, reload));
  $("limits-form").addEventListener("submit", (event) => onLimits(event, reload));
}
