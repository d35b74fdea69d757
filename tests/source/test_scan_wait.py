"""The scan-and-wait loop on its own clock: polls grow, the wait is bounded, and every way it
ends without a successful scan raises SourceError naming the task."""

from __future__ import annotations

from typing import Any

import pytest

from gate.errors import SourceError
from gate.source import scans
from gate.source.images import Instance

IMAGE = Instance(
    "prod",
    "app",
    "1.0",
    "e" * 64,
    "u",
    "i",
    {},
    "INIT",
    None,
    "acr",
    "crr-1",
    "cri-1",
    "cn-hangzhou",
)


class Answer:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


class FakeSession:
    """Answers PublicCreateImageScanTask, then each status query from ``statuses``."""

    def __init__(self, clock: list[float], statuses: list[str | Exception]) -> None:
        self.clock = clock
        self.statuses = statuses
        self.calls: list[str] = []

    def call(self, action: str, query: list[tuple[str, str]], **_: Any) -> Answer:
        self.calls.append(action)
        if action == scans.CREATE:
            return Answer({"Data": {"TaskId": "T-1", "Status": "INIT"}})
        status = self.statuses.pop(0)
        if isinstance(status, Exception):
            raise status
        return Answer({"Task": [{"TaskId": "T-1", "Status": status}]})


def run(
    statuses: list[str | Exception], wait: float = 100.0
) -> tuple[Any, list[float], FakeSession]:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    session = FakeSession(clock, statuses)
    result = scans.scan(
        session,  # type: ignore[arg-type]
        IMAGE,
        wait_timeout=wait,
        call_timeout=10,
        sleep=sleep,
        monotonic=lambda: clock[0],
    )
    return result, slept, session


def test_polls_grow_until_the_scan_succeeds() -> None:
    result, slept, session = run(["PROCESSING"] * 5 + ["SUCCESS"])
    assert result.task_id == "T-1"
    assert slept == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert session.calls == [scans.CREATE] + [scans.STATUS] * 6


@pytest.mark.parametrize("status", ["FAIL", "TIMOUT"])
def test_a_failed_task_names_the_task(status: str) -> None:
    with pytest.raises(SourceError, match=f"task T-1\\) ended with status {status}"):
        run(["PROCESSING", status])


def test_the_wait_is_bounded() -> None:
    with pytest.raises(SourceError, match=r"task T-1\) did not finish within --wait-timeout 10s"):
        run(["PROCESSING"] * 50, wait=10)


def test_a_failing_status_query_names_the_task() -> None:
    with pytest.raises(SourceError, match=r"refused \(scan task T-1\)"):
        run([SourceError("refused")])


def test_an_entry_without_a_repository_id_is_not_scanned() -> None:
    import dataclasses

    with pytest.raises(SourceError, match="no repository id"):
        scans.scan(
            None,  # type: ignore[arg-type]
            dataclasses.replace(IMAGE, repo_id=""),
            wait_timeout=10,
            call_timeout=10,
        )
