// Alarm tones with the Web Audio API.
//
// Patterns after IEC 60601-1-8: high priority a fast burst of 3+2 pulses repeated every few
// seconds, medium 3 slower pulses less often. While the screen cannot be trusted, the chairs'
// tones (which would be stale) give way to a low "link lost" pattern: silence must never mean calm.

import { sounding } from "./alarms.js";
import { $, setData, setText } from "./dom.js";
import { soundingTechnical, station, untrusted } from "./state.js";

const TONES = {
  high: { freq: 880, pulses: [0, 0.2, 0.4, 0.9, 1.1], length: 0.12, every: 3 },
  medium: { freq: 660, pulses: [0, 0.35, 0.7], length: 0.2, every: 7 },
  link: { freq: 440, pulses: [0, 0.45], length: 0.3, every: 15 },
};

function soundEnabled() {
  const sound = station.sound;
  return Boolean(sound.ctx && sound.ctx.state === "running");
}

/** The sound control's click: turn sound on (a browser allows it only after a click), or test it. */
export function enableSound() {
  const sound = station.sound;
  if (!sound.ctx) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      setText($("sound-toggle"), "No sound in this browser");
      return;
    }
    sound.ctx = new Context();
    sound.ctx.addEventListener("statechange", showSoundControl);
  }
  const wasOn = soundEnabled();
  sound.ctx.resume().then(() => {
    showSoundControl();
    if (wasOn) playBurst(TONES.medium, sound.ctx.currentTime + 0.05); // a click when on: a test
  }).catch(showSoundControl);
}

/** Where the browser allows sound without a click (a kiosk policy), turn it on straight away. */
export function enableSoundIfAllowed() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  const ctx = new Context();
  if (ctx.state === "running") {
    station.sound.ctx = ctx;
    ctx.addEventListener("statechange", showSoundControl);
  } else {
    ctx.close();
  }
  showSoundControl();
}

function showSoundControl() {
  const on = soundEnabled();
  const control = $("sound-toggle");
  control.dataset.enabled = String(on);
  control.setAttribute("aria-pressed", String(on));
  setText(control, on ? "Sound on (click to test)" : "Sound off — click to enable");
}

/** Which pattern the station should sound now: "high", "medium", "link" or "none". */
function wantedTone() {
  if (untrusted().length > 0) return station.chairs.size > 0 || station.user ? "link" : "none";
  if (soundingTechnical()) return "high"; // record_failing, until acknowledged here
  let best = "none";
  for (const entry of station.chairs.values()) {
    const s = entry.state;
    if (!s || !s.audio || !s.audio.audible) continue;
    const alarms = s.alarms || [];
    const heard = alarms.filter((a) => sounding(a, alarms));
    if (heard.some((a) => a.priority === "high")) return "high";
    if (heard.some((a) => a.priority === "medium")) best = "medium";
  }
  return best;
}

/** Sound what the station should sound now; a change silences what was scheduled at once. */
export function updateTone() {
  const sound = station.sound;
  const wanted = wantedTone();
  setData(document.body, "tone", wanted);
  if (wanted !== sound.current) {
    sound.current = wanted;
    for (const burst of sound.bursts) burst.disconnect();
    sound.bursts = [];
    sound.nextAt = 0;
  }
  scheduleTone();
}

function scheduleTone() {
  const sound = station.sound;
  if (!soundEnabled() || sound.current === "none") return;
  const pattern = TONES[sound.current];
  const now = sound.ctx.currentTime;
  if (now + 0.3 < sound.nextAt) return;
  const at = Math.max(now + 0.05, sound.nextAt);
  playBurst(pattern, at);
  sound.nextAt = at + pattern.every;
}

function playBurst(pattern, at) {
  const sound = station.sound;
  const ctx = sound.ctx;
  const burst = ctx.createGain();
  burst.connect(ctx.destination);
  sound.bursts = [...sound.bursts.slice(-3), burst];
  for (const offset of pattern.pulses) {
    const start = at + offset;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "triangle";
    osc.frequency.value = pattern.freq;
    gain.gain.setValueAtTime(0, start); // short ramps: no clicks
    gain.gain.linearRampToValueAtTime(0.35, start + 0.015);
    gain.gain.setValueAtTime(0.35, start + pattern.length - 0.02);
    gain.gain.linearRampToValueAtTime(0, start + pattern.length);
    osc.connect(gain).connect(burst);
    osc.start(start);
    osc.stop(start + pattern.length);
  }
}
