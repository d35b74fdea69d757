"""The GitLab component keeps the Code Quality report (artifacts:reports:codequality), run for
real with gitlab-ci-local against the emulator, also when the gate fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ci.conftest import TEST_KEYS
from tests.ci.test_gitlab_component import ROOT, _tools, component, run_pipeline
from tests.test_codequality import valid

pytestmark = pytest.mark.gitlab
__all__ = ["_tools"]  # the fixture that skips without gitlab-ci-local applies here too


def test_component_keeps_the_code_quality_report(
    tmp_path: Path, emulator_url: str, ci_files: dict[str, Path]
) -> None:
    common = {"endpoint": emulator_url, "policy": "ci-policy.yaml", "package": str(ROOT)}
    includes = "include:\n" + "".join(
        [
            component("fail-", namespace="prod", **common),
            component("clean-", namespace="clean", codequality="out/cq.json", **common),
        ]
    )
    pipeline = run_pipeline(
        tmp_path,
        includes,
        {**TEST_KEYS, "GITLAB_CI": "true"},
        {"ci-policy.yaml": ci_files["policy"]},
    )
    assert pipeline.status("fail-image-gate") == "FAIL", pipeline.output[-3000:]
    assert pipeline.status("clean-image-gate") == "PASS", pipeline.output[-3000:]

    failed = pipeline.artifact("fail-image-gate", "gl-code-quality-report.json")
    issues = valid(json.loads(failed.read_text(encoding="utf-8")))
    assert issues, "the failing job's findings are in the report"
    assert {issue["location"]["path"] for issue in issues} == {"ci-policy.yaml"}
    assert {issue["severity"] for issue in issues} <= {"blocker", "critical", "minor"}
    clean = pipeline.artifact("clean-image-gate", "out/cq.json")
    assert valid(json.loads(clean.read_text(encoding="utf-8"))) == []
