"""Every way the live API can fail, end to end: the emulator and the real ``gate`` command.

Each case starts from a previous run's reports on disk and checks what a pipeline sees: the
exit code, the one line that says why, and both reports replaced whole (the JUnit error
report, the JSON error document) with no temporary file left behind. Only complete data
that passed may exit 0. The client's own retry and deadline logic is unit-tested in
tests/source/test_api.py and against the emulator in-process in tests/test_emulator.py;
this is the same ground seen from outside the process. The runs go three at a time: each is
mostly the start of a process that imports the live client.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from gate.emulator import DEFAULT_KEY, Emulator, Faults
from tests.conftest import gate_command

PREVIOUS_XML = '<?xml version="1.0"?><testsuites name="previous run"/>\n'
PREVIOUS_JSON = '{"verdict": "pass", "previous": true}\n'


@dataclass(frozen=True)
class Case:
    faults: Faults | None  # None: nothing listens on the port
    code: int
    says: tuple[str, ...]
    args: tuple[str, ...] = ()
    secret: str = DEFAULT_KEY.secret
    requests: int | None = None  # how many requests the emulator must have seen
    within: float = 20.0


RETRIED = ("--retries", "1")
CASES = {
    "complete data, blocks": Case(Faults(), 1, ("FAIL: the gate blocks",), requests=1),
    "connection refused": Case(None, 3, ("cannot connect to 127.0.0.1",), RETRIED),
    "connection reset": Case(
        Faults(reset_first=99), 3, ("connection", "2 attempts"), RETRIED, requests=2
    ),
    "slow past the deadline": Case(
        Faults(delay=20.0), 3, ("did not answer in time", "deadline"), ("--timeout", "1"), within=15
    ),
    "HTTP 500": Case(
        Faults(fail_first=99, fail_status=500, fail_code="InternalError"),
        3,
        ("InternalError", "HTTP 500", "1 retries exhausted"),
        RETRIED,
        requests=2,
    ),
    "HTTP 502": Case(
        Faults(fail_first=99, fail_status=502, fail_code="BadGateway"),
        3,
        ("BadGateway", "HTTP 502"),
        RETRIED,
        requests=2,
    ),
    "HTTP 503": Case(
        Faults(fail_first=99, fail_status=503, fail_code="ServiceUnavailable"),
        3,
        ("ServiceUnavailable", "HTTP 503"),
        RETRIED,
        requests=2,
    ),
    "throttled with retry-after": Case(
        Faults(throttle_first=99, retry_after_ms=300),
        3,
        ("Throttling.User",),
        RETRIED,
        requests=2,
    ),
    "throttled without retry-after": Case(
        Faults(throttle_first=99), 3, ("Throttling.User",), RETRIED, requests=2
    ),
    "throttled once, then served": Case(Faults(throttle_first=1), 1, ("FAIL",), requests=2),
    "403 no permission": Case(
        Faults(fail_first=99, fail_status=403, fail_code="NoPermission"),
        3,
        ("NoPermission", "HTTP 403", "yundun-sas:GetDockerhubImageRiskRankInfo"),
        requests=1,  # never retried
    ),
    "signature mismatch": Case(
        Faults(), 3, ("SignatureDoesNotMatch",), secret="not-the-secret", requests=1
    ),
    "truncated JSON": Case(Faults(body="truncated"), 3, ("connection",), RETRIED, requests=2),
    "not JSON": Case(Faults(body="non-json"), 3, ("not JSON", "guest network"), requests=1),
    "JSON without RiskRankInfo": Case(
        Faults(body="no-ranking"), 3, ("has no RiskRankInfo object",), requests=1
    ),
    "empty ranking": Case(Faults(body="empty"), 0, ("no ranked image matched", "PASS")),
    "empty ranking, images required": Case(
        Faults(body="empty"), 1, ("--require-images",), ("--require-images",)
    ),
    "100 MB body": Case(
        Faults(body="huge", huge_size=100_000_000), 3, ("larger than 32 MiB",), requests=1
    ),
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(secret: str, home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith("ALIBABA_CLOUD_")
    }
    env.update(
        ALIBABA_CLOUD_ACCESS_KEY_ID=DEFAULT_KEY.id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=secret,
        HOME=str(home),  # no CLI profile or credentials file of the machine
        GATE_CACHE_DIR="",
    )
    return env


@dataclass
class Outcome:
    code: int
    output: str
    seconds: float
    requests: int | None
    workdir: Path


def run_case(case: Case, workdir: Path) -> Outcome:
    """One run of the real command against its own emulator, from a previous run's reports."""
    (workdir / "gate.xml").write_text(PREVIOUS_XML)
    (workdir / "gate.json").write_text(PREVIOUS_JSON)
    emulator = Emulator(faults=case.faults) if case.faults is not None else None
    url = emulator.start() if emulator else f"http://127.0.0.1:{closed_port()}"
    try:
        started = time.monotonic()
        done = subprocess.run(
            [
                *gate_command(),
                "check",
                "--endpoint",
                url,
                "--all-namespaces",
                "--junit",
                str(workdir / "gate.xml"),
                "--json",
                str(workdir / "gate.json"),
                *case.args,
            ],
            cwd=workdir,
            env=environment(case.secret, workdir),
            capture_output=True,
            text=True,
            timeout=90,
        )
        seconds = time.monotonic() - started
    finally:
        if emulator is not None:
            emulator.stop()
    requests = len(emulator.received) if emulator is not None else None
    return Outcome(done.returncode, done.stdout + done.stderr, seconds, requests, workdir)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """All cases at once, a few at a time: each run is mostly the start of a process."""
    dirs = {name: tmp_path_factory.mktemp("fault") for name in CASES}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_case, CASES[name], dirs[name]) for name in CASES}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_fault(outcomes: dict[str, Outcome], name: str) -> None:
    case, seen = CASES[name], outcomes[name]
    output = seen.output
    assert seen.code == case.code, output
    for fragment in case.says:
        assert fragment in output, output
    assert seen.seconds < case.within
    assert "Traceback" not in output
    assert DEFAULT_KEY.secret not in output
    if case.requests is not None:
        assert seen.requests == case.requests

    # Both reports replaced whole; nothing half-written or temporary left behind.
    workdir = seen.workdir
    assert sorted(p.name for p in workdir.iterdir()) == ["gate.json", "gate.xml"]
    root = etree.fromstring((workdir / "gate.xml").read_bytes(), etree.XMLParser(recover=False))
    document = json.loads((workdir / "gate.json").read_text())
    assert root.get("name") == "gate"
    assert document["exit_code"] == case.code
    if case.code == 3:
        (error,) = root.iter("error")
        assert error.get("type") == "gate.source-error"
        assert case.says[0] in error.get("message")
        assert document["verdict"] == "error"
        assert case.says[0] in document["error"]["message"]
    else:
        assert document["verdict"] == ("pass" if case.code == 0 else "fail")
        assert not list(root.iter("error"))
