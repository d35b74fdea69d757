"""Report paths through the real ``gate check``: symlinks are written through, special files
(a pipe behind a ``/dev/stdout``-like link, a FIFO) are written into, never replaced."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gate_command

ENV = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}


def gate(*args: str, cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    streams = {} if "stdout" in kwargs else {"capture_output": True}
    return subprocess.run(
        [*gate_command(), "check", "--demo", *args],
        env=ENV,
        cwd=cwd,
        check=False,
        **streams,
        **kwargs,
    )


def stale(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("previous run: verdict pass\n")


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_symlinked_report_paths_get_this_runs_verdict(tmp_path: Path, relative: bool) -> None:
    kept = tmp_path / "kept"
    links = {}
    for option, name in (("--json", "r.json"), ("--junit", "r.xml"), ("--summary", "r.md")):
        stale(kept / name)
        link = tmp_path / name
        link.symlink_to(Path("kept") / name if relative else kept / name)
        links[option] = link
    done = gate(*(a for o, link in links.items() for a in (o, link.name)), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    for link in links.values():
        assert link.is_symlink(), f"{link.name} was replaced by a file"
    assert json.loads((kept / "r.json").read_text())["verdict"] == "fail"
    assert "<testsuites" in (kept / "r.xml").read_text()
    assert "FAIL" in (kept / "r.md").read_text()


def test_dangling_symlink_report_path_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "gate.json"
    link.symlink_to("out/gate.json")
    done = gate("--json", "gate.json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert link.is_symlink()
    assert json.loads((tmp_path / "out" / "gate.json").read_text())["verdict"] == "fail"


def test_error_report_also_goes_through_the_symlink(tmp_path: Path) -> None:
    stale(tmp_path / "kept" / "r.json")
    (tmp_path / "r.json").symlink_to("kept/r.json")
    done = subprocess.run(
        [
            *gate_command(),
            "check",
            "--snapshot",
            "missing.json",
            "--all-namespaces",
            "--json",
            "r.json",
        ],
        env=ENV,
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 3
    assert (tmp_path / "r.json").is_symlink()
    assert json.loads((tmp_path / "kept" / "r.json").read_text())["verdict"] == "error"


def test_json_to_a_dev_stdout_like_link_writes_into_the_pipe(tmp_path: Path) -> None:
    link = tmp_path / "stdout"
    link.symlink_to("/dev/stdout")  # stdout is a pipe here, as in CI
    done = gate("--json", str(link), "--quiet", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert link.is_symlink() and os.readlink(link) == "/dev/stdout"
    assert [p.name for p in tmp_path.iterdir()] == ["stdout"]
    head, end, console = done.stdout.decode().partition("\n}\n")  # the JSON, then the console
    document = json.loads(head + end)
    assert "FAIL: the gate blocks" in console
    assert document["verdict"] == "fail"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "report.fifo"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader attached, nothing waits
    yield path, reader
    os.close(reader)


def test_json_to_a_fifo_with_a_reader(tmp_path: Path, fifo: tuple[Path, int]) -> None:
    path, reader = fifo
    done = gate("--json", str(path), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert stat.S_ISFIFO(path.lstat().st_mode)
    data = b""
    while True:
        try:
            chunk = os.read(reader, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    assert json.loads(data)["verdict"] == "fail"


def test_json_to_dev_stdout_redirected_to_a_file_keeps_report_and_console_apart(
    tmp_path: Path,
) -> None:
    link = tmp_path / "stdout"
    link.symlink_to("/dev/stdout")
    out = tmp_path / "out.txt"
    with out.open("wb") as handle:  # as the shell's `> out.txt`
        done = gate(
            "--json", str(link), "--quiet", cwd=tmp_path, stdout=handle, stderr=subprocess.PIPE
        )
    assert done.returncode == 1, done.stderr
    assert link.is_symlink()
    head, end, console = out.read_text().partition("\n}\n")
    assert json.loads(head + end)["verdict"] == "fail"  # whole, not overwritten by the console
    assert console.endswith("FAIL: the gate blocks: 2 blocking result(s) in 2 image(s) (exit 1)\n")
