"""``gate test``: policy test cases, run through the real command.

Each test writes test files (and policies) under tmp_path and runs the installed ``gate``,
reading what a user reads: the case lines, the diffs, the problems with file:line:column, the
coverage gaps, the exit code and the JUnit file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gate.policy.metrics import CATALOGUE
from tests.ci.test_schemas import check_jsonschema
from tests.conftest import DEMO_RESPONSE, REPO_ROOT, gate_command

POLICY = """\
version: 1
name: shop
rules:
  - id: urgent
    fail_if: imageVulAsap > 0
  - id: budget
    fail_if: imageVulLater > 50
    enforcement: advisory
  - id: baseline
    fail_if: imageBaselineHigh > 0
    enforcement: soft-mandatory
waivers:
  - rule: urgent
    images: ["legacy/*:*"]
    reason: Tracked in SEC-1
    expires: 2027-01-31
"""

CASES = """\
version: 1
policies: [policy.yaml]
now: 2026-12-01
cases:
  - name: clean
    images:
      - image: shop/api:v1
    expect:
      verdict: pass
      results:
        shop/api:v1: {shop/urgent: pass, shop/budget: pass, shop/baseline: pass}
  - name: urgent blocks
    images:
      - image: shop/api:v2
        counters: {imageVulAsap: 3, imageVulLater: 60, imageBaselineHigh: 1}
    expect:
      verdict: fail
      exit_code: 1
      results:
        shop/api:v2: {shop/urgent: fail, shop/budget: warn, shop/baseline: fail}
  - name: waived legacy
    images:
      - image: legacy/api:v1
        counters: {imageVulAsap: 3}
    expect:
      verdict: pass
      results:
        legacy/api:v1: {shop/urgent: waived}
      waivers:
        shop/urgent: active
"""


def run_gate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gate_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one policy and its (passing, fully covering) test file."""
    write(tmp_path, "policies/policy.yaml", POLICY)
    write(tmp_path, "policies/tests/shop.yaml", CASES.replace("[policy.yaml]", "[../policy.yaml]"))
    return tmp_path


# --- the bundled policies ------------------------------------------------------------------


def test_the_bundled_policies_pass_their_cases_with_full_coverage() -> None:
    done = run_gate("test", "--require-coverage", cwd=REPO_ROOT)  # default: policies/tests
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    case_lines = [line for line in lines if re.match(r"(ok|FAIL|ERROR)\s", line)]
    assert len(case_lines) >= 20
    assert all(line.startswith("ok ") for line in case_lines)
    assert "policies/tests/default.yaml:12: a clean image passes every rule" in done.stdout
    assert "coverage: complete (9 rule(s), 1 waiver(s))" in done.stdout
    assert lines[-1].endswith("0 failed, 0 invalid (exit 0)")


def test_check_does_not_load_the_test_cases_as_policies() -> None:
    done = run_gate("check", "--demo", "--policy", "policies/", cwd=REPO_ROOT)
    assert done.returncode == 1, done.stderr  # the demo blocks; no policy error (exit 2)
    assert "error" not in done.stderr


# --- passing, failing and invalid cases ----------------------------------------------------


