"""Baselines, seen the way a user sees them: ``gate baseline`` records a file, ``gate check
--baseline``/``--compare-to`` gate on the delta, ``gate baseline --update`` ratchets; real
``gate`` processes on real snapshot files."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gate import baseline as bl
from gate.errors import UsageError
from tests.conftest import REPO_ROOT, gate_command, image_entry, make_image, ranking_body

DELTA_POLICY = """\
version: 1
name: new-risk
rules:
  - id: no-new-urgent
    fail_if: delta.imageVulAsap > 0
  - id: later-growth
    fail_if: imageVulLater > baseline.imageVulLater + 10
    enforcement: advisory
"""


def gate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*gate_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def snapshot(path: Path, *images: tuple[str, str, str, dict[str, int]]) -> str:
    body = ranking_body(
        [image_entry(ns, repo, tag, detail=detail) for ns, repo, tag, detail in images]
    )
    envelope = {"gate_snapshot": 1, "fetched_at": "2026-11-30T08:00:00Z", "response": body}
    path.write_text(json.dumps(envelope), encoding="utf-8")
    return str(path)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "delta.yaml").write_text(DELTA_POLICY, encoding="utf-8")
    return tmp_path


def counters(asap: int, later: int = 0) -> dict[str, int]:
    return {"imageVulAsap": asap, "imageVulLater": later}


# --- the whole story: record, a later ranking, check -------------------------------------------


def test_record_then_gate_a_later_ranking(work: Path) -> None:
    snapshot(
        work / "before.json",
        ("prod", "api", "v1", counters(3, 5)),
        ("prod", "web", "v7", counters(4, 1)),
    )
    recorded = gate(
        "baseline", "-o", "gate-baseline.json", "--snapshot", "before.json",
        "--all-namespaces", "--policy", "delta.yaml", cwd=work,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "recorded 2 repository(ies) from 2 image(s) to gate-baseline.json" in recorded.stderr
    document = json.loads((work / "gate-baseline.json").read_text())
    assert document["format"] == "gate-baseline" and document["version"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["taken_at"])
    assert document["metrics"] == ["imageVulAsap", "imageVulLater"]
    assert document["repositories"]["prod/api"] == {
        "counters": {"imageVulAsap": 3, "imageVulLater": 5},
        "images": [{"tag": "v1", "digest": "ab" * 32}],
        "ranked_at": "2026-11-30T08:00:00Z",
    }

    # Later: api got worse, web improved, and a new repository appeared.
    snapshot(
        work / "after.json",
        ("prod", "api", "v2", counters(5, 5)),
        ("prod", "web", "v8", counters(2, 30)),
        ("prod", "new", "v1", counters(1)),
    )
    checked = gate(
        "check", "--snapshot", "after.json", "--all-namespaces", "--policy", "delta.yaml",
        "--baseline", "gate-baseline.json", "--json", "report.json", "--now", "2026-12-01",
        "--summary", "summary.md", "--junit", "junit.xml", cwd=work,
    )  # fmt: skip
    assert checked.returncode == 1, checked.stderr
    out = checked.stdout
    taken = document["taken_at"]
    assert f"  compared:   with baseline gate-baseline.json (taken {taken})" in out
    assert (
        "✗ prod/api:v2  (ranked in VulAsap; digest abababababab)\n"
        "    FAIL     new-risk/no-new-urgent  [hard-mandatory]\n"
        "             delta.imageVulAsap = 2 > 0; imageVulAsap = 5 (+2 vs baseline 3)\n"
    ) in out
    assert (
        "✗ prod/new:v1  (ranked in VulAsap; digest abababababab)\n"
        "    FAIL     new-risk/no-new-urgent  [hard-mandatory]\n"
        "             delta.imageVulAsap = 1 > 0; "
        "imageVulAsap = 1 (+1 vs baseline 0, no baseline entry)\n"
    ) in out
    assert (
        "~ prod/web:v8  (ranked in VulAsap; digest abababababab)\n"
        "    WARN     new-risk/later-growth  [advisory]\n"
        "             imageVulLater = 30 > baseline.imageVulLater + 10 (= 11) (advisory); "
        "imageVulLater = 30 (+29 vs baseline 1)\n"
    ) in out
    assert (
        "  ! 1 image(s) have no entry in the baseline gate-baseline.json, so they are "
        "compared with zero (delta = current value): prod/new:v1"
    ) in out
    assert "3 image(s), 6 check(s): 3 pass, 2 fail, 0 error, 1 warn" in out
    assert "FAIL: the gate blocks: 2 blocking result(s) in 2 image(s) (exit 1)" in out

    summary = (work / "summary.md").read_text()
    assert f"Compared with baseline gate-baseline.json (taken {taken})." in summary
    assert "imageVulAsap = 5 (+2 vs baseline 3)" in (work / "junit.xml").read_text()
    report = json.loads((work / "report.json").read_text())
    assert report["comparison"] == {
        "kind": "file",
        "source": "gate-baseline.json",
        "taken_at": taken,
        "without_baseline": ["prod/new:v1"],
    }
    verdicts = {f"{i['repository']}:{i['tag']}": i["verdict"] for i in report["images"]}
    assert verdicts == {"api:v2": "fail", "web:v8": "pass", "new:v1": "fail"}
    outcomes = {
        (i["repository"], r["rule"]): r["outcome"] for i in report["images"] for r in i["results"]
    }
    assert outcomes == {
        ("api", "no-new-urgent"): "fail",
        ("api", "later-growth"): "pass",
        ("web", "no-new-urgent"): "pass",  # improved: 2 < 4
        ("web", "later-growth"): "warn",
        ("new", "no-new-urgent"): "fail",
        ("new", "later-growth"): "pass",
    }
    api = next(i for i in report["images"] if i["repository"] == "api")
    assert api["results"][0]["values"] == {
        "delta.imageVulAsap": 2,
        "imageVulAsap": 5,
        "baseline.imageVulAsap": 3,
    }


def test_the_same_ranking_passes_against_its_own_baseline(work: Path) -> None:
    snapshot(
        work / "r.json", ("prod", "api", "v1", counters(3)), ("prod", "api", "v2", counters(9))
    )
    args = ("--snapshot", "r.json", "--all-namespaces", "--policy", "delta.yaml")
    assert gate("baseline", "-o", "b.json", *args, cwd=work).returncode == 0
    # Several tags of a repository: the highest value is the repository's baseline.
    stored = json.loads((work / "b.json").read_text())["repositories"]["prod/api"]
    assert stored["counters"]["imageVulAsap"] == 9
    assert [i["tag"] for i in stored["images"]] == ["v1", "v2"]
    checked = gate("check", *args, "--baseline", "b.json", cwd=work)
    assert checked.returncode == 0, checked.stdout


def test_the_file_is_stable_and_sorted() -> None:
    images = [
        make_image(ns, repo, "v1", metrics=counters(n))
        for ns, repo, n in (("zeta", "b", 1), ("alpha", "z", 2), ("alpha", "a", 3))
    ]
    first, _ = bl.record(images, ["imageVulLater", "imageVulAsap"], taken_at="T", ranked_at=None)
    second, _ = bl.record(
        images[::-1], ["imageVulAsap", "imageVulLater"], taken_at="T", ranked_at=None
    )
    assert bl.dump(first) == bl.dump(second)
    text = bl.dump(first)
    assert list(json.loads(text)["repositories"]) == ["alpha/a", "alpha/z", "zeta/b"]
    # One line per repository, so a review shows exactly the repositories that changed.
    repository_lines = [line for line in text.splitlines() if line.startswith("    ")]
    assert [line.split(":")[0].strip() for line in repository_lines] == [
        '"alpha/a"',
        '"alpha/z"',
        '"zeta/b"',
    ]
    assert text.startswith('{\n  "format": "gate-baseline",\n  "metrics": ["imageVulAsap", ')
    assert text.endswith('  "taken_at": "T",\n  "version": 1\n}\n')
    assert bl.parse(text.encode(), "b.json") == first  # read back as written


# --- usage errors: never a silent pass ---------------------------------------------------------


def test_a_delta_rule_without_a_baseline_is_a_usage_error(work: Path) -> None:
    snapshot(work / "r.json", ("prod", "api", "v1", counters(3)))
    (work / "report.json").write_text('{"verdict": "pass"}')
    done = gate(
        "check", "--snapshot", "r.json", "--all-namespaces", "--policy", "delta.yaml",
        "--json", "report.json", cwd=work,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        "2 rule(s) read baseline./delta. metrics, but no baseline was given "
        "(delta.yaml:4: new-risk/no-new-urgent; delta.yaml:6: new-risk/later-growth)"
    ) in done.stderr
    assert "--baseline FILE" in done.stderr
    assert json.loads((work / "report.json").read_text())["verdict"] == "error"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read the baseline file b.json"),
        ("not json", "baseline file b.json: file: not JSON"),
        ('{"format": "gate-baseline", "version": 2, "repositories": {}}', "version 2 is not"),
        ('{"version": 1}', "this is not a gate baseline file"),
        (
            '{"format": "gate-baseline", "version": 1, "taken_at": "T", "repositories": '
            '{"prod/api": {"counters": {"imageVulAsap": -1}}}}',
            'repositories["prod/api"].counters.imageVulAsap: counter -1 is out of range',
        ),
        (
            '{"format": "gate-baseline", "version": 1, "taken_at": "T", "repositories": '
            '{"prod/api": {"counters": {"imageVulAsap": "3"}}}}',
            "expected a number",
        ),
    ],
)
def test_a_broken_baseline_file_is_a_usage_error(
    work: Path, content: str | None, says: str
) -> None:
    snapshot(work / "r.json", ("prod", "api", "v1", counters(3)))
    if content is not None:
        (work / "b.json").write_text(content)
    done = gate(
        "check", "--snapshot", "r.json", "--all-namespaces", "--policy", "delta.yaml",
        "--baseline", "b.json", cwd=work,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert says in done.stderr


def test_baseline_and_compare_to_together_is_a_usage_error(work: Path) -> None:
    snapshot(work / "r.json", ("prod", "api", "v1", counters(3)))
    (work / "b.json").write_text("{}")
    done = gate(
        "check", "--snapshot", "r.json", "--all-namespaces", "--policy", "delta.yaml",
        "--baseline", "b.json", "--compare-to", "prod", cwd=work,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--baseline and --compare-to are different baselines; choose one" in done.stderr


def test_validate_metrics_and_schema_know_the_names(work: Path) -> None:
    validated = gate("validate", "delta.yaml", cwd=work)
    assert validated.returncode == 0
    assert "reads a baseline: check with --baseline FILE or --compare-to TAG" in validated.stdout
    (work / "typo.yaml").write_text(DELTA_POLICY.replace("delta.imageVulAsap", "delta.imageVulAsp"))
    typo = gate("validate", "typo.yaml", cwd=work)
    assert typo.returncode == 2
    assert "unknown metric 'delta.imageVulAsp' (did you mean 'delta.imageVulAsap'?)" in typo.stderr
    (work / "prefix.yaml").write_text(
        DELTA_POLICY.replace("delta.imageVulAsap", "deltas.imageVulAsap")
    )
    assert "did you mean 'delta.imageVulAsap'" in gate("validate", "prefix.yaml", cwd=work).stderr
    listing = gate("metrics", cwd=work).stdout
    assert re.search(r"^  baseline\.<metric>\s+the counter in the baseline", listing, re.M)
    assert re.search(r"^  delta\.<metric>\s+current value minus baseline", listing, re.M)
    schema = json.loads(gate("schema", cwd=work).stdout)
    fail_if = schema["$defs"]["rule"]["properties"]["fail_if"]
    assert "delta.<metric>" in fail_if["description"]
    assert "delta.imageVulAsap > 0" in fail_if["examples"]


# --- --compare-to ------------------------------------------------------------------------------


def test_compare_to_a_tag_in_the_same_ranking(work: Path) -> None:
    snapshot(
        work / "r.json",
        ("prod", "api", "prod", counters(3)),
        ("prod", "api", "v2", counters(5)),
        ("prod", "web", "prod", counters(4)),
        ("prod", "web", "v2", counters(1)),
        ("prod", "cron", "v2", counters(0)),  # no image tagged prod
    )
    done = gate(
        "check", "--snapshot", "r.json", "--namespace", "prod", "--policy", "delta.yaml",
        "--compare-to", "prod", "--json", "report.json", cwd=work,
    )  # fmt: skip
    assert done.returncode == 1
    out = done.stdout
    assert (
        "  compared:   with the image tagged 'prod' of the same repository, in the same ranking"
        in out
    )
    assert "delta.imageVulAsap = 2 > 0; imageVulAsap = 5 (+2 vs baseline 3)" in out
    assert (
        "✗ prod/cron:v2  (ranked in VulAsap; digest abababababab)\n"
        "    ERROR    new-risk/no-new-urgent  [hard-mandatory]\n"
        "             cannot evaluate: no image of prod/cron tagged 'prod' in this ranking, so "
        "there is no baseline to compare with; imageVulAsap = 0 (no baseline)\n"
        "    WARN     new-risk/later-growth  [advisory]\n"
    ) in out
    assert "1 image(s) have no image tagged 'prod' in their repository" in out
    report = json.loads((work / "report.json").read_text())
    verdicts = {f"{i['repository']}:{i['tag']}": i["verdict"] for i in report["images"]}
    assert verdicts == {
        "api:prod": "pass",
        "api:v2": "fail",
        "web:prod": "pass",
        "web:v2": "pass",
        "cron:v2": "fail",
    }
    assert report["comparison"]["without_baseline"] == ["prod/cron:v2"]


def test_compare_to_with_the_tag_present_everywhere_passes(work: Path) -> None:
    snapshot(
        work / "r.json",
        ("prod", "api", "prod-2026-11", counters(3)),
        ("prod", "api", "v2", counters(3)),
    )
    done = gate(
        "check", "--snapshot", "r.json", "--namespace", "prod", "--policy", "delta.yaml",
        "--compare-to", "prod-*", cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert "compared:   with the image tagged 'prod-*'" in done.stdout


def test_compare_to_without_the_tag_warns_under_advisory(work: Path) -> None:
    (work / "advisory.yaml").write_text(
        "version: 1\nname: a\nrules:\n"
        "  - {id: d, fail_if: delta.imageVulAsap > 0, enforcement: advisory}\n"
    )
    snapshot(work / "r.json", ("prod", "api", "v2", counters(5)))
    done = gate(
        "check", "--snapshot", "r.json", "--namespace", "prod", "--policy", "advisory.yaml",
        "--compare-to", "prod", cwd=work,
    )  # fmt: skip
    assert done.returncode == 0
    assert "WARN     a/d  [advisory]" in done.stdout
    assert "no image of prod/api tagged 'prod' in this ranking" in done.stdout


def test_compare_to_fails_closed_when_the_compared_image_is_unreadable() -> None:
    good = make_image("ns", "api", "v2", metrics=counters(1))
    broken = make_image(
        "ns", "api", "prod", metrics={}, metric_problems={"imageVulAsap": "not a number: 'x'"}
    )
    images, comparison = bl.compare_with_tag([good], [good, broken], "prod", ["imageVulAsap"])
    assert "delta.imageVulAsap" not in images[0].metrics
    assert images[0].metric_problems["delta.imageVulAsap"] == (
        "the compared image ns/api:prod has no usable imageVulAsap: not a number: 'x'"
    )
    assert comparison.missing == ()


# --- the ratchet -------------------------------------------------------------------------------


def test_ratchet_lowers_keeps_and_reports_stale(work: Path) -> None:
    snapshot(
        work / "before.json",
        ("prod", "api", "v1", counters(3)),
        ("prod", "web", "v1", counters(4)),
        ("prod", "gone", "v1", counters(2)),
    )
    args = ("--all-namespaces", "--policy", "delta.yaml")
    assert (
        gate("baseline", "-o", "b.json", "--snapshot", "before.json", *args, cwd=work).returncode
        == 0
    )
    original = json.loads((work / "b.json").read_text())
    snapshot(
        work / "after.json",
        ("prod", "api", "v2", counters(5)),
        ("prod", "web", "v2", counters(2)),
        ("prod", "new", "v1", counters(1)),
    )
    done = gate("baseline", "--update", "b.json", "--snapshot", "after.json", *args, cwd=work)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "lowered  prod/web imageVulAsap: 4 -> 2" in lines
    assert (
        "kept     prod/api imageVulAsap at 3 (now 5); --accept-increase REASON raises it" in lines
    )
    assert (
        "kept     prod/new imageVulAsap at (none) (now 1); --accept-increase REASON raises it"
        in lines
    )
    assert "stale    prod/gone: not in this ranking's selection; entry kept" in lines
    assert (
        "updated b.json: 1 counter(s) lowered, 0 raised, 2 increase(s) refused, "
        "1 stale entr(ies) kept; 3 repository(ies)"
    ) in lines
    updated = json.loads((work / "b.json").read_text())
    repos = updated["repositories"]
    assert repos["prod/api"] == original["repositories"]["prod/api"]  # never raised
    assert repos["prod/web"]["counters"]["imageVulAsap"] == 2
    assert repos["prod/web"]["images"] == [{"tag": "v2", "digest": "ab" * 32}]
    assert repos["prod/gone"] == original["repositories"]["prod/gone"]
    assert "prod/new" not in repos  # would have raised it from zero
    assert updated["taken_at"] == original["taken_at"]
    assert updated["updated_at"] >= original["taken_at"]

    # Accepting the increase raises it, with the reason recorded.
    accepted = gate(
        "baseline", "--update", "b.json", "--snapshot", "after.json", *args,
        "--accept-increase", "SEC-231: new base image", cwd=work,
    )  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    assert "raised   prod/api imageVulAsap: 3 -> 5 (accepted: SEC-231: new base image)" in (
        accepted.stderr.splitlines()
    )
    repos = json.loads((work / "b.json").read_text())["repositories"]
    assert repos["prod/api"]["counters"]["imageVulAsap"] == 5
    assert repos["prod/api"]["accepted_increases"] == [
        {
            "metric": "imageVulAsap",
            "from": 3,
            "to": 5,
            "reason": "SEC-231: new base image",
            "at": repos["prod/api"]["accepted_increases"][0]["at"],
        }
    ]
    assert repos["prod/new"]["counters"]["imageVulAsap"] == 1
    assert repos["prod/new"]["accepted_increases"][0]["from"] is None


def test_accept_increase_needs_update_and_a_reason(work: Path) -> None:
    snapshot(work / "r.json", ("prod", "api", "v1", counters(3)))
    args = ("--snapshot", "r.json", "--all-namespaces", "--policy", "delta.yaml")
    done = gate("baseline", "-o", "b.json", *args, "--accept-increase", "why", cwd=work)
    assert done.returncode == 2
    assert "--accept-increase applies to --update FILE" in done.stderr
    assert gate("baseline", "-o", "b.json", *args, cwd=work).returncode == 0
    empty = gate("baseline", "--update", "b.json", *args, "--accept-increase", " ", cwd=work)
    assert empty.returncode == 2
    assert "--accept-increase needs a non-empty reason" in empty.stderr
    nowhere = gate("baseline", *args, cwd=work)
    assert nowhere.returncode == 2
    assert "-o FILE (new baseline) or --update FILE (ratchet)" in nowhere.stderr


def test_the_ratchet_never_raises_a_counter_without_accept() -> None:
    rng = random.Random(11)
    metrics = ["imageVulAsap", "imageVulLater"]
    current = bl.Baseline(
        taken_at="T0",
        entries={
            f"ns/r{i}": bl.Entry(counters={m: rng.randrange(6) for m in metrics}) for i in range(8)
        },
    )
    for step in range(200):
        images = [
            make_image("ns", f"r{rng.randrange(12)}", f"v{step}", metrics={
                m: rng.randrange(8) for m in metrics if rng.random() > 0.1
            })
            for _ in range(rng.randrange(1, 10))
        ]  # fmt: skip
        recorded, _ = bl.record(images, metrics, taken_at=f"T{step}", ranked_at=None)
        merged = bl.ratchet(current, recorded, accept=None, at=f"T{step}").baseline
        for key, entry in merged.entries.items():
            before = current.entries.get(key)
            for metric, value in entry.counters.items():
                was = before.counters.get(metric, 0) if before else 0
                assert value <= was, (key, metric, value, was)
            if before is not None:
                assert set(before.counters) <= set(entry.counters)
        assert set(current.entries) <= set(merged.entries)  # nothing deleted
        current = merged


def test_require_comparison_lists_the_rules() -> None:
    from tests.conftest import load_policy

    policy = load_policy(DELTA_POLICY, file="delta.yaml")
    with pytest.raises(UsageError, match=r"delta\.yaml:4: new-risk/no-new-urgent"):
        bl.require_comparison([policy], given=False)
    bl.require_comparison([policy], given=True)


# --- the README walk-through ---------------------------------------------------------------------


def readme_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Adopting the gate on an existing registry", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    commands = readme_commands()
    assert len(commands) == 5
    record, check, compare, update, accept = commands
    (tmp_path / "policies").mkdir()
    shutil.copy(REPO_ROOT / "policies" / "new-risk-only.yaml", tmp_path / "policies")
    bin_dir = Path(gate_command()[0]).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

    def sh(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    def ranking(*images: tuple[str, str, str, dict[str, int]]) -> None:
        snapshot(tmp_path / "ranking.json", *images)

    today = {
        "imageVulAsap": 3,
        "imageVulLater": 5,
        "imageMaliciousFileSerious": 0,
        "imageBaselineHigh": 1,
    }
    ranking(("prod", "api", "prod", today), ("prod", "web", "prod", today))
    assert sh(record).returncode == 0
    assert sh(check).returncode == 0  # what the registry already has passes

    worse = {**today, "imageVulAsap": 4}
    better = {**today, "imageVulAsap": 1}
    ranking(
        ("prod", "api", "prod", today), ("prod", "api", "v2", worse), ("prod", "web", "v2", better)
    )
    blocked = sh(check)
    assert blocked.returncode == 1, blocked.stdout
    assert "imageVulAsap = 4 (+1 vs baseline 3)" in blocked.stdout
    cq = json.loads((tmp_path / "gl-code-quality-report.json").read_text())
    assert [issue["check_name"] for issue in cq] == ["new-risk-only/no-new-urgent-vulns"]
    assert (tmp_path / "gate-junit.xml").is_file()
    compared = sh(compare)
    assert compared.returncode == 1  # api:v2 is worse than api:prod; web has no prod image
    assert "imageVulAsap = 4 (+1 vs baseline 3)" in compared.stdout
    assert "no image of prod/web tagged 'prod'" in compared.stdout

    ratcheted = sh(update)
    assert ratcheted.returncode == 0, ratcheted.stderr
    assert "lowered  prod/web imageVulAsap: 3 -> 1" in ratcheted.stderr
    assert "kept     prod/api imageVulAsap at 3 (now 4)" in ratcheted.stderr
    assert sh(check).returncode == 1  # still worse than the baseline
    accepted = sh(accept)
    assert accepted.returncode == 0, accepted.stderr
    assert "raised   prod/api imageVulAsap: 3 -> 4 (accepted: SEC-231" in accepted.stderr
    assert sh(check).returncode == 0


def test_an_unreadable_counter_is_never_recorded_nor_lowered() -> None:
    metrics = ["imageVulAsap"]
    old = bl.Baseline(taken_at="T0", entries={"ns/api": bl.Entry(counters={"imageVulAsap": 5})})
    images = [
        make_image("ns", "api", "v1", metrics={"imageVulAsap": 0}),
        make_image("ns", "api", "v2", metrics={}, metric_problems={"imageVulAsap": "bad"}),
    ]
    recorded, notes = bl.record(images, metrics, taken_at="T1", ranked_at=None)
    assert recorded.entries["ns/api"].counters == {}
    assert notes == ["ns/api:v2: imageVulAsap not recorded for ns/api: bad"]
    merged = bl.ratchet(old, recorded, accept=None, at="T1")
    assert merged.baseline == old  # nothing lowered from a guess, and no new time either
    assert merged.lines == ()


def test_a_no_op_update_leaves_the_file_unchanged(work: Path) -> None:
    snapshot(work / "r.json", ("prod", "api", "v1", counters(3)))
    args = ("--snapshot", "r.json", "--all-namespaces", "--policy", "delta.yaml")
    assert gate("baseline", "-o", "b.json", *args, cwd=work).returncode == 0
    before = (work / "b.json").read_bytes()
    done = gate("baseline", "--update", "b.json", *args, cwd=work)
    assert done.returncode == 0
    assert (work / "b.json").read_bytes() == before


def test_compare_to_before_deploy_with_image_references(work: Path) -> None:
    snapshot(
        work / "r.json",
        ("prod", "api", "prod", counters(3)),
        ("prod", "api", "v2", counters(3)),
        ("prod", "api", "v3", counters(4)),
    )
    args = ("check", "--snapshot", "r.json", "--policy", "delta.yaml", "--compare-to", "prod")
    same = gate(*args, "--image", "registry.cn-hangzhou.aliyuncs.com/prod/api:v2", cwd=work)
    assert same.returncode == 0, same.stdout
    worse = gate(*args, "--image", "registry.cn-hangzhou.aliyuncs.com/prod/api:v3", cwd=work)
    assert worse.returncode == 1
    assert "imageVulAsap = 4 (+1 vs baseline 3)" in worse.stdout
    assert "Selected 1 image(s)" in worse.stdout


def test_an_unreadable_current_counter_has_no_delta() -> None:
    image = make_image("ns", "api", "v1", metrics={}, data_error="RiskLevelDetail is not JSON")
    baseline = bl.Baseline("T", {"ns/api": bl.Entry(counters={"imageVulAsap": 1})})
    (attached,), _ = bl.compare_with_file([image], baseline, ["imageVulAsap"], label="b.json")
    assert attached.metrics == {"baseline.imageVulAsap": 1}
    assert attached.metric_problems["delta.imageVulAsap"] == "RiskLevelDetail is not JSON"
