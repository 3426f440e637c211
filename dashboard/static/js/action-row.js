// A tile's row of nurse actions: the steps the session accepts in the chair's phase (the server's
// table, rules.js) and the audio pause with its countdown. Rebuilt only when what is legal
// changes, so a focused button stays put. What a click sends is actions.js's.

import { el, setData, setText } from "./dom.js";
import { audioPauseSeconds, inSession, legalSteps } from "./rules.js";
import { canAct, isPending } from "./state.js";
import { clockText, parseTime } from "./time.js";

export const STEP_LABELS = {
  admit: "Admit…", start: "Start", pause: "Pause", resume: "Resume", stop: "Stop…",
  discharge: "Discharge…",
};

export function renderActions(entry) {
  const { state, tile } = entry;
  const steps = canAct() ? legalSteps(state.phase) : [];
  const withPause = canAct() && (inSession(state.phase) || (state.alarms || []).length > 0);
  const key = `${steps.join(",")}|${withPause}`;
  if (key !== entry.actionsKey) {
    entry.actionsKey = key;
    const buttons = steps.map((step) => el("button", { type: "button", "data-action": step,
      class: `step step-${step}` }, STEP_LABELS[step] || step));
    if (withPause) {
      buttons.unshift(el("button", { type: "button", "data-action": "pause-audio",
        class: "pause-audio" }, ""));
    }
    tile.actions.replaceChildren(...buttons);
  }
  for (const button of tile.actions.querySelectorAll("button[data-action]")) {
    button.disabled = isPending(entry.name, button.dataset.action);
  }
}

/** The audio pause button counts down while the chair's audio is paused. */
export function tickPauseButton(entry, now) {
  const button = entry.tile.actions.querySelector('[data-action="pause-audio"]');
  if (!button) return;
  const audio = entry.state.audio || {};
  const until = parseTime(audio.paused_until);
  const paused = until !== null && until > now;
  setData(button, "paused", String(paused));
  setText(button, paused ? `Audio paused ${clockText(until - now)}`
    : `Pause audio ${clockText(audioPauseSeconds())}`);
  button.title = paused && audio.paused_by ? `Paused by ${audio.paused_by}` : "";
}
