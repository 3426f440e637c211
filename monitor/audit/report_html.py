"""The session report as one HTML page: self-contained (its style and its chart inside), for a
browser to show or print, and to keep beside the PDF.

Every text from the record goes in escaped; the chart is matplotlib's SVG, which holds no
script. The page ends with the lines a clinician signs.
"""

from __future__ import annotations

from html import escape

from monitor.audit.report import SessionReport, heading, sections
from monitor.audit.report_chart import chart_svg

__all__ = ["report_html"]

_STYLE = """
body { font: 11pt/1.4 "DejaVu Sans", Arial, sans-serif; color: #111; margin: 2em auto;
       max-width: 60em; padding: 0 1em; }
h1 { font-size: 16pt; margin-bottom: 0.2em; }
h2 { font-size: 12pt; border-bottom: 1px solid #999; margin-top: 1.6em; }
dl.head { display: grid; grid-template-columns: max-content 1fr; gap: 0.1em 1.5em; }
dl.head dt { font-weight: bold; }
dl.head dd { margin: 0; }
p.outcome { font-size: 13pt; font-weight: bold; padding: 0.5em 0.8em; border-left: 6px solid;
            background: #f5f5f5; }
p.outcome.recovered { border-color: #2e7d32; }
p.outcome.attention { border-color: #d32f2f; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
figure.chart { margin: 1em 0; }
figure.chart svg { width: 100%; height: auto; }
p.fault { color: #b71c1c; font-weight: bold; }
.sign { display: grid; grid-template-columns: repeat(3, 1fr); gap: 2em; margin-top: 3em; }
.sign div { border-top: 1px solid #111; padding-top: 0.3em; font-size: 9pt; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
               tr { break-inside: avoid; } }
"""


def report_html(report: SessionReport) -> str:
    """The report as an HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Session report: {escape(report.clinic)}, chair {escape(report.chair)}, "
        f"{escape(report.patient)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Infusion session report: {escape(report.clinic)}</h1>",
        '<dl class="head">',
        *(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in heading(report)),
        "</dl>",
    ]
    for number, section in enumerate(sections(report)):
        parts.append(f"<h2>{escape(section.title)}</h2>")
        for index, sentence in enumerate(section.text):
            parts.append(_sentence(report, number, index, sentence))
        if section.headers:
            parts.append(_table(section.headers, section.rows, section.empty))
        if number == 1:  # after the checkpoints: the whole session at a glance
            parts += ["<h2>Vitals over the session</h2>", '<figure class="chart">',
                      _inline(chart_svg(report)), "</figure>"]  # fmt: skip
    parts += [
        '<div class="sign">',
        "<div>Reviewed by (name)</div><div>Signature</div><div>Date</div>",
        "</div>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _sentence(report: SessionReport, section: int, index: int, sentence: str) -> str:
    if section == 0 and index == 0:
        mark = "recovered" if report.outcome.value == "recovered" else "attention"
        return f'<p class="outcome {mark}">{escape(sentence)}</p>'
    if not report.verification.ok and sentence.startswith("THE RECORD"):
        return f'<p class="fault">{escape(sentence)}</p>'
    return f"<p>{escape(sentence)}</p>"


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inline(svg: str) -> str:
    """The SVG document as an element of the page (its XML prologue and doctype left out)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""
