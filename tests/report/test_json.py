"""The JSON report: the stable, documented shape tools consume."""

from __future__ import annotations

import json
from typing import Any

from gate.model import Report
from gate.report.json_report import JsonFormat
from tests.conftest import TODAY, load_policy, make_image, run_engine

POLICY = """
version: 1
name: prod
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
  - {id: baseline, fail_if: imageBaselineHigh > 0, enforcement: soft-mandatory}
  - {id: budget, fail_if: imageVulLater > 50, enforcement: advisory}
  - {id: size, fail_if: ImageSize > 10}
waivers:
  - rule: urgent
    images: ["ns/repo:*"]
    reason: SEC-1
    expires: 2026-06-10
    owner: team-a
  - rule: urgent
    images: ["gone/*"]
    reason: SEC-2
    expires: 2099-01-01
  - rule: urgent
    images: ["old/*"]
    reason: SEC-3
    expires: 2020-01-01
"""


def report(**kwargs: Any) -> Report:
    policy = load_policy(POLICY, file="policies/prod.yaml")
    image = make_image(
        "ns",
        "repo",
        "app:v1",
        metrics={"imageVulAsap": 3, "imageBaselineHigh": 1, "imageVulLater": 60},
        uuid="u-1",
        digest="d97c1348e56eb529",
        ranked_in=("VulAsap", "Baseline"),
    )
    return run_engine(policy, [image], **kwargs)


def document(**kwargs: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(JsonFormat().render(report(**kwargs)))
    return loaded


def test_top_level_shape() -> None:
    doc = document()
    for key in (
        "version",
        "verdict",
        "exit_code",
        "source",
        "summary",
        "images",
        "waivers",
        "warnings",
        "override",
    ):
        assert key in doc, key
    assert doc["version"] == 1
    assert doc["verdict"] == "fail"
    assert doc["exit_code"] == 1
    assert doc["now"] == TODAY.isoformat()  # the date used is recorded
    assert doc["source"]["kind"] == "snapshot"
    assert doc["source"]["path"] == "test.json"
    assert isinstance(doc["warnings"], list)
    assert doc["override"] is None


def test_summary_counts_every_outcome() -> None:
    # urgent is waived, baseline (soft-mandatory) fails, budget warns, size has no data
    assert document()["summary"] == {
        "images": 1,
        "checks": 4,
        "pass": 0,
        "fail": 1,
        "warn": 1,
        "waived": 1,
        "overridden": 0,
        "error": 1,
        "not_checked": 0,
    }


def test_image_entries() -> None:
    (image,) = document()["images"]
    for key in (
        "namespace",
        "repository",
        "tag",
        "digest",
        "uuid",
        "image_id",
        "ranked_in",
        "verdict",
        "results",
    ):
        assert key in image, key
    assert (image["namespace"], image["repository"], image["tag"]) == ("ns", "repo", "app:v1")
    assert image["digest"] == "d97c1348e56eb529"
    assert image["uuid"] == "u-1"
    assert image["ranked_in"] == ["VulAsap", "Baseline"]
    assert image["verdict"] == "fail"


def test_result_entries() -> None:
    results = {r["rule"]: r for r in document()["images"][0]["results"]}
    for result in results.values():
        for key in (
            "policy",
            "rule",
            "enforcement",
            "outcome",
            "condition",
            "values",
            "message",
            "waiver",
        ):
            assert key in result, key
    urgent = results["urgent"]
    assert urgent["policy"] == "prod"
    assert urgent["enforcement"] == "hard-mandatory"
    assert urgent["outcome"] == "waived"
    assert urgent["condition"] == "imageVulAsap > 0"
    assert urgent["values"] == {"imageVulAsap": 3}
    assert "imageVulAsap = 3 > 0" in urgent["message"]
    assert urgent["waiver"]["reason"] == "SEC-1"
    assert urgent["waiver"]["expires"] == "2026-06-10"
    assert urgent["waiver"]["owner"] == "team-a"
    assert results["baseline"]["outcome"] == "fail"
    assert results["baseline"]["waiver"] is None
    assert results["budget"]["outcome"] == "warn"
    assert results["size"]["outcome"] == "error"
    assert results["size"]["values"] == {}
    assert "ImageSize" in results["size"]["message"]


def test_waiver_entries_and_statuses() -> None:
    waivers = document()["waivers"]
    for waiver in waivers:
        for key in ("policy", "rule", "images", "expires", "status"):
            assert key in waiver, key
    assert [(w["images"], w["status"]) for w in waivers] == [
        (["ns/repo:*"], "expiring"),  # used, 9 days left
        (["gone/*"], "unused"),
        (["old/*"], "expired"),
    ]
    assert waivers[0]["policy"] == "prod"
    assert waivers[0]["rule"] == "urgent"
    assert waivers[0]["expires"] == "2026-06-10"


def test_override_is_recorded_with_its_reason() -> None:
    doc = document(override="CAB-42 hotfix")
    assert doc["override"] == {"reason": "CAB-42 hotfix"}
    results = {r["rule"]: r for r in doc["images"][0]["results"]}
    assert results["baseline"]["outcome"] == "overridden"
    assert doc["summary"]["overridden"] == 1


def test_empty_selection_warning_is_in_the_document() -> None:
    policy = load_policy(POLICY)
    doc = json.loads(JsonFormat().render(run_engine(policy, [], selection=("prod-*",))))
    assert doc["verdict"] == "pass"
    assert doc["images"] == []
    assert any("prod-*" in w for w in doc["warnings"])


def test_document_is_plain_json_and_deterministic() -> None:
    first = JsonFormat().render(report())
    assert first == JsonFormat().render(report())
    assert first.endswith("\n")
    json.loads(first)  # no NaN or other non-standard tokens
    assert "NaN" not in first and "Infinity" not in first
