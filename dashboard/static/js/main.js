// The nurses' station (index.html): one tile per chair, live over the dashboard's websocket.
//
// How this works: the server sends `hello` (who is logged in, the site, and the rules the
// browser needs: see rules.js), the health of the path behind it ("link"), the whole state of a
// chair whenever it changes ("chair"), each alarm transition as it happens ("alarm"), who covers
// which chairs at a site that pages ("coverage") and a ping every 2 s. The modules each own one
// part: chairs.js the chairs' messages, tiles.js and the modules it draws with the tiles,
// actions.js what a click sends, coverage.js the pagers' panel, sound.js the tones, link.js the
// socket and the banner; state.js holds everything they remember. A half-second tick moves the
// clocks and ages on between messages, using each chair's own clinical clock (its `ts`, carried
// on by the time since the message arrived). Everything from the network is shown as text only.

import { onResult, onTileClick } from "./actions.js";
import { tickBar, wireAlarmBar } from "./alarm-bar.js";
import { tickPaging } from "./alarm-lines.js";
import { onAlarm, onChair } from "./chairs.js";
import { forgetCoverage, onCoverage, wireCoverage } from "./coverage.js";
import { wireDialogs } from "./dialogs.js";
import { $, setText } from "./dom.js";
import { acknowledgeTechnical, connect, dropDeadLink, updateLink } from "./link.js";
import { takeTables } from "./rules.js";
import { enableSound, enableSoundIfAllowed, updateTone } from "./sound.js";
import { station } from "./state.js";
import { layoutGrid, rerender, tickTile } from "./tiles.js";

const PAGING_TICK_MS = 100; // a paging countdown never lags the second it shows by more

const HANDLERS = {
  hello: onHello, chair: onChair, alarm: onAlarm, result: onResult, coverage: onCoverage,
};

/** Who we are, where, and the server's rules; each reconnect brings a new one. */
function onHello(message) {
  station.user = message.user || null;
  station.site = message.site || "";
  if (!takeTables(message.tables)) console.error("the server's hello has no usable rules", message);
  setText($("site-name"), station.site ? `· ${station.site}` : "");
  const user = station.user;
  setText($("user"), user ? `${user.name || "?"} (${user.role || "?"})` : "");
  $("user").title = $("user").textContent; // a tablet's header may cut it
  document.title = `Infusion monitor${station.site ? `: ${station.site}` : ""}`;
  forgetCoverage(); // a site that pages says so again on this connection
  for (const entry of station.chairs.values()) { entry.actionsKey = null; rerender(entry.name); }
}

function tick() {
  const now = new Date();
  const clock = $("clock");
  setText(clock, now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false }));
  clock.dateTime = now.toISOString();
  dropDeadLink(HANDLERS);
  updateLink();
  for (const entry of station.chairs.values()) tickTile(entry);
  tickBar();
  updateTone();
}

function start() {
  $("tiles").addEventListener("click", onTileClick);
  $("sound-toggle").addEventListener("click", enableSound);
  $("link-warning-ack").addEventListener("click", acknowledgeTechnical);
  wireDialogs();
  wireCoverage();
  wireAlarmBar(onTileClick); // the bar's Acknowledge sends what a tile's Ack sends
  new ResizeObserver(layoutGrid).observe($("tiles"));
  enableSoundIfAllowed();
  connect(HANDLERS);
  tick();
  // Half-second ticks: the banner is never more than 0.5 s late and the clocks never skip.
  setInterval(tick, 500);
  setInterval(tickPagingLines, PAGING_TICK_MS);
}

/** The alarms' paging words ("charge nurse in 0:15"), moved on to now. */
function tickPagingLines() {
  for (const entry of station.chairs.values()) if (entry.state) tickPaging(entry);
}

start();
