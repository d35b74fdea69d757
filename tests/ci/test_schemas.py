"""action.yml and the GitLab component validate against the public schemas that
check-jsonschema ships (vendor.github-actions, vendor.gitlab-ci)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def check_jsonschema() -> str:
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.is_file() else shutil.which("check-jsonschema")
    if found is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    return found


def validate(
    schema: str, document: Any, tmp_path: Path, name: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return subprocess.run(
        [check_jsonschema(), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_action_yml_validates(tmp_path: Path) -> None:
    done = subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The schema really applies: a step without `shell:` is not a valid composite step.
    broken = yaml.safe_load((ROOT / "action.yml").read_text())
    del broken["runs"]["steps"][0]["shell"]
    assert validate("vendor.github-actions", broken, tmp_path, "broken").returncode == 1


def component_documents() -> list[Any]:
    """The component file is two YAML documents: the ``spec:`` header, then the jobs."""
    documents = list(yaml.safe_load_all((ROOT / "templates" / "image-gate.yml").read_text()))
    assert len(documents) == 2
    assert set(documents[0]) == {"spec"}
    return documents


def test_gitlab_component_header_and_jobs_validate_separately(tmp_path: Path) -> None:
    header, jobs = component_documents()
    for name, document in (("header", header), ("jobs", jobs)):
        done = validate("vendor.gitlab-ci", document, tmp_path, name)
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
    [job] = jobs.values()
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "$[[ inputs.junit ]]"
    # The schema really applies: an unknown `when:` is rejected.
    job["artifacts"]["when"] = "sometimes"
    assert validate("vendor.gitlab-ci", jobs, tmp_path, "broken").returncode == 1


def test_every_component_input_is_described_and_used() -> None:
    header, _ = component_documents()
    inputs = header["spec"]["inputs"]
    text = (ROOT / "templates" / "image-gate.yml").read_text().split("\n---\n", 1)[1]
    for name, spec in inputs.items():
        assert spec.get("description"), f"input {name} has no description"
        assert "default" in spec, f"input {name} has no default"
        assert f"$[[ inputs.{name} ]]" in text, f"input {name} is not used"
    assert inputs["package"]["default"] == "acs-image-gate"


def test_every_action_input_is_described_and_reaches_a_step() -> None:
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    steps = json.dumps(spec["runs"]["steps"])
    for name, meta in spec["inputs"].items():
        assert meta.get("description"), f"input {name} has no description"
        assert "default" in meta, f"input {name} has no default"
        assert "${{ inputs." + name + " }}" in steps, f"input {name} is not used"
    assert spec["inputs"]["junit"]["default"] == "gate-junit.xml"
    assert spec["inputs"]["fail"]["default"] == "true"
    assert spec["inputs"]["audience"]["default"] == "sts.aliyuncs.com"
    assert set(spec["outputs"]) == {
        "verdict",
        "exit-code",
        "failed",
        "warned",
        "waived",
        "images",
        "junit",
        "json",
    }
