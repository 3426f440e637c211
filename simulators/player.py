"""Play a recorded numerics file (MIMIC-II style CSV, one row a minute) as one chair's monitor.

How this works: `load_numerics` reads the file, `recording_messages` turns its rows into the
MQTT messages a bedside monitor would have sent (pure: same rows, same bytes), and
`publish_recording` paces them onto a broker, or `simulators.journal` writes them as a replay
journal instead. Values go out as recorded, zeros ("no valid value") and impossible values
included: the service must meet the real artefacts, not a cleaned copy. Only an empty cell means
"no sample". HR (the ECG's) goes out as `hr`, PULSE (the oximeter's) as `pr`. The monitor says
`online` (retained) first, its Last Will says `offline`, and it says `offline` itself when the
recording ends: a retained `online` left behind by a recording that stopped would be a monitor
that does not exist. A `SessionFrame` adds what the station and the pump would have sent had the
record been a ketamine session: an admission at the first row, the infusion's start and stop.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import heapq
import json
import math
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from monitor.mqtt import broker_client
from monitor.wire.address import BrokerAddress, parse_broker_url
from monitor.wire.payloads import format_event_time, parse_event_time
from monitor.wire.topics import Inbound, chair_topic, check_name, check_root
from simulators.journal import write_journal

VITAL_COLUMNS = ("HR", "PULSE", "SpO2", "NBPSys", "NBPDias", "NBPMean")
CLOCK_COLUMNS = ("minute", "ts")
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
# A journal's minute 0 unless --start says otherwise, so one command always writes one file.
JOURNAL_START_EPOCH = 1_795_248_000.0  # 2026-11-21T08:00:00Z

Message = tuple[float, str, bytes, bool]  # offset from the start (s), topic, payload, retained


class NumericsError(ValueError):
    """A numerics file that cannot be played; the message names the file, line and column."""


@dataclass(frozen=True, slots=True)
class NumericsRow:
    """One row of a recording: None is "no sample", a number is what the monitor reported."""

    offset_s: float  # from minute 0 (a `minute` file) or from the first row (a `ts` file)
    hr: float | None = None
    pulse: float | None = None
    spo2: float | None = None
    nbp_sys: float | None = None
    nbp_dia: float | None = None
    nbp_mean: float | None = None

    @property
    def minute(self) -> float:
        return self.offset_s / 60


# Reading the file ------------------------------------------------------------------------------


def load_numerics(path: str | Path) -> list[NumericsRow]:
    """Rows of a CSV with a `minute` (or `ts`, epoch seconds) column and any of VITAL_COLUMNS.

    Raises:
        NumericsError: a missing column, a cell that is not a finite number, time going back.
        OSError: the file cannot be read.
    """
    with Path(path).open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        clock = _clock_column(reader.fieldnames or [], path)
        rows: list[NumericsRow] = []
        first: float | None = None
        for record in reader:
            where = f"{path}, line {reader.line_num}"
            at = _cell(record, clock, where)
            if at is None:
                raise NumericsError(f"{where}: no {clock}")
            if clock == "ts":
                at = _epoch(at, where)
                first = at if first is None else first
                offset_s = at - first
            else:
                offset_s = at * 60
            if rows and offset_s < rows[-1].offset_s:
                raise NumericsError(f"{where}: {clock} goes back in time")
            rows.append(_row(record, offset_s, where))
    return rows


def _clock_column(fields: Sequence[str], path: str | Path) -> str:
    clocks = [name for name in CLOCK_COLUMNS if name in fields]
    if len(clocks) != 1:
        raise NumericsError(f"{path}: needs one time column, `minute` or `ts` (found {fields})")
    if not any(name in fields for name in VITAL_COLUMNS):
        raise NumericsError(f"{path}: no vital column; expected some of {', '.join(VITAL_COLUMNS)}")
    return clocks[0]


def _epoch(value: float, where: str) -> float:
    try:
        return parse_event_time(value)
    except ValueError as exc:
        raise NumericsError(f"{where}, column ts: {exc}") from None


def _row(record: dict[str, str | None], offset_s: float, where: str) -> NumericsRow:
    hr, pulse, spo2, sys_, dia, mean = (_cell(record, name, where) for name in VITAL_COLUMNS)
    return NumericsRow(offset_s, hr, pulse, spo2, sys_, dia, mean)


def _cell(record: dict[str, str | None], column: str, where: str) -> float | None:
    text = (record.get(column) or "").strip()
    if not text:
        return None
    try:
        value: float = int(text)  # "87" goes out as 87, not 87.0: as recorded
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise NumericsError(f"{where}, column {column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise NumericsError(f"{where}, column {column}: {text!r} is not a finite number")
    return value


# From rows to messages ---------------------------------------------------------------------


def reading_payload(row: NumericsRow, *, ts: float, seq: int) -> dict[str, Any] | None:
    """The reading a monitor would send for `row`, or None when the row has no sample at all.

    `hr` is the HR column (the ECG's rate) and `pr` the PULSE column (the oximeter's), each only
    from its own column: a 0 is the monitor saying "no valid value" and goes out as 0.
    """
    reading: dict[str, Any] = {"ts": format_event_time(ts), "seq": seq}
    vitals = {"hr": row.hr, "pr": row.pulse, "spo2": row.spo2}
    reading |= {name: value for name, value in vitals.items() if value is not None}
    cuff = {"sys": row.nbp_sys, "dia": row.nbp_dia, "map": row.nbp_mean}
    nibp = {name: value for name, value in cuff.items() if value is not None}
    if nibp:
        reading["nibp"] = nibp
    return reading if len(reading) > 2 else None


def encode(payload: dict[str, Any]) -> bytes:
    """Compact, deterministic JSON."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def device_payload(state: str, *, device: str, ts: float | None) -> bytes:
    status: dict[str, Any] = {} if ts is None else {"ts": format_event_time(ts)}
    return encode({**status, "state": state, "device": device})


