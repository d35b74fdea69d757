"""The README's "Testing your policies" section and library example, run as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ci.test_schemas import check_jsonschema
from tests.conftest import DEMO_RESPONSE, REPO_ROOT, gate_command
from tests.test_imports import SNAPSHOT_CHECK, imported

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    text = README.split(f"\n## {title}\n", 1)[1]
    return text.split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def copy_policies(root: Path) -> None:
    shutil.copytree(REPO_ROOT / "policies", root / "policies")


def test_the_readme_test_file_is_an_excerpt_of_the_bundled_one_and_runs(tmp_path: Path) -> None:
    example = blocks(section("Testing your policies"), "yaml")[0]
    bundled = (REPO_ROOT / "policies" / "tests" / "default.yaml").read_text(encoding="utf-8")
    head, *cases = example.split("\n  - name: ")
    assert head in bundled
    for case in cases:
        assert "\n  - name: " + case.rstrip("\n") + "\n" in bundled
    copy_policies(tmp_path)
    (tmp_path / "policies" / "tests" / "readme.yaml").write_text(example, encoding="utf-8")
    done = subprocess.run(
        [*gate_command(), "test", "policies/tests/readme.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(cases)} case(s): {len(cases)} ok" in done.stdout


def test_the_readme_mismatch_output_is_what_gate_test_prints(tmp_path: Path) -> None:
    found = re.search(r"```\n(FAIL .*?)```", section("Testing your policies"), re.S)
    assert found is not None
    shown = found.group(1)
    copy_policies(tmp_path)
    cases = tmp_path / "policies" / "tests" / "default.yaml"
    text = cases.read_text(encoding="utf-8")
    # Expect the opposite of what the bundled case expects, as in the README.
    broken = text.replace(
        "shop/api:v2: {default/no-urgent-vulns: fail}",
        "shop/api:v2: {default/no-urgent-vulns: pass}",
        1,
    )
    assert broken != text
    cases.write_text(broken, encoding="utf-8")
    done = subprocess.run(
        [*gate_command(), "test"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert shown in done.stdout


def test_the_ci_snippets_are_valid_and_run_gate_test_on_policy_changes(tmp_path: Path) -> None:
    github, gitlab = blocks(section("Testing your policies"), "yaml")[1:3]
    workflow = yaml.safe_load(github)
    assert workflow[True]["pull_request"]["paths"] == ["policies/**"]  # YAML 1.1 reads 'on'
    job = yaml.safe_load(gitlab)["policy-tests"]
    assert job["rules"][0]["changes"] == ["policies/**/*"]
    assert job["artifacts"]["reports"]["junit"] == "gate-test.xml"
    for schema, text, name in (
        ("vendor.github-workflows", github, "workflow.yml"),
        ("vendor.gitlab-ci", gitlab, "gitlab-ci.yml"),
    ):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        checked = subprocess.run(
            [check_jsonschema(), "--builtin-schema", schema, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # The commands they run pass on the bundled policies and write the report.
    commands = [s["run"] for s in workflow["jobs"]["policy-tests"]["steps"] if "run" in s]
    commands = [c for c in commands if c.startswith("gate ")]
    assert commands == [c for c in job["script"] if c.startswith("gate ")]
    work = tmp_path / "work"
    work.mkdir()
    copy_policies(work)
    for command in commands:
        args = command.split()[1:]
        done = subprocess.run(
            [*gate_command(), *args], cwd=work, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (work / "gate-test.xml").is_file()


def test_the_library_example_runs(tmp_path: Path) -> None:
    example = blocks(section("Development"), "python")[0]
    assert len(example.strip().splitlines()) <= 6  # an import, a blank line, four lines
    shutil.copy(DEMO_RESPONSE, tmp_path / "ranking.json")
    done = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "fail 1"
    assert lines[1] == (
        "namespace-01/lkl-zf-ss-ordapi-labs:app:app01-ubuntu fail ['fail', 'pass', 'pass', 'warn']"
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "GATE_CACHE_DIR": str(tmp_path / "cache")}


def test_check_never_imports_the_test_runner(env: dict[str, str]) -> None:
    assert not {n for n in imported(SNAPSHOT_CHECK, env, expect=1) if n.startswith("gate.testing")}
    assert "gate.testing" not in imported(["--help"], env, expect=0)
    assert "gate.testing" in imported(["schema", "--tests"], env, expect=0)
