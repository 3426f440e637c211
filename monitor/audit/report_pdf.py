"""The session report as a PDF (A4) a clinician prints and signs, laid out with reportlab.

The same sections as the HTML page, in the same words (`report.sections`), with the chart as a
PNG from `report_chart`. Text is set in DejaVu Sans (shipped with matplotlib), so any patient
label or note prints as written. Each page's foot names the clinic, chair, session and page,
so a loose page still says what it belongs to. The PDF is made with reportlab's invariant
mode: the same report gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from monitor.audit.report import SessionReport, heading, sections
from monitor.audit.report_chart import chart_png
from monitor.audit.times import local

__all__ = ["report_pdf"]

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
WIDTH = A4[0] - 36 * mm  # the text's width between the margins


def report_pdf(report: SessionReport) -> bytes:
    """The report as a PDF document."""
    _register_fonts()
    out = io.BytesIO()
    title = f"Session report: {report.clinic}, chair {report.chair}, {report.patient}"
    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
        bottomMargin=18 * mm, title=title, author="infusion-monitor",
        subject=f"session {report.session}", invariant=True,
    )  # fmt: skip
    foot = (
        f"{report.clinic} · chair {report.chair} · session {report.session} · "
        f"report made {local(report.made_at)}"
    )

    def page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.drawString(18 * mm, 10 * mm, foot)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    document.build(_story(report), onFirstPage=page, onLaterPages=page)
    return out.getvalue()


def _story(report: SessionReport) -> list[Flowable]:
    styles = _styles()
    story: list[Flowable] = [
        Paragraph(_text(f"Infusion session report: {report.clinic}"), styles["title"]),
        _grid([[_para(name, styles["bold"]), _para(value, styles["body"])]
               for name, value in heading(report)], widths=[35 * mm, WIDTH - 35 * mm], lines=False),
    ]  # fmt: skip
    for number, section in enumerate(sections(report)):
        block: list[Flowable] = [Paragraph(_text(section.title), styles["heading"])]
        for index, sentence in enumerate(section.text):
            style = styles["outcome"] if number == 0 and index == 0 else styles["body"]
            if sentence.startswith("THE RECORD") and not report.verification.ok:
                style = styles["fault"]
            block.append(Paragraph(_text(sentence), style))
        if section.headers and section.rows:
            rows = [[_para(h, styles["cell_head"]) for h in section.headers]]
            rows += [[_para(cell, styles["cell"]) for cell in row] for row in section.rows]
            block.append(_grid(rows, widths=_widths(section.weights), header=True))
        elif section.headers:
            block.append(Paragraph(_text(section.empty), styles["body"]))
        story.append(KeepTogether(block[:3]))
        story += block[3:]
        if number == 1:
            story += [
                Paragraph("Vitals over the session", styles["heading"]),
                Image(io.BytesIO(chart_png(report)), width=WIDTH, height=WIDTH * 0.62),
            ]
    story += [Spacer(1, 14 * mm), _signatures(styles)]
    return story


def _signatures(styles: dict[str, ParagraphStyle]) -> Table:
    cells = [[_para(t, styles["cell"]) for t in ("Reviewed by (name)", "Signature", "Date")]]
    table = Table(cells, colWidths=[WIDTH / 3] * 3)
    table.setStyle(TableStyle([("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.black),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 8 * mm)]))  # fmt: skip
    return table


def _grid(
    rows: list[list[Paragraph]],
    *,
    widths: list[float] | None = None,
    header: bool = False,
    lines: bool = True,
) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [("VALIGN", (0, 0), (-1, -1), "TOP"),
                                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]  # fmt: skip
    if lines:
        style.append(("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")))
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(style))
    return table


def _widths(weights: list[float]) -> list[float] | None:
    """Columns as wide as their weights say, across the page; None leaves them even."""
    total = sum(weights)
    return [WIDTH * weight / total for weight in weights] if total > 0 else None


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(_text(text), style)


def _text(text: str) -> str:
    """Plain text for a reportlab paragraph, whose own markup it must never become."""
    return escape(text)


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=12.5, spaceAfter=3)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=15, leading=19,
                                spaceAfter=8),
        "heading": ParagraphStyle("heading", parent=body, fontName=BOLD, fontSize=11.5,
                                  leading=15, spaceBefore=10, spaceAfter=4),
        "body": body,
        "bold": ParagraphStyle("bold", parent=body, fontName=BOLD),
        "outcome": ParagraphStyle("outcome", parent=body, fontName=BOLD, fontSize=11.5,
                                  leading=15, borderPadding=4, backColor=colors.HexColor("#f3f3f3")),
        "fault": ParagraphStyle("fault", parent=body, fontName=BOLD,
                                textColor=colors.HexColor("#b71c1c")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=10, spaceAfter=0),
        "cell_head": ParagraphStyle("cell_head", parent=body, fontName=BOLD, fontSize=8,
                                    leading=10, spaceAfter=0),
    }  # fmt: skip


def _register_fonts() -> None:
    registered = pdfmetrics.getRegisteredFontNames()
    for name, file in ((FONT, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf")):
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(_FONTS / file)))
