"""The report's vitals chart, drawn with matplotlib: SVG for the HTML page, PNG for the PDF.

Three panels over the whole session on one time axis (the local wall clock, as the report's
times): blood pressure with the baseline band (systolic baseline within the recovery
tolerance) and the systolic limits; heart rate with its limits; SpO2 with its low limit. The
infusion and the recovery window are shaded in every panel, and each alarm is a line at the
moment it was raised, in its priority's colour (IEC 60601-1-8: high red, medium yellow, low
cyan), with the infusion's and the alarms' names in the legend.

Made with matplotlib's object API (a `Figure` and its canvas, never pyplot), so drawing holds
no global state and is safe in any thread. The SVG carries no date and fixed ids, so the same
report draws the same bytes.
"""

from __future__ import annotations

import io
from datetime import datetime, tzinfo
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from monitor.audit.report import SessionReport
from monitor.domain.vitals import Vital

__all__ = ["chart_png", "chart_svg"]

PRIORITY_COLOURS = {"high": "#d32f2f", "medium": "#f9a825", "low": "#00acc1"}
SPAN_COLOURS = {"infusion": "#bbdefb", "recovery window": "#c8e6c9"}
VITAL_COLOURS = {
    Vital.SBP: "#1a237e",
    Vital.DBP: "#5c6bc0",
    Vital.HR: "#2e7d32",
    Vital.SPO2: "#6a1b9a",
}
PANELS = (
    ("Blood pressure (mmHg)", (Vital.SBP, Vital.DBP)),
    ("Heart rate (/min)", (Vital.HR,)),
    ("SpO2 (%)", (Vital.SPO2,)),
)
_STYLE: Any = {"svg.hashsalt": "infusion-monitor", "svg.fonttype": "none", "font.size": 8.0}


def chart_svg(report: SessionReport) -> str:
    """The chart as an SVG document (text), for an HTML page."""
    with rc_context(_STYLE):
        figure = _figure(report)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def chart_png(report: SessionReport, *, dpi: int = 150) -> bytes:
    """The chart as a PNG image, for a PDF page."""
    with rc_context(_STYLE):
        figure = _figure(report)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=dpi, metadata={"Software": None})
    return out.getvalue()


def _figure(report: SessionReport) -> Figure:
    figure = Figure(figsize=(10.0, 6.2), layout="constrained")
    axes = figure.subplots(len(PANELS), 1, sharex=True, height_ratios=[2.0, 1.0, 1.0])
    zone = _zone(report.admitted_at)
    for ax, (title, vitals) in zip(axes, PANELS, strict=True):
        _panel(ax, report, title, vitals)
    axes[-1].set_xlim(_when(report.admitted_at), _when(max(report.end, report.admitted_at + 60)))
    axes[-1].xaxis.set_major_locator(AutoDateLocator(tz=zone))  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_formatter(DateFormatter("%H:%M", tz=zone))  # type: ignore[no-untyped-call]
    axes[-1].set_xlabel(f"time ({datetime.fromtimestamp(report.admitted_at, zone).strftime('%Z')})")
    axes[0].legend(handles=_legend(report), loc="upper left", fontsize=7, ncols=4, framealpha=0.9)
    return figure


def _panel(ax: Axes, report: SessionReport, title: str, vitals: tuple[Vital, ...]) -> None:
    ax.set_ylabel(title)
    ax.grid(True, color="#e0e0e0", linewidth=0.6)
    for span in report.spans:
        ax.axvspan(_when(span.start), _when(span.end), color=SPAN_COLOURS.get(span.name, "#eee"),
                   alpha=0.6, linewidth=0)  # fmt: skip
    if Vital.SBP in vitals and "sbp" in report.baseline:
        base = report.baseline["sbp"]
        ax.axhspan(base * (1 - report.tolerance), base * (1 + report.tolerance),
                   color="#fff3e0", alpha=0.9, linewidth=0)  # fmt: skip
        ax.axhline(base, color="#ef6c00", linewidth=0.8, linestyle=":")
    for line in report.limits:
        if line.vital in vitals:
            ax.hlines(line.value, _when(line.start), _when(line.end), colors="#757575",
                      linestyles="--", linewidth=0.9)  # fmt: skip
    for alarm in report.alarms:
        ax.axvline(_when(alarm.raised_at), color=PRIORITY_COLOURS.get(alarm.priority, "#424242"),
                   linewidth=1.1, alpha=0.85)  # fmt: skip
    for vital in vitals:
        points = report.series.get(vital, [])
        if points:
            cuff = vital in (Vital.SBP, Vital.DBP)
            ax.plot([_when(t) for t, _ in points], [v for _, v in points],
                    color=VITAL_COLOURS[vital], linewidth=1.0, marker="o" if cuff else None,
                    markersize=3.0, label=vital.value.upper())  # fmt: skip


def _legend(report: SessionReport) -> list[Line2D | Patch]:
    handles: list[Line2D | Patch] = [
        Line2D([], [], color=VITAL_COLOURS[Vital.SBP], marker="o", markersize=3, label="SBP"),
        Line2D([], [], color=VITAL_COLOURS[Vital.DBP], marker="o", markersize=3, label="DBP"),
        Patch(color="#fff3e0", label=f"baseline SBP ± {report.tolerance * 100:.0f} %"),
        Line2D([], [], color="#757575", linestyle="--", label="alarm limits"),
    ]
    handles += [Patch(color=SPAN_COLOURS[s.name], label=s.name) for s in report.spans]
    for priority in sorted({a.priority for a in report.alarms}):
        handles.append(
            Line2D(
                [],
                [],
                color=PRIORITY_COLOURS.get(priority, "#424242"),
                label=f"{priority} alarm raised",
            )
        )
    return handles


def _zone(ts: float) -> tzinfo | None:
    """The local zone at `ts` (the TZ environment variable, else the machine's)."""
    return datetime.fromtimestamp(ts).astimezone().tzinfo


def _when(ts: float) -> float:
    """`ts` (epoch seconds) on matplotlib's date axis."""
    return float(date2num(datetime.fromtimestamp(ts).astimezone()))  # type: ignore[no-untyped-call]
