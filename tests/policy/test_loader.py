"""Policy files: the schema and the loader, with good and bad files.

Every problem a user can make must come back as a PolicyError that names the file, the
line and column, and the JSON path, and says what the valid choices are.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from gate.errors import PolicyError, Problem, UsageError
from gate.model import Enforcement
from gate.policy.loader import (
    MAX_FILE_BYTES,
    bundled_policy_dir,
    load_default,
    load_policies,
    parse_policy,
    schema,
)
from tests.conftest import REPO_ROOT, make_image

GOOD = """\
version: 1
name: production
description: Block urgent risk
scope:
  namespaces: ["prod-*"]
  repositories: ["*"]
  tags: ["*"]
  exclude: ["prod-legacy/*:*"]
defaults:
  enforcement: soft-mandatory
rules:
  - id: no-urgent-vulns
    description: No urgent vulnerabilities
    fail_if: imageVulAsap > 0
    enforcement: hard-mandatory
  - id: malware
    fail_if: imageMaliciousFileSerious + imageMaliciousFileSuspicious > 0
  - id: vuln-budget
    fail_if: imageVulLater > 50 or imageVulNntf >= 500
    enforcement: advisory
    scope: {repositories: ["legacy-*"]}
waivers:
  - rule: no-urgent-vulns
    images: ["namespace-01/lkl-zf-ss-ordapi-labs:*", "sha256:d97c1348e56e"]
    reason: Upstream fix pending, tracked in SEC-123
    expires: 2026-12-31
    owner: team-a
