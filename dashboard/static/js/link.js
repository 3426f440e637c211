// The websocket to the dashboard server, its reconnects, and the red banner that says when the
// screen may be out of date: the socket closed, nothing heard for STALE_LINK_MS (the server pings
// every 2 s), the broker unreachable, or the monitoring service down. While it is up every tile
// says STALE and the station sounds the "link lost" pattern instead of the chairs' tones.
//
// The same banner carries the station-wide technical alarms `record_failing` (the service cannot
// write its record) and `paging_failed` (pages may not reach the nurses). Those do not make the
// screen untrustworthy: alarms go on, the tiles stay live and sound as usual, and each sounds
// at high priority on top of them until a nurse acknowledges it at this station (it sounds
// again if it fails anew).

import { failPending } from "./actions.js";
import { clearChairs } from "./chairs.js";
import { $, el, setData, setText } from "./dom.js";
import { updateTone } from "./sound.js";
import { ackKey, soundingTechnical, station, untrusted } from "./state.js";
import { tickStale } from "./tiles.js";

const STALE_LINK_MS = 5000; // nothing heard for this long: the banner goes up
const DEAD_LINK_MS = 10000; // nothing heard for this long: drop the socket and reconnect
const BACKOFF_S = [1, 2, 4, 5]; // reconnect delays, then 5 s for ever
const SERVICE_UNKNOWN_GRACE_MS = 10000; // "no word from the service" only after this long
const CLOCK_SKEW_S = 2; // a browser clock this far from the service's is corrected

// The banner ---------------------------------------------------------------------------------

/** What makes the screen untrustworthy now, worst first. */
function linkProblems(nowMs) {
  const problems = [];
  const link = station.link;
  if (!station.socketOpen && !station.everOpened && nowMs < STALE_LINK_MS) return problems;
  if (!station.socketOpen || nowMs - station.lastHeard > STALE_LINK_MS) {
    problems.push({ code: "connection", short: "connection lost",
      text: "Connection to the dashboard server lost", detail: reconnectDetail(nowMs) });
    return problems;
  }
  if (link && link.broker === false) {
    problems.push({ code: "broker", short: "broker unreachable",
      text: "The dashboard cannot reach the MQTT broker", detail: "" });
  }
  const service = link ? link.service : "unknown";
  if (service === "offline" || service === "silent") {
    problems.push({ code: "service", short: "monitoring service down",
      text: "The monitoring service is not running — alarms are not being raised",
      detail: (link && link.detail) || "" });
  } else if (service === "online" && link.record && link.record.state === "failing") {
    const kept = link.record.backlog ? `${link.record.backlog} entries kept aside to write` : "";
    problems.push({ code: "record", short: "record failing", trusted: true, priority: "high",
      since: link.record.since ?? null,
      text: "The monitoring service cannot write its record — alarms go on, the record waits",
      detail: [link.record.reason || "", kept].filter(Boolean).join(" · ") });
  }
  if (service === "online" && link.paging && link.paging.state === "failing") {
    problems.push({ code: "paging", short: "paging failed", trusted: true, priority: "high",
      since: link.paging.since ?? null,
      text: "Paging is failing — pages may not reach the nurses: watch the screen",
      detail: link.paging.reason || "" });
  }
  if (service !== "online" && service !== "offline" && service !== "silent"
      && nowMs - station.connectedAt > SERVICE_UNKNOWN_GRACE_MS) {
    problems.push({ code: "service-unknown", short: "monitoring service not heard from",
      text: "No word from the monitoring service — alarms may not be raised",
      detail: (link && link.detail) || "" });
  }
  return problems;
}

function reconnectDetail(nowMs) {
  if (station.socketOpen) return "Nothing heard from the server: reconnecting…";
  if (station.reconnectAt === null) return "Connecting…";
  const left = Math.max(0, Math.ceil((station.reconnectAt - nowMs) / 1000));
  return left > 0 ? `Reconnecting in ${left} s…` : "Reconnecting…";
}

/** The banner's Acknowledge: silence the station-wide technical alarms sounding (the record
 * failing, paging failing) at this station, each until it fails anew. */
export function acknowledgeTechnical() {
  for (const problem of station.problems) {
    if (problem.priority) station.acknowledged.add(ackKey(problem));
  }
  updateLink(true);
}

