"""`infusion-monitor`: serve, demo, replay, audit. The composition root: the only module that
puts the service, the nurses' station and (for the demo) the simulators together.

`audit` is a group of read-only commands over the record (`monitor.audit`): `sessions`, `show`,
`export`, `verify`; each opens the record `serve` would use (`--db`, `INFUSION_MONITOR_DB`,
`--config`). An unknown session is a bad argument (2); a record that cannot be read is a failure
(1); a record that does not verify (a chain changed, cut or rewritten) is 3.

Exit codes: 0 success, 2 bad usage or configuration (the message says what to fix), 1 other
failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import io
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dashboard.auth import Accounts, AccountsError, Sessions, hash_password
from dashboard.hub import Hub
from dashboard.web import Dashboard
from monitor import __version__
from monitor.app import Service
from monitor.audit import SessionNotFound, open_audited
from monitor.audit.export import Format, Table, export
from monitor.audit.outcome import Outcome, parse_outcome
from monitor.audit.rerun import differences, rerun_session
from monitor.audit.sessions import SessionFilter, find_sessions, sessions_json, sessions_table
from monitor.audit.show import show_session
from monitor.audit.summary import summarize, summary_json, summary_text
from monitor.audit.times import WHEN_HELP, parse_bound
from monitor.audit.verify import verify_record
from monitor.broker import local_broker
from monitor.domain.clinic import DEFAULT_MAX_CHAIRS
from monitor.record import Recorder, RecordError
from monitor.record.chain import SealLog
from monitor.record.chart import session_chart
from monitor.record.logins import RecordedLogins
from monitor.replay import JournalError, describe, read_journal, replay
from monitor.settings import Settings, SettingsError, load_settings
from simulators.clinic import clinic_messages, demo_paging
from simulators.pager import PagerRule, RuleKind, run_pagers
from simulators.publish import publish
from simulators.story import Address

log = logging.getLogger("monitor")
T = TypeVar("T")
DEMO_HISTORY_S = 3600.0
DEMO_LOGINS = {"nurse": "demo-nurse", "admin": "demo-admin"}  # demo only: printed at start
STOP_DEADLINE_S = 9.0  # from SIGTERM to exit, at most (the clean stop needs about 6 s at worst)


# Composition: the service with the nurses' station plugged in -------------------------------
# The service (monitor.app) knows no station and the dashboard knows no service; here they meet.


def build_service(settings: Settings) -> Service:
    """The service, with the nurses' station in the same process when it serves HTTP."""
    station = _station(settings) if settings.dashboard and settings.http_address() else None
    service = Service(settings, station=station)
    if station is not None:
        station.archive = functools.partial(session_chart, service.recorder)
        station.sessions = Sessions(keeper=RecordedLogins(service.recorder, service.writer))
    return service


def _station(settings: Settings) -> Dashboard:
    try:
        accounts = Accounts(settings.users)
    except AccountsError as exc:
        raise SettingsError(str(exc)) from None
    if not len(accounts):
        log.warning("no dashboard users configured: add [users] to the config file")
    hub = Hub(broker=settings.broker_address(), root=settings.root, site=settings.site)
    return Dashboard(hub=hub, accounts=accounts, sessions=Sessions(), site=settings.site)


def demo_users(logins: dict[str, str]) -> dict[str, dict[str, str]]:
    """The demo's users table: one user per role named, with the given passwords."""
    return {
        name: {"role": name, "password_hash": hash_password(password)}
        for name, password in logins.items()
    }