@dataclass(frozen=True, slots=True)
class SessionFrame:
    """A record framed as the usual ketamine session (CLINICAL.md): the patient admitted at the
    first row, 0.5 mg/kg over 40 minutes started 15 minutes later. No discharge: the record
    says nothing about when the patient left."""

    patient: str
    weight_kg: float = 70
    start_after_min: float = 15
    infusion_min: float = 40
    dose_mg_per_kg: float = 0.5
    drug: str = "ketamine"


def recording_messages(
    rows: Sequence[NumericsRow],
    *,
    root: str,
    site: str,
    chair: str,
    start_epoch: float,
    device: str = "player",
    session: SessionFrame | None = None,
) -> list[Message]:
    """Everything the player publishes, in order: `online` (retained), one reading per row with
    a sample, `offline` (retained) at the last row; with `session`, its admission and infusion
    events among them (those that fall after the last row are left out). Times are
    `start_epoch` + offset."""
    check_root(root)
    topic = _ChairTopics(root, check_name(site, "site"), check_name(chair, "chair"))
    begin = rows[0].offset_s if rows else 0.0
    end = rows[-1].offset_s if rows else 0.0
    online = device_payload("online", device=device, ts=start_epoch + begin)
    offline = device_payload("offline", device=device, ts=start_epoch + end)
    framed = [] if session is None else _session_messages(session, topic, begin, start_epoch)
    readings = _reading_messages(rows, topic(Inbound.VITALS), start_epoch)
    return [
        (begin, topic(Inbound.DEVICE), online, True),
        *heapq.merge([m for m in framed if m[0] <= end], readings, key=lambda m: m[0]),
        (end, topic(Inbound.DEVICE), offline, True),
    ]


@dataclass(frozen=True, slots=True)
class _ChairTopics:
    root: str
    site: str
    chair: str

    def __call__(self, kind: Inbound) -> str:
        return chair_topic(self.root, self.site, self.chair, kind)


def _reading_messages(rows: Sequence[NumericsRow], topic: str, start_epoch: float) -> list[Message]:
    messages: list[Message] = []
    for row in rows:
        reading = reading_payload(row, ts=start_epoch + row.offset_s, seq=len(messages) + 1)
        if reading is not None:
            messages.append((row.offset_s, topic, encode(reading), False))
    return messages