export function updateLink(force = false) {
  const nowMs = performance.now();
  const problems = linkProblems(nowMs);
  const codes = (list) => list.map((p) => ackKey(p)).join();
  const changed = force || codes(problems) !== codes(station.problems);
  station.problems = problems;
  const banner = $("link-warning");
  banner.hidden = problems.length === 0;
  banner.dataset.reason = problems.map((p) => p.code).join(" ");
  const lost = untrusted();
  setData(document.body, "link", lost.length ? lost[0].code : "ok");
  const technical = soundingTechnical();
  setData(banner, "priority", problems.some((p) => !p.trusted) ? "link" : technical ? "high" : "acknowledged");
  $("link-warning-ack").hidden = technical === null;
  const lines = problems.map((p) => el("span", { class: "reason" }, p.text));
  const text = $("link-warning-text");
  if (text.textContent !== problems.map((p) => p.text).join("")) text.replaceChildren(...lines);
  setText($("link-warning-detail"), problems.map((p) => p.detail).filter(Boolean).join(" · "));
  if (changed) {
    for (const entry of station.chairs.values()) tickStale(entry);
    updateTone();
  }
}

function onLinkMessage(message) {
  station.link = message;
  if (Number.isFinite(message.service_now)) {
    // Only a real skew is corrected: nearer than this, the message's own delay would be.
    const skew = message.service_now - Date.now() / 1000;
    station.serviceOffsetS = Math.abs(skew) > CLOCK_SKEW_S ? skew : 0;
  }
  updateLink();
  updateNotice();
}

/** The chairs the service refuses (not on the site's list, or past its cap): a silent notice,
 * so a misnamed monitor, a chair missing from the list, or junk on the broker is seen. */
function updateNotice() {
  const refused = station.link && station.link.refused_chairs;
  const notice = $("station-notice");
  notice.hidden = !refused;
  if (!refused) return;
  const why = refused.reason === "too_many_chairs"
    ? "the site already has the most chairs its max_chairs setting allows"
    : "they are not in this site's chair list";
  const many = refused.chairs === 1 ? "1 chair" : `${refused.chairs} chairs`;
  setText(notice, `Readings from ${many} are refused: ${why} (latest: ${refused.latest}, `
    + `${refused.messages} messages). They are not monitored here: tell the clinic's IT.`);
}

// The websocket ------------------------------------------------------------------------------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}

/** Open the websocket; `handlers` maps a message type to what takes it ("link" and "ping" are
 * this module's). Every (re)connection starts from nothing: its own hello, then its chairs. */
export function connect(handlers) {
  station.reconnectAt = null;
  let socket;
  try {
    socket = new WebSocket(socketUrl());
  } catch (err) {
    scheduleReconnect(handlers, false);
    return;
  }
  station.socket = socket;
  let opened = false;
  socket.addEventListener("open", () => {
    if (station.socket !== socket) return;
    opened = true;
    station.everOpened = true;
    station.socketOpen = true;
    station.attempt = 0;
    station.connectedAt = station.lastHeard = performance.now();
    station.link = null;
    clearChairs(); // rebuilt from this connection's messages only
    updateLink();
  });
  socket.addEventListener("message", (event) => {
    if (station.socket === socket) onMessage(handlers, event.data);
  });
  socket.addEventListener("close", (event) => {
    if (station.socket !== socket) return;
    dropSocket();
    if (event.code === 4401) {
      location.assign("/login");
      return;
    }
    scheduleReconnect(handlers, !opened);
  });
}

/** A half-open connection never closes by itself: drop one that has been silent too long. */
export function dropDeadLink(handlers) {
  if (station.socketOpen && performance.now() - station.lastHeard > DEAD_LINK_MS) {
    dropSocket();
    scheduleReconnect(handlers, false);
  }
}

/** Forget the current socket (closed, or silent for too long) and fail what awaited an answer. */
function dropSocket() {
  const socket = station.socket;
  station.socket = null;
  station.socketOpen = false;
  failPending("the connection to the dashboard server was lost");
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
  updateLink();
}

function scheduleReconnect(handlers, neverOpened) {
  const delay = BACKOFF_S[Math.min(station.attempt, BACKOFF_S.length - 1)];
  station.attempt += 1;
  station.reconnectAt = performance.now() + delay * 1000;
  setTimeout(() => connect(handlers), delay * 1000);
  // The server refuses the socket of a logged-out browser before it opens; a refused socket
  // looks like a network failure, so ask the page itself whether we are still logged in.
  if (neverOpened) checkLoggedIn();
}

async function checkLoggedIn() {
  try {
    const response = await fetch("/", { redirect: "manual", cache: "no-store" });
    if (response.type === "opaqueredirect" || response.status === 401) location.assign("/login");
  } catch (err) {
    // The server is unreachable: the banner already says so.
  }
}

function onMessage(handlers, text) {
  station.lastHeard = performance.now();
  let message;
  try {
    message = JSON.parse(text);
  } catch (err) {
    return;
  }
  if (!message || typeof message !== "object") return;
  const all = { ...handlers, link: onLinkMessage, ping: () => {} };
  const handler = Object.hasOwn(all, message.type) ? all[message.type] : null;
  if (handler) handler(message);
  if (station.problems.length) updateLink(); // heard again: the banner may come down now
}