# The commands ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code: int = args.run(args)
    except SettingsError as exc:
        print(f"infusion-monitor: configuration error: {exc}", file=sys.stderr)
        return 2
    except (RecordError, JournalError, OSError) as exc:
        print(f"infusion-monitor: {exc}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-monitor",
        description="Live vital-signs monitoring for IV ketamine infusion clinics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the monitoring service")
    _service_options(serve)
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="a broker, the service and a simulated clinic")
    demo.add_argument("--chairs", type=int, default=12, help="simulated chairs (default 12)")
    demo.add_argument("--speed", type=float, default=1.0, help="story seconds per second")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--broker", help="use this broker instead of starting one")
    demo.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT (default 127.0.0.1:8080)")
    demo.add_argument("--db", help="sqlite:///PATH (default: a fresh file in a temporary folder)")
    demo.add_argument("--site", default="demo")
    demo.add_argument("--log-level", default="INFO")
    demo.add_argument(
        "--config",
        type=Path,
        help="TOML settings for the demo's service (its own [paging], [limits], ...)",
    )
    demo.set_defaults(run=_demo)

    play = commands.add_parser("replay", help="run a recorded journal through the core offline")
    play.add_argument("file", help="a JSONL journal, or sqlite:///PATH of a service store")
    play.add_argument("--config", type=Path, help="TOML settings (site, limits, chairs)")
    play.add_argument("--site")
    play.add_argument("--format", choices=("text", "jsonl"), default="text")
    play.set_defaults(run=_replay)

    audit = commands.add_parser(
        "audit", help="read the record as an auditor: sessions, show, export"
    )
    _audit_commands(audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True))
    return parser


def _service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="mqtt://HOST:PORT (default mqtt://127.0.0.1:1883)")
    parser.add_argument("--site", help="the site this service monitors (default main)")
    _record_options(parser)
    parser.add_argument("--http", help="HOST:PORT for health, metrics and API, or 'off'")
    parser.add_argument("--root", help="MQTT topic root (default clinic)")
    parser.add_argument(
        "--max-chairs", type=int, help="chairs made from the wire when none are listed (default 64)"
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")


def _record_options(parser: argparse.ArgumentParser) -> None:
    """The record's options, shared by `serve` and the `audit` commands."""
    parser.add_argument("--db", help="sqlite:///PATH (default sqlite:///infusion-monitor.db)")
    parser.add_argument("--config", type=Path, help="a TOML file with any of these options")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    flags = {
        name: getattr(args, name, None)
        for name in ("broker", "site", "db", "http", "root", "log_level", "max_chairs")
    }
    return load_settings(getattr(args, "config", None), **flags, **extra)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _logging(settings.log_level)
    return asyncio.run(_run_service(settings))


async def _run_service(settings: Settings) -> int:
    service = build_service(settings)
    _on_signals(service.stop)
    log.info(
        "monitoring site %s via %s; store %s; http %s",
        settings.site, settings.broker_address().redacted, settings.db, settings.http,
    )  # fmt: skip
    await service.run()
    return 0


def _on_signals(stop: Any) -> None:
    """SIGINT and SIGTERM stop the service; it must be gone within STOP_DEADLINE_S whatever
    the disk or the broker does (a supervisor waits 10 s before it kills), so a watchdog thread
    ends the process if the clean stop has not by then. A second signal ends it at once."""
    loop = asyncio.get_running_loop()
    signalled: list[float] = []

    def on_signal(sig: signal.Signals) -> None:
        if signalled:
            log.error("%s again: exiting now", sig.name)
            _exit_now(1)
        signalled.append(time.monotonic())
        log.info("%s: stopping (at most %.0f s)", sig.name, STOP_DEADLINE_S)
        watchdog = threading.Timer(STOP_DEADLINE_S, _overdue)
        watchdog.daemon = True
        watchdog.start()
        stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)


def _overdue() -> None:
    log.critical("the stop took over %.0f s: exiting without finishing it", STOP_DEADLINE_S)
    _exit_now(1)