def _session_messages(
    frame: SessionFrame, topic: _ChairTopics, begin: float, start_epoch: float
) -> list[Message]:
    """The station's admission and the pump's start and stop, in time order."""
    start = begin + frame.start_after_min * 60
    stop = start + frame.infusion_min * 60
    admit = {"command": "admit", "patient": frame.patient, "weight_kg": frame.weight_kg}
    infusion = {"event": "start", "drug": frame.drug, "dose_mg_per_kg": frame.dose_mg_per_kg,
                "planned_minutes": frame.infusion_min}  # fmt: skip
    events: list[tuple[float, Inbound, dict[str, Any]]] = [
        (begin, Inbound.SESSION, admit),
        (start, Inbound.INFUSION, infusion),
        (stop, Inbound.INFUSION, {"event": "stop"}),
    ]
    return [
        (at, topic(kind), encode({"ts": format_event_time(start_epoch + at), **payload}), False)
        for at, kind, payload in events
    ]


def count_readings(messages: Sequence[Message]) -> int:
    return sum(1 for _, topic, _, _ in messages if topic.endswith("/" + Inbound.VITALS.value))


# Onto the broker -----------------------------------------------------------------------------


async def publish_recording(
    messages: Sequence[Message],
    *,
    broker: BrokerAddress | None = None,
    host: str = "127.0.0.1",
    port: int = 1883,
    speed: float = 60.0,
) -> int:
    """Publish `messages` (QoS 1) at `speed` recorded seconds per wall second (0 or inf: as fast
    as the broker acknowledges) to `broker` (left out: `host` and `port`, no user, no TLS);
    return the number of readings published. On a broker with the shipped ACL the user is the
    chair's monitor (`monitor-c01`), and a `SessionFrame`'s commands need a station's user.

    The first message must be the device's `online` on its device topic: the Last Will says
    `offline` there. Raises aiomqtt.MqttError when the broker cannot be reached or goes away.
    """
    check_speed(speed)
    if not messages:
        return 0
    _, device_topic, online, _ = messages[0]
    if not device_topic.endswith("/" + Inbound.DEVICE.value):
        raise ValueError("publish_recording: the first message must be the device's `online`")
    device = json.loads(online).get("device")
    will = aiomqtt.Will(device_topic, encode({"state": "offline", "device": device}), 1, True)
    client = broker_client(
        broker or BrokerAddress(host, port),
        identifier=f"infusion-sim-play-{secrets.token_hex(4)}",
        will=will,
        clean_session=True,
        socket_options=NODELAY,
    )
    paced = 0 < speed < math.inf
    async with client:
        loop = asyncio.get_running_loop()
        started, first = loop.time(), messages[0][0]
        for offset, topic, payload, retain in messages:
            due = started + (offset - first) / speed if paced else 0.0
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            await client.publish(topic, payload, qos=1, retain=retain)
    return count_readings(messages)


async def play(
    path: str | Path,
    *,
    broker: BrokerAddress | None = None,
    host: str = "127.0.0.1",
    port: int = 1883,
    root: str = "clinic",
    site: str,
    chair: str,
    speed: float = 60.0,
    start_epoch: float | None = None,
) -> int:
    """Publish the recording at `path` as chair `chair`; return the number of readings.

    Args:
        broker: the broker and the monitor's user; left out, `host` and `port` (no user, no TLS).
        speed: recorded seconds per wall second; 0 or inf: as fast as possible.
        start_epoch: event time of minute 0 (of the first row of a `ts` file); default now.
    """
    rows = load_numerics(path)
    start = time.time() if start_epoch is None else start_epoch
    messages = recording_messages(rows, root=root, site=site, chair=chair, start_epoch=start)
    address = broker or BrokerAddress(host, port)
    return await publish_recording(messages, broker=address, speed=speed)


def check_speed(speed: float) -> float:
    if math.isnan(speed) or speed < 0:
        raise ValueError(f"speed {speed} must be 0 (as fast as possible) or positive")
    return speed


# Command line (wired into `infusion-sim play` by the CLI) -------------------------------------


BROKER_HELP = "mqtt://[USER:PASSWORD@]HOST:PORT or mqtts://USER:PASSWORD@HOST:PORT?ca=FILE"


