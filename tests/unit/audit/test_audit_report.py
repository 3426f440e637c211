"""`audit report`: the session report a clinician signs, from a clinic's record (`audit_day`),
as data, as HTML and as a PDF whose text is read back. The rendered reports of the day's first
session are written under test-artifacts/ for people to look at."""

from __future__ import annotations

import html
import sqlite3
from pathlib import Path

import pytest
from audit_day import DAY_S, T0, Day
from pypdf import PdfReader

from monitor.audit import SessionNotFound
from monitor.audit.outcome import Outcome, Recovery
from monitor.audit.report import SessionReport, build_report, outcome_sentence, sections
from monitor.audit.report_html import report_html
from monitor.audit.report_pdf import report_pdf
from monitor.audit.verify import verify_record
from monitor.cli import main
from monitor.domain.limits import DEFAULT_LIMITS
from monitor.domain.vitals import Vital
from monitor.record import Recorder, SqliteRecorder, Writer
from monitor.record.chain import SealLog

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
MADE_AT = T0 + 3 * DAY_S
MIN = 60.0


def report_of(
    recorder: Recorder, session: str, clinic: str | None = "Northside Clinic"
) -> SessionReport:
    return build_report(
        recorder, session, clinic=clinic, limits=DEFAULT_LIMITS,
        verification=verify_record(recorder, None, session), made_at=MADE_AT,
    )  # fmt: skip


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    text = " ".join(page.extract_text() for page in PdfReader(path).pages)
    return " ".join(text.split())  # the lines a paragraph wrapped, joined again


def recovery(**given: float | str | None) -> Recovery:
    fields: dict[str, object] = dict.fromkeys(
        ("status", "infusion_stopped_at", "recovered_at", "reason", "discharged_by", "updated_at")
    )
    fields.update(given)
    return Recovery(**fields)  # type: ignore[arg-type]


# the outcome in words ----------------------------------------------------------------------


def test_a_recovery_is_said_with_its_minutes_and_the_rule_that_confirmed_it() -> None:
    said = outcome_sentence(
        Outcome.RECOVERED, recovery(infusion_stopped_at=T0, recovered_at=T0 + 14 * MIN),
        DEFAULT_LIMITS, T0 + 30 * MIN,
    )  # fmt: skip
    assert said == (
        "Back to baseline 14 min after the infusion ended: 2 consecutive cuffs within 20 % of "
        "baseline."
    )


def test_a_late_recovery_names_the_window_it_missed() -> None:
    limits = DEFAULT_LIMITS.with_overrides({"recovery_window_s": 1800, "recovery_readings": 3})
    said = outcome_sentence(
        Outcome.RECOVERED_LATE, recovery(infusion_stopped_at=T0, recovered_at=T0 + 41 * MIN),
        limits, None,
    )  # fmt: skip
    assert said == (
        "Back to baseline 41 min after the infusion ended, later than the 30 min window: "
        "3 consecutive cuffs within 20 % of baseline."
    )


@pytest.mark.parametrize(
    ("outcome", "given", "closed_at", "expected"),
    [
        (Outcome.OVERDUE, {"infusion_stopped_at": T0, "reason": "SBP 175 above baseline"}, None,
         "Not back to baseline within 20 min of the infusion's end: SBP 175 above baseline."),
        (Outcome.CANNOT_ASSESS, {"reason": "no baseline blood pressure"}, None,
         "Return to baseline could not be assessed: no baseline blood pressure."),
        (Outcome.DISCHARGED_UNCONFIRMED, {"infusion_stopped_at": T0, "discharged_by": "dr.ray"},
         T0 + 9 * MIN, "Discharged 9 min after the infusion ended, before return to baseline was "
         "confirmed, by dr.ray."),
        (Outcome.OPEN, {}, None, "The session is still open: no outcome yet."),
        (Outcome.NO_INFUSION, {}, T0,
         "No infusion ended in this session, so there was no recovery check."),
    ],
)  # fmt: skip
def test_every_other_outcome_has_its_sentence(
    outcome: Outcome, given: dict[str, object], closed_at: float | None, expected: str
) -> None:
    said = outcome_sentence(outcome, recovery(**given), DEFAULT_LIMITS, closed_at)  # type: ignore[arg-type]
    assert said == expected


# the report of a session --------------------------------------------------------------------


def test_the_report_names_the_clinic_chair_patient_and_the_recovery(
    recorder: Recorder, day: Day
) -> None:
    report = report_of(recorder, day.first)

    assert (report.clinic, report.site, report.chair, report.patient) == (
        "Northside Clinic", "north", "c01", "P-0042",
    )  # fmt: skip
    assert report.outcome is Outcome.RECOVERED
    # The first session: stopped at 10:50, the second cuff back near baseline at 10:55.
    assert report.outcome_sentence.startswith("Back to baseline 5 min after the infusion ended")
    assert report_of(recorder, day.first, clinic=None).clinic == "north"  # the site by default


