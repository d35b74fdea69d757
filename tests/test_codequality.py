"""The GitLab Code Quality report (``--codequality``), held to GitLab's documented format.

GitLab's "Code Quality report format" (docs.gitlab.com/ci/testing/code_quality/): the artifact
is a JSON array of objects, each with a required ``description`` (string), ``check_name``
(string), ``fingerprint`` (string, unique to the violation), ``severity`` (one of info,
minor, major, critical, blocker), ``location.path`` (relative to the repository, no ``./``
prefix) and ``location.lines.begin`` or ``location.positions.begin.line`` (integer, the first
line). The schema below says exactly that.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gate.report.codequality import CodeQualityFormat, fingerprint, issues, repository_path
from tests.conftest import (
    gate_command,
    image_entry,
    load_policy,
    make_image,
    ranking_body,
    run_engine,
)

GITLAB_CODE_QUALITY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "minLength": 1, "pattern": r"^(?!\./)(?!/)"},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {"begin": {"type": "integer", "minimum": 1}},
                    },
                    "positions": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {
                            "begin": {
                                "type": "object",
                                "required": ["line"],
                                "properties": {"line": {"type": "integer", "minimum": 1}},
                            }
                        },
                    },
                },
                "anyOf": [{"required": ["lines"]}, {"required": ["positions"]}],
            },
        },
    },
}


def valid(document: Any) -> list[dict[str, Any]]:
    jsonschema.Draft202012Validator(GITLAB_CODE_QUALITY_SCHEMA).validate(document)
    fingerprints = [issue["fingerprint"] for issue in document]
    assert len(fingerprints) == len(set(fingerprints)), "fingerprints must be unique"
    loaded: list[dict[str, Any]] = document
    return loaded


def test_the_schema_rejects_what_gitlab_rejects() -> None:
    good = {
        "description": "d",
        "check_name": "c",
        "fingerprint": "f",
        "severity": "minor",
        "location": {"path": "lib/index.js", "lines": {"begin": 42}},
    }
    valid([good])
    for broken in (
        {**good, "severity": "high"},
        {**good, "location": {"path": "./lib/index.js", "lines": {"begin": 1}}},
        {**good, "location": {"path": "lib/index.js"}},
        {k: v for k, v in good.items() if k != "fingerprint"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            valid([broken])


POLICY = """\
version: 1
name: prod
rules:
  - id: urgent
    fail_if: imageVulAsap > 0
  - id: budget
    fail_if: imageVulLater > 5
    enforcement: advisory
  - id: config
    fail_if: imageBaselineHigh > 0
    enforcement: soft-mandatory
waivers:
  - rule: urgent
    images: ["ns/waived:*"]
    reason: SEC-1
    expires: 2099-01-01
