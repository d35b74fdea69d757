"""The command line never leaves a silent pass or a stale report, whatever it is given.

Every case runs the installed ``gate`` as a pipeline step would, with a previous run's
passing reports on disk: an exit 2 or 3 must replace every one of them, an empty value (an
unset shell variable) must not change what is evaluated, a namespace pattern that matches
nothing must be said, and a report path must never overwrite an input.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEMO_RESPONSE, gate_command, image_entry, ranking_body

STALE = '{"verdict": "pass", "exit_code": 0}\n'
STALE_XML = '<?xml version="1.0"?><testsuites name="previous run"/>\n'


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: Any = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_", "GITLAB_"))
    }
    clean["GATE_CACHE_DIR"] = ""
    return subprocess.run(
        [*gate_command(), *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "ranking.json").write_bytes(DEMO_RESPONSE.read_bytes())
    (tmp_path / "gate.json").write_text(STALE)
    (tmp_path / "gate.xml").write_text(STALE_XML)
    return tmp_path


def assert_replaced(workdir: Path, exit_code: int) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((workdir / "gate.json").read_text())
    assert document["verdict"] == "error"
    assert document["exit_code"] == exit_code
    assert "previous run" not in (workdir / "gate.xml").read_text()
    return document


REPORTS = ("--json", "gate.json", "--junit", "gate.xml")


# --- empty values are usage errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "option", ["--namespace", "--policy", "--max-age", "--snapshot", "--image", "--summary"]
)
def test_an_empty_value_is_a_usage_error_and_replaces_the_reports(
    workdir: Path, option: str
) -> None:
    args = ["check", "--snapshot", "ranking.json", "--all-namespaces", *REPORTS]
    if option == "--snapshot":
        args = ["check", "--all-namespaces", *REPORTS]
    if option == "--namespace":
        args.remove("--all-namespaces")
    result = run(workdir, *args, option, "")
    assert result.returncode == 2, result.stderr
    assert "is empty" in result.stderr
    assert_replaced(workdir, 2)


def test_an_empty_snapshot_value_never_calls_the_live_api(workdir: Path) -> None:
    # An unreachable endpoint would turn a live call into exit 3; the empty value stops first.
    result = run(
        workdir, "check", "--snapshot", "", "--all-namespaces", "--endpoint", "http://127.0.0.1:9"
    )
    assert result.returncode == 2
    assert "--snapshot" in result.stderr


# --- namespace patterns that match nothing ----------------------------------------------------


def ranking(tmp_path: Path) -> Path:
    body = ranking_body([image_entry("prod-api", "svc", detail={"imageVulAsap": 0})])
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(body))
    (tmp_path / "team.yaml").write_text(
        "version: 1\nname: team\nrules:\n  - {id: urgent, fail_if: imageVulAsap > 0}\n"
    )
    return path


def test_a_pattern_matching_nothing_is_named_in_every_report(workdir: Path) -> None:
    snapshot = ranking(workdir)
    result = run(
        workdir,
        "check",
        "--snapshot",
        str(snapshot),
        "--namespace",
        "prod-api",
        "--namespace",
        "prod-wroker",
        "--policy",
        "team.yaml",
        *REPORTS,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((workdir / "gate.json").read_text())
    assert document["verdict"] == "pass"
    assert any("prod-wroker" in w for w in document["warnings"])
    assert not any("'prod-api'" in w for w in document["warnings"])
    assert "prod-wroker" in result.stdout + result.stderr


def test_require_images_fails_when_any_pattern_matches_nothing(workdir: Path) -> None:
    snapshot = ranking(workdir)
    args = ["check", "--snapshot", str(snapshot), "--namespace", "prod-api", "-p", "team.yaml"]
    assert run(workdir, *args, "--require-images").returncode == 0
    result = run(workdir, *args, "--namespace", "prod-wroker", "--require-images", *REPORTS)
    assert result.returncode == 1
    document = json.loads((workdir / "gate.json").read_text())
    assert document["verdict"] == "fail"


# --- errors click catches itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "extra"),
    [
        ({"GATE_UNRANKED": "maybe"}, []),
        ({"GATE_RETRIES": "20"}, []),
        ({}, ["--no-such-flag"]),
        ({}, ["--junit-max-cases", "0"]),
    ],
    ids=["bad env choice", "env out of range", "unknown flag", "bad number"],
)
def test_a_refused_command_line_replaces_the_previous_reports(
    workdir: Path, env: dict[str, str], extra: list[str]
) -> None:
    args = ["check", "--snapshot", "ranking.json", "--all-namespaces", *REPORTS, *extra]
    result = run(workdir, *args, env=env)
    assert result.returncode == 2, result.stderr
    assert_replaced(workdir, 2)


def test_report_paths_from_the_environment_are_replaced_too(workdir: Path) -> None:
    env = {"GATE_JSON": "gate.json", "GATE_JUNIT": "gate.xml", "GATE_UNRANKED": "maybe"}
    result = run(workdir, "check", "--snapshot", "ranking.json", "--all-namespaces", env=env)
    assert result.returncode == 2
    assert_replaced(workdir, 2)


def test_equals_form_of_report_options_is_replaced(workdir: Path) -> None:
    result = run(workdir, "check", "--json=gate.json", "--junit=gate.xml", "--bogus")
    assert result.returncode == 2
    assert_replaced(workdir, 2)


# --- reports never overwrite an input -----------------------------------------------------------


@pytest.mark.parametrize("option", ["--json", "--junit", "--summary"])
def test_a_report_path_equal_to_the_snapshot_is_refused(workdir: Path, option: str) -> None:
    before = (workdir / "ranking.json").read_bytes()
    result = run(
        workdir, "check", "--snapshot", "ranking.json", "--all-namespaces", option, "ranking.json"
    )
    assert result.returncode == 2
    assert "would overwrite the --snapshot input" in result.stderr
    assert (workdir / "ranking.json").read_bytes() == before


def test_a_report_path_equal_to_a_policy_file_is_refused(workdir: Path) -> None:
    policy = workdir / "team.yaml"
    policy.write_text("version: 1\nname: team\nrules:\n  - {id: r, fail_if: imageVulAsap > 0}\n")
    before = policy.read_text()
    args = ["check", "--snapshot", "ranking.json", "--all-namespaces", "--policy", "team.yaml"]
    result = run(workdir, *args, "--json", str(policy), "--junit", "gate.xml")
    assert result.returncode == 2
    assert policy.read_text() == before
    # The report that clashes with nothing still says the run evaluated nothing.
    assert "previous run" not in (workdir / "gate.xml").read_text()


def test_a_snapshot_reached_through_another_path_is_still_protected(workdir: Path) -> None:
    (workdir / "link.json").symlink_to(workdir / "ranking.json")
    before = (workdir / "ranking.json").read_bytes()
    result = run(
        workdir, "check", "--snapshot", "link.json", "--all-namespaces", "--json", "ranking.json"
    )
    assert result.returncode == 2
    assert (workdir / "ranking.json").read_bytes() == before


# --- the files agree with the exit code ---------------------------------------------------------


def test_a_failing_github_output_turns_passing_reports_into_errors(workdir: Path) -> None:
    """The reports are written before the step outputs; when those fail (exit 2), the
    reports must not keep saying 'pass'."""
    policy = workdir / "lenient.yaml"
    policy.write_text("version: 1\nname: lenient\nrules:\n  - {id: r, fail_if: ImageSize < 0}\n")
    (workdir / "outputs-dir").mkdir()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(workdir / "outputs-dir")}
    args = ["check", "--snapshot", "ranking.json", "--all-namespaces", "--policy", str(policy)]
    result = run(workdir, *args, *REPORTS, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert_replaced(workdir, 2)


# --- options that do not apply ------------------------------------------------------------------


def test_demo_refuses_options_that_do_not_apply(workdir: Path) -> None:
    for extra in (["--endpoint", "http://127.0.0.1:9"], ["--namespace", "prod"]):
        result = run(workdir, "check", "--demo", *extra)
        assert result.returncode == 2, extra
        assert extra[0] in result.stderr


def test_live_options_with_a_snapshot_are_a_warning_in_the_reports(workdir: Path) -> None:
    args = ["check", "--snapshot", "ranking.json", "--all-namespaces", "--json", "gate.json"]
    result = run(workdir, *args, "--types", "baseline")
    assert result.returncode == 1
    warnings = json.loads((workdir / "gate.json").read_text())["warnings"]
    assert "--types has no effect with --snapshot" in warnings
    result = run(workdir, *args, env={"GATE_ENDPOINT": "http://127.0.0.1:9"})
    warnings = json.loads((workdir / "gate.json").read_text())["warnings"]
    assert "GATE_ENDPOINT is set but has no effect with --snapshot" in warnings


# --- text from data is not markup --------------------------------------------------------------


def test_control_characters_in_an_error_are_escaped_on_the_terminal(workdir: Path) -> None:
    hostile = workdir / "hostile.json"
    hostile.write_text(json.dumps({"Code": "Bad\x1b[31m\r\n::error::pwned", "Message": "x"}))
    result = run(workdir, "check", "--snapshot", str(hostile), "--all-namespaces")
    assert result.returncode == 3
    assert "\x1b" not in result.stderr
    assert "\r" not in result.stderr
    assert not any(line.startswith("::") for line in result.stderr.splitlines())


def test_junit_shows_a_pattern_that_matched_nothing(workdir: Path) -> None:
    """A passing image beside a pattern that matched nothing: with --require-images the
    exit is 1, and the JUnit report must show a failure, not only green cases."""
    from lxml import etree

    snapshot = ranking(workdir)
    args = ["check", "--snapshot", str(snapshot), "-p", "team.yaml", "--junit", "gate.xml"]
    args += ["--namespace", "prod-api", "--namespace", "prod-wroker"]
    result = run(workdir, *args, "--require-images")
    assert result.returncode == 1
    root = etree.parse(str(workdir / "gate.xml")).getroot()
    failures = root.findall(".//testcase/failure")
    assert any("prod-wroker" in (f.get("message") or "") for f in failures)
    assert run(workdir, *args).returncode == 0
    root = etree.parse(str(workdir / "gate.xml")).getroot()
    assert not root.findall(".//testcase/failure")
    assert any("prod-wroker" in (s.get("message") or "") for s in root.iter("skipped"))
