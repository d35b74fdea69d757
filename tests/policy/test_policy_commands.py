"""Policy loading as a user meets it: real ``gate validate`` and ``gate check`` processes.

Both commands expand paths with the same function, so a directory that ``validate`` calls
valid is the set ``check`` evaluates, and a file one of them rejects the other rejects too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DEMO_RESPONSE, gate_command

GOOD = "version: 1\nname: {name}\nrules:\n  - id: r\n    fail_if: imageVulAsap > 0\n"
# The demo ranking has urgent vulnerabilities: a policy with this rule blocks (exit 1).
BLOCKS = GOOD
PASSES = "version: 1\nname: {name}\nrules:\n  - id: r\n    fail_if: ImageSize < 0\n"


def gate(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gate_command(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=60,
    )


def check(
    *policy_args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return gate(
        "check",
        "--snapshot",
        str(DEMO_RESPONSE),
        "--all-namespaces",
        "--quiet",
        *policy_args,
        cwd=cwd,
        **env,
    )


def put(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- what a directory holds --------------------------------------------------------------------


def test_dangling_symlink_in_a_directory_is_a_problem_for_validate_and_check(
    tmp_path: Path,
) -> None:
    put(tmp_path, "a.yaml", PASSES.format(name="a"))
    (tmp_path / "b.yaml").symlink_to(tmp_path / "gone.yaml")
    for done in (gate("validate", str(tmp_path)), check("--policy", str(tmp_path))):
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{tmp_path / 'b.yaml'}: symbolic link to " in done.stderr
        assert "which does not exist" in done.stderr
    validated = gate("validate", str(tmp_path))
    assert f"ok  {tmp_path / 'a.yaml'}" in validated.stdout  # the valid file beside it


def test_symlink_loop_in_a_directory_is_a_problem(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", PASSES.format(name="a"))
    (tmp_path / "loop.yml").symlink_to(tmp_path / "loop.yml")
    for done in (gate("validate", str(tmp_path)), check("--policy", str(tmp_path))):
        assert done.returncode == 2
        assert f"{tmp_path / 'loop.yml'}: symbolic link that points back to itself" in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_policy_file_in_a_directory_is_a_problem(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", PASSES.format(name="a"))
    secret = put(tmp_path, "b.yaml", BLOCKS.format(name="b"))
    secret.chmod(0)
    try:
        for done in (gate("validate", str(tmp_path)), check("--policy", str(tmp_path))):
            assert done.returncode == 2
            assert f"{secret}: cannot read: Permission denied" in done.stderr
    finally:
        secret.chmod(0o644)


def test_directory_named_like_a_policy_is_a_problem(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", PASSES.format(name="a"))
    (tmp_path / "more.yaml").mkdir()
    done = gate("validate", str(tmp_path))
    assert done.returncode == 2
    assert f"{tmp_path / 'more.yaml'}: is a directory" in done.stderr


@pytest.mark.parametrize("name", ["B.YAML", "B.YML", "B.Yaml"])
def test_upper_case_suffixes_are_policies(tmp_path: Path, name: str) -> None:
    put(tmp_path, "a.yaml", PASSES.format(name="a"))
    put(tmp_path, name, BLOCKS.format(name="upper"))
    validated = gate("validate", str(tmp_path))
    assert validated.returncode == 0, validated.stderr
    assert f"ok  {tmp_path / name}: policy 'upper'" in validated.stdout
    checked = check("--policy", str(tmp_path))
    assert checked.returncode == 1, checked.stdout + checked.stderr  # the upper-case file blocks


def test_hidden_entries_and_subdirectories_are_not_policies(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", PASSES.format(name="a"))
    (tmp_path / ".#a.yaml").symlink_to("user@host.1234:1700000000")  # an editor's lock file
    put(tmp_path, ".hidden.yaml", BLOCKS.format(name="hidden"))
    put(tmp_path / "tests", "case.yaml", "image: ns/r:v1\nexpect: pass\n")  # policy test cases
    put(tmp_path / ".git", "config.yaml", "not: a policy\n")
    validated = gate("validate", str(tmp_path))
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.count("ok  ") == 1
    assert check("--policy", str(tmp_path)).returncode == 0


# --- every problem in one run ------------------------------------------------------------------

MANY_PROBLEMS = """\
version: 1
name: many
rules:
  - id: a
    fail_if: imageVulAsp > 0
  - fail_if: VulCount > 0
  - id: a
    fail_if: HcCount > 0
