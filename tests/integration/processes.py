"""`infusion-monitor serve` as a process of its own, for the tests that kill it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.integration.conftest import SITE


@contextlib.asynccontextmanager
async def serve_process(
    port: int, db: str, *, log: Path, extra: tuple[str, ...] = ()
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The service on the broker at `port`, recording to the record at the URL `db`, its log in
    `log` (appended to: a restart on the same log keeps the first's lines); killed on the way
    out if still running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_MONITOR_")}
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "serve", "--broker", f"mqtt://127.0.0.1:{port}",
            "--site", SITE, "--db", db, "--http", "off", *extra,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=out,
            env=env,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
