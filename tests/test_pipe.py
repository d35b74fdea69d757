"""`gate metrics | head -1`: a reader that leaves early never turns into exit 1 ("blocked").

The guard (gate._pipe) is exercised through real processes whose stdout is a pipe with no
reader, first on a small click program, then on the real gate commands with the guard wired
in as gate/cli.py wires it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, gate_command

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")

PROGRAM = """\
import sys
import click
from gate._pipe import informational

@click.command()
@click.option("--exit", "code", type=int, default=0)
def main(code):
    for n in range(20000):
        click.echo(f"line {n}")
    click.echo(b"bytes too\\n", nl=False)
    sys.exit(code)

if GUARDED:
    main.callback = informational(main.callback)
main()
"""

# gate/cli.py with the guard wired in: informational commands decorated, --help and
# --version (parsed in make_context) guarded. Kept here as the reference for that wiring.
WIRED = """\
import sys
import click
from gate import cli
from gate._pipe import discard_after_reader_leaves, informational

for name in ("metrics", "schema", "validate"):
    command = cli.cli.commands[name]
    command.callback = informational(command.callback)

for cls in (cli._Group, cli._Command):
    def make_context(self, info_name, args, parent=None, _base=cls.__mro__[1], **extra):
        with discard_after_reader_leaves():
            return _base.make_context(self, info_name, args, parent=parent, **extra)
    cls.make_context = make_context

cli.main(sys.argv[1:])
"""


def run_without_reader(args: list[str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reading end is already closed (what `| head -0` leaves)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            args, stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=cwd, check=False
        )
    finally:
        os.close(write_end)


def program(tmp_path: Path, guarded: bool) -> list[str]:
    path = tmp_path / "program.py"
    path.write_text(f"GUARDED = {guarded}\n" + PROGRAM, encoding="utf-8")
    return [sys.executable, str(path)]


def wired(tmp_path: Path) -> list[str]:
    path = tmp_path / "wired.py"
    path.write_text(WIRED, encoding="utf-8")
    return [sys.executable, str(path)]


def test_unguarded_click_command_reports_a_closed_pipe_as_exit_1(tmp_path: Path) -> None:
    # What the guard is for: click's own handling exits 1, which reads as "blocked".
    done = run_without_reader(program(tmp_path, guarded=False))
    assert done.returncode == 1


@pytest.mark.parametrize("code", [0, 2])
def test_guarded_command_keeps_its_own_exit_code_and_says_nothing(
    tmp_path: Path, code: int
) -> None:
    done = run_without_reader([*program(tmp_path, guarded=True), "--exit", str(code)])
    assert (done.returncode, done.stderr) == (code, "")


def test_guarded_command_prints_normally_to_a_reader(tmp_path: Path) -> None:
    done = subprocess.run(
        program(tmp_path, guarded=True), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "line 0"
    assert lines[-2:] == ["line 19999", "bytes too"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_other_write_errors_are_not_swallowed(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            program(tmp_path, guarded=True), stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert done.returncode != 0
    assert "No space left on device" in done.stderr


INFORMATIONAL = [
    ["metrics"],
    ["schema"],
    ["--help"],
    ["--version"],
    ["check", "--help"],
    ["validate", "policies/default.yaml", "policies/strict-production.yaml"],
]


@pytest.mark.parametrize("args", INFORMATIONAL, ids=" ".join)
def test_wired_informational_commands_exit_0_quietly(tmp_path: Path, args: list[str]) -> None:
    done = run_without_reader([*wired(tmp_path), *args])
    assert (done.returncode, done.stderr) == (0, "")


def test_wired_validate_keeps_its_verdict(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("version: 1\nname: x\nrules: []\nnope: 1\n"), encoding="utf-8")
    done = run_without_reader([*wired(tmp_path), "validate", "policies/default.yaml", str(bad)])
    assert done.returncode == 2
    assert "bad.yaml" in done.stderr


def test_wired_check_is_untouched(tmp_path: Path) -> None:
    # gate check keeps its own closed-pipe handling: the verdict (the demo blocks) stands.
    done = run_without_reader([*wired(tmp_path), "check", "--demo"])
    assert done.returncode == 1


@pytest.mark.parametrize("args", INFORMATIONAL, ids=" ".join)
def test_gate_informational_commands_exit_0_when_the_reader_leaves(args: list[str]) -> None:
    done = run_without_reader([*gate_command(), *args])
    assert (done.returncode, done.stderr) == (0, "")
