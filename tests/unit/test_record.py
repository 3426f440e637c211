"""Every test of the record's shared suite (`record_suite.py`), on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from record_suite import RecorderSuite

from monitor.record import MemoryRecorder, Recorder


@pytest.fixture(params=["memory"])
def recorder(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    backend: Recorder = MemoryRecorder()
    yield backend
    backend.close()


class TestRecorder(RecorderSuite):
    """The suite, run once per backend (`[memory]`, ...)."""
