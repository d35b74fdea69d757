"""A fresh scan before deploy: ``PublicCreateImageScanTask`` and ``DescribeImageLatestScanTask``.

Used only with ``--scan-if-missing``: every scan task consumes one of the account's purchased
image scan authorizations, so the gate never starts one otherwise. For an image Security
Center lists but has not scanned, it creates a task from the image list entry (registry type,
repository id, ACR instance id, region, namespace, name, tag, digest), then polls the image's
latest scan task with a growing interval (1 s, doubling, at most 15 s) until it succeeds,
fails, or ``--wait-timeout`` passes. A task that fails, times out on the service's side, or
outlives the wait raises :class:`~gate.errors.SourceError` (exit 3) naming the task id: an
image whose scan did not finish is never evaluated, let alone passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gate.errors import SourceError

if TYPE_CHECKING:
    from gate.source.api import Session
    from gate.source.images import Instance

CREATE = "PublicCreateImageScanTask"
STATUS = "DescribeImageLatestScanTask"
FIRST_POLL = 1.0
MAX_POLL = 15.0
DONE = "SUCCESS"
FAILED = ("FAIL", "FAILED", "TIMOUT", "TIMEOUT")
AUTHORIZATIONS = "each scan task uses one of the account's purchased image scan authorizations"


@dataclass(frozen=True)
class Scan:
    """A finished scan task."""

    task_id: str
    seconds: float


def _data_problem(body: dict[str, Any]) -> str | None:
    data = body.get("Data")
    if isinstance(data, dict) and data.get("TaskId"):
        return None
    return "has no Data.TaskId"


def _tasks_problem(body: dict[str, Any]) -> str | None:
    return None if isinstance(body.get("Task"), list) else "has no Task list"


def _text(value: object) -> str:
    from gate.source.credentials import safe_line

    return "" if value is None or isinstance(value, (dict, list)) else safe_line(str(value), 120)


def create_query(instance: Instance) -> list[tuple[str, str]]:
    """The PublicCreateImageScanTask parameters for one listed image."""
    return [
        ("RegistryTypes", instance.registry_type or "acr"),
        ("RepoIds", instance.repo_id),
        ("InstanceIds", instance.instance_id),
        ("RegionIds", instance.region_id),
        ("RepoNamespaces", instance.namespace),
        ("RepoNames", instance.repository),
        ("Tags", instance.tag),
        ("Digests", instance.digest),
    ]


def scan(
    session: Session,
    instance: Instance,
    *,
    wait_timeout: float,
    call_timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Scan:
    """Start a scan of ``instance`` and wait for it; raises SourceError unless it succeeds."""
    name = f"{instance.namespace}/{instance.repository}:{instance.tag}"
    if not (instance.repo_id and instance.region_id and instance.digest):
        raise SourceError(
            f"cannot start a scan of {name}: its image list entry has no repository id, "
            "region or digest",
            hint="scan it from the Security Center console, or add its repository there",
        )
    started = monotonic()
    wait_deadline = started + wait_timeout

    def call(action: str, query: list[tuple[str, str]], check: Any, what: str) -> Any:
        deadline = min(monotonic() + call_timeout, wait_deadline)
        return session.call(
            action, query, deadline=deadline, timeout=call_timeout, what=what, check_body=check
        ).body

    body = call(CREATE, create_query(instance), _data_problem, f"a scan task for {name}")
    task_id = _text(body["Data"]["TaskId"])
    overdue = SourceError(
        f"the scan of {name} (task {task_id}) did not finish within "
        f"--wait-timeout {wait_timeout:g}s; nothing was evaluated",
        hint="raise --wait-timeout, or run the gate again once the task has finished "
        "(a finished scan is not started again)",
    )
    delay = FIRST_POLL
    while True:
        left = wait_deadline - monotonic()
        if left <= 0:
            raise overdue
        sleep(min(delay, left))
        delay = min(delay * 2, MAX_POLL)
        if monotonic() >= wait_deadline:
            continue
        try:
            answer = call(
                STATUS,
                [("Digest", instance.digest)],
                _tasks_problem,
                f"the scan task status of {name}",
            )
        except SourceError as exc:
            if monotonic() >= wait_deadline:
                raise overdue from None
            raise SourceError(f"{exc.message} (scan task {task_id})", hint=exc.hint) from None
        tasks = [t for t in answer["Task"] if isinstance(t, dict)]
        mine = [t for t in tasks if _text(t.get("TaskId")) == task_id] or tasks[:1]
        status = _text(mine[0].get("Status")).upper() if mine else ""
        if status == DONE:
            return Scan(task_id, monotonic() - started)
        if status in FAILED:
            raise SourceError(
                f"the scan of {name} (task {task_id}) ended with status {status}; "
                "nothing was evaluated",
                hint="see the task in the Security Center console; the image is not passed "
                "without a successful scan",
            )
