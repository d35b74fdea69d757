"""The command line, as a user runs it: exit codes, output streams, files and variables.

Each exit code is checked through click's CliRunner (fast, in-process) and through a real
subprocess of the installed ``gate`` command and ``python -m gate``.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from gate.cli import cli
from tests.conftest import DEMO_IMAGE_NAMES, REPO_ROOT, gate_command, image_entry, ranking_body

ANSI = re.compile(r"\x1b\[")

POLICY = """\
version: 1
name: team
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
  - {id: baseline, fail_if: imageBaselineHigh > 0, enforcement: soft-mandatory}
waivers:
  - {rule: urgent, images: ["prod/waived:*"], reason: SEC-5, expires: 2026-12-31}
"""

CLEAN = {"imageVulAsap": 0, "imageBaselineHigh": 0}


def body() -> dict[str, Any]:
    return ranking_body(
        vul_asap=[
            image_entry("prod", "api", "v1", detail=CLEAN),
            image_entry("prod", "waived", "v1", detail={"imageVulAsap": 2, "imageBaselineHigh": 0}),
            image_entry("dev", "api", "v1", detail={"imageVulAsap": 5, "imageBaselineHigh": 0}),
        ],
        baseline=[
            image_entry("stage", "web", "v1", detail={"imageVulAsap": 0, "imageBaselineHigh": 2}),
        ],
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    snapshot = tmp_path / "ranking.json"
    snapshot.write_text(json.dumps(body()))
    policy = tmp_path / "team.yaml"
    policy.write_text(POLICY)
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text(POLICY.replace("enforcement: soft-mandatory", "enforcement: soft"))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("<html>502 Bad Gateway</html>")
    return {
        "snapshot": str(snapshot),
        "policy": str(policy),
        "bad_policy": str(bad_policy),
        "garbage": str(garbage),
        "dir": str(tmp_path),
    }


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


def check(files: dict[str, str], *args: str, **kwargs: Any) -> Result:
    return run(
        "check", "--snapshot", files["snapshot"], "--policy", files["policy"], *args, **kwargs
    )


# --- exit codes through CliRunner ------------------------------------------------------------


def test_exit_0_when_the_gate_passes(files: dict[str, str]) -> None:
    result = check(files, "--namespace", "prod", "--now", "2026-06-01")
    assert result.exit_code == 0, result.output
    assert "PASS: the gate passes (exit 0)" in result.stdout
    assert "WAIVED" in result.stdout


def test_exit_1_when_the_gate_blocks(files: dict[str, str]) -> None:
    result = check(files, "--namespace", "dev")
    assert result.exit_code == 1
    assert "FAIL     team/urgent  [hard-mandatory]" in result.stdout
    assert "imageVulAsap = 5 > 0" in result.stdout
    assert result.stdout.rstrip().endswith("(exit 1)")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "--namespace NS"),
        (["--namespace", "prod", "--all-namespaces"], "not both"),
        (["--all-namespaces", "--now", "2026-13-01"], "--now '2026-13-01' is not a date"),
        (["--all-namespaces", "--now", "tomorrow"], "YYYY-MM-DD"),
        (["--all-namespaces", "--override", "  "], "non-empty reason"),
        (["--all-namespaces", "--max-age", "soon"], "--max-age"),
        (["--all-namespaces", "--no-such-flag"], "No such option"),
    ],
)
def test_exit_2_on_usage_errors(files: dict[str, str], args: list[str], fragment: str) -> None:
    result = check(files, *args)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["check", "--all-namespaces"], ["fetch", "-o", "-"]])
def test_exit_2_on_an_unknown_ranking_type_before_any_network(command: list[str]) -> None:
    result = run(*command, "--types", "vulAsap,bogus", "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "unknown ranking type 'bogus'" in result.stderr
    assert "choose from vulAsap, baseline" in result.stderr


def test_exit_2_on_an_invalid_policy_with_its_location(files: dict[str, str]) -> None:
    result = run(
        "check",
        "--snapshot",
        files["snapshot"],
        "--policy",
        files["bad_policy"],
        "--all-namespaces",
    )
    assert result.exit_code == 2
    assert f"{files['bad_policy']}:5:65:" in result.stderr
    assert "[$.rules[1].enforcement]" in result.stderr
    assert "hard-mandatory" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("which", "fragment"),
    [("garbage", "is not valid JSON"), ("missing", "cannot read snapshot")],
)
def test_exit_3_when_the_ranking_cannot_be_read(
    files: dict[str, str], which: str, fragment: str
) -> None:
    path = files["garbage"] if which == "garbage" else files["dir"] + "/missing.json"
    result = run("check", "--snapshot", path, "--all-namespaces")
    assert result.exit_code == 3
    assert fragment in result.stderr
    assert "hint:" in result.stderr


def test_exit_3_still_writes_junit_with_one_error_case(files: dict[str, str]) -> None:
    junit = Path(files["dir"]) / "reports" / "gate.xml"
    junit.parent.mkdir()
    junit.write_text("<stale>" + "x" * 10_000)  # a previous report is replaced whole
    result = run("check", "--snapshot", files["garbage"], "--all-namespaces", "--junit", str(junit))
    assert result.exit_code == 3
    root = etree.fromstring(junit.read_bytes(), etree.XMLParser(recover=False))
    (case,) = root.iter("testcase")
    (error,) = case
    assert error.tag == "error"
    assert "not valid JSON" in error.get("message")
    assert root.get("errors") == "1"
    assert [p.name for p in junit.parent.iterdir()] == ["gate.xml"]  # no temporary file left


@pytest.mark.parametrize("which", ["garbage", "bad_policy"])
def test_nothing_evaluated_replaces_a_stale_json_report_with_an_error_verdict(
    files: dict[str, str], which: str
) -> None:
    report = Path(files["dir"]) / "gate.json"
    report.write_text(json.dumps({"version": 1, "verdict": "pass", "exit_code": 0}))
    if which == "garbage":
        args = ["check", "--snapshot", files["garbage"], "--all-namespaces"]
    else:
        args = [
            "check",
            "--snapshot",
            files["snapshot"],
            "--policy",
            files["bad_policy"],
            "-n",
            "x",
        ]
    result = run(*args, "--json", str(report))
    expected = 3 if which == "garbage" else 2
    assert result.exit_code == expected
    document = json.loads(report.read_text())
    assert document["verdict"] == "error"
    assert document["exit_code"] == expected
    assert document["error"]["message"].splitlines()[0] in result.stderr


def test_policy_error_also_writes_a_junit_error_case(files: dict[str, str]) -> None:
    junit = Path(files["dir"]) / "gate.xml"
    result = run(
        "check",
        "--snapshot",
        files["snapshot"],
        "--policy",
        files["bad_policy"],
        "--all-namespaces",
        "--junit",
        str(junit),
    )
    assert result.exit_code == 2
    root = etree.fromstring(junit.read_bytes(), etree.XMLParser(recover=False))
    assert root.find(".//error") is not None


def test_exit_1_with_require_images_and_nothing_selected(files: dict[str, str]) -> None:
    result = check(files, "--namespace", "payments-*", "--require-images")
    assert result.exit_code == 1
    assert "no ranked image matched payments-*" in result.stdout
    assert "--require-images" in result.stdout.splitlines()[-1]


def test_empty_selection_passes_with_a_warning_naming_the_namespaces(files: dict[str, str]) -> None:
    result = check(files, "--namespace", "payments-*", "--namespace", "billing")
    assert result.exit_code == 0
    assert "Warnings:" in result.stdout
    assert "no ranked image matched payments-*, billing: nothing was evaluated" in result.stdout


# --- reports ---------------------------------------------------------------------------------


def test_json_and_junit_files(files: dict[str, str]) -> None:
    out = Path(files["dir"]) / "out"
    result = check(
        files,
        "--all-namespaces",
        "--json",
        str(out / "gate.json"),
        "--junit",
        str(out / "gate.xml"),
        "--now",
        "2026-06-01",
    )
    assert result.exit_code == 1
    doc = json.loads((out / "gate.json").read_text())
    assert doc["exit_code"] == 1
    assert doc["now"] == "2026-06-01"
    assert doc["summary"]["images"] == 4
    assert doc["source"]["path"] == files["snapshot"]
    root = etree.fromstring((out / "gate.xml").read_bytes(), etree.XMLParser(recover=False))
    assert len(root.findall("testsuite")) == 4
    assert sorted(p.name for p in out.iterdir()) == ["gate.json", "gate.xml"]


def test_json_to_stdout_moves_the_console_report_to_stderr(files: dict[str, str]) -> None:
    result = check(files, "--namespace", "dev", "--json", "-")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)  # stdout is exactly the JSON document
    assert doc["verdict"] == "fail"
    assert "FAIL: the gate blocks" in result.stderr


def test_snapshot_from_standard_input(files: dict[str, str]) -> None:
    result = run(
        "check",
        "--snapshot",
        "-",
        "--policy",
        files["policy"],
        "--namespace",
        "dev",
        stdin=json.dumps(body()),
    )
    assert result.exit_code == 1
    assert "snapshot standard input" in result.stdout


def test_quiet_prints_only_summary_and_verdict(files: dict[str, str]) -> None:
    result = check(files, "--all-namespaces", "--quiet")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("4 image(s), 8 check(s):")
    assert lines[1].startswith("FAIL: the gate blocks")


def test_no_ansi_codes_when_not_a_terminal(files: dict[str, str]) -> None:
    result = check(files, "--all-namespaces")
    assert not ANSI.search(result.output)


def test_override_lets_soft_mandatory_pass_and_is_recorded(files: dict[str, str]) -> None:
    result = check(files, "--namespace", "stage", "--override", "CAB-1 hotfix")
    assert result.exit_code == 0
    assert "OVERRIDE team/baseline" in result.stdout
    assert "CAB-1 hotfix" in result.stdout


def test_default_policy_is_used_and_named(files: dict[str, str]) -> None:
    result = run("check", "--snapshot", files["snapshot"], "--namespace", "prod")
    assert result.exit_code == 1  # the default policy has no waiver for prod/waived
    assert "FAIL     default/no-urgent-vulns" in result.stdout
    assert "default (policies/default.yaml, bundled)" in result.stdout


def test_max_age_refuses_a_raw_body_without_fetch_time(files: dict[str, str]) -> None:
    result = check(files, "--all-namespaces", "--max-age", "24h")
    assert result.exit_code == 3
    assert "no fetch time" in result.stderr


# --- environment variables -------------------------------------------------------------------


def test_gate_variables_stand_in_for_options(files: dict[str, str]) -> None:
    env = {
        "GATE_SNAPSHOT": files["snapshot"],
        "GATE_POLICY": files["policy"],
        "GATE_NAMESPACE": "stage dev",
        "GATE_QUIET": "1",
    }
    result = run("check", env=env)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    assert result.stdout.startswith("2 image(s)")


def test_gate_policy_variable_takes_several_paths(files: dict[str, str]) -> None:
    extra = Path(files["dir"]) / "extra.yaml"
    extra.write_text("version: 1\nname: extra\nrules: [{id: big, fail_if: ImageSize > 1}]\n")
    env = {"GATE_POLICY": os.pathsep.join([files["policy"], str(extra)])}
    result = run("check", "--snapshot", files["snapshot"], "--namespace", "prod", env=env)
    assert "team (" in result.stdout and "extra (" in result.stdout
    assert "FAIL     extra/big" in result.stdout


def test_gate_override_variable(files: dict[str, str]) -> None:
    result = check(files, "--namespace", "stage", env={"GATE_OVERRIDE": "from the pipeline"})
    assert result.exit_code == 0
    assert "from the pipeline" in result.stdout


def test_gate_now_variable_decides_waiver_expiry(files: dict[str, str]) -> None:
    before = check(files, "--namespace", "prod", env={"GATE_NOW": "2026-12-31"})
    after = check(files, "--namespace", "prod", env={"GATE_NOW": "2027-01-01"})
    assert (before.exit_code, after.exit_code) == (0, 1)
    assert "date:       2027-01-01" in after.stdout
    assert "expired on 2026-12-31" in after.stdout


def test_invalid_gate_now_is_a_usage_error(files: dict[str, str]) -> None:
    result = check(files, "--all-namespaces", env={"GATE_NOW": "31/12/2026"})
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.stderr


def test_gate_require_images_and_json_variables(files: dict[str, str]) -> None:
    target = Path(files["dir"]) / "env.json"
    env = {"GATE_REQUIRE_IMAGES": "true", "GATE_JSON": str(target)}
    result = check(files, "--namespace", "nothing-here", env=env)
    assert result.exit_code == 1
    assert json.loads(target.read_text())["verdict"] == "fail"


def test_help_documents_exit_codes_and_variables() -> None:
    top = run("--help")
    assert top.exit_code == 0
    for line in (
        "0  the gate passed",
        "1  the gate failed",
        "2  usage or policy",
        "3  the ranking",
    ):
        assert line in top.stdout
    sub = run("check", "--help")
    assert "GATE_NAMESPACE" in sub.stdout
    assert "GATE_NOW" in sub.stdout
    assert "GATE_OVERRIDE" in sub.stdout


# --- the README demo -------------------------------------------------------------------------


def test_demo_blocks_says_so_and_names_both_sample_images() -> None:
    result = run("check", "--demo")
    assert result.exit_code == 1
    assert "expected to BLOCK (exit 1)" in result.stdout
    for name in DEMO_IMAGE_NAMES:
        assert name in result.stdout
    assert "namespace-01\n/" not in result.stdout  # the sample's trailing newline is trimmed
    assert "imageVulAsap = 3 > 0" in result.stdout
    assert "the bundled demo sample" in result.stdout


def test_readme_shows_the_demo_command_and_says_it_blocks() -> None:
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    assert re.search(r"^pip install \. && gate check --demo$", readme, re.MULTILINE)
    assert re.search(r"^pip install -e '\.\[test\]' && pytest$", readme, re.MULTILINE)
    assert re.search(r"blocks.{0,40}exits? (with )?1", readme, re.DOTALL)


# --- other commands --------------------------------------------------------------------------


def test_validate_bundled_policies() -> None:
    result = run("validate", str(REPO_ROOT / "policies"))
    assert result.exit_code == 0
    assert "policy 'default'" in result.stdout
    assert "policy 'strict-production'" in result.stdout


def test_validate_reports_every_problem_with_location(files: dict[str, str]) -> None:
    other = Path(files["dir"]) / "other.yaml"
    other.write_text("version: 1\nname: other\nrules:\n  - {id: r, fail_if: imageVulAsp > 0}\n")
    result = run("validate", files["bad_policy"], str(other))
    assert result.exit_code == 2
    assert f"{files['bad_policy']}:5:65:" in result.stderr
    assert f"{other}:4:" in result.stderr
    assert "did you mean 'imageVulAsap'?" in result.stderr


def test_metrics_lists_the_catalogue() -> None:
    result = run("metrics")
    assert result.exit_code == 0
    assert re.search(r"^\s+imageVulAsap\s+\S", result.stdout, re.MULTILINE)
    assert "VulCount" in result.stdout


def test_schema_prints_the_policy_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "rules" in schema["required"]


# --- the installed command, as a real process ------------------------------------------------


def spawn(command: list[str], *args: str, cwd: str, env: dict[str, str] | None = None) -> Any:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_", "GITLAB_"))
    }
    clean.pop("NO_COLOR", None)
    clean.update(env or {})
    return subprocess.run(
        [*command, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=60
    )


ENTRY_POINTS = {
    "console-script": lambda: gate_command(),
    "python-m": lambda: [sys.executable, "-m", "gate"],
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--namespace", "prod", "--now", "2026-06-01"], 0),
        (["--namespace", "dev"], 1),
        (["--namespace", "dev", "--now", "not-a-date"], 2),
    ],
    ids=["exit-0", "exit-1", "exit-2"],
)
def test_exit_codes_of_the_installed_command(
    files: dict[str, str], entry: str, args: list[str], code: int
) -> None:
    command = ENTRY_POINTS[entry]()
    done = spawn(
        command,
        "check",
        "--snapshot",
        files["snapshot"],
        "--policy",
        files["policy"],
        *args,
        cwd=files["dir"],
    )
    assert done.returncode == code, done.stderr
    assert not ANSI.search(done.stdout + done.stderr)  # not a terminal: no colour


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_exit_3_of_the_installed_command(files: dict[str, str], entry: str) -> None:
    junit = Path(files["dir"]) / "gate.xml"
    done = spawn(
        ENTRY_POINTS[entry](),
        "check",
        "--snapshot",
        files["garbage"],
        "--all-namespaces",
        "--junit",
        str(junit),
        cwd=files["dir"],
    )
    assert done.returncode == 3
    assert "not valid JSON" in done.stderr
    assert etree.fromstring(junit.read_bytes()).find(".//error") is not None


def test_demo_of_the_installed_command(tmp_path: Path) -> None:
    done = spawn(gate_command(), "check", "--demo", cwd=str(tmp_path))
    assert done.returncode == 1
    assert "expected to BLOCK" in done.stdout
    for name in DEMO_IMAGE_NAMES:
        assert name in done.stdout


def test_undecodable_argument_does_not_crash_the_installed_command(files: dict[str, str]) -> None:
    """A namespace with bytes that are not UTF-8 is reported, not a traceback."""
    command = gate_command()
    done = subprocess.run(
        [
            *command,
            "check",
            "--snapshot",
            files["snapshot"],
            "--policy",
            files["policy"],
            "--namespace",
            os.fsdecode(b"prod-\xff"),
        ],
        capture_output=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("GATE_")},
    )
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    assert b"no ranked image matched" in done.stdout


def read_terminal(env: dict[str, str], *args: str, cwd: str) -> str:
    """Run the installed command on a pseudo-terminal and return what it printed there."""
    try:
        main, replica = pty.openpty()
    except OSError as exc:
        pytest.skip(f"no pseudo-terminal available: {exc}")
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_", "GITLAB_"))
    }
    clean.pop("NO_COLOR", None)
    clean.update(env)
    process = subprocess.Popen(
        [*gate_command(), *args], stdout=replica, stderr=replica, cwd=cwd, env=clean
    )
    os.close(replica)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    coloured = read_terminal({}, "check", "--demo", cwd=str(tmp_path))
    assert ANSI.search(coloured)
    plain = read_terminal({"NO_COLOR": "1"}, "check", "--demo", cwd=str(tmp_path))
    assert "expected to BLOCK" in plain
    assert not ANSI.search(plain)


@pytest.mark.parametrize("same", ["-", "report.out"])
def test_two_reports_to_one_place_is_a_usage_error(files: dict[str, str], same: str) -> None:
    target = same if same == "-" else str(Path(files["dir"]) / same)
    result = check(files, "--all-namespaces", "--json", target, "--junit", target)
    assert result.exit_code == 2
    assert "--json and --junit both write to" in result.stderr
    assert result.stdout == ""
    assert not (Path(files["dir"]) / same).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals and FIFOs")
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_exits_128_plus_signal_not_1(
    tmp_path: Path, signum: int, code: int
) -> None:
    """Exit 1 means "the gate blocked"; an interrupted run must not look like a verdict."""
    fifo = tmp_path / "ranking.fifo"
    os.mkfifo(fifo)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    process = subprocess.Popen(
        [*gate_command(), "check", "--snapshot", str(fifo), "--all-namespaces"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean,
    )
    # Opening the FIFO for writing returns once the gate has opened it for reading, so the
    # gate is past start-up and blocked on its input when the signal arrives.
    with open(fifo, "wb") as writer:
        writer.write(b'{"RiskRankInfo": ')
        writer.flush()
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert b"Traceback" not in err


def test_demo_with_own_policies_does_not_claim_the_default_policy(files: dict[str, str]) -> None:
    lenient = Path(files["dir"]) / "lenient.yaml"
    lenient.write_text(
        "version: 1\nname: lenient\nrules: [{id: huge, fail_if: ImageSize > 9999}]\n"
    )
    result = run("check", "--demo", "--policy", str(lenient))
    assert result.exit_code == 0
    assert "bundled sample" in result.stdout
    assert "default policy" not in result.stdout
    assert "expected to BLOCK" not in result.stdout


# --- fail-closed details found in review ------------------------------------------------------


def test_require_images_fails_when_only_unranked_references_were_given(
    files: dict[str, str],
) -> None:
    result = check(files, "--image", "prod/not-ranked:1", "--require-images")
    assert result.exit_code == 1
    assert "--require-images" in result.stdout


def test_a_report_that_cannot_be_written_replaces_the_others_with_an_error(
    files: dict[str, str],
) -> None:
    base = Path(files["dir"])
    stale = base / "gate.json"
    stale.write_text(json.dumps({"version": 1, "verdict": "pass", "exit_code": 0}))
    (base / "plain-file").write_text("")
    result = check(
        files,
        "--all-namespaces",
        "--junit",
        str(base / "plain-file" / "x.xml"),
        "--json",
        str(stale),
    )
    assert result.exit_code == 2
    assert "is a file, not a directory" in result.stderr
    assert json.loads(stale.read_text())["verdict"] == "error"


def test_scoped_out_images_are_not_reported_as_passing(files: dict[str, str]) -> None:
    result = run("check", "--demo", "--policy", str(REPO_ROOT / "policies/strict-production.yaml"))
    assert result.exit_code == 0
    assert "passed every check" not in result.stdout
    assert "2 image(s) matched no policy scope: not checked" in result.stdout


@pytest.mark.parametrize("spelling", ["20261128", "2026-W48-6", "2026-11-28T00:00"])
def test_now_takes_only_yyyy_mm_dd(files: dict[str, str], spelling: str) -> None:
    result = check(files, "--all-namespaces", "--now", spelling)
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.stderr


def test_policy_error_in_junit_is_typed_as_a_policy_error(files: dict[str, str]) -> None:
    junit = Path(files["dir"]) / "gate.xml"
    result = check(
        files, "--all-namespaces", "--policy", files["bad_policy"], "--junit", str(junit)
    )
    assert result.exit_code == 2
    error = etree.fromstring(junit.read_bytes()).find(".//error")
    assert error is not None
    assert error.get("type") == "gate.policy-error"


def test_a_closed_pipe_keeps_the_verdict_as_exit_code(tmp_path: Path) -> None:
    command = " ".join(gate_command()) + " check --demo | head -c 10 >/dev/null"
    done = subprocess.run(
        ["bash", "-c", command + "; echo ${PIPESTATUS[0]}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "1"
    assert "internal error" not in done.stderr


def test_closed_stdout_is_not_an_internal_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [*gate_command(), "check", "--demo"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        close_fds=True,
    )
    assert done.returncode == 1
    done = subprocess.run(
        ["bash", "-c", " ".join(gate_command()) + " check --demo >&-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "internal error" not in done.stderr


def test_summary_to_the_step_summary_file_is_appended_once(
    files: dict[str, str], tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("# written by an earlier step\n")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
    }
    result = check(files, "--all-namespaces", "--summary", str(summary), env=env)
    assert result.exit_code == 1
    text = summary.read_text()
    assert text.startswith("# written by an earlier step\n")
    assert text.count("Image gate: FAIL") == 1
