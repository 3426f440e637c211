"""A read-only HTML overview of every chair (`/overview`, or `/` when the dashboard is off).

Server-rendered, refreshes itself every 2 s, no script: what clinic IT opens to see that the
service is alive and the chairs report, without the dashboard's websocket.
"""

from __future__ import annotations

import time
from html import escape

from monitor.wire.outbound import ChairStateOut, VitalOut

REFRESH_S = 2
STALE_AGE_S = 60.0

STYLE = """
body{font-family:system-ui,sans-serif;background:#111;color:#eee;margin:12px}
h1{font-size:18px;margin:0 0 10px}h1 small{color:#999;font-weight:normal}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:8px}
.tile{border:3px solid #333;border-radius:6px;padding:8px;background:#1b1b1b}
.tile.high{border-color:#e53935}.tile.medium{border-color:#fdd835}.tile.low{border-color:#26c6da}
.head{display:flex;justify-content:space-between;font-weight:bold}
.phase{color:#aaa;font-size:13px}.nums{display:flex;gap:14px;margin:6px 0;font-size:26px}
.nums span small{display:block;font-size:11px;color:#999}.old{color:#888}
.alarm{font-size:13px;padding:2px 4px;margin-top:2px;border-radius:3px}
.alarm.high{background:#e53935}.alarm.medium{background:#fdd835;color:#000}
.alarm.low{background:#26c6da;color:#000}.nodata{color:#ff8a65;font-weight:bold}
"""
MARKS = {"high": "***", "medium": "**", "low": "*"}


def render_overview(chairs: list[ChairStateOut], *, site: str, now: float) -> str:
    tiles = "".join(_tile(chair) for chair in chairs) or "<p>No chair has reported yet.</p>"
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    return (
        f"<!doctype html><html><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        f"<title>infusion-monitor: {escape(site)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Site {escape(site)} <small>read-only overview, {stamp}</small></h1>"
        f'<div class="grid">{tiles}</div></body></html>'
    )


def _tile(chair: ChairStateOut) -> str:
    """Ages are on the chair's clinical clock (`chair.ts`), as its readings' times are."""
    worst = next((a.priority for a in chair.alarms), "")
    alarms = "".join(
        f'<div class="alarm {a.priority}">{MARKS[a.priority]} {a.priority.upper()} '
        f"{escape(a.text)} ({a.state})</div>"
        for a in chair.alarms
    )
    return (
        f'<div class="tile {worst}"><div class="head"><span>{escape(chair.chair)}</span>'
        f"<span>{escape(chair.patient or '')}</span></div>"
        f'<div class="phase">{_phase(chair)}</div>'
        f'<div class="nums">{_numerics(chair, chair.ts)}</div>{alarms}</div>'
    )


def _phase(chair: ChairStateOut) -> str:
    text: str = chair.phase
    if chair.infusion and chair.phase in ("infusing", "paused"):
        planned = chair.infusion.planned_minutes
        of = f" of {planned:g} min" if planned else " min"
        text += f" {chair.infusion.running_minutes:.0f}{of}"
    if chair.recovery:
        text += f" · {chair.recovery.status.replace('_', ' ')} {chair.recovery.minutes_since_stop:.0f} min"
    if chair.device.state != "online":
        text += f" · monitor {chair.device.state}"
    return escape(text)


def _numerics(chair: ChairStateOut, now: float) -> str:
    vitals = chair.vitals
    if not vitals:
        return '<span class="nodata">NO DATA</span>'
    parts = [_value("HR", vitals.get("hr"), now), _value("SpO2", vitals.get("spo2"), now)]
    sbp, dbp = vitals.get("sbp"), vitals.get("dbp")
    if sbp and dbp:
        age = now - sbp.ts
        css = ' class="old"' if age > 900 else ""
        parts.append(
            f"<span{css}>{sbp.value:.0f}/{dbp.value:.0f}<small>BP {_age(age)}</small></span>"
        )
    return "".join(parts)


def _value(label: str, vital: VitalOut | None, now: float) -> str:
    if vital is None:
        return f'<span class="nodata">--<small>{label}</small></span>'
    age = now - vital.ts
    css = ' class="old"' if age > STALE_AGE_S else ""
    return f"<span{css}>{vital.value:.0f}<small>{label} {_age(age)}</small></span>"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
