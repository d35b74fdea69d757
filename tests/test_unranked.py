"""--image selection and the outcome of images the ranking does not list (--unranked)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from gate.cli import cli
from gate.evaluate import evaluate, select
from gate.imageref import parse_image_ref
from gate.model import Outcome, SourceInfo
from tests.conftest import TODAY, gate_command, image_entry, load_policy, make_image, ranking_body

POLICY = load_policy(
    """
    version: 1
    name: p
    rules:
      - id: urgent
        fail_if: imageVulAsap > 0
    """
)
CLEAN = make_image("prod", "api", "1.0", metrics={"imageVulAsap": 0})
DIRTY = make_image("prod", "web", "2.0", metrics={"imageVulAsap": 4}, digest="ef" * 32)
OTHER = make_image("dev", "api", "1.0", metrics={"imageVulAsap": 0})
RANKED = (CLEAN, DIRTY, OTHER)


def run(refs: list[str], unranked: Outcome = Outcome.WARN, **select_args: Any) -> Any:
    parsed = [parse_image_ref(r) for r in refs]
    images = select(RANKED, refs=parsed, **select_args)
    return evaluate(
        [POLICY],
        images,
        now=TODAY,
        source=SourceInfo(kind="snapshot", path="t.json"),
        selection=tuple(select_args.get("namespaces", ())),
        refs=parsed,
        unranked=unranked,
    )


def test_image_alone_selects_just_that_image() -> None:
    report = run(["registry.cn-hangzhou.aliyuncs.com/prod/api:1.0"])
    assert [e.image.name for e in report.images] == ["prod/api:1.0"]
    assert report.verdict == "pass"
    assert report.refs == ("registry.cn-hangzhou.aliyuncs.com/prod/api:1.0",)


def test_image_adds_to_namespaces() -> None:
    report = run(["prod/web:2.0"], namespaces=["dev"])
    assert [e.image.name for e in report.images] == ["prod/web:2.0", "dev/api:1.0"]
    assert report.exit_code == 1


def test_image_matched_by_digest_whatever_its_tag() -> None:
    report = run([f"prod/web:stale@sha256:{'ef' * 32}"])
    assert [e.image.name for e in report.images] == ["prod/web:2.0"]
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("outcome", "verdict", "enforcement"),
    [
        (Outcome.PASS, "pass", "advisory"),
        (Outcome.WARN, "pass", "advisory"),
        (Outcome.FAIL, "fail", "hard-mandatory"),
    ],
)
def test_unranked_outcome(outcome: Outcome, verdict: str, enforcement: str) -> None:
    report = run(["prod/api:1.0", "prod/new:9"], unranked=outcome)
    assert report.verdict == verdict
    entry = report.images[-1]
    assert entry.image.name == "prod/new:9"
    assert not entry.image.ranked
    [result] = entry.results
    assert (result.policy, result.rule, result.outcome) == ("gate", "unranked", outcome)
    assert result.enforcement.value == enforcement
    assert "not in the Security Center ranking" in result.message
    # Whatever the outcome, the report says plainly what the ranking is.
    assert any("lists only images Security Center has ranked" in w for w in report.warnings)


def test_override_never_lets_an_unranked_failure_pass() -> None:
    parsed = [parse_image_ref("prod/new:9")]
    report = evaluate(
        [POLICY],
        [],
        now=TODAY,
        source=SourceInfo(kind="snapshot"),
        selection=(),
        refs=parsed,
        unranked=Outcome.FAIL,
        override="release",
    )
    assert report.exit_code == 1


def test_the_same_reference_twice_is_reported_once() -> None:
    report = run(["prod/new:9", "registry.example.com/prod/new:9"])
    assert [e.image.name for e in report.images] == ["prod/new:9"]


def test_unranked_outcome_must_be_pass_warn_or_fail() -> None:
    with pytest.raises(ValueError):
        run(["prod/new:9"], unranked=Outcome.ERROR)


# --- through the command line -----------------------------------------------------------


ONE_RULE = "version: 1\nname: p\nrules:\n  - id: urgent\n    fail_if: imageVulAsap > 0\n"


@pytest.fixture
def ranking(write_json: Any, write_policy: Any) -> list[str]:
    """``--snapshot FILE --policy FILE`` for a two-image ranking and a one-rule policy."""
    body = ranking_body(
        [
            image_entry("prod", "web", "app:v2", detail={"imageVulAsap": 2}),
            image_entry("prod", "api", "1.0", detail={"imageVulAsap": 0}),
        ]
    )
    return ["--snapshot", write_json(body), "--policy", write_policy(ONE_RULE)]


def check(*args: str) -> Any:
    return CliRunner().invoke(cli, ["check", "--now", "2026-06-01", *args])


def test_cli_image_needs_no_namespace(ranking: list[str]) -> None:
    result = check(*ranking, "--image", "registry.cn-hangzhou.aliyuncs.com/prod/api:1.0")
    assert result.exit_code == 0, result.output
    assert "Selected 1 image(s)" in result.output
    assert "images:     registry.cn-hangzhou.aliyuncs.com/prod/api:1.0" in result.output


def test_cli_tag_with_colon(ranking: list[str]) -> None:
    result = check(*ranking, "--image", "prod/web:app:v2")
    assert result.exit_code == 1
    assert "prod/web:app:v2" in result.output
    assert "imageVulAsap = 2 > 0" in result.output


def test_cli_bad_reference_is_exit_2(ranking: list[str]) -> None:
    result = check(*ranking, "--image", "nginx")
    assert result.exit_code == 2
    assert "has no namespace" in result.output


def test_cli_without_any_selection_mentions_image(ranking: list[str]) -> None:
    result = check(*ranking)
    assert result.exit_code == 2
    assert "--image REF" in result.output


@pytest.mark.parametrize(("unranked", "code"), [("pass", 0), ("warn", 0), ("fail", 1)])
def test_cli_unranked_in_every_report(
    ranking: list[str], tmp_path: Path, unranked: str, code: int
) -> None:
    junit, report, summary = tmp_path / "j.xml", tmp_path / "r.json", tmp_path / "s.md"
    result = check(
        *ranking,
        "--image",
        "prod/api:1.0",
        "--image",
        "host:5000/prod/new:3",
        "--unranked",
        unranked,
        "--junit",
        str(junit),
        "--json",
        str(report),
        "--summary",
        str(summary),
    )
    assert result.exit_code == code, result.output
    plain = "lists only images Security Center has ranked"
    assert plain in result.output
    document = json.loads(report.read_text())
    assert document["image_refs"] == ["prod/api:1.0", "host:5000/prod/new:3"]
    [new] = [i for i in document["images"] if i["repository"] == "new"]
    assert new["ranked_in"] == []
    assert new["results"][0]["outcome"] == unranked
    assert any(plain in w for w in document["warnings"])
    assert plain in summary.read_text()
    tree = etree.parse(str(junit))
    [case] = tree.xpath("//testcase[@name='gate/unranked [prod/new:3]']")
    kinds = [child.tag for child in case]
    assert kinds == {"pass": [], "warn": ["skipped"], "fail": ["failure"]}[unranked]
    if kinds:
        assert "not in the Security Center ranking" in case[0].get("message")


def test_installed_gate_reads_images_from_the_environment(ranking: list[str]) -> None:
    env_images = "prod/api:1.0\nprod/new:1"
    completed = subprocess.run(
        [*gate_command(), "check", *ranking, "--unranked", "fail"],
        env={"GATE_IMAGE": env_images, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert "prod/new:1 is not in the Security Center ranking" in completed.stdout
