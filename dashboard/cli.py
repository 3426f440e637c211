"""`infusion-dashboard`: a second nurses' station, and a password hasher for the users table.

    infusion-dashboard --broker mqtt://HOST:PORT --site SITE --http HOST:PORT --config FILE
    infusion-dashboard hash-password        (reads the password from the terminal or stdin)

Exit codes: 0 success, 2 bad usage or configuration, 1 other failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from dashboard.auth import Accounts, AccountsError, Sessions, hash_password
from dashboard.hub import Hub
from dashboard.settings import StationSettings, load_station_settings
from dashboard.web import Dashboard, install
from monitor import __version__
from monitor.layered import SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infusion-dashboard", description=__doc__.split("\n")[0])
    parser.add_argument("--broker")
    parser.add_argument("--site")
    parser.add_argument("--root")
    parser.add_argument("--http", help="HOST:PORT (default 127.0.0.1:8080)")
    parser.add_argument("--config", type=Path, help="TOML settings, with the [users] table")
    parser.add_argument("--log-level")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("hash-password", help="print an argon2id hash for the users table")
    args = parser.parse_args(argv)
    if args.command == "hash-password":
        return _hash_password()
    try:
        settings = load_station_settings(
            args.config, broker=args.broker, site=args.site, root=args.root, http=args.http,
            log_level=args.log_level,
        )  # fmt: skip
        station = _station(settings)
    except (SettingsError, AccountsError) as exc:
        print(f"infusion-dashboard: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        return asyncio.run(_serve(settings, station))
    except OSError as exc:
        print(f"infusion-dashboard: {exc}", file=sys.stderr)
        return 1


def _hash_password() -> int:
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
    password = password.rstrip("\n")
    if len(password) < 8:
        print("infusion-dashboard: a password needs at least 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def _station(settings: StationSettings) -> Dashboard:
    hub = Hub(broker=settings.broker_address(), root=settings.root, site=settings.site)
    return Dashboard(hub=hub, accounts=Accounts(settings.users), sessions=Sessions(),
                     site=settings.site)  # fmt: skip


def create_station_app(station: Dashboard) -> FastAPI:
    app = FastAPI(title="infusion-dashboard", version=__version__)
    install(app, station)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        link = station.hub.link(time.time())
        return {"ready": bool(link["broker"]), "broker": link["broker"], "service": link["service"]}

    return app


async def _serve(settings: StationSettings, station: Dashboard) -> int:
    address = settings.http_address()
    if address is None:
        raise SettingsError("a dashboard needs --http HOST:PORT")
    config = uvicorn.Config(create_station_app(station), host=address.host, port=address.port,
                            log_level="warning", lifespan="off", timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    tasks = [asyncio.create_task(station.run(), name="station")]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    print(f"infusion-dashboard: http://{address.host}:{address.port}/ for site {settings.site}",
          file=sys.stderr)  # fmt: skip
    try:
        await server.serve()
    finally:
        station.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