waivers:
  - rule: a
    images: ["ns/r"]
    reason: SEC-1
    expires: 2026-02-30
"""


def test_validate_reports_schema_and_meaning_problems_together_and_ok_for_valid_files(
    tmp_path: Path,
) -> None:
    bad = put(tmp_path, "bad.yaml", MANY_PROBLEMS)
    good = put(tmp_path, "good.yaml", PASSES.format(name="good"))
    done = gate("validate", str(bad), str(good))
    assert done.returncode == 2
    assert done.stdout == f"ok  {good}: policy 'good', 1 rule(s), 0 waiver(s)\n"
    assert f"{bad}:5:14: in fail_if: unknown metric 'imageVulAsp'" in done.stderr
    assert f"{bad}:6:5: missing required key: id [$.rules[1]]" in done.stderr
    assert f"{bad}:7:9: duplicate rule id 'a'" in done.stderr
    assert f"{bad}:13:14: '2026-02-30' is not a real date" in done.stderr
    assert "(4 problems)" in done.stderr


def test_the_fail_if_of_a_rule_without_an_id_is_still_checked(tmp_path: Path) -> None:
    bad = put(tmp_path, "bad.yaml", "version: 1\nname: p\nrules:\n  - fail_if: imageVulAsp > 0\n")
    done = gate("validate", str(bad))
    assert done.returncode == 2
    assert "missing required key: id" in done.stderr
    assert "unknown metric 'imageVulAsp' (did you mean 'imageVulAsap'?)" in done.stderr


def test_a_waiver_is_not_blamed_for_a_rule_whose_id_could_not_be_read(tmp_path: Path) -> None:
    bad = put(
        tmp_path,
        "bad.yaml",
        "version: 1\nname: p\nrules:\n  - idd: urgent\n    fail_if: imageVulAsap > 0\n"
        "waivers:\n  - {rule: urgent, images: ['ns/r'], reason: SEC-1, expires: 2026-12-31}\n",
    )
    done = gate("validate", str(bad))
    assert done.returncode == 2
    assert "unknown key 'idd' (did you mean 'id'?)" in done.stderr
    assert "waiver names rule" not in done.stderr


def test_check_fails_with_every_problem_of_every_file(tmp_path: Path) -> None:
    bad = put(tmp_path, "bad.yaml", MANY_PROBLEMS)
    other = put(tmp_path, "other.yaml", "version: 1\nname: o\nrules:\n  - id: x\n    fail_if: 1\n")
    done = check("--policy", str(tmp_path))
    assert done.returncode == 2
    assert "(5 problems)" in done.stderr
    assert f"{bad}:6:5: missing required key: id" in done.stderr
    assert f"{bad}:5:14: in fail_if: unknown metric" in done.stderr
    assert f"{other}:5:14: expected a string" in done.stderr
    assert "ok  " not in done.stdout


def test_a_policy_name_used_twice_is_found_beside_schema_problems(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", "version: 1\nname: same\nrules: []\n")
    second = put(tmp_path, "b.yaml", PASSES.format(name="same"))
    done = gate("validate", str(tmp_path))
    assert done.returncode == 2
    assert "needs at least one entry" in done.stderr
    assert f"{second}:2:7: policy name 'same' is already used by" in done.stderr


# --- YAML syntax -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        (
            "version: 1\nname: p\nrules:\n\t- id: r\n",
            "4:1",
            "tab character used for indentation; YAML indents with spaces",
        ),
        (
            "version: 1\nname: p\nrules:\n  - id: r\n    fail_if: a > 0\n     enforcement: x\n",
            "6:17",
            "put the whole value in quotes, otherwise indent this line",
        ),
        (
            "version: 1\nname: p\nrules:\n  - id: r\n    fail_if: a > 0\n   enforcement: x\n",
            "6:4",
            "indented differently from the block it belongs to (opened at line 4)",
        ),
        ("version: 1\nname p\nrules: []\n", "2:1", "found no ':'; add the colon"),
        ("version: 1\nname: 'p\nrules: []\n", "2:7", "quoted value is never closed"),
        ("version: 1\nname: p\nrules: [{id: r\n", "4:1", "the '{' opened at line 3"),
        ("version: 1\nname: p\nrules:\n  - id: r\n    fail_if: *x\n", "5:14", "'*x' refers"),
        ("version: 1\nname: p\n---\nname: q\n", "3:1", "more than one YAML document"),
        ("version: 1\nname: @p\nrules: []\n", "2:7", "cannot start with '@'; put the value"),
        ("version: 1\nname: p\x07\nrules: []\n", "2:8", "character U+0007 is not allowed"),
    ],
)
def test_yaml_syntax_errors_say_what_to_do(
    tmp_path: Path, text: str, where: str, fragment: str
) -> None:
    path = put(tmp_path, "p.yaml", text)
    done = gate("validate", str(path))
    assert done.returncode == 2
    assert f"{path}:{where}: not valid YAML: " in done.stderr, done.stderr
    assert fragment in done.stderr
    assert "cannot start any token" not in done.stderr
    assert "<block" not in done.stderr


def test_duplicate_keys_are_an_error_for_validate_and_check(tmp_path: Path) -> None:
    path = put(tmp_path, "p.yaml", PASSES.format(name="p") + "    fail_if: imageVulAsap > 0\n")
    for done in (gate("validate", str(path)), check("--policy", str(path))):
        assert done.returncode == 2
        assert f"{path}:6:5: duplicate key 'fail_if' [$.rules[0].fail_if]" in done.stderr


def test_duplicate_keys_and_disallowed_tags_do_not_hide_other_problems(tmp_path: Path) -> None:
    path = put(
        tmp_path,
        "p.yaml",
        "version: 1\nname: !!binary cA==\nrules:\n"
        "  - id: a\n    fail_if: imageVulAsp > 0\n    id: b\n"
        "  - id: c\n    fail_if: VulCount > 0\n    fail_if: VulCount > 1\n",
    )
    done = gate("validate", str(path))
    assert done.returncode == 2
    assert f"{path}:2:7: tag 'tag:yaml.org,2002:binary' is not allowed" in done.stderr
    assert f"{path}:5:14: in fail_if: unknown metric 'imageVulAsp'" in done.stderr
    assert f"{path}:6:5: duplicate key 'id'" in done.stderr
    assert f"{path}:9:5: duplicate key 'fail_if'" in done.stderr
    assert "(4 problems)" in done.stderr  # no 'expected a string' about the dropped name


# --- an empty path -----------------------------------------------------------------------------


def test_empty_policy_option_is_a_usage_error_not_the_current_directory(tmp_path: Path) -> None:
    put(tmp_path, "stray.yaml", PASSES.format(name="stray"))
    done = check("--policy", "", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--policy" in done.stderr and "empty" in done.stderr
    assert "stray" not in done.stdout + done.stderr


def test_empty_entry_in_gate_policy_is_a_usage_error(tmp_path: Path) -> None:
    good = put(tmp_path, "good.yaml", PASSES.format(name="good"))
    done = check(cwd=tmp_path, GATE_POLICY=f"{good}:")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--policy" in done.stderr and "GATE_POLICY" in done.stderr


def test_validate_rejects_an_empty_path(tmp_path: Path) -> None:
    put(tmp_path, "stray.yaml", PASSES.format(name="stray"))
    done = gate("validate", "", cwd=tmp_path)
    assert done.returncode == 2
    assert "empty path" in done.stderr
    assert "ok  " not in done.stdout
