// Times as the server sends them (RFC 3339 strings, or epoch seconds) and as the screen says them.

import { station } from "./state.js";

/** RFC 3339 string or epoch seconds -> epoch seconds (null when absent or unreadable). */
export function parseTime(value) {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** 42 -> "42 s", 75 -> "1:15". */
export function ageText(seconds) {
  return seconds < 60 ? `${Math.max(0, Math.floor(seconds))} s` : clockText(seconds);
}

/** Epoch seconds -> local "14:05:09" (or "14:05"); "" when not a time. */
export function timeText(epochS, withSeconds = true) {
  if (!Number.isFinite(epochS)) return "";
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (withSeconds) opts.second = "2-digit";
  return new Date(epochS * 1000).toLocaleTimeString([], opts);
}

/** The service's wall clock in epoch seconds, as the station knows it: what the service's own
 * times (a page sent, the next paging step due) are measured against. The browser's clock,
 * corrected by the offset the link messages bring (`service_now`), so a station whose clock is
 * off still counts down right; a chair's clinical clock (chairNow) follows its bedside monitor
 * instead. */
export function wallNow() {
  return Date.now() / 1000 + station.serviceOffsetS;
}

/** A chair's clinical now: its state's ts when the message came, carried on by local elapsed
 * time (so a chair whose data stopped keeps ageing). */
export function chairNow(entry) {
  return entry.ts + (performance.now() - entry.receivedAt) / 1000;
}
