"""The README's reference parts stay complete: every GATE_* variable, every emulator --body
kind, and what `-` does for --junit and --summary, checked against the code and the command."""

from __future__ import annotations

import re
import subprocess

import click
import pytest

from gate.cli import cli
from gate.emulator import BODY_FAULTS
from tests.conftest import REPO_ROOT, gate_command

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def option_envvars() -> dict[str, set[str]]:
    """GATE_* variable -> the options that read it, from every command's click parameters."""
    found: dict[str, set[str]] = {}
    for command in cli.commands.values():
        for param in command.params:
            names = param.envvar if isinstance(param.envvar, list | tuple) else [param.envvar]
            for name in names:
                if name and name.startswith("GATE_"):
                    assert isinstance(param, click.Option)
                    found.setdefault(name, set()).add(max(param.opts, key=len))
    return found


def source_envvars() -> set[str]:
    """Every GATE_* name the package's source mentions (click options and direct reads)."""
    names: set[str] = set()
    for path in (REPO_ROOT / "gate").rglob("*.py"):
        names.update(re.findall(r"\bGATE_[A-Z][A-Z0-9_]*\b", path.read_text(encoding="utf-8")))
    return names


def envvar_rows() -> dict[str, str]:
    rows = {}
    for line in section("Environment variables").splitlines():
        match = re.match(r"\| `(GATE_[A-Z0-9_]+)` \|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_every_option_variable_is_documented_with_its_option() -> None:
    rows = envvar_rows()
    for name, options in sorted(option_envvars().items()):
        assert name in rows, f"{name} is missing from the README's Environment variables"
        for option in options:
            assert f"`{option}`" in rows[name], f"{name}: the row should name {option}"


def test_every_variable_the_source_reads_is_documented() -> None:
    missing = sorted(source_envvars() - set(envvar_rows()))
    assert missing == [], f"GATE_* variables missing from the README: {missing}"


def test_the_readme_documents_no_variable_that_does_not_exist() -> None:
    assert sorted(set(envvar_rows()) - source_envvars()) == []


def test_options_table_has_types() -> None:
    table = section("Checking images")
    assert "| `--types LIST` | `GATE_TYPES` |" in table
    assert "`vulAsap`" in table and "`baseline`" in table


def test_every_emulator_body_kind_is_documented() -> None:
    emulator = README[README.index("### The local emulator") :]
    for kind in BODY_FAULTS:
        assert f"| `{kind}` |" in emulator, kind


def test_editor_schema_setup_is_documented() -> None:
    assert "gate schema > policy.schema.json" in README
    assert "# yaml-language-server: $schema=./policy.schema.json" in README


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gate_command(), *args], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )


def test_junit_dash_writes_xml_to_stdout_and_the_console_report_to_stderr() -> None:
    done = run("check", "--demo", "--junit", "-")
    assert done.returncode == 1
    assert done.stdout.startswith("<?xml")
    assert "FAIL: the gate blocks" in done.stderr


def test_summary_dash_prints_markdown_ahead_of_the_console_report_on_stdout() -> None:
    done = run("check", "--demo", "--summary", "-")
    assert done.returncode == 1
    assert done.stdout.startswith("## ")
    markdown_end = done.stdout.index("FAIL: the gate blocks")
    assert "| images | checks |" in done.stdout[:markdown_end]
    assert "FAIL: the gate blocks" not in done.stderr


@pytest.mark.parametrize("other", ["--json", "--junit"])
def test_summary_dash_and_another_report_on_stdout_are_refused(other: str) -> None:
    done = run("check", "--demo", "--summary", "-", other, "-")
    assert done.returncode == 2
    assert "both write to standard output" in done.stderr