"""


def counters(asap: int, later: int = 0, high: int = 0) -> dict[str, int]:
    return {"imageVulAsap": asap, "imageVulLater": later, "imageBaselineHigh": high}


def test_outcomes_map_to_severities_and_rule_lines() -> None:
    policy = load_policy(POLICY, file="policies/prod.yaml")
    images = [
        make_image("ns", "api", "v1", metrics=counters(2, 9, 1)),
        make_image("ns", "clean", "v1", metrics=counters(0)),
        make_image("ns", "waived", "v1", metrics=counters(1)),
        make_image("ns", "broken", "v1", metrics={"imageVulLater": 0, "imageBaselineHigh": 0}),
    ]
    report = run_engine(policy, images, override="CAB-1")
    document = valid(json.loads(CodeQualityFormat().render(report)))
    found = {(i["check_name"], i["description"].split(" ")[0]): i for i in document}
    assert set(found) == {
        ("prod/urgent", "ns/api"),
        ("prod/budget", "ns/api"),
        ("prod/config", "ns/api"),
        ("prod/urgent", "ns/broken"),
    }  # passes and waived results are no findings
    assert found[("prod/urgent", "ns/api")]["severity"] == "blocker"
    assert found[("prod/budget", "ns/api")]["severity"] == "minor"
    assert found[("prod/config", "ns/api")]["severity"] == "major"  # overridden
    assert found[("prod/urgent", "ns/broken")]["severity"] == "blocker"  # error, fail closed
    lines = {name: issue["location"]["lines"]["begin"] for (name, _), issue in found.items()}
    assert lines == {"prod/urgent": 4, "prod/budget": 6, "prod/config": 9}
    assert {i["location"]["path"] for i in document} == {"policies/prod.yaml"}
    assert found[("prod/urgent", "ns/api")]["description"] == (
        "ns/api (v1): prod/urgent fail [hard-mandatory]: imageVulAsap = 2 > 0"
    )


def test_one_issue_per_rule_and_repository() -> None:
    policy = load_policy(POLICY, file="prod.yaml")
    images = [make_image("ns", "api", tag, metrics=counters(1)) for tag in ("v2", "v1")]
    (issue,) = valid(issues(run_engine(policy, images)))
    assert issue["description"].startswith("ns/api (v1, v2): prod/urgent fail")
    assert issue["fingerprint"] == fingerprint("prod", "urgent", "ns/api")


def test_paths_are_relative_to_the_repository() -> None:
    root = os.path.join(os.sep, "builds", "group", "project")
    assert repository_path(os.path.join(root, "policies", "p.yaml"), root) == "policies/p.yaml"
    assert repository_path("./policies/p.yaml", root) == "policies/p.yaml"
    assert repository_path("policies/p.yaml", None) == "policies/p.yaml"


def gate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gate_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_fingerprints_are_stable_across_runs_and_tags(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "prod.yaml").write_text(POLICY)
    prints = []
    for tag in ("v1", "v2"):
        body = ranking_body(
            [
                image_entry("ns", "api", tag, detail=counters(1), Digest=tag * 32),
                image_entry("ns", "web", tag, detail=counters(3)),
            ]
        )
        (tmp_path / "ranking.json").write_text(json.dumps(body))
        done = gate(
            "check", "--snapshot", "ranking.json", "--all-namespaces",
            "--policy", str(tmp_path / "policies" / "prod.yaml"),
            "--codequality", "gl-code-quality-report.json", cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        document = valid(json.loads((tmp_path / "gl-code-quality-report.json").read_text()))
        urgent = {
            i["description"].split(" ")[0]: i for i in document if i["check_name"] == "prod/urgent"
        }
        assert urgent["ns/api"]["location"] == {"path": "policies/prod.yaml", "lines": {"begin": 4}}
        assert urgent["ns/api"]["fingerprint"] != urgent["ns/web"]["fingerprint"]
        prints.append({k: v["fingerprint"] for k, v in urgent.items()})
    assert prints[0] == prints[1]


def test_a_run_that_evaluated_nothing_leaves_a_blocker_never_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "version: 1\nname: p\nrules:\n  - {id: r, fail_if: imageVulAsp > 0}\n"
    )
    (tmp_path / "gl-code-quality-report.json").write_text("[]")
    done = gate(
        "check", "--demo", "--policy", "bad.yaml", "--codequality", "gl-code-quality-report.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    (issue,) = valid(json.loads((tmp_path / "gl-code-quality-report.json").read_text()))
    assert issue["severity"] == "blocker"
    assert issue["check_name"] == "gate/policy-error"
    assert issue["location"] == {"path": "bad.yaml", "lines": {"begin": 4}}
    assert "did you mean 'imageVulAsap'" in issue["description"]

    missing = gate(
        "check", "--snapshot", "nowhere.json", "--all-namespaces",
        "--codequality", "gl-code-quality-report.json", cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 3
    (issue,) = valid(json.loads((tmp_path / "gl-code-quality-report.json").read_text()))
    assert issue["check_name"] == "gate/error"
    assert issue["description"].startswith("the image gate could not evaluate (exit 3)")


def test_codequality_and_another_report_on_one_path_is_a_usage_error(tmp_path: Path) -> None:
    done = gate("check", "--demo", "--json", "out.json", "--codequality", "out.json", cwd=tmp_path)
    assert done.returncode == 2
    assert "--json and --codequality both write to out.json" in done.stderr


def test_a_passing_run_writes_an_empty_list(tmp_path: Path) -> None:
    body = ranking_body([image_entry("ns", "api", "v1", detail=counters(0))])
    (tmp_path / "ranking.json").write_text(json.dumps(body))
    (tmp_path / "p.yaml").write_text(POLICY.split("waivers:")[0])
    done = gate(
        "check", "--snapshot", "ranking.json", "--all-namespaces", "--policy", "p.yaml",
        "--codequality", "cq.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert valid(json.loads((tmp_path / "cq.json").read_text())) == []


def test_a_refused_command_line_replaces_the_report(tmp_path: Path) -> None:
    (tmp_path / "cq.json").write_text("[]")
    done = gate("check", "--demo", "--codequality", "cq.json", "--no-such-option", cwd=tmp_path)
    assert done.returncode == 2
    (issue,) = valid(json.loads((tmp_path / "cq.json").read_text()))
    assert issue["check_name"] == "gate/error"
