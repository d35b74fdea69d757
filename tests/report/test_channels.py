"""Every report channel of the real ``gate check`` tells the same story: images no rule
checked, warnings (also with --quiet and on a pass), data shown as data, narrow encodings."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gate_command, image_entry, ranking_body

POLICY = """\
version: 1
name: prod
scope: {namespaces: ["prod"]}
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
waivers:
  - rule: urgent
    images: ["prod/old:*"]
    reason: "SEC-1\\n::error::from the reason"
    owner: "team\\n::error::from the owner\\u001b[2J"
    expires: 2026-01-01
"""

COLOUR = re.compile(r"\x1b\[[0-9;]*m")
SECTION = re.compile(
    r"\x1b\[0Ksection_(start|end):\d+:(\w+)(\[collapsed=(true|false)\])?\r\x1b\[0K"
)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    body = ranking_body(
        vul_asap=[
            image_entry("prod", "api", "v1", detail={"imageVulAsap": 0}),
            image_entry("other", "tool", "v1", detail={"imageVulAsap": 9}),
        ]
    )
    snapshot = tmp_path / "ranking.json"
    snapshot.write_text(json.dumps(body))
    policy = tmp_path / "prod.yaml"
    policy.write_text(POLICY)
    return {"dir": tmp_path, "snapshot": snapshot, "policy": policy}


def gate(
    setup: dict[str, Path], *args: str | bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    # GitLab's log shows colours: the gate colours its output there (and only there here).
    plain = {} if (env or {}).get("GITLAB_CI") else {"NO_COLOR": "1"}
    return subprocess.run(
        [*gate_command(), "check", "--policy", str(setup["policy"]), "--now", "2026-06-01", *args],
        env={"PATH": "/usr/bin:/bin", **plain, **(env or {})},
        cwd=setup["dir"],
        capture_output=True,
        check=False,
    )


def github(setup: dict[str, Path]) -> dict[str, str]:
    summary, outputs = setup["dir"] / "step-summary.md", setup["dir"] / "outputs.txt"
    summary.touch()
    outputs.touch()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }


def outputs(setup: dict[str, Path]) -> dict[str, str]:
    lines = (setup["dir"] / "outputs.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and "<<" not in line)


# --- images no rule checked ----------------------------------------------------------------


def test_image_outside_every_scope_is_not_checked_in_every_report(
    setup: dict[str, Path],
) -> None:
    done = gate(
        setup,
        "--snapshot", str(setup["snapshot"]), "--namespace", "prod", "--namespace", "other",
        "--json", "r.json", "--summary", "r.md",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads((setup["dir"] / "r.json").read_text())
    verdicts = {f"{i['namespace']}/{i['repository']}": i["verdict"] for i in document["images"]}
    assert verdicts == {"prod/api": "pass", "other/tool": "not-checked"}
    assert document["summary"]["not_checked"] == 1
    assert any("other/tool:v1" in w for w in document["warnings"])
    console = done.stdout.decode()
    assert "(other/tool:v1)" in console  # named, not only counted
    assert "2 image(s) (1 not checked)" in console
    summary = (setup["dir"] / "r.md").read_text()
    assert "| other/tool:v1 | not-checked |" in summary
    assert not summary.startswith("## ✅")


# --- warnings: a pattern that matched nothing -----------------------------------------------


def test_nothing_matched_is_a_warning_on_every_channel(setup: dict[str, Path]) -> None:
    env = github(setup)
    done = gate(
        setup,
        "--snapshot", str(setup["snapshot"]), "--namespace", "nomatch-*", "--quiet",
        "--json", "r.json",
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    console = done.stdout.decode()
    assert "no ranked image matched nomatch-*" in console  # even with --quiet
    assert "PASS with warnings: nothing was evaluated (exit 0)" in console
    assert "::warning title=Image gate::no ranked image matched nomatch-*" in console
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    headline = summary.splitlines()[0]
    assert headline == "## ⚠️ Image gate: PASS with warnings (nothing was evaluated)"
    assert "✅" not in summary and "Every evaluated image passed" not in summary
    document = json.loads((setup["dir"] / "r.json").read_text())
    assert any("nomatch-*" in w for w in document["warnings"])
    assert outputs(setup)["verdict"] == "pass"


def test_nothing_matched_opens_the_gitlab_notes_section(setup: dict[str, Path]) -> None:
    done = gate(
        setup,
        "--snapshot", str(setup["snapshot"]), "--namespace", "nomatch",
        env={"GITLAB_CI": "true"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = SECTION.finditer(done.stdout.decode())
    starts = {m[2]: m[4] for m in found if m[1] == "start"}
    assert starts["gate_notes"] == "false"


# --- GitHub step outputs of a run that evaluated nothing --------------------------------------


def test_error_run_names_the_error_json_in_the_step_output(setup: dict[str, Path]) -> None:
    garbage = setup["dir"] / "garbage.json"
    garbage.write_text("<html>502</html>")
    done = gate(
        setup, "--snapshot", str(garbage), "--all-namespaces", "--json", "out/r.json",
        env=github(setup),
    )  # fmt: skip
    assert done.returncode == 3
    assert json.loads((setup["dir"] / "out/r.json").read_text())["verdict"] == "error"
    assert outputs(setup)["json"] == "out/r.json"
    assert outputs(setup)["verdict"] == "error"


# --- narrow encodings and undecodable paths ----------------------------------------------


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
@pytest.mark.parametrize("ci", [{}, {"GITLAB_CI": "true"}], ids=["plain", "gitlab"])
def test_demo_on_a_narrow_console_encoding(encoding: str, ci: dict[str, str]) -> None:
    done = subprocess.run(
        [*gate_command(), "check", "--demo"],
        env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": encoding, **ci},
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    console = COLOUR.sub("", done.stdout.decode(encoding))
    assert "x namespace-01/glz123:machineResource" in console  # ASCII marker for ✗
    assert "FAIL: the gate blocks" in console


def test_names_the_encoding_cannot_carry_become_escapes(setup: dict[str, Path]) -> None:
    body = ranking_body(vul_asap=[image_entry("prod", "app名", "v1", detail={"imageVulAsap": 1})])
    setup["snapshot"].write_text(json.dumps(body))
    done = gate(
        setup, "--snapshot", str(setup["snapshot"]), "--namespace", "prod",
        env={"PYTHONIOENCODING": "cp1252", **github(setup)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    console = done.stdout.decode("cp1252")
    assert "x prod/app\\u540d:v1" in console
    assert "::error title=Image gate%3A prod/urgent (fail)::prod/app\\u540d:v1" in console


def test_undecodable_report_path_under_github_actions(setup: dict[str, Path]) -> None:
    env = github(setup)
    done = gate(
        setup, "--snapshot", str(setup["snapshot"]), "--namespace", "prod",
        "--json", b"r\xff.json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((setup["dir"] / os.fsdecode(b"r\xff.json")).read_text())["verdict"]
    assert outputs(setup)["json"] == ""
    assert b"::warning title=Image gate::the json report was written to r\\udcff.json" in (
        done.stdout
    )


# --- data is shown as data ---------------------------------------------------------------


def hostile(setup: dict[str, Path]) -> Path:
    body: dict[str, Any] = ranking_body(
        vul_asap=[image_entry("prod", "old", "v1", detail={"imageVulAsap": 1})]
    )
    envelope = {
        "gate_snapshot": 1,
        "fetched_at": "2026-05-31T00:00:00Z\n::error::from fetched_at\r\x1b[2K",
        "region": "cn\n::stop-commands::token",
        "endpoint": "api\n::error::from the endpoint",
        "request_id": "R-1\n::error::from the request id\x1b]0;title\x07",
        "response": body,
    }
    path = setup["dir"] / "hostile.json"
    path.write_text(json.dumps(envelope))
    return path


def test_hostile_snapshot_cannot_write_workflow_commands(setup: dict[str, Path]) -> None:
    env = github(setup)
    done = gate(
        setup, "--snapshot", str(hostile(setup)), "--namespace", "prod", "--summary", "s.md",
        env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    console = done.stdout.decode()
    assert "\x1b" not in console and "\r" not in console
    for line in console.splitlines():
        assert not line.startswith("::") or line.startswith(
            ("::error title=Image gate", "::warning title=Image gate")
        ), line
    assert "fetched 2026-05-31T00:00:00Z\\n::error::from fetched_at\\r\\x1b[2K" in console
    assert "request id R-1\\n::error::from the request id" in console
    assert "owner team\\n::error::from the owner\\x1b[2J" in console
    for summary in (setup["dir"] / "s.md", Path(env["GITHUB_STEP_SUMMARY"])):
        text = summary.read_text()
        assert "\x1b" not in text and "\r" not in text
        assert not any(line.startswith("::") for line in text.splitlines())


def test_hostile_snapshot_under_gitlab_carries_no_escape_sequences(
    setup: dict[str, Path],
) -> None:
    done = gate(
        setup, "--snapshot", str(hostile(setup)), "--namespace", "prod",
        env={"GITLAB_CI": "true"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    console = COLOUR.sub("", SECTION.sub("", done.stdout.decode()))
    assert "\x1b" not in console and "\r" not in console
    assert not any(line.startswith("::") for line in console.splitlines())


# --- waivers ----------------------------------------------------------------------------


def test_expired_waiver_is_reported_once_as_expired(setup: dict[str, Path]) -> None:
    body = ranking_body(vul_asap=[image_entry("prod", "old", "v1", detail={"imageVulAsap": 1})])
    setup["snapshot"].write_text(json.dumps(body))
    done = gate(setup, "--snapshot", str(setup["snapshot"]), "--namespace", "prod")
    assert done.returncode == 1
    console = done.stdout.decode()
    assert console.count("prod/urgent on prod/old:*") == 1
    assert "expired on 2026-01-01, no longer applies" in console
    assert "expires 2026-01-01" not in console
