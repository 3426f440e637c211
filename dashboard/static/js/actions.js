// What the nurse's clicks on a tile send, and what becomes of it: each action goes out over the
// websocket with an id, its button waits until the server's result (or the lack of one within
// RESULT_TIMEOUT_MS), and a failure shows on the chair's tile. An action of no chair (a pager's
// hand-over, coverage.js) goes the same way and its result goes to its sender.

import { STEP_LABELS } from "./action-row.js";
import { kindLabel } from "./alarm-kinds.js";
import { unacknowledgedHigh } from "./alarms.js";
import { confirmThen, openAdmit } from "./dialogs.js";
import { audioPauseSeconds } from "./rules.js";
import { station } from "./state.js";
import { rerender, showTileError } from "./tiles.js";

const RESULT_TIMEOUT_MS = 10000;

export function onTileClick(event) {
  const button = event.target.closest("button[data-action]");
  const tile = button && button.closest("[data-chair]");
  if (!tile) return;
  const chair = tile.dataset.chair;
  const action = button.dataset.action;
  if (action === "ack") {
    const alarm = button.closest("[data-alarm]").dataset.alarm;
    send(chair, `ack:${alarm}`, "Acknowledge", { action: "acknowledge", chair, alarm });
  } else if (action === "pause-audio") {
    send(chair, action, "Pause audio", { action: "pause_audio", chair, seconds: audioPauseSeconds() });
  } else if (action === "admit") {
    openAdmit(chair, (body) => send(chair, "admit", "Admit", body));
  } else if (action === "start" || action === "pause" || action === "resume") {
    send(chair, action, `${STEP_LABELS[action]} infusion`, { action: "infusion", chair, event: action });
  } else if (action === "stop") {
    confirmThen(`Stop the infusion on chair ${chair}?`, "Stop infusion", () =>
      send(chair, action, "Stop infusion", { action: "infusion", chair, event: "stop" }));
  } else if (action === "discharge") {
    askDischarge(chair);
  }
}

/** Discharge, asking first. Over an unacknowledged high-priority alarm the question names it and
 * says the discharge is recorded with the nurse's name; only a yes to that sends over_alarms.
 * An alarm that came up while the question was open is asked about before anything goes. */
function askDischarge(chair, lead = "") {
  const entry = station.chairs.get(chair);
  if (!entry || !entry.state) return;
  const asked = unacknowledgedHigh(entry.state).map((a) => a.alarm);
  const onYes = () => {
    const now = entry.state ? unacknowledgedHigh(entry.state) : [];
    if (now.some((a) => !asked.includes(a.alarm))) {
      askDischarge(chair, "Another high-priority alarm came up. ");
      return;
    }
    send(chair, "discharge", "Discharge",
      { action: "discharge", chair, over_alarms: now.length > 0 });
  };
  const over = unacknowledgedHigh(entry.state);
  if (over.length === 0) {
    confirmThen(`${lead}Discharge the patient from chair ${chair}?`, "Discharge", onYes);
    return;
  }
  const texts = over.map((a) => a.text || kindLabel(a.kind));
  const name = station.user && station.user.name ? ` (${station.user.name})` : "";
  const record = `This is recorded with your name${name}.`;
  if (over.length === 1) {
    confirmThen(`${lead}Chair ${chair}: ${texts[0]} is not acknowledged: discharge over it? ${record}`,
      "Discharge over the alarm", onYes);
  } else {
    confirmThen(`${lead}Chair ${chair}: ${over.length} high-priority alarms are not acknowledged: `
      + `discharge over them? ${record}`, "Discharge over the alarms", onYes, texts);
  }
}

/** Send one action; its result (or the lack of one) shows on the chair's tile. */
function send(chair, key, label, body) {
  const socket = station.socket;
  if (!station.socketOpen || !socket) {
    showTileError(chair, `${label}: not connected to the dashboard server, nothing was sent`);
    return;
  }
  const id = station.nextId++;
  const timer = setTimeout(() => settle(id, false, "no answer from the dashboard server"),
    RESULT_TIMEOUT_MS);
  station.pending.set(id, { chair, key, label, timer });
  socket.send(JSON.stringify({ id, ...body }));
  rerender(chair);
}

/** Send an action of no chair (a pager's hand-over); `onSettle(ok, error)` gets its result, or
 * the lack of one within RESULT_TIMEOUT_MS. */
export function sendAction(body, onSettle) {
  const socket = station.socket;
  if (!station.socketOpen || !socket) {
    onSettle(false, "not connected to the dashboard server, nothing was sent");
    return;
  }
  const id = station.nextId++;
  const timer = setTimeout(() => settle(id, false, "no answer from the dashboard server"),
    RESULT_TIMEOUT_MS);
  station.pending.set(id, { chair: null, key: body.action, label: body.action, timer, onSettle });
  socket.send(JSON.stringify({ id, ...body }));
}

export function onResult(message) {
  settle(message.id, message.ok === true, message.error || "refused");
}

function settle(id, ok, error) {
  const pending = station.pending.get(id);
  if (!pending) return;
  clearTimeout(pending.timer);
  station.pending.delete(id);
  if (pending.onSettle) {
    pending.onSettle(ok, error);
    return;
  }
  if (!ok) showTileError(pending.chair, `${pending.label} failed: ${error}`);
  rerender(pending.chair);
}

/** Every action still waiting fails with `reason` (the connection is gone). */
export function failPending(reason) {
  for (const id of [...station.pending.keys()]) settle(id, false, reason);
}