def test_the_checkpoints_are_the_cuffs_clinics_document(recorder: Recorder, day: Day) -> None:
    points = {p.name: p for p in report_of(recorder, day.first).checkpoints}

    before = points["BP before the infusion"].cuff
    assert before is not None
    assert (before.ts, before.words()) == (T0 + 5 * MIN, "120/80 mmHg")  # the second baseline cuff
    at_40 = points["BP at about 40 min"].cuff
    assert at_40 is not None
    assert at_40.ts == T0 + 10 * MIN + 40 * MIN  # the start at 10:10, a cuff every 5 min
    last = points["BP before discharge"].cuff
    assert last is not None
    assert last.words() == "124/81 mmHg"
    assert points["Observation after the infusion"].note == (
        "11 min from the end of the infusion to discharge"
    )


def test_the_checkpoints_of_an_open_session_say_what_is_missing(
    recorder: Recorder, day: Day
) -> None:
    points = {p.name: p for p in report_of(recorder, day.third).checkpoints}

    assert points["BP before the infusion"].note == "no infusion was started"
    assert points["BP before discharge"].note == "not discharged yet"
    assert report_of(recorder, day.third).outcome_sentence.startswith("The session is still open")


def test_alarms_carry_who_acknowledged_them_and_how_long_it_took(
    recorder: Recorder, day: Day
) -> None:
    report = report_of(recorder, day.first)
    sbp = next(a for a in report.alarms if a.alarm == day.acknowledged_sbp)
    assert (sbp.acknowledged_by, sbp.seconds_to_acknowledge) == ("nurse.ana", 60.0)

    table = next(s for s in sections(report) if s.title.startswith("Alarms"))
    row = next(r for r in table.rows if r[1] == sbp.text)
    assert row[4:6] == ["nurse.ana", "0:01:00"]


def test_every_action_is_there_with_its_person(recorder: Recorder, day: Day) -> None:
    actions = report_of(recorder, day.first).actions
    by = {what: who for _, what, who in actions}

    assert by["admitted P-0042"] == "nurse.kim"
    assert by["start: baseline -> infusing"] == "nurse.kim"
    assert by["stop: infusing -> recovery"] == "nurse.kim"
    assert by["discharged: recovered"] == "nurse.kim"
    assert any(what.startswith("acknowledged sbp_high") and who == "nurse.ana"
               for _, what, who in actions)  # fmt: skip


def test_the_chart_has_the_vitals_the_windows_and_the_limits(recorder: Recorder, day: Day) -> None:
    report = report_of(recorder, day.first)

    assert [(s.name, s.start) for s in report.spans] == [
        ("infusion", T0 + 10 * MIN),
        ("recovery window", T0 + 50 * MIN),
    ]
    assert report.spans[1].end == T0 + 50 * MIN + DEFAULT_LIMITS.recovery_window_s
    assert max(v for _, v in report.series[Vital.SBP]) == 186  # the cuff that raised sbp_high
    assert len(report.series[Vital.HR]) == report.readings  # every reading has a valid HR
    assert {(line.name, line.value) for line in report.limits} >= {("sbp_high", 180.0),
                                                                   ("spo2_low", 90.0)}  # fmt: skip


def test_a_limit_changed_during_the_session_is_drawn_as_a_step(tmp_path: Path) -> None:
    from audit_day import Ward

    ward = Ward()
    ward.send("c01", "session", {"command": "admit", "patient": "P-7", "by": "nurse.kim"})
    ward.readings("c01", 600, bp=(120, 80))
    changed_at = ward.now
    ward.send("c01", "command", {"command": "set_limits", "limits": {"sbp_high": 170},
                                 "by": "dr.ray"})  # fmt: skip
    ward.readings("c01", 300, bp=(120, 80))
    recorder = SqliteRecorder(tmp_path / "audit.db")
    recorder.append(ward.entries)
    report = report_of(recorder, ward.session_id("c01"))

    steps = [
        (line.value, line.start, line.end) for line in report.limits if line.name == "sbp_high"
    ]
    assert steps == [(180.0, T0, changed_at), (170.0, changed_at, report.end)]
    assert ("alarm limits changed: sbp_high 180 -> 170", "dr.ray") in [
        (what, who) for _, what, who in report.actions
    ]
    recorder.close()


def test_an_unknown_session_has_no_report(recorder: Recorder) -> None:
    with pytest.raises(SessionNotFound):
        report_of(recorder, "no-such-session")