def test_all_cases_pass(project: Path) -> None:
    done = run_gate("test", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[:3] == [
        "ok    policies/tests/shop.yaml:5: clean",
        "ok    policies/tests/shop.yaml:12: urgent blocks",
        "ok    policies/tests/shop.yaml:21: waived legacy",
    ]
    assert "3 case(s): 3 ok, 0 failed, 0 invalid (exit 0)" in done.stdout


def test_a_mismatch_fails_with_a_diff_and_what_the_rule_saw(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        now: 2026-12-01
        cases:
          - name: clean
            images: [{image: shop/api:v1}]
            expect: {verdict: pass}
          - name: expects a pass
            images:
              - image: shop/api:v2
                counters: {imageVulAsap: 3}
            expect:
              verdict: pass
              exit_code: 0
              results:
                shop/api:v2:
                  shop/urgent: pass
                  shop/budget: warn
              waivers:
                shop/urgent: unused
        """,
    )
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ok    cases.yaml:5: clean" in done.stdout
    assert "FAIL  cases.yaml:8: expects a pass" in done.stdout
    diff = done.stdout.split("FAIL  cases.yaml:8: expects a pass\n", 1)[1]
    assert diff.startswith(
        "      cases.yaml:13:7: verdict\n"
        "        - expected: pass\n"
        "        + actual:   fail\n"
        "          saw: blocking: shop/api:v2 shop/urgent: fail\n"
        "      cases.yaml:14:7: exit code\n"
        "        - expected: 0\n"
        "        + actual:   1\n"
    )
    assert (
        "      cases.yaml:17:11: shop/api:v2 shop/urgent\n"
        "        - expected: pass\n"
        "        + actual:   fail\n"
        "          saw: imageVulAsap = 3 > 0\n"
    ) in diff
    assert (
        "      cases.yaml:18:11: shop/api:v2 shop/budget\n"
        "        - expected: warn\n"
        "        + actual:   pass\n"
        "          saw: imageVulLater = 0: imageVulLater > 50 is false\n"
    ) in diff
    assert (
        "      cases.yaml:20:9: waiver shop/urgent on legacy/*:*\n"
        "        - expected: unused\n"
        "        + actual:   expired\n"
    ) not in diff  # the waiver is unused indeed: no mismatch
    assert "2 case(s): 1 ok, 1 failed, 0 invalid (exit 1)" in done.stdout


def test_not_checked_means_the_rule_did_not_judge_the_image(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY.replace("rules:", "scope: {namespaces: [prod]}\nrules:"))
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        cases:
          - name: out of scope
            images:
              - image: dev/api:v1
                counters: {imageVulAsap: 1}
              - image: prod/api:v1
            namespaces: [prod, dev]
            expect:
              results:
                dev/api:v1: {shop/urgent: fail}
                prod/api:v1: {shop/urgent: not-checked}
        """,
    )
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert (
        "      cases.yaml:12:22: dev/api:v1 shop/urgent\n"
        "        - expected: fail\n"
        "        + actual:   not-checked\n"
        "          saw: the image is outside the policy's or the rule's scope\n"
    ) in done.stdout
    assert (
        "        - expected: not-checked\n"
        "        + actual:   pass\n"
        "          saw: imageVulAsap = 0: imageVulAsap > 0 is false\n"
    ) in done.stdout


def test_invalid_cases_exit_2_with_every_problem_located(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        cases:
          - name: still runs
            images: [{image: shop/api:v1}]
            expect: {verdict: pass}
          - name: typos
            images:
              - image: shop/api:v1
                counters: {imagevulasap: 3}
            expect:
              verdict: passes
          - name: unknown names
            images: [{image: shop/api:v1}]
            expect:
              results:
                shop/api:v9: {shop/urgent: pass}
                shop/api:v1: {shop/urgnet: pass}
          - name: reserved
            baseline: old.json
            images: [{image: shop/api:v1}]
            expect: {verdict: pass}
        """,
    )
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    out = done.stdout
    assert "ok    cases.yaml:4: still runs" in out
    assert "ERROR cases.yaml:7: typos" in out
    assert "cases.yaml:10:20: unknown key 'imagevulasap' (did you mean 'imageVulAsap'?)" in out
    assert "cases.yaml:12:16: 'passes' is not valid here (did you mean 'pass'?)" in out
    assert "ERROR cases.yaml:13: unknown names" in out
    assert "cases.yaml:17:9: no image 'shop/api:v9' in this case's input" in out
    assert (
        "cases.yaml:18:23: no rule 'shop/urgnet' in the policies under test "
        "(did you mean 'shop/urgent'?)"
    ) in out
    assert "ERROR cases.yaml:19: reserved" in out
    assert "cases.yaml:20:15: 'baseline' is reserved for baseline files" in out
    assert "4 case(s): 1 ok, 0 failed, 3 invalid (exit 2)" in out


def test_an_unreadable_file_and_a_policy_file_are_invalid(tmp_path: Path) -> None:
    write(tmp_path, "tests/broken.yaml", "version: 1\ncases:\n  - name: [unclosed\n")
    write(tmp_path, "tests/policy.yaml", POLICY)
    done = run_gate("test", "tests", cwd=tmp_path)
    assert done.returncode == 2
    assert "ERROR tests/broken.yaml:" in done.stdout
    assert "tests/broken.yaml:4:1: not valid YAML" in done.stdout
    assert "ERROR tests/policy.yaml:1: (the whole file)" in done.stdout
    assert "this is a policy, not a test file" in done.stdout


def test_an_invalid_policy_under_test_is_reported_once_with_its_position(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY.replace("enforcement: advisory", "enforcement: advice"))
    write(tmp_path, "cases.yaml", CASES)
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout.count("policy.yaml:8:18: 'advice' is not valid here") == 1
    assert done.stdout.count("the same problems as above (policy.yaml)") == 2
    assert (
        done.stdout.count("cases.yaml:2:1: the policies under test (policy.yaml) are invalid") == 3
    )
    assert "3 case(s): 0 ok, 0 failed, 3 invalid (exit 2)" in done.stdout


def test_missing_paths_are_a_usage_error(tmp_path: Path) -> None:
    done = run_gate("test", cwd=tmp_path)
    assert done.returncode == 2
    assert "policies/tests: no such file or directory" in done.stderr
    (tmp_path / "empty").mkdir()
    done = run_gate("test", "empty", cwd=tmp_path)
    assert done.returncode == 2
    assert "the directory has no *.yaml or *.yml test files" in done.stderr


# --- inputs: snapshots, bad data, selection --------------------------------------------------


def test_a_snapshot_relative_to_the_case_is_evaluated_like_gate_check(tmp_path: Path) -> None:
    """The expectations are taken from gate check's own JSON report: one engine."""
    shutil.copy(DEMO_RESPONSE, tmp_path / "ranking.json")
    write(tmp_path, "policies/policy.yaml", POLICY)
    report = tmp_path / "report.json"
    checked = run_gate(
        "check",
        "--snapshot",
        "ranking.json",
        "--all-namespaces",
        "--policy",
        "policies/policy.yaml",
        "--now",
        "2026-12-01",
        "--json",
        str(report),
        cwd=tmp_path,
    )
    data = json.loads(report.read_text())
    results = {
        f"{image['namespace']}/{image['repository']}:{image['tag']}": {
            f"{r['policy']}/{r['rule']}": r["outcome"] for r in image["results"]
        }
        for image in data["images"]
    }
    case = {
        "version": 1,
        "cases": [
            {
                "name": "the demo ranking",
                "policies": ["../policies/policy.yaml"],
                "snapshot": "../ranking.json",
                "now": "2026-12-01",
                "expect": {
                    "verdict": data["verdict"],
                    "exit_code": checked.returncode,
                    "results": results,
                    "waivers": {"shop/urgent": "unused"},
                },
            }
        ],
    }
    write(tmp_path, "tests/demo.yaml", yaml.safe_dump(case))
    done = run_gate("test", "tests", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "ok    tests/demo.yaml:" in done.stdout


def test_an_unreadable_snapshot_is_invalid_unless_exit_3_is_expected(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(tmp_path, "broken.json", '{"RiskRankInfo": ')
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        cases:
          - name: fails closed
            snapshot: broken.json
            expect: {exit_code: 3}
          - name: cannot run
            snapshot: missing.json
            expect: {verdict: pass}
        """,
    )
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "ok    cases.yaml:4: fails closed" in done.stdout
    assert "ERROR cases.yaml:7: cannot run" in done.stdout
    assert "cases.yaml:8:5: cannot read snapshot missing.json" in done.stdout


def test_bad_counters_fail_closed_and_unranked_references_are_judged(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        cases:
          - name: bad data
            images:
              - image: shop/api:v1
                counters: {imageVulAsap: -1, imageVulLater: "n/a"}
                ranked_in: [VulAsap, Baseline]
            expect:
              verdict: fail
              results:
                shop/api:v1: {shop/urgent: error, shop/budget: warn}
          - name: an image to deploy is not ranked
            image_refs: [registry.cn-hangzhou.aliyuncs.com/shop/api:v2]
            unranked: fail
            images: [{image: shop/api:v1}]
            expect:
              verdict: fail
              results:
                shop/api:v2: {gate/unranked: fail}
                shop/api:v1: {shop/urgent: not-checked}
        """,
    )
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout


# --- coverage ----------------------------------------------------------------------------


def test_coverage_gaps_are_listed_and_fail_only_when_required(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    only_clean = CASES.split("  - name: urgent blocks")[0]
    write(tmp_path, "cases.yaml", only_clean)
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "coverage: 4 gap(s) in 3 rule(s), 1 waiver(s)\n" in done.stdout
    assert "  policy.yaml:4:5: shop/urgent: no case makes its condition hold\n" in done.stdout
    assert "  policy.yaml:6:5: shop/budget: no case makes its condition hold\n" in done.stdout
    assert "  policy.yaml:13:5: waiver shop/urgent on legacy/*:*: no case uses it\n" in done.stdout

    required = run_gate("test", "cases.yaml", "--require-coverage", cwd=tmp_path)
    assert required.returncode == 1
    assert "(--require-coverage: the run fails)" in required.stdout
    assert "1 case(s): 1 ok, 0 failed, 0 invalid (exit 1)" in required.stdout

    write(tmp_path, "cases.yaml", CASES)
    complete = run_gate("test", "cases.yaml", "--require-coverage", cwd=tmp_path)
    assert complete.returncode == 0, complete.stdout
    assert "coverage: complete (3 rule(s), 1 waiver(s))" in complete.stdout


def test_a_rule_that_cannot_be_evaluated_is_not_covered_failing(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policy.yaml",
        "version: 1\nname: p\nrules:\n  - {id: r, fail_if: imageVulAsap > 0}\n",
    )
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        cases:
          - name: passes and errors
            images:
              - image: a/b:c
              - image: a/b:d
                counters: {imageVulAsap: null}
            expect: {verdict: fail}
        """,
    )
    done = run_gate("test", "cases.yaml", "--require-coverage", cwd=tmp_path)
    assert done.returncode == 1
    assert "p/r: no case makes its condition hold" in done.stdout


# --- JUnit -------------------------------------------------------------------------------


def test_junit_has_one_uniquely_named_case_per_case(tmp_path: Path, junit_xsd: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(tmp_path, "a.yaml", CASES)
    write(
        tmp_path,
        "b.yaml",
        CASES.replace(
            "verdict: pass\n      results:\n        shop/api:v1",
            "verdict: fail\n      results:\n        shop/api:v1",
        )
        + "  - name: broken\n    expect: {verdict: pass}\n",
    )
    done = run_gate("test", "a.yaml", "b.yaml", "--junit", "out/junit.xml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    document = etree.parse(str(tmp_path / "out" / "junit.xml"))
    etree.XMLSchema(etree.parse(str(junit_xsd))).assertValid(document)
    root = document.getroot()
    cases = root.findall("testsuite/testcase")
    names = [(c.get("classname"), c.get("name")) for c in cases]
    assert len({name for _, name in names}) == len(names)  # unique names across files
    assert ("a.yaml", "clean (a.yaml:5)") in names
    assert ("b.yaml", "clean (b.yaml:5)") in names
    assert ("b.yaml", "broken") in names
    assert ("gate test coverage", "coverage") in names
    by_name = {c.get("name"): c for c in cases}
    failure = by_name["clean (b.yaml:5)"].find("failure")
    assert failure is not None
    assert failure.get("message") == "verdict: expected fail, got pass"
    assert "- expected: fail" in (failure.text or "")
    error = by_name["broken"].find("error")
    assert error is not None
    assert "b.yaml:31:5: give the input as either 'images' (inline) or 'snapshot'" in (
        error.get("message") or ""
    )
    assert by_name["urgent blocks (a.yaml:12)"].find("*") is None  # passed
    assert root.get("tests") == "8" and root.get("failures") == "1" and root.get("errors") == "1"


# --- the schema --------------------------------------------------------------------------


def test_schema_tests_prints_the_test_file_schema_and_the_bundled_files_follow_it(
    tmp_path: Path,
) -> None:
    done = run_gate("schema", "--tests", cwd=REPO_ROOT)
    assert done.returncode == 0
    schema: dict[str, Any] = json.loads(done.stdout)
    assert schema["title"] == "gate policy tests (version 1)"
    jsonschema.Draft202012Validator.check_schema(schema)
    policy = json.loads(run_gate("schema", cwd=REPO_ROOT).stdout)
    assert policy["title"] != schema["title"]
    # What an editor does with it: the bundled files validate, a typo does not.
    saved = tmp_path / "test-schema.json"
    saved.write_text(done.stdout, encoding="utf-8")
    bundled = sorted(str(p) for p in (REPO_ROOT / "policies" / "tests").glob("*.yaml"))
    broken = write(tmp_path, "broken.yaml", CASES.replace("imageVulAsap: 3,", "imageVulAsapp: 3,"))
    for files, code in ((bundled, 0), ([str(broken)], 1)):
        checked = subprocess.run(
            [check_jsonschema(), "--schemafile", str(saved), *files],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == code, checked.stdout + checked.stderr


def test_the_schema_knows_every_metric() -> None:
    schema = json.loads((REPO_ROOT / "gate" / "testing" / "schema.json").read_text())
    counters = schema["$defs"]["image"]["properties"]["counters"]["properties"]
    assert set(counters) == set(CATALOGUE)


def test_junit_never_replaces_a_file_the_tests_read(project: Path) -> None:
    policy = project / "policies" / "policy.yaml"
    before = policy.read_text()
    done = run_gate("test", "--junit", "policies/policy.yaml", cwd=project)
    assert done.returncode == 2
    assert "--junit policies/policy.yaml would overwrite a file the tests read" in done.stderr
    assert policy.read_text() == before


def test_under_github_actions_mismatches_are_annotated_on_their_lines(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(
        tmp_path,
        "cases.yaml",
        CASES.replace("shop/urgent: fail, shop/budget", "shop/urgent: pass, shop/budget"),
    )
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    done = subprocess.run(
        [*gate_command(), "test", "cases.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert (
        "::error title=gate test%3A urgent blocks,file=cases.yaml,line=20,col=23::"
        "shop/api:v2 shop/urgent: expected pass, got fail%0Asaw: imageVulAsap = 3 > 0\n"
    ) in done.stdout
    plain = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert "::error" not in plain.stdout


def test_unnamed_cases_and_counters_outside_counters_are_explained(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        cases:
          - just a string
          - name: forgot counters
            images:
              - image: a/b:c
                imageVulAsap: 1
            expect: {verdict: fail}
          - name: forgot counters
            images: [{image: a/b:c}]
            expect: {verdict: pass}
        """,
    )
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "ERROR cases.yaml:4: (case 1, unnamed)\n" in done.stdout
    assert "cases.yaml:4:5: expected a mapping, got the string 'just a string'" in done.stdout
    assert (
        "cases.yaml:8:9: unknown key 'imageVulAsap' (a counter: write it under 'counters', "
        "e.g. counters: {imageVulAsap: 1})"
    ) in done.stdout
    assert (
        "cases.yaml:10:11: another case in this file (line 5) is named 'forgot counters'"
    ) in done.stdout


# --- inline images are what the API would send ---------------------------------------------


@given(
    counters=st.dictionaries(
        st.sampled_from(sorted(CATALOGUE)), st.integers(0, 10**12), max_size=len(CATALOGUE)
    ),
    lists=st.lists(st.sampled_from(["VulAsap", "Baseline"]), min_size=1, max_size=2, unique=True),
)
@settings(max_examples=50, deadline=None)
def test_an_inline_image_normalises_to_its_counters_and_zeros(
    counters: dict[str, int], lists: list[str]
) -> None:
    from gate.source.normalize import normalize
    from gate.testing.cases import InlineImage

    image = InlineImage(
        name="ns/repo:tag:with-colon",
        namespace="ns",
        repository="repo",
        tag="tag:with-colon",
        counters=counters,
        ranked_in=tuple(lists),
        digest="ab" * 32,
        uuid="gate-test-1",
        image_id="",
    )
    body = {"RiskRankInfo": {name: [image.record()] for name in lists}}
    ranking = normalize(body, CATALOGUE)
    assert len(ranking.images) == 1
    normalised = ranking.images[0]
    assert normalised.name == image.name
    assert set(normalised.ranked_in) == set(lists)
    assert dict(normalised.metrics) == {name: counters.get(name, 0) for name in CATALOGUE}
    assert not normalised.metric_problems and normalised.data_error is None


def test_names_from_files_cannot_start_a_line_in_the_log(tmp_path: Path) -> None:
    write(tmp_path, "policy.yaml", POLICY)
    write(
        tmp_path,
        "cases.yaml",
        """\
        version: 1
        policies: [policy.yaml]
        cases:
          - name: "sneaky\\n::error::injected\\x1b[2J"
            images: [{image: shop/api:v1}]
            expect: {verdict: fail}
        """,
    )
    done = run_gate("test", "cases.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "FAIL  cases.yaml:4: sneaky\\n::error::injected\\x1b[2J\n" in done.stdout
    assert not any(line.lstrip().startswith("::") for line in done.stdout.splitlines())
    assert "\x1b" not in done.stdout
