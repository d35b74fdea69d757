"""A run killed by SIGTERM or SIGINT leaves the previous report or none, and exits non-zero.

The signals are real and go to a real process running the gate's entry point. To hit a
chosen moment (during evaluation, in the middle of writing a report) the process is started
through a small harness that pauses there and says so in a file; nothing in the gate itself
knows about tests. One more run, unpaused, is killed the moment its report's temporary file
appears while a large generated snapshot is written out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import DEMO_RESPONSE, REPO_ROOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

HARNESS = """
import sys, time
sys.path.insert(0, {root!r})
stage, ready = sys.argv[1], sys.argv[2]

def pause():
    open(ready, "w").close()
    time.sleep(60)  # the test sends its signal here

if stage == "evaluate":
    import gate.evaluate
    real_evaluate = gate.evaluate.evaluate

    def evaluate(*args, **kwargs):
        pause()
        return real_evaluate(*args, **kwargs)

    gate.evaluate.evaluate = evaluate
else:  # "write": after the first piece of the first report
    import gate.report.files
    real_stream = gate.report.files.write_stream

    def write_stream(path, chunks):
        def paused():
            for number, chunk in enumerate(chunks):
                yield chunk
                if number == 0:
                    pause()
        return real_stream(path, paused())

    gate.report.files.write_stream = write_stream

from gate.cli import main
sys.argv = ["gate", *sys.argv[3:]]
main()
"""

PREVIOUS = '<?xml version="1.0"?><testsuites name="previous run"/>\n'
EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130}


def start(stage: str, ready: Path, workdir: Path, *args: str) -> subprocess.Popen[str]:
    code = HARNESS.format(root=str(REPO_ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, stage, str(ready), *args],
        cwd=workdir,
        env={**os.environ, "GATE_CACHE_DIR": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the pause"
        time.sleep(0.01)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize("stage", ["evaluate", "write"])
@pytest.mark.parametrize("previous", [True, False], ids=["previous report", "no report yet"])
def test_a_killed_run_leaves_the_previous_report_or_none(
    tmp_path: Path, signum: signal.Signals, stage: str, previous: bool
) -> None:
    report = tmp_path / "gate.xml"
    if previous:
        report.write_text(PREVIOUS)
    ready = tmp_path / "ready"
    args = ["check", "--snapshot", str(DEMO_RESPONSE), "--all-namespaces", "--junit", str(report)]
    process = start(stage, ready, tmp_path, *args, "--json", str(tmp_path / "gate.json"))
    wait_for(ready, process)
    if stage == "write":  # the report's temporary file is there, half written
        assert [p for p in tmp_path.iterdir() if p.name.startswith(".gate.xml.")]
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == EXIT[signum], stderr
    assert "Traceback" not in stderr
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "ready")
    assert left == (["gate.xml"] if previous else [])
    if previous:
        assert report.read_text() == PREVIOUS


def test_a_large_run_killed_while_writing(tmp_path: Path) -> None:
    """No harness: SIGTERM as soon as the JUnit report's temporary file appears."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        from generate import generate
    finally:
        sys.path.pop(0)
    snapshot = generate(15_000, tmp_path / "snapshot.json", seed=3)
    report, document = tmp_path / "gate.xml", tmp_path / "gate.json"
    report.write_text(PREVIOUS)
    document.write_text('{"previous": true}\n')
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gate",
            "check",
            "--snapshot",
            str(snapshot),
            "--policy",
            str(REPO_ROOT / "benchmarks" / "policy.yaml"),
            "--all-namespaces",
            "--quiet",
            "--junit",
            str(report),
            "--junit-max-cases",
            "100000000",  # the full report (tens of MB): a wide window to be killed in
            "--junit-max-bytes",
            "1000000000",
            "--json",
            str(document),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "GATE_CACHE_DIR": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while process.poll() is None and not list(tmp_path.glob(".gate.*.tmp")):
        assert time.monotonic() < deadline
        time.sleep(0.001)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode in (143, 1), stderr  # killed, or done already (the data blocks)
    assert not list(tmp_path.glob(".gate.*"))
    # Each report is the previous one or a complete new one, never a piece.
    text = report.read_text()
    if text != PREVIOUS:
        assert etree.fromstring(text.encode()).get("name") == "gate"
    data = document.read_text()
    if data != '{"previous": true}\n':
        assert json.loads(data)["summary"]["images"] == 15_000
