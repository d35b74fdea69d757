"""The benchmark script runs and prints its table; its data and its jq baseline are what they say.

Nothing here asserts a timing (the machine decides those); ``benchmarks/run.py`` does the
measuring. These check that the quickest mode works end to end, that the generator is
seeded and realistic, and that ``benchmarks/check.jq`` and ``benchmarks/policy.yaml`` flag
exactly the same images, so the comparison is fair.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gate.policy.metrics import DETAIL_COUNTERS
from gate.source.normalize import normalize
from tests.conftest import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from generate import COUNTERS, generate  # noqa: E402

sys.path.pop(0)


def test_quick_mode_prints_the_whole_table(tmp_path: Path) -> None:
    sizes = ["--large", "300", "--small", "30", "--huge", "400", "--cold-repeats", "1"]
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", *sizes, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("| scenario") for line in lines)
    (side,) = [line for line in lines if line.startswith("| scenario ") and "failure-heavy" in line]
    assert "typical" in side
    for scenario in (
        "check --snapshot, small sample (cold)",
        "the same, policy cache off",
        "gate --help (cold)",
        "300 images x 10 rules, --quiet (vs jq)",
        "300 images, --json and --junit (vs jq)",
        "JUnit at 300 images: size",
        "JUnit at 300 images: element nodes",
        "JUnit at 300 images: test cases",
        "JUnit at 400 images: element nodes",
        "peak memory vs snapshot size on disk",
        "growth 30 -> 300 images, --quiet",
    ):
        (row,) = [line for line in lines if line.startswith(f"| {scenario}")]
        verdicts = [
            cell.strip() for cell in row.split("|") if cell.strip() in ("PASS", "MISS", "n/a")
        ]
        assert len(verdicts) == (1 if "cold" in scenario or "cache" in scenario else 2), row
    assert "--quick" in done.stdout
    for profile in ("typical", "failing"):
        assert (tmp_path / f"snapshot-{profile}-300-v1.json").is_file()


def test_generator_is_seeded_and_shaped_like_the_api(tmp_path: Path) -> None:
    first = generate(400, tmp_path / "a.json", seed=7).read_bytes()
    assert generate(400, tmp_path / "b.json", seed=7).read_bytes() == first
    assert generate(400, tmp_path / "c.json", seed=8).read_bytes() != first
    body = json.loads(first)
    entries = body["RiskRankInfo"]["VulAsap"] + body["RiskRankInfo"]["Baseline"]
    assert len({e["Uuid"] for e in entries}) == 400 < len(entries)  # duplicates across lists
    detail = json.loads(entries[0]["RiskLevelDetail"])
    assert list(detail) == sorted([*COUNTERS, "uuid"])
    assert set(COUNTERS) == set(DETAIL_COUNTERS)  # every counter the catalogue knows
    assert any(e["RepoNamespace"] != e["RepoNamespace"].strip() for e in entries)
    assert any(":" in e["Tag"] for e in entries)
    ranking = normalize(body)
    assert len(ranking.images) == 400
    assert any(image.ranked_in == ("VulAsap", "Baseline") for image in ranking.images)
    assert all(image.data_error is None and not image.metric_problems for image in ranking.images)


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_jq_check_and_the_benchmark_policy_flag_the_same_images(tmp_path: Path) -> None:
    snapshot = generate(1500, tmp_path / "s.json", seed=11)
    program = (BENCHMARKS / "check.jq").read_text()
    assert program.rstrip().endswith("] | length == 0")
    listing = program.rstrip().removesuffix("| length == 0") + "| map(.Uuid) | unique"
    by_jq = subprocess.run(
        ["jq", "-c", listing, str(snapshot)], capture_output=True, text=True, check=True
    )
    report = tmp_path / "r.json"
    options = ["--policy", str(BENCHMARKS / "policy.yaml"), "--all-namespaces", "--json"]
    subprocess.run(
        [sys.executable, "-m", "gate", "check", "--snapshot", str(snapshot), *options, str(report)],
        cwd=REPO_ROOT,
        check=False,
    )
    images = json.loads(report.read_text())["images"]
    by_gate = sorted(i["uuid"] for i in images if i["verdict"] == "fail")
    assert 100 < len(by_gate) < 500
    assert json.loads(by_jq.stdout) == by_gate


def test_the_failing_profile_is_a_risk_ranking_where_most_images_fail(tmp_path: Path) -> None:
    body = json.loads(generate(2000, tmp_path / "f.json", seed=3, profile="failing").read_bytes())
    ranking = normalize(body)
    assert len(ranking.images) == 2000
    metrics = [image.metrics for image in ranking.images]
    share = {
        "imageVulAsap > 0": sum(m["imageVulAsap"] > 0 for m in metrics) / 2000,
        "imageVulLater > 100": sum(m["imageVulLater"] > 100 for m in metrics) / 2000,
        "imageVulNntf >= 300": sum(m["imageVulNntf"] >= 300 for m in metrics) / 2000,
    }
    assert 0.35 < share["imageVulAsap > 0"] < 0.45, share
    assert 0.45 < share["imageVulLater > 100"] < 0.55, share
    assert 0.2 < share["imageVulNntf >= 300"] < 0.3, share
    typical = generate(2000, tmp_path / "t.json", seed=3)
    assert (
        typical.read_bytes()
        == generate(2000, tmp_path / "t2.json", seed=3, profile="typical").read_bytes()
    )


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_on_the_failing_profile_too_jq_and_the_policy_flag_the_same_images(tmp_path: Path) -> None:
    snapshot = generate(600, tmp_path / "s.json", seed=5, profile="failing")
    program = (BENCHMARKS / "check.jq").read_text()
    listing = program.rstrip().removesuffix("| length == 0") + "| map(.Uuid) | unique"
    by_jq = subprocess.run(
        ["jq", "-c", listing, str(snapshot)], capture_output=True, text=True, check=True
    )
    report = tmp_path / "r.json"
    options = ["--policy", str(BENCHMARKS / "policy.yaml"), "--all-namespaces", "--json"]
    subprocess.run(
        [sys.executable, "-m", "gate", "check", "--snapshot", str(snapshot), *options, str(report)],
        cwd=REPO_ROOT,
        check=False,
    )
    images = json.loads(report.read_text())["images"]
    by_gate = sorted(i["uuid"] for i in images if i["verdict"] == "fail")
    assert len(by_gate) > 600 // 2  # most images fail
    assert json.loads(by_jq.stdout) == by_gate
