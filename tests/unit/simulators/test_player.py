"""The recording player without a broker: real MIMIC-II numerics in, contract v1.1 messages out,
published or written as a replay journal.

The two real records live next to the repository (../shared/data/mimic2-numerics); a clean clone
without them fails here, loudly, rather than testing nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.replay import read_journal, replay
from monitor.settings import load_settings
from monitor.wire.payloads import ReadingIn, format_event_time, parse_event_time, validate
from monitor.wire.topics import Inbound
from simulators.player import (
    JOURNAL_START_EPOCH,
    Message,
    NumericsError,
    NumericsRow,
    SessionFrame,
    add_play_arguments,
    count_readings,
    encode,
    load_numerics,
    publish_recording,
    reading_payload,
    recording_messages,
    run_play,
)

REPO = Path(__file__).resolve().parents[3]
MIMIC = REPO / ".." / "shared" / "data" / "mimic2-numerics"
T0 = 1_795_000_000.0
VITALS = "clinic/t1/chair/c01/vitals"
DEVICE = "clinic/t1/chair/c01/device"
HEADER = "minute,HR,PULSE,SpO2,NBPSys,NBPDias,NBPMean\n"


@pytest.fixture(scope="module")
def mimic() -> Path:
    if not (MIMIC / "s25047.csv").is_file() or not (MIMIC / "s00001.csv").is_file():
        pytest.fail(
            f"the MIMIC-II numerics are missing: expected s25047.csv and s00001.csv in "
            f"{MIMIC.resolve()} (the shared data folder next to the repository)"
        )
    return MIMIC


def _messages(rows: list[NumericsRow], start: float = T0) -> list[Message]:
    return recording_messages(rows, root="clinic", site="t1", chair="c01", start_epoch=start)


def _readings(messages: list[Message]) -> list[dict[str, Any]]:
    return [json.loads(payload) for _, topic, payload, _ in messages if topic == VITALS]


def _at_minute(messages: list[Message], minute: int) -> dict[str, Any]:
    ts = format_event_time(T0 + minute * 60)
    return next(r for r in _readings(messages) if r["ts"] == ts)


def _csv(tmp_path: Path, text: str, name: str = "rec.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# The real records --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "rows"), [("s25047.csv", 72), ("s00001.csv", 1936)])
def test_real_records_load_one_row_a_minute(mimic: Path, name: str, rows: int) -> None:
    loaded = load_numerics(mimic / name)

    assert len(loaded) == rows
    assert [row.offset_s for row in loaded] == [minute * 60.0 for minute in range(rows)]


@pytest.mark.parametrize("name", ["s25047.csv", "s00001.csv"])
def test_one_reading_per_row_with_a_sample_between_online_and_offline(
    mimic: Path, name: str
) -> None:
    rows = load_numerics(mimic / name)
    messages = _messages(rows)
    sampled = [r for r in rows if reading_payload(r, ts=T0, seq=1) is not None]

    assert count_readings(messages) == len(sampled)
    assert [(m[1], json.loads(m[2])["state"], m[3]) for m in (messages[0], messages[-1])] == [
        (DEVICE, "online", True),
        (DEVICE, "offline", True),
    ]
    assert all(topic == VITALS and not retain for _, topic, _, retain in messages[1:-1])
    assert [r["seq"] for r in _readings(messages)] == list(range(1, len(sampled) + 1))


def test_every_row_of_the_short_record_has_a_sample(mimic: Path) -> None:
    assert count_readings(_messages(load_numerics(mimic / "s25047.csv"))) == 72


@pytest.mark.parametrize("name", ["s25047.csv", "s00001.csv"])
def test_every_reading_passes_the_contract(mimic: Path, name: str) -> None:
    messages = _messages(load_numerics(mimic / name))

    for _, topic, payload, _ in messages:
        kind = Inbound.VITALS if topic == VITALS else Inbound.DEVICE
        validate(kind, payload)  # raises PayloadError with the reason


@pytest.mark.parametrize(
    ("minute", "expected"),
    [
        (0, {"hr": 101.3, "pr": 0, "spo2": 0}),  # 0: the monitor's "no valid value", kept
        (5, {"hr": 76.8, "pr": 72.6, "spo2": 99.4, "nibp": {"map": 94}}),  # a lone mean
        (7, {"hr": 73.8, "pr": 64, "spo2": 98.3, "nibp": {"sys": 74, "dia": 10, "map": 31}}),
        (24, {"hr": 58.8, "pr": 51.3, "spo2": 100, "nibp": {"sys": 147, "dia": 118, "map": 131}}),
        (55, {"hr": 0, "pr": 58.8, "spo2": 88, "nibp": {"sys": 40, "dia": 18, "map": 29}}),
        (70, {"hr": 0, "pr": 70.1, "spo2": 36}),
    ],
)
def test_junk_of_the_short_record_goes_out_as_recorded(
    mimic: Path, minute: int, expected: dict[str, Any]
) -> None:
    reading = _at_minute(_messages(load_numerics(mimic / "s25047.csv")), minute)

    assert {k: v for k, v in reading.items() if k not in ("ts", "seq")} == expected


def test_hr_comes_only_from_the_hr_column_and_pr_only_from_pulse(mimic: Path) -> None:
    """Minute 63: HR 0 (ECG: no valid value), PULSE 277 (the oximeter's rate): each goes out
    as recorded under its own name; neither stands in for the other."""
    rows = load_numerics(mimic / "s25047.csv")
    readings = _readings(_messages(rows))

    assert _at_minute(_messages(rows), 63) == {
        "ts": format_event_time(T0 + 63 * 60),
        "seq": 64,
        "hr": 0,
        "pr": 277,
        "spo2": 96,
    }
    assert [r["hr"] for r in readings] == [row.hr for row in rows]
    assert [r["pr"] for r in readings] == [row.pulse for row in rows]


def test_a_reading_is_compact_json_with_recorded_numbers(mimic: Path) -> None:
    messages = _messages(load_numerics(mimic / "s25047.csv"))

    assert messages[3] == (
        120.0,
        VITALS,
        b'{"ts":"2026-11-18T11:08:40.000Z","seq":3,"hr":89.5,"pr":88.5,"spo2":95.7,'
        b'"nibp":{"sys":87,"dia":46,"map":62}}',
        False,
    )


@pytest.mark.parametrize("name", ["s25047.csv", "s00001.csv"])
def test_same_file_same_bytes(mimic: Path, name: str) -> None:
    first = _messages(load_numerics(mimic / name))
    second = _messages(load_numerics(mimic / name))

    assert first == second


def test_start_epoch_moves_every_time_and_nothing_else(mimic: Path) -> None:
    rows = load_numerics(mimic / "s25047.csv")
    early, late = _readings(_messages(rows, T0)), _readings(_messages(rows, T0 + 3600))

    assert [ReadingIn.model_validate(r).ts - T0 for r in early] == [m * 60.0 for m in range(72)]
    assert [ReadingIn.model_validate(r).ts - T0 - 3600 for r in late] == [
        m * 60.0 for m in range(72)
    ]
    assert [{**r, "ts": None} for r in early] == [{**r, "ts": None} for r in late]


# Other files -------------------------------------------------------------------------------


def test_an_empty_cell_is_left_out_and_an_empty_row_is_skipped(tmp_path: Path) -> None:
    text = HEADER + "0,,71,97,,,\n1,,,,,,\n2,,,,,,88\n3,70,,,,,\n"
    messages = _messages(load_numerics(_csv(tmp_path, text)))

    assert [m[0] for m in messages] == [0.0, 0.0, 120.0, 180.0, 180.0]
    assert [{k: v for k, v in r.items() if k != "ts"} for r in _readings(messages)] == [
        {"seq": 1, "pr": 71, "spo2": 97},  # no HR: the oximeter's rate does not stand in
        {"seq": 2, "nibp": {"map": 88}},  # a lone mean still goes out: the service judges it
        {"seq": 3, "hr": 70},
    ]
    assert all(validate(Inbound.VITALS, m[2]) for m in messages if m[1] == VITALS)


def test_a_ts_file_is_timed_from_its_first_row(tmp_path: Path) -> None:
    text = "ts,HR,SpO2\n1795000030,72,98\n1795000090.5,73,\n1795000150,,97\n"
    rows = load_numerics(_csv(tmp_path, text))
    readings = _readings(_messages(rows, start=1795000030))

    assert [row.offset_s for row in rows] == [0.0, 60.5, 120.0]
    assert [r["ts"] for r in readings] == [
        format_event_time(1795000030),
        format_event_time(1795000090.5),
        format_event_time(1795000150),
    ]


def test_a_file_with_no_sample_gives_only_online_and_offline(tmp_path: Path) -> None:
    messages = _messages(load_numerics(_csv(tmp_path, HEADER + "0,,,,,,\n")))

    assert [(m[1], json.loads(m[2])["state"]) for m in messages] == [
        (DEVICE, "online"),
        (DEVICE, "offline"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("HR,SpO2\n72,98\n", "needs one time column"),
        ("minute,ts,HR\n0,1795000000,72\n", "needs one time column"),
        ("minute,Heart\n0,72\n", "no vital column"),
        (HEADER + "0,fast,,,,,\n", "line 2, column HR: 'fast' is not a number"),
        (HEADER + "0,72,,nan,,,\n", "line 2, column SpO2: 'nan' is not a finite number"),
        (HEADER + "0,72,,,,,\n,73,,,,,\n", "line 3: no minute"),
        (HEADER + "1,72,,,,,\n0,73,,,,,\n", "line 3: minute goes back in time"),
        ("ts,HR\n1795000000000,72\n", "line 2, column ts: ts 1795000000000 is not epoch"),
    ],
)
def test_a_bad_file_is_refused_naming_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(NumericsError, match=message):
        load_numerics(_csv(tmp_path, text))


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"site": "north/east"}, "site"),
        ({"chair": "c 01"}, "chair"),
        ({"root": "clinic/"}, "topic root"),
    ],
)
def test_names_outside_the_contract_are_refused(where: dict[str, str], message: str) -> None:
    names = {"root": "clinic", "site": "t1", "chair": "c01", **where}

    with pytest.raises(ValueError, match=message):
        recording_messages([NumericsRow(0, hr=70)], start_epoch=T0, **names)


# Command line ------------------------------------------------------------------------------


def _play_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_play_arguments(parser)
    return parser.parse_args(argv)


def test_play_arguments_and_their_defaults() -> None:
    args = _play_args("rec.csv")
    given = _play_args("rec.csv", "--chair", "c07", "--speed", "0", "--start", "1795000000")

    assert (args.file, args.chair, args.speed, args.start) == (Path("rec.csv"), "c01", 60.0, None)
    assert (args.journal, args.session) == (None, False)
    assert not hasattr(args, "broker")  # left out: the parent parser's --broker is kept
    assert (given.chair, given.speed, given.start) == ("c07", 0.0, 1795000000.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--broker", "http://x"], "must look like mqtt://HOST:PORT"),
        (["--speed", "-1"], "speed -1.0 must be 0"),
        (["--site", "a/b"], "site"),
        (["--chair", "c/1"], "chair"),
        (["--start", "1795000000000"], "milliseconds"),
    ],
)
def test_bad_usage_exits_2_before_any_network(
    mimic: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_play(_play_args(str(mimic / "s25047.csv"), *argv))

    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "No such file"), (HEADER, "has no samples"), ("x\n1\n", "needs one time column")],
)
def test_a_bad_file_exits_2(
    tmp_path: Path, text: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rec.csv"
    if text is not None:
        path.write_text(text)

    assert run_play(_play_args(str(path))) == 2
    assert message in capsys.readouterr().err


async def test_publishing_without_the_online_first_is_refused_before_connecting() -> None:
    reading = (0.0, VITALS, b'{"ts":1795000000,"hr":70}', False)

    with pytest.raises(ValueError, match="the first message must be the device's `online`"):
        await publish_recording([reading], host="127.0.0.1", port=1)


# A session around the record --------------------------------------------------------------


def _framed(rows: list[NumericsRow]) -> list[Message]:
    return recording_messages(
        rows, root="clinic", site="t1", chair="c01", start_epoch=T0,
        session=SessionFrame(patient="MIMIC-s25047"),
    )  # fmt: skip


def _framing(messages: list[Message]) -> list[tuple[float, str, dict[str, Any]]]:
    """(offset, topic leaf, payload) of the station's and the pump's messages."""
    return [
        (offset, topic.rsplit("/", 1)[1], json.loads(payload))
        for offset, topic, payload, _ in messages
        if topic.endswith(("/session", "/infusion"))
    ]


def test_a_session_frame_admits_at_the_first_row_and_infuses_from_minute_15_to_55(
    mimic: Path,
) -> None:
    messages = _framed(load_numerics(mimic / "s25047.csv"))

    assert _framing(messages) == [
        (0.0, "session", {"ts": format_event_time(T0), "command": "admit",
                          "patient": "MIMIC-s25047", "weight_kg": 70}),
        (900.0, "infusion", {"ts": format_event_time(T0 + 900), "event": "start",
                             "drug": "ketamine", "dose_mg_per_kg": 0.5, "planned_minutes": 40}),
        (3300.0, "infusion", {"ts": format_event_time(T0 + 3300), "event": "stop"}),
    ]  # fmt: skip
    for _, topic, payload, _ in messages:
        validate(Inbound(topic.rsplit("/", 1)[1]), payload)


def test_framing_keeps_time_order_with_the_online_first_and_the_offline_last(mimic: Path) -> None:
    messages = _framed(load_numerics(mimic / "s25047.csv"))
    leaves = [topic.rsplit("/", 1)[1] for _, topic, _, _ in messages]

    assert [m[0] for m in messages] == sorted(m[0] for m in messages)
    assert leaves[:3] == ["device", "session", "vitals"]  # admitted before its first reading
    assert leaves[-1] == "device"
    assert leaves[leaves.index("infusion") + 1] == "vitals"  # the pump, then minute 15's reading
    assert count_readings(messages) == 72


def test_framing_leaves_out_what_falls_after_the_end_of_a_short_record(tmp_path: Path) -> None:
    rows = load_numerics(_csv(tmp_path, HEADER + "".join(f"{m},70,70,97,,,\n" for m in range(30))))

    events = [
        payload.get("event", payload.get("command")) for _, _, payload in _framing(_framed(rows))
    ]

    assert events == ["admit", "start"]


# The journal ---------------------------------------------------------------------------------


def _journal(tmp_path: Path, *argv: str) -> Path:
    out = tmp_path / "out.jsonl"
    assert run_play(_play_args(str(MIMIC / "s25047.csv"), "--journal", str(out), *argv)) == 0
    return out


def test_a_journal_line_is_a_message_received_at_its_own_event_time(
    mimic: Path, tmp_path: Path
) -> None:
    entries = [json.loads(line) for line in _journal(tmp_path).read_text().splitlines()]

    assert list(entries[0]) == ["received", "topic", "payload"]
    assert entries[0] == {
        "received": JOURNAL_START_EPOCH,
        "topic": "clinic/main/chair/c01/device",
        "payload": {"ts": "2026-11-21T08:00:00.000Z", "state": "online", "device": "player"},
    }
    assert all(parse_event_time(e["payload"]["ts"]) == e["received"] for e in entries)
    assert len(entries) == 72 + 2


def test_the_journal_is_what_the_player_would_publish(mimic: Path, tmp_path: Path) -> None:
    messages = recording_messages(
        load_numerics(mimic / "s25047.csv"), root="clinic", site="main", chair="c01",
        start_epoch=JOURNAL_START_EPOCH,
    )  # fmt: skip
    entries = list(read_journal(str(_journal(tmp_path))))

    assert [(e["topic"], encode(e["payload"])) for e in entries] == [
        (topic, payload) for _, topic, payload, _ in messages
    ]


@pytest.mark.parametrize("argv", [(), ("--session",), ("--session", "--chair", "c04")])
def test_the_same_command_writes_the_same_bytes(
    mimic: Path, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    first = _journal(tmp_path, *argv).read_bytes()
    second = _journal(tmp_path, *argv).read_bytes()

    assert first == second
    assert first != _journal(tmp_path, *argv, "--start", "1795000000").read_bytes()


def test_start_moves_the_journal_in_time(mimic: Path, tmp_path: Path) -> None:
    entries = list(read_journal(str(_journal(tmp_path, "--start", str(T0)))))

    assert entries[0]["received"] == T0
    assert entries[-1]["received"] == T0 + 71 * 60


def test_a_session_journal_replays_through_the_core_as_that_patients_session(
    mimic: Path, tmp_path: Path
) -> None:
    settings = load_settings(None, site="main", db="sqlite:///:memory:", http="off")
    entries = list(read_journal(str(_journal(tmp_path, "--session"))))
    alarms = replay(entries, settings)

    assert sum(1 for e in entries if e["topic"].endswith("/session")) == 1  # no discharge
    assert alarms
    assert {a.patient for a in alarms} == {"MIMIC-s25047"}


def test_a_journal_that_cannot_be_written_exits_1(
    mimic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-folder" / "out.jsonl"

    assert run_play(_play_args(str(mimic / "s25047.csv"), "--journal", str(out))) == 1
    assert "No such file or directory" in capsys.readouterr().err
