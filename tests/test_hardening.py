"""Hostile input through the real ``gate`` command, and the JUnit size limits as a user sets them.

Policy files that try to exhaust the loader (alias bombs, huge or deeply nested documents),
that are not UTF-8, repeat keys or ask for Python objects all end in a policy error (exit 2)
that says what is wrong, quickly and in bounded memory, measured on the child process. The
loader's own tests check the messages in detail; these check what a CI job sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gate import cli as cli_module
from gate.cli import cli
from gate.report import junit
from gate.report.outputs import OutputSettings
from gate.source.normalize import normalize
from tests.conftest import (
    DEMO_RESPONSE,
    REPO_ROOT,
    gate_command,
    image_entry,
    load_policy,
    ranking_body,
    run_engine,
)

BOMB = "version: 1\nname: bomb\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join(['*' + chr(97 + n)] * 10)}]\n" for n in range(8)
)

HOSTILE = {
    "alias bomb": (BOMB.encode(), "more than 100000 values"),
    "huge file": (b"version: 1\nname: huge\n# " + b"x" * (2 * 1024 * 1024) + b"\n", "larger than"),
    "deep nesting": (b"version: 1\nname: deep\nrules: " + b"[" * 5000, "nest"),
    "deep mappings": (
        b"version: 1\nname: deep\nx:\n" + b"".join(b"  " * n + b"k:\n" for n in range(1, 200)),
        "deeper than 64",
    ),
    "not UTF-8": (b"version: 1\nname: caf\xe9\n", "not valid UTF-8"),
    "duplicate keys": (b"version: 1\nname: a\nname: b\nrules: []\n", "duplicate key 'name'"),
    "python object": (
        b"version: 1\nname: !!python/object/apply:os.system ['touch pwned']\nrules: []\n",
        "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
    ),
    "python name": (b"version: !!python/name:os.system 1\n", "is not allowed"),
    "binary": (b"\x00\x01\x02\xff\xfe", "not valid"),
}


# Linux keeps a process's peak RSS across exec, and a child forked from this (large) test
# process starts with the parent's. So the command is started by a small launcher
# process, whose own fork is small, and the launcher reports the command's peak.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(args: list[str], cwd: Path) -> tuple[int, str, float, float]:
    """Run the installed command: exit code, stderr, seconds, peak RSS in MB."""
    started = time.monotonic()
    peak = cwd / ".peak-rss"
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(peak), *gate_command(), *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "GATE_CACHE_DIR": ""},
    )
    seconds = time.monotonic() - started
    stderr = done.stderr.decode("utf-8", "replace")
    return done.returncode, stderr, seconds, int(peak.read_text()) / 1024


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_policy_files_end_in_a_policy_error(tmp_path: Path, name: str) -> None:
    data, fragment = HOSTILE[name]
    policy = tmp_path / "hostile.yaml"
    policy.write_bytes(data)
    junit_path = tmp_path / "gate.xml"
    args = ["check", "--demo", "--policy", str(policy), "--junit", str(junit_path)]
    code, stderr, seconds, peak_mb = run_child(args, tmp_path)
    assert code == 2, stderr
    assert "invalid polic" in stderr and fragment in stderr  # "policy:" or "policies (N problems):"
    assert "Traceback" not in stderr
    assert not (tmp_path / "pwned").exists()
    assert seconds < 20 and peak_mb < 300  # generous on a loaded machine; a bomb takes GBs
    root = etree.fromstring(junit_path.read_bytes())  # the error report, complete
    assert root.find(".//error").get("type") == "gate.policy-error"


# --- the JUnit size limits through the command ---------------------------------------------


@pytest.fixture
def big_snapshot(tmp_path: Path) -> str:
    clean = dict.fromkeys(["imageMaliciousFileSerious", "imageBaselineHigh", "imageVulLater"], 0)
    entries = [
        image_entry("ns", f"repo-{n}", "v1", detail={**clean, "imageVulAsap": int(n < 3)})
        for n in range(60)
    ]  # the default policy's four rules: 3 failures, 237 passes
    path = tmp_path / "ranking.json"
    path.write_text(json.dumps(ranking_body(vul_asap=entries)))
    return str(path)


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("how", ["option", "variable"])
def test_a_junit_over_the_case_limit_is_compacted_and_every_report_says_so(
    tmp_path: Path, big_snapshot: str, how: str
) -> None:
    out_xml, out_json = tmp_path / "gate.xml", tmp_path / "gate.json"
    args = ["check", "--snapshot", big_snapshot, "--all-namespaces"]
    args += ["--junit", str(out_xml), "--json", str(out_json)]
    env = None
    if how == "option":
        args += ["--junit-max-cases", "100"]
    else:
        env = {"GATE_JUNIT_MAX_CASES": "100"}
    result = run(*args, env=env)
    assert result.exit_code == 1
    assert "the JUnit report was compacted" in result.output
    document = json.loads(out_json.read_text())
    assert any("JUnit report was compacted" in w for w in document["warnings"])
    assert document["summary"]["checks"] == 240  # the JSON report keeps every result
    root = etree.fromstring(out_xml.read_bytes())
    assert len(root.findall(".//failure")) == 3
    assert root.xpath("//property[@name='compacted']/@value") == ["true"]


def test_the_byte_limit_through_the_command(tmp_path: Path, big_snapshot: str) -> None:
    out_xml = tmp_path / "gate.xml"
    base = ["check", "--snapshot", big_snapshot, "--all-namespaces", "--junit", str(out_xml)]
    assert "compacted" not in run(*base).output
    full = out_xml.stat().st_size
    result = run(*base, env={"GATE_JUNIT_MAX_BYTES": str(full - 1)})
    assert "the full report would be larger than the limit" in result.output
    assert out_xml.stat().st_size < full // 4


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_limits_must_be_positive_integers(big_snapshot: str, value: str) -> None:
    result = run(
        "check", "--snapshot", big_snapshot, "--all-namespaces", "--junit-max-cases", value
    )
    assert result.exit_code == 2


def test_cli_defaults_are_the_writers_defaults() -> None:
    assert cli_module.JUNIT_MAX_BYTES == junit.DEFAULT_MAX_BYTES
    assert cli_module.JUNIT_MAX_CASES == junit.DEFAULT_MAX_CASES
    assert cli_module.JUNIT_MAX_ELEMENTS == junit.DEFAULT_MAX_ELEMENTS < junit.GITLAB_MAX_ELEMENTS
    settings = OutputSettings()
    assert settings.junit_max_bytes == junit.DEFAULT_MAX_BYTES
    assert settings.junit_max_cases == junit.DEFAULT_MAX_CASES
    assert settings.junit_max_elements == junit.DEFAULT_MAX_ELEMENTS
    assert junit.DEFAULT_MAX_BYTES < junit.GITLAB_MAX_BYTES
    assert junit.DEFAULT_MAX_CASES < junit.GITLAB_MAX_CASES


# --- the normaliser and the engine on any JSON ------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
DETAILS = st.one_of(
    JSON_VALUES,
    st.dictionaries(st.sampled_from(["imageVulAsap", "imageVulLater"]), JSON_VALUES).map(
        json.dumps
    ),
    st.just("[" * 3000),  # deeper than the JSON parser goes
    st.just('{\\"imageVulAsap\\":3}'),
)
POLICY = load_policy(
    "version: 1\nname: p\nrules:\n"
    "  - {id: a, fail_if: imageVulAsap > 0}\n"
    "  - {id: b, fail_if: imageVulLater + VulCount > 10, enforcement: advisory}\n"
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    info=st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries(
            {},
            optional={
                "VulAsap": st.lists(
                    st.one_of(
                        JSON_VALUES,
                        st.builds(
                            lambda d, v: image_entry(detail=d, VulCount=v),
                            DETAILS,
                            JSON_VALUES,
                        ),
                    ),
                    max_size=3,
                ),
                "Baseline": JSON_VALUES,
            },
        ),
    )
)
def test_every_image_evaluates_or_carries_a_data_error(info: Any) -> None:
    """Whatever the body: a source error, or images that each end in results, never a crash."""
    from gate.errors import SourceError

    try:
        ranking = normalize({"RiskRankInfo": info})
    except SourceError:
        return
    report = run_engine(POLICY, ranking.images)
    for entry in report.images:
        outcomes = {r.rule: r.outcome.value for r in entry.results}
        assert set(outcomes) == {"a", "b"}
        image = entry.image
        if "imageVulAsap" not in image.metrics:
            assert outcomes["a"] == "error"  # mandatory: fails closed
            assert image.data_error or image.metric_problems.get("imageVulAsap")
        if not {"imageVulLater", "VulCount"} <= set(image.metrics):
            assert outcomes["b"] == "warn"  # advisory: warns
    assert report.exit_code in (0, 1)


def test_a_snapshot_nested_beyond_the_parser_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"RiskRankInfo": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, stderr, _, _ = run_child(["check", "--snapshot", str(path), "--all-namespaces"], tmp_path)
    assert code == 3, stderr
    assert "not valid JSON" in stderr or "not a list" in stderr


def test_the_demo_response_is_read_through_the_memory_map(tmp_path: Path) -> None:
    """A snapshot on disk and the same bytes on standard input give the same report."""
    args = ["check", "--all-namespaces", "--json", "-"]
    from_file = subprocess.run(
        [sys.executable, "-m", "gate", *args, "--snapshot", str(DEMO_RESPONSE)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    from_stdin = subprocess.run(
        [sys.executable, "-m", "gate", *args, "--snapshot", "-"],
        cwd=REPO_ROOT,
        input=DEMO_RESPONSE.read_text(),
        capture_output=True,
        text=True,
    )
    assert from_file.returncode == from_stdin.returncode == 1
    first, second = json.loads(from_file.stdout), json.loads(from_stdin.stdout)
    first["source"] = second["source"] = None
    assert first == second


@pytest.mark.parametrize("content", [b"", b" \n\t", b"\xef\xbb\xbf", b"\x00\x00\x00"])
def test_empty_or_blank_snapshots(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    result = run("check", "--snapshot", str(path), "--all-namespaces")
    assert result.exit_code == 3
    assert "is empty" in result.output or "not valid JSON" in result.output