"""


def problems_of(text: str, file: str = "bad.yaml") -> list[Problem]:
    with pytest.raises(PolicyError) as info:
        parse_policy(file, textwrap.dedent(text).encode("utf-8"))
    assert info.value.problems, "a PolicyError carries at least one problem"
    return info.value.problems


def only_problem(text: str, file: str = "bad.yaml") -> Problem:
    found = problems_of(text, file)
    assert len(found) == 1, [p.render() for p in found]
    return found[0]


def base(rules: str = "  - id: r\n    fail_if: imageVulAsap > 0\n", extra: str = "") -> str:
    return f"version: 1\nname: p\n{extra}rules:\n{rules}"


# --- a good file -----------------------------------------------------------------------------


def test_good_policy_loads_with_its_meaning() -> None:
    policy = parse_policy("good.yaml", GOOD.encode())
    assert policy.name == "production"
    assert policy.description == "Block urgent risk"
    assert policy.file == "good.yaml"
    assert [r.id for r in policy.rules] == ["no-urgent-vulns", "malware", "vuln-budget"]
    enforcement = {r.id: r.enforcement for r in policy.rules}
    assert enforcement == {
        "no-urgent-vulns": Enforcement.HARD_MANDATORY,
        "malware": Enforcement.SOFT_MANDATORY,  # from defaults
        "vuln-budget": Enforcement.ADVISORY,
    }
    assert policy.rules[1].condition.metrics == (
        "imageMaliciousFileSerious",
        "imageMaliciousFileSuspicious",
    )
    (waiver,) = policy.waivers
    assert waiver.rule == "no-urgent-vulns"
    assert waiver.expires == dt.date(2026, 12, 31)
    assert waiver.owner == "team-a"
    assert [s.text for s in waiver.selectors] == [
        "namespace-01/lkl-zf-ss-ordapi-labs:*",
        "sha256:d97c1348e56e",
    ]
    # Scopes: the policy's and the rule's.
    assert policy.scope.contains(make_image("prod-a", "api", "v1"))
    assert not policy.scope.contains(make_image("dev", "api", "v1"))
    assert not policy.scope.contains(make_image("prod-legacy", "api", "v1"))
    budget_scope = policy.rules[2].scope
    assert budget_scope is not None
    assert budget_scope.contains(make_image("prod-a", "legacy-billing"))
    assert not budget_scope.contains(make_image("prod-a", "api"))


def test_default_enforcement_is_hard_mandatory() -> None:
    policy = parse_policy("p.yaml", base().encode())
    assert policy.rules[0].enforcement is Enforcement.HARD_MANDATORY
    assert policy.waivers == ()


def test_expires_may_be_quoted_or_plain() -> None:
    waivers = (
        'waivers:\n  - {rule: r, images: ["a/b"], reason: x, expires: "2027-01-02"}\n'
        "  - {rule: r, images: [a/b], reason: y, expires: 2027-01-03}\n"
    )
    policy = parse_policy("p.yaml", (base() + waivers).encode())
    assert [w.expires for w in policy.waivers] == [dt.date(2027, 1, 2), dt.date(2027, 1, 3)]


# --- every error: file, line, column, JSON path -----------------------------------------------


def test_unknown_key_suggests_the_closest_and_lists_the_allowed() -> None:
    problem = only_problem(base(extra="descripton: typo\n"))
    assert (problem.file, problem.line, problem.column) == ("bad.yaml", 3, 1)
    assert problem.json_path == "$.descripton"
    assert "unknown key 'descripton'" in problem.message
    assert "did you mean 'description'?" in problem.message
    assert "rules" in problem.message  # the allowed keys are listed
    assert problem.render().startswith("bad.yaml:3:1: unknown key 'descripton'")
    assert "[$.descripton]" in problem.render()


def test_unknown_key_inside_a_rule() -> None:
    problem = only_problem(
        base("  - id: r\n    fail_if: imageVulAsap > 0\n    enforcment: advisory\n")
    )
    assert (problem.line, problem.column) == (6, 5)
    assert problem.json_path == "$.rules[0].enforcment"
    assert "did you mean 'enforcement'?" in problem.message


def test_bad_enforcement_lists_the_valid_choices() -> None:
    problem = only_problem(
        base("  - id: r\n    fail_if: imageVulAsap > 0\n    enforcement: mandatory\n")
    )
    assert (problem.line, problem.column) == (6, 18)
    assert problem.json_path == "$.rules[0].enforcement"
    for choice in ("advisory", "soft-mandatory", "hard-mandatory"):
        assert choice in problem.message
    assert "'mandatory'" in problem.message


def test_bad_default_enforcement() -> None:
    problem = only_problem(base(extra="defaults:\n  enforcement: hard\n"))
    assert (problem.line, problem.column) == (4, 16)
    assert problem.json_path == "$.defaults.enforcement"
    assert "hard-mandatory" in problem.message


def test_unknown_metric_suggests_the_closest_and_points_into_the_expression() -> None:
    problem = only_problem(base("  - id: r\n    fail_if: imageVulAsap > 0 and imageVulAsp > 1\n"))
    line_text = "    fail_if: imageVulAsap > 0 and imageVulAsp > 1"
    assert problem.line == 5
    assert problem.column == line_text.index("imageVulAsp >") + 1
    assert problem.json_path == "$.rules[0].fail_if"
    assert "unknown metric 'imageVulAsp'" in problem.message
    assert "did you mean 'imageVulAsap'?" in problem.message


def test_bare_metric_is_a_policy_error() -> None:
    problem = only_problem(base("  - id: r\n    fail_if: imageVulAsap\n"))
    assert problem.json_path == "$.rules[0].fail_if"
    assert "not a condition" in problem.message


def test_expression_error_in_a_folded_block_stays_on_one_display_line() -> None:
    problem = only_problem(base("  - id: r\n    fail_if: >\n      imageVulAsap > 0 and\n"))
    assert problem.json_path == "$.rules[0].fail_if"
    caret_line = problem.message.splitlines()[-1]
    assert caret_line.strip() == "^"


def problem_saying(text: str, fragment: str) -> Problem:
    """The one problem whose message holds ``fragment`` (others may be found beside it)."""
    found = [p for p in problems_of(text) if fragment in p.message]
    assert len(found) == 1, [p.render() for p in problems_of(text)]
    return found[0]


def test_duplicate_keys_are_rejected() -> None:
    problem = problem_saying("version: 1\nname: a\nname: b\nrules: []\n", "duplicate key")
    assert (problem.line, problem.column) == (3, 1)
    assert problem.json_path == "$.name"
    assert "duplicate key 'name'" in problem.message


def test_duplicate_keys_in_a_nested_mapping() -> None:
    problem = only_problem(
        base("  - id: r\n    fail_if: imageVulAsap > 0\n    fail_if: imageVulAsap > 1\n")
    )
    assert (problem.line, problem.column) == (6, 5)
    assert problem.json_path == "$.rules[0].fail_if"


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object:os.system x",
        "!!python/object/apply:os.system ['true']",
        "!!python/name:os.system",
        "!custom thing",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
    ],
)
def test_non_standard_tags_are_rejected(value: str) -> None:
    problem = problem_saying(f"version: 1\nname: {value}\nrules: []\n", "is not allowed")
    assert (problem.line, problem.column) == (2, 7)
    assert problem.json_path == "$.name"
    assert "is not allowed in a policy" in problem.message


def test_merge_keys_are_rejected() -> None:
    problem = problem_saying(
        "version: 1\nname: p\nx: &x {fail_if: imageVulAsap > 0}\nrules:\n  - <<: *x\n    id: r\n",
        "merge keys",
    )
    assert problem.line == 5
    assert "merge keys" in problem.message


def test_yaml_alias_bomb_ends_in_a_policy_error() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 12):  # 9**12 values once expanded
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    problem = only_problem("\n".join(lines) + "\n")
    assert problem.file == "bad.yaml"
    assert problem.line is not None and problem.column is not None
    assert problem.json_path.startswith("$.")
    assert "expands to more than" in problem.message


def test_recursive_alias_ends_in_a_policy_error() -> None:
    problem = only_problem("a: &a [*a]\n")
    assert "nests deeper" in problem.message


def test_deep_nesting_ends_in_a_policy_error() -> None:
    problem = only_problem("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problem.file == "bad.yaml"


def test_non_utf8_bytes_are_located() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy("latin.yaml", b"version: 1\nname: caf\xe9\nrules: []\n")
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.column) == ("latin.yaml", 2, 10)
    assert "UTF-8" in problem.message


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    problem = only_problem(text)
    assert (problem.line, problem.column) == (1, 1)
    assert "empty" in problem.message


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("---\n", "$", "expected a mapping"),
        ("- 1\n- 2\n", "$", "expected a mapping"),
        ("version: 1\nname: p\n", "$", "missing required key: rules"),
        ("name: p\nrules: []\n", "$", "version"),
        ("version: 2\nname: p\nrules: [{id: r, fail_if: imageVulAsap > 0}]\n", "$.version", "1"),
        ("version: 1\nname: p\nrules: []\n", "$.rules", ""),
        ("version: 1\nname: p\nrules: {id: r}\n", "$.rules", "expected a list"),
        ("version: 1\nname: 'has space'\nrules: [{id: r, fail_if: x}]\n", "$.name", "policy name"),
        ("version: 1\nname: p\nrules: [{id: r, fail_if: 5}]\n", "$.rules[0].fail_if", "string"),
        ("version: 1\nname: p\nrules: [{fail_if: imageVulAsap > 0}]\n", "$.rules[0]", "id"),
    ],
)
def test_schema_errors_name_the_json_path(text: str, path: str, fragment: str) -> None:
    found = problems_of(text)
    assert any(p.json_path == path and fragment in p.message for p in found), [
        p.render() for p in found
    ]
    for problem in found:
        assert problem.file == "bad.yaml"
        assert problem.line is not None and problem.column is not None


def test_yaml_syntax_error_is_located() -> None:
    problem = only_problem("version: 1\nname: p\n\trules: x\n")
    assert (problem.line, problem.column) == (3, 1)
    assert "not valid YAML" in problem.message


def test_waiver_naming_a_missing_rule_suggests_the_closest() -> None:
    text = base("  - id: no-urgent-vulns\n    fail_if: imageVulAsap > 0\n") + (
        "waivers:\n  - rule: no-urgent-vuln\n    images: [a/b]\n"
        "    reason: x\n    expires: 2027-01-01\n"
    )
    problem = only_problem(text)
    assert (problem.line, problem.column) == (7, 11)
    assert problem.json_path == "$.waivers[0].rule"
    assert "no-urgent-vuln" in problem.message
    assert "did you mean 'no-urgent-vulns'?" in problem.message


@pytest.mark.parametrize(
    ("expires", "fragment"),
    [
        ("2026-02-30", "not a real date"),
        ("'2026-13-01'", "not a real date"),
        ("2026/01/01", "YYYY-MM-DD"),
        ("'next week'", "YYYY-MM-DD"),
        ("2026-01-01T10:00:00", "YYYY-MM-DD"),
        ("20260101", "string"),
    ],
)
def test_invalid_waiver_date(expires: str, fragment: str) -> None:
    text = base() + (
        f"waivers:\n  - rule: r\n    images: [a/b]\n    reason: x\n    expires: {expires}\n"
    )
    problem = only_problem(text)
    assert (problem.line, problem.column) == (10, 14)
    assert problem.json_path == "$.waivers[0].expires"
    assert fragment in problem.message


def test_blank_waiver_reason_is_rejected() -> None:
    text = base() + (
        "waivers:\n  - rule: r\n    images: [a/b]\n    reason: '   '\n    expires: 2027-01-01\n"
    )
    problem = only_problem(text)
    assert problem.json_path == "$.waivers[0].reason"
    assert problem.line == 9


@pytest.mark.parametrize(
    "selector", ["noslash", "sha256:abc", "sha256:zzzzzzzzzzzzzzzz", "/repo", "ns/"]
)
def test_bad_waiver_selectors_are_located(selector: str) -> None:
    text = base() + (
        f"waivers:\n  - rule: r\n    images: ['a/b', '{selector}']\n"
        "    reason: x\n    expires: 2027-01-01\n"
    )
    problem = only_problem(text)
    assert problem.json_path == "$.waivers[0].images[1]"
    assert problem.line == 8


def test_bad_exclude_selector_is_located() -> None:
    problem = only_problem(base(extra="scope:\n  exclude: [nope]\n"))
    assert problem.json_path == "$.scope.exclude[0]"
    assert (problem.line, problem.column) == (4, 13)


def test_duplicate_rule_ids() -> None:
    problem = only_problem(
        base("  - id: r\n    fail_if: imageVulAsap > 0\n  - id: r\n    fail_if: VulCount > 0\n")
    )
    assert problem.json_path == "$.rules[1].id"
    assert (problem.line, problem.column) == (6, 9)


def test_every_problem_of_a_file_is_reported_in_file_order() -> None:
    text = (
        "version: 1\nname: p\n"
        "rules:\n"
        "  - id: a\n    fail_if: imageVulAsp > 0\n"
        "  - id: b\n    fail_if: VulCount >\n"
        "waivers:\n  - rule: c\n    images: [nope]\n    reason: x\n    expires: 2026-02-30\n"
    )
    found = problems_of(text)
    paths = [p.json_path for p in found]
    assert paths == [
        "$.rules[0].fail_if",
        "$.rules[1].fail_if",
        "$.waivers[0].rule",
        "$.waivers[0].images[0]",
        "$.waivers[0].expires",
    ]
    assert [p.line for p in found] == sorted(p.line or 0 for p in found)


def test_oversized_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(PolicyError) as info:
        load_policies([str(path)])
    assert "larger than" in info.value.problems[0].message


# --- several files ---------------------------------------------------------------------------


def write(directory: Path, name: str, policy_name: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(base().replace("name: p", f"name: {policy_name}"), encoding="utf-8")
    return path


def test_duplicate_policy_names_across_files_are_located(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "shared")
    second = write(tmp_path, "b.yaml", "shared")
    with pytest.raises(PolicyError) as info:
        load_policies([str(first), str(second)])
    (problem,) = info.value.problems
    assert problem.file == str(second)
    assert (problem.line, problem.column) == (2, 7)
    assert problem.json_path == "$.name"
    assert str(first) in problem.message
    assert "unique" in problem.message


def test_directories_load_yaml_and_yml_sorted_and_nothing_else(tmp_path: Path) -> None:
    write(tmp_path, "c.yml", "third")
    write(tmp_path, "a.yaml", "first")
    write(tmp_path, "b.yaml", "second")
    (tmp_path / "notes.txt").write_text("not a policy")
    (tmp_path / "README.md").write_text("# not a policy")
    write(tmp_path / "nested", "z.yaml", "nested")  # not recursive
    policies = load_policies([str(tmp_path)])
    assert [p.name for p in policies] == ["first", "second", "third"]
    assert [Path(p.file).name for p in policies] == ["a.yaml", "b.yaml", "c.yml"]


def test_files_and_directories_mix_in_the_order_given(tmp_path: Path) -> None:
    single = write(tmp_path / "single", "x.yaml", "single")
    write(tmp_path / "dir", "b.yaml", "b")
    write(tmp_path / "dir", "a.yaml", "a")
    policies = load_policies([str(single), str(tmp_path / "dir")])
    assert [p.name for p in policies] == ["single", "a", "b"]


def test_problems_of_all_files_are_raised_together(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", "good")
    bad_one = tmp_path / "bad1.yaml"
    bad_one.write_text("version: 1\nname: x\nrules: []\nextra: 1\n")
    bad_two = tmp_path / "bad2.yaml"
    bad_two.write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyError) as info:
        load_policies([str(good), str(bad_one), str(bad_two), str(tmp_path / "missing.yaml")])
    files = {p.file for p in info.value.problems}
    assert files == {str(bad_one), str(bad_two), str(tmp_path / "missing.yaml")}


def test_empty_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policies([str(tmp_path)])
    assert "no *.yaml or *.yml" in info.value.problems[0].message


# --- what ships ------------------------------------------------------------------------------


def test_bundled_policies_are_valid() -> None:
    policies = load_policies([str(REPO_ROOT / "policies")])
    names = {p.name for p in policies}
    assert {"default", "strict-production"} <= names
    for policy in policies:
        assert policy.rules


def test_default_policy_is_the_documented_baseline() -> None:
    (policy,) = load_default()
    assert policy.name == "default"
    assert policy.bundled
    levels = {r.condition.source: r.enforcement for r in policy.rules}
    assert levels["imageVulAsap > 0"] is Enforcement.HARD_MANDATORY
    assert levels["imageMaliciousFileSerious > 0"] is Enforcement.HARD_MANDATORY
    assert levels["imageBaselineHigh > 0"] is Enforcement.SOFT_MANDATORY
    assert any(
        r.enforcement is Enforcement.ADVISORY and "imageVulLater" in r.condition.metrics
        for r in policy.rules
    )
    assert bundled_policy_dir().joinpath("default.yaml").is_file()


def test_schema_is_a_valid_json_schema_that_accepts_the_bundled_policies() -> None:
    import yaml

    document = schema()
    jsonschema.Draft202012Validator.check_schema(document)
    validator = jsonschema.Draft202012Validator(document)
    for path in sorted((REPO_ROOT / "policies").glob("*.yaml")):
        data = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
        assert list(validator.iter_errors(data)) == [], path


def test_a_file_named_twice_is_loaded_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "only")
    policies = load_policies([str(tmp_path), str(path)])
    assert [p.name for p in policies] == ["only"]


def test_a_merge_key_is_reported_once_not_again_as_missing_keys() -> None:
    found = problems_of(
        "version: 1\nname: p\nrules:\n  - <<: {fail_if: imageVulAsap > 0}\n    id: r\n"
    )
    assert [p.message for p in found] == ["merge keys ('<<') are not supported"]


def test_every_duplicate_key_is_reported() -> None:
    found = problems_of(base("  - id: a\n    id: b\n    fail_if: x > 0\n    fail_if: y > 0\n"))
    messages = [p.message.partition("\n")[0] for p in found]
    assert messages == [
        "duplicate key 'id'",
        "in fail_if: unknown metric 'x'; 'gate metrics' lists them",
        "duplicate key 'fail_if'",
    ]


@pytest.mark.parametrize("paths", [[""], ["policies", ""]])
def test_an_empty_path_is_a_usage_error_not_the_current_directory(paths: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        load_policies(paths)
    assert info.value.exit_code == 2
    assert "--policy" in info.value.message