def _exit_now(code: int) -> None:
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def _demo(args: argparse.Namespace) -> int:
    if args.chairs < 1 or args.speed <= 0:
        raise SettingsError("--chairs must be at least 1 and --speed above 0")
    db = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='infusion-demo-')}/demo.db"
    # The demo's pagers, unless its configuration brings its own [paging].
    own: dict[str, Any] = {}
    if args.config is not None:
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):  # load_settings says why
            own = tomllib.loads(args.config.read_text())
    paging = None if "paging" in own else demo_paging(args.chairs)
    settings = load_settings(
        args.config,
        broker=args.broker,
        site=args.site,
        db=db,
        http=args.http,
        users=demo_users(DEMO_LOGINS),
        max_chairs=max(args.chairs, DEFAULT_MAX_CHAIRS),
        paging=paging,
    )
    _logging(args.log_level)
    return asyncio.run(_run_demo(settings, args, own_broker=args.broker is None))


async def _run_demo(settings: Settings, args: argparse.Namespace, *, own_broker: bool) -> int:
    broker = local_broker() if own_broker else None
    if broker is not None:
        await broker.start()
        broker_url = f"mqtt://127.0.0.1:{broker.port}"
        settings = Settings.model_construct(**(settings.model_dump() | {"broker": broker_url}))
    address = settings.broker_address()
    service = build_service(settings)
    _on_signals(service.stop)
    http = settings.http_address()
    print(
        f"infusion-monitor demo: broker {address.url} ({broker.kind if broker else 'external'}), "
        f"site {settings.site}, {args.chairs} chairs at speed {args.speed:g}, store {settings.db}\n"
        f"  dashboard: http://{http.host}:{http.port}/   log in as "
        f"{' or '.join(f'{u} / {p}' for u, p in DEMO_LOGINS.items())}\n"
        f"  health: /healthz   metrics: /metrics   API: /openapi.json\n"
        f"  watch:  mosquitto_sub -p {address.port} -t '{settings.root}/{settings.site}/#' -v\n"
        f"  Ctrl-C stops the demo."
        if http
        else f"infusion-monitor demo: broker {address.url}",
        flush=True,
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            service_task = tasks.create_task(service.run(), name="service")
            await asyncio.wait_for(service.link.connected.wait(), 15)
            # The clinic opened an hour ago: its first hour goes out at once, so the screen
            # starts with patients at every stage; from then on, time runs at --speed.
            history_s = DEMO_HISTORY_S
            messages = clinic_messages(
                chairs=args.chairs,
                seed=args.seed,
                address=Address(settings.root, settings.site, time.time() - history_s),
                stagger_s=history_s,
            )
            clinic = tasks.create_task(
                publish(
                    messages, broker=address, speed=args.speed, catch_up_s=history_s,
                ),
                name="simulated-clinic",
            )  # fmt: skip
            # The nurses carrying the pagers answer like people on a shift: most accept within
            # 20-90 s, some decline, some never answer (escalation and all-clears show).
            pagers = tasks.create_task(
                run_pagers(broker=address, root=settings.root, site=settings.site, pagers=None,
                           rule=PagerRule(RuleKind.HUMAN, float(args.seed)), out=_PagerLog()),
                name="simulated-pagers",
            )  # fmt: skip
            await service_task
            clinic.cancel()
            pagers.cancel()
    finally:
        if broker is not None:
            await broker.stop()
    return 0


class _PagerLog(io.StringIO):
    """The simulated pagers' screens, as log lines (the demo's terminal stays readable)."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                log.info("pager: %s", line.strip())
        return len(text)


def _replay(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, site=args.site, db="memory://", http="off")
    alarms = replay(read_journal(args.file), settings)
    for alarm in alarms:
        print(alarm.model_dump_json() if args.format == "jsonl" else describe(alarm))
    if args.format == "text":
        raised = sum(1 for a in alarms if a.previous_state is None)
        print(f"{len(alarms)} alarm transitions, {raised} alarms raised", file=sys.stderr)
    return 0


# audit: the record read back (monitor.audit) ----------------------------------------------


def _audit_commands(steps: Any) -> None:
    listing = steps.add_parser("sessions", help="the sessions in the record, with filters")
    _record_options(listing)
    _range_options(listing)
    listing.add_argument("--patient", help="patient labels containing this (any case)")
    listing.add_argument(
        "--outcome",
        action="append",
        type=_argument(parse_outcome),
        help=f"with this outcome (again for more): {', '.join(Outcome)}",
    )
    listing.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    listing.set_defaults(run=_audit_sessions)

    summary = steps.add_parser(
        "summary", help="the clinic's numbers over a range: recovery, alarm burden, pages"
    )
    _record_options(summary)
    _range_options(summary)
    summary.add_argument("--json", action="store_true", help="JSON instead of text")
    summary.set_defaults(run=_audit_summary)

    show = steps.add_parser("show", help="one session in words: summary, who did what, alarms")
    _record_options(show)
    show.add_argument("session", help="the session's id (audit sessions lists them)")
    show.set_defaults(run=lambda args: _audit_read(args, lambda r: show_session(r, args.session)))

    out = steps.add_parser("export", help="one session whole: jsonl, csv or a FHIR R4B Bundle")
    _record_options(out)
    out.add_argument("session", help="the session's id")
    out.add_argument("--format", choices=list(Format), default=Format.JSONL, type=Format)
    out.add_argument(
        "--table",
        choices=list(Table),
        default=Table.READINGS,
        type=Table,
        help="csv: which table (default readings)",
    )
    out.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    out.set_defaults(run=_audit_export)

    check = steps.add_parser(
        "verify", help="check every hash chain (or one session's) and its seals; 3 on a fault"
    )
    _record_options(check)
    check.add_argument("session", nargs="?", help="only this session's chain")
    check.add_argument("--seal-log", type=Path, help="the seal log (default: beside the record)")
    check.set_defaults(run=_audit_verify)

    rerun = steps.add_parser(
        "rerun", help="run a stored session's messages through the core again; 3 on a difference"
    )
    _record_options(rerun)
    rerun.add_argument("session", help="the session's id")
    rerun.set_defaults(run=_audit_rerun)

    report = steps.add_parser(
        "report", help="the session report a clinician signs, as HTML and/or PDF; 3 on a fault"
    )
    _record_options(report)
    report.add_argument("session", help="the session's id")
    report.add_argument("--html", type=Path, metavar="FILE", help="write the report as HTML here")
    report.add_argument("--pdf", type=Path, metavar="FILE", help="write the report as PDF here")
    report.add_argument("--seal-log", type=Path, help="the seal log (default: beside the record)")
    report.add_argument("--clinic", help="the clinic's name on the report (default clinic_name)")
    report.set_defaults(run=_audit_report)


def _range_options(parser: argparse.ArgumentParser) -> None:
    """The filters `audit sessions` and `audit summary` share: when, where."""
    parser.add_argument(
        "--from",
        dest="since",
        metavar="WHEN",
        type=_argument(functools.partial(parse_bound, end=False)),
        help=f"admitted from: {WHEN_HELP}; local time unless it names a zone",
    )
    parser.add_argument(
        "--to",
        dest="before",
        metavar="WHEN",
        type=_argument(functools.partial(parse_bound, end=True)),
        help="admitted before this (a date: up to its end)",
    )
    parser.add_argument("--chair", help="at this chair")
    parser.add_argument("--site", dest="at_site", metavar="SITE", help="at this site")


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse` as an argparse type: its ValueError's message is the usage error."""

    def argument(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return argument


def _audit_sessions(args: argparse.Namespace) -> int:
    picked = SessionFilter(
        since=args.since, before=args.before, chair=args.chair, patient=args.patient,
        outcomes=frozenset(args.outcome or ()), site=args.at_site,
    )  # fmt: skip
    written = sessions_json if args.json else sessions_table
    return _audit_read(args, lambda recorder: written(find_sessions(recorder, picked)))


def _audit_summary(args: argparse.Namespace) -> int:
    picked = SessionFilter(
        since=args.since, before=args.before, chair=args.chair, site=args.at_site
    )
    written = summary_json if args.json else summary_text
    return _audit_read(args, lambda recorder: written(summarize(recorder, picked)))


def _audit_report(args: argparse.Namespace) -> int:
    if args.html is None and args.pdf is None:
        print(
            "infusion-monitor: audit report: give --html FILE, --pdf FILE or both", file=sys.stderr
        )
        return 2
    settings = _settings(args)
    path = _seal_log_path(args, settings)

    def write(recorder: Recorder) -> tuple[str, bool]:
        # Drawing and laying out a PDF need matplotlib and reportlab: loaded for a report only.
        from monitor.audit.report import audited_report
        from monitor.audit.report_html import report_html
        from monitor.audit.report_pdf import report_pdf

        report = audited_report(
            recorder, args.session, seal_log=SealLog(path) if path else None,
            clinic=args.clinic or settings.clinic_name, limits=settings.clinic_limits(),
            made_at=time.time(),
        )  # fmt: skip
        checked = report.verification
        said = []
        if args.html is not None:
            _write_file(args.html, report_html(report).encode("utf-8"))
            said.append(f"wrote {args.html}")
        if args.pdf is not None:
            _write_file(args.pdf, report_pdf(report))
            said.append(f"wrote {args.pdf}")
        outcome = f"outcome: {report.outcome_sentence}"
        verified = "the record verifies" if checked.ok else checked.text().rstrip()
        return "\n".join([*said, outcome, verified]) + "\n", checked.ok

    return _audit_check(args, write)


def _audit_rerun(args: argparse.Namespace) -> int:
    settings = _settings(args)

    def check(recorder: Recorder) -> tuple[str, bool]:
        again = rerun_session(recorder, args.session, settings)
        found = differences(again)
        if found:
            lines = [f"DIFFERENT: {len(found)} differences from the record", *found]
            return "\n".join(lines) + "\n", False
        return (f"reproduced: the core makes the session's {len(again.recorded_alarms)} alarm "
                f"transitions and {len(again.recorded_recovery)} recovery updates again from "
                "the journal\n"), True  # fmt: skip

    return _audit_check(args, check)


def _write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole: to a file beside it first, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def _seal_log_path(args: argparse.Namespace, settings: Settings) -> Path | str | None:
    """The seal log: the one named, the configured one, else the one beside the record."""
    return args.seal_log or settings.seal_log_path()


def _audit_export(args: argparse.Namespace) -> int:
    return _audit_read(
        args, lambda r: export(r, args.session, format=args.format, table=args.table), out=args.out
    )


def _audit_verify(args: argparse.Namespace) -> int:
    path = _seal_log_path(args, _settings(args))

    def check(recorder: Recorder) -> tuple[str, bool]:
        verified = verify_record(recorder, SealLog(path) if path else None, args.session)
        return verified.text(), verified.ok

    return _audit_check(args, check)


def _audit_check(args: argparse.Namespace, check: Callable[[Recorder], tuple[str, bool]]) -> int:
    """`_audit_read` of a check that says what it found and whether all was well: 3 when not
    (the record altered, a difference), as the audit commands that check exit."""
    well: list[bool] = []

    def read(recorder: Recorder) -> str:
        text, ok = check(recorder)
        well.append(ok)
        return text

    code = _audit_read(args, read)
    return code if code or well[0] else 3


def _audit_read(
    args: argparse.Namespace, read: Callable[[Recorder], str], *, out: Path | None = None
) -> int:
    """Open the record `serve` would use, read it with `read`, write what it gives."""
    recorder = open_audited(_settings(args).db)
    try:
        text = read(recorder)
    except SessionNotFound as exc:
        print(f"infusion-monitor: {exc}", file=sys.stderr)
        return 2
    finally:
        recorder.close()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8", newline="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