CONNECTION_DEFAULTS = {"broker": DEFAULT_BROKER, "site": "main", "root": "clinic"}


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    """--broker, --site and --root, as every simulator takes them.

    Left out, they set nothing (argparse.SUPPRESS), so on a subcommand they do not overwrite the
    same options given before it (`infusion-sim --broker URL play FILE`); `connection` fills in
    the defaults.
    """
    helps = {"broker": BROKER_HELP, "site": "site name", "root": "topic root"}
    for name, default in CONNECTION_DEFAULTS.items():
        parser.add_argument(
            f"--{name}", default=argparse.SUPPRESS, help=f"{helps[name]} (default {default})"
        )


def connection(args: argparse.Namespace) -> tuple[BrokerAddress, str, str]:
    """(broker, root, site) from the namespace, defaults where an option was left out."""
    values = {name: getattr(args, name, default) for name, default in CONNECTION_DEFAULTS.items()}
    broker = parse_broker_url(values["broker"])
    return broker, check_root(values["root"]), check_name(values["site"], "site")


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    add_broker_arguments(parser)
    parser.add_argument("file", type=Path, metavar="FILE", help="numerics CSV (minute or ts)")
    parser.add_argument("--chair", default="c01", help="chair to play it as (default c01)")
    parser.add_argument(
        "--speed", type=float, default=60.0,
        help="recorded seconds per wall second (default 60: a minute a second; 0: at once)",
    )  # fmt: skip
    parser.add_argument(
        "--start", type=float, default=None, metavar="EPOCH",
        help="event time of the recording's start in epoch seconds (default now; with "
        "--journal 2026-11-21T08:00:00Z)",
    )  # fmt: skip
    parser.add_argument(
        "--journal", type=Path, default=None, metavar="OUT.jsonl",
        help="write the messages as a replay journal instead of publishing them",
    )  # fmt: skip
    parser.add_argument(
        "--session", action="store_true",
        help="frame the record as a ketamine session: admit at the first row, 0.5 mg/kg over "
        "40 min started 15 min later",
    )  # fmt: skip


def run_play(args: argparse.Namespace) -> int:
    """`infusion-sim play`: 0 when played (or its journal written), 2 for bad usage or a bad
    file, 1 for broker trouble or a journal that cannot be written."""
    try:
        broker, root, site = connection(args)
        speed = check_speed(args.speed)
        rows = load_numerics(args.file)
        start = _start_epoch(args)
        frame = SessionFrame(patient=f"MIMIC-{args.file.stem}") if args.session else None
        messages = recording_messages(
            rows, root=root, site=site, chair=args.chair, start_epoch=start, session=frame
        )
    except (ValueError, OSError) as exc:
        print(f"infusion-sim play: {_reason(exc)}", file=sys.stderr)
        return 2
    if count_readings(messages) == 0:
        print(f"infusion-sim play: {args.file} has no samples", file=sys.stderr)
        return 2
    if args.journal is not None:
        return _write_journal(messages, args, start_epoch=start)
    return _publish(messages, args, broker=broker, speed=speed)


def _start_epoch(args: argparse.Namespace) -> float:
    """--start; else a journal's fixed minute 0 (the same command, the same bytes), or now."""
    if args.start is not None:
        return parse_event_time(args.start)
    return JOURNAL_START_EPOCH if args.journal is not None else time.time()


def _describe(messages: Sequence[Message], args: argparse.Namespace) -> str:
    span_min = (messages[-1][0] - messages[0][0]) / 60
    readings = count_readings(messages)
    return f"{readings} readings ({span_min:g} min) of {args.file} as chair {args.chair}"


def _write_journal(
    messages: Sequence[Message], args: argparse.Namespace, *, start_epoch: float
) -> int:
    try:
        write_journal(messages, args.journal, start_epoch=start_epoch)
    except OSError as exc:
        print(f"infusion-sim play: {_reason(exc)}", file=sys.stderr)
        return 1
    print(f"wrote {len(messages)} messages, {_describe(messages, args)}, to {args.journal}")
    return 0


def _publish(
    messages: Sequence[Message], args: argparse.Namespace, *, broker: BrokerAddress, speed: float
) -> int:
    print(f"playing {_describe(messages, args)}")
    try:
        readings = asyncio.run(publish_recording(messages, broker=broker, speed=speed))
    except aiomqtt.MqttError as exc:
        print(f"infusion-sim play: broker {broker.redacted}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("infusion-sim play: interrupted", file=sys.stderr)
        return 1
    print(f"played {readings} readings")
    return 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    return str(exc)
