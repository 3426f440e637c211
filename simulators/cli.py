"""`infusion-sim`: a simulated clinic, its scenarios, a recording player and pagers.

    infusion-sim --broker mqtt://127.0.0.1:1883 --site main --chairs 12 --speed 60 --seed 7
    infusion-sim --broker 'mqtts://station:PW@broker.clinic:8883?ca=ca.pem' \
        --monitors 'mqtts://monitor-{chair}:PW@broker.clinic:8883?ca=ca.pem'
    infusion-sim --scenario hypertensive --chairs 1 --speed 60
    infusion-sim --seed 7 --start 1795000000 --minutes 90 --print > clinic.jsonl
    infusion-sim scenarios
    infusion-sim play ../shared/data/mimic2-numerics/s25047.csv --chair c01
    infusion-sim play ../shared/data/mimic2-numerics/s25047.csv --session --journal s25047.jsonl
    infusion-sim pager --rule accept:5

Exit codes: 0 success, 2 bad usage, 1 other failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence

from monitor.wire.address import BrokerAddress, parse_broker_url
from simulators.clinic import clinic_messages
from simulators.player import BROKER_HELP
from simulators.scenarios import ScenarioError, load_scenarios
from simulators.story import Address


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except (ValueError, ScenarioError) as exc:
        print(f"infusion-sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"infusion-sim: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-sim", description="A simulated ketamine infusion clinic over MQTT."
    )
    _connection(parser)
    parser.add_argument("--chairs", type=int, default=12)
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scenario", help="a scenario for every chair, or several (a,b,c) for the chairs in turn"
    )
    parser.add_argument("--minutes", type=float, help="stop after this much simulated time")
    parser.add_argument("--stagger", type=float, default=60.0, help="first arrivals spread (min)")
    parser.add_argument("--start", type=float, help="epoch seconds of simulated time 0 (now)")
    parser.add_argument("--print", action="store_true", help="print JSON lines, publish nothing")
    parser.set_defaults(run=_run_clinic)
    commands = parser.add_subparsers(dest="command")
    scenarios = commands.add_parser("scenarios", help="list the scenarios, one line each")
    scenarios.set_defaults(run=_list_scenarios)
    _optional_subcommands(commands)
    return parser


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker", default="mqtt://127.0.0.1:1883",
        help=f"{BROKER_HELP}: the station's and the pumps' user (default mqtt://127.0.0.1:1883)",
    )  # fmt: skip
    parser.add_argument(
        "--monitors", metavar="URL",
        help="the bedside monitors' broker URL, {chair} in it standing for the chair "
        "(mqtts://monitor-{chair}:PW@HOST:8883?ca=FILE); default --broker",
    )  # fmt: skip
    parser.add_argument("--site", default="main")
    parser.add_argument("--root", default="clinic")


def _optional_subcommands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from simulators import pager, player

    play = commands.add_parser("play", help="publish a recorded numerics file as one chair")
    player.add_play_arguments(play)
    play.set_defaults(run=player.run_play)
    pagers = commands.add_parser("pager", help="show pages and answer them by a rule")
    pager.add_pager_arguments(pagers)
    pagers.set_defaults(run=pager.run_pager)


def _list_scenarios(args: argparse.Namespace) -> int:
    scenarios = load_scenarios()
    width = max(len(name) for name in scenarios)
    for name, scenario in scenarios.items():
        print(f"{name:<{width}}  {scenario.summary}")
    return 0


def _run_clinic(args: argparse.Namespace) -> int:
    if args.chairs < 1 or args.speed < 0:
        raise ValueError("--chairs must be at least 1 and --speed not negative")
    start = args.start if args.start is not None else round(time.time(), 3)
    messages = clinic_messages(
        chairs=args.chairs,
        seed=args.seed,
        address=Address(args.root, args.site, start),
        scenario=args.scenario,
        until_s=args.minutes * 60 if args.minutes is not None else None,
        stagger_s=args.stagger * 60,
    )
    if args.print:
        for m in messages:
            record = {"at_s": m.at_s, "topic": m.topic, "retain": m.retain,
                      "link": m.link.value if m.link else None, "payload": m.payload.decode()}  # fmt: skip
            print(json.dumps(record, separators=(",", ":")))
        return 0
    broker = parse_broker_url(args.broker)
    monitors = _monitors(args.monitors or args.broker)
    print(
        f"infusion-sim: {args.chairs} chairs, seed {args.seed}, speed {args.speed:g}, "
        f"publishing to {broker.redacted} site {args.site}",
        file=sys.stderr,
    )
    from simulators.publish import publish

    with contextlib.suppress(KeyboardInterrupt):
        count = asyncio.run(publish(messages, broker=broker, monitors=monitors, speed=args.speed))
        print(f"infusion-sim: published {count} messages", file=sys.stderr)
    return 0


def _monitors(template: str) -> Callable[[str], BrokerAddress]:
    """Each chair's monitor's address: `template` with {chair} as the chair (checked now)."""
    parse_broker_url(template.replace("{chair}", "c01"))
    return lambda chair: parse_broker_url(template.replace("{chair}", chair))


if __name__ == "__main__":
    sys.exit(main())