# rendered -----------------------------------------------------------------------------------


def test_the_report_renders_to_html_and_pdf_with_the_outcome_sentence(
    recorder: Recorder, day: Day, tmp_path: Path
) -> None:
    report = report_of(recorder, day.first)
    page, pdf = report_html(report), report_pdf(report)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "session-report.html").write_text(page, encoding="utf-8")
    (ARTIFACTS / "session-report.pdf").write_bytes(pdf)

    text = pdf_text(pdf, tmp_path)
    assert report.outcome_sentence in text
    for said in ("Northside Clinic", "chair c01", "P-0042", day.first, "nurse.ana",
                 "Reviewed by (name)", "report made 2026-11-22 10:00:00"):  # fmt: skip
        assert said in text, said
    assert html.escape(report.outcome_sentence) in page
    assert page.count("<svg") == 1  # the chart, inline
    assert "Reviewed by (name)" in page


def test_the_same_report_gives_the_same_pdf(recorder: Recorder, day: Day) -> None:
    assert report_pdf(report_of(recorder, day.second)) == report_pdf(
        report_of(recorder, day.second)
    )


def test_record_text_is_never_markup(tmp_path: Path) -> None:
    from audit_day import Ward

    label = "<b>x</b> & <script>alert(1)</script> Ünal"
    ward = Ward()
    ward.send("c01", "session", {"command": "admit", "patient": label, "by": "nurse.kim"})
    ward.readings("c01", 600, bp=(120, 80))
    ward.send("c01", "command", {"command": "note", "text": "<i>ok</i> </para>", "by": "nurse.kim"})
    recorder = SqliteRecorder(tmp_path / "audit.db")
    recorder.append(ward.entries)
    report = report_of(recorder, ward.session_id("c01"))

    page = report_html(report)
    assert "<script>alert" not in page
    assert "<i>ok</i>" not in page
    assert html.escape(label) in page
    text = pdf_text(report_pdf(report), tmp_path)
    assert label in text
    assert "<i>ok</i> </para>" in text
    recorder.close()


# the command --------------------------------------------------------------------------------


@pytest.fixture
def sealed(tmp_path: Path, day: Day) -> Path:
    """The day's record written by the service's writer, which seals each closed session."""
    db = tmp_path / "audit.db"
    recorder = SqliteRecorder(db)
    Writer(recorder, seals=SealLog(f"{db}.seals.jsonl")).write_now(day.entries)
    recorder.close()
    return db


def test_the_command_writes_both_files_and_says_the_outcome(
    sealed: Path, day: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html_path, pdf_path = tmp_path / "out" / "first.html", tmp_path / "out" / "first.pdf"
    code = main(["audit", "report", day.first, "--db", f"sqlite:///{sealed}",
                 "--html", str(html_path), "--pdf", str(pdf_path), "--clinic", "Northside"])  # fmt: skip

    assert code == 0
    said = capsys.readouterr().out
    assert f"wrote {html_path}" in said
    assert "outcome: Back to baseline 5 min after the infusion ended" in said
    text = pdf_text(pdf_path.read_bytes(), tmp_path)
    assert "The session's hash chain verifies against the seal log" in text
    assert "1 seal(s)" in text
    [seal] = [
        s for s in SealLog(f"{sealed}.seals.jsonl").read() if s.chain == f"session:{day.first}"
    ]
    assert f"Seal of the session's chain: link {seal.seq}, SHA-256 {seal.hash}" in text
    assert "Northside" in html_path.read_text(encoding="utf-8")


def test_the_command_needs_a_file_and_a_known_session(
    sealed: Path, day: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{sealed}"
    assert main(["audit", "report", day.first, "--db", db]) == 2
    assert "give --html FILE, --pdf FILE or both" in capsys.readouterr().err
    assert main(["audit", "report", "nope", "--db", db, "--pdf", str(tmp_path / "x.pdf")]) == 2
    assert "no session 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()


def test_a_tampered_record_is_reported_as_such_and_exits_3(
    sealed: Path, day: Day, tmp_path: Path
) -> None:
    with sqlite3.connect(sealed) as db:
        db.execute("UPDATE readings SET hr = 140 WHERE id = (SELECT min(id) FROM readings "
                   "WHERE session = ?)", (day.first,))  # fmt: skip
    pdf = tmp_path / "first.pdf"

    assert main(["audit", "report", day.first, "--db", f"sqlite:///{sealed}",
                 "--pdf", str(pdf)]) == 3  # fmt: skip
    text = pdf_text(pdf.read_bytes(), tmp_path)
    assert "THE RECORD DOES NOT VERIFY" in text
    assert "its content does not match its hash" in text
