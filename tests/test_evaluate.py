"""The evaluation engine: the semantics table, waivers, override, selection and bad data.

Policies are written as YAML and parsed by the real loader; images come from API-shaped
bodies through the real normaliser, so each row reads like what a user configures and sees.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from gate.evaluate import EXPIRING_DAYS, evaluate, select_images
from gate.model import Outcome, Report, SourceInfo, WaiverStatus
from gate.source.normalize import normalize
from tests.conftest import TODAY, image_entry, load_policy, make_image, ranking_body, run_engine

WAIVER = """
waivers:
  - rule: r
    images: ["ns/repo:*"]
    reason: tracked in SEC-1
    expires: {expires}
"""


def policy_with(enforcement: str, *, waiver_expires: str | None = None) -> Any:
    text = f"""
version: 1
name: p
rules:
  - id: r
    fail_if: imageVulAsap > 0
    enforcement: {enforcement}
"""
    if waiver_expires is not None:
        text += WAIVER.format(expires=waiver_expires)
    return load_policy(text)


def image_with(detail: Any) -> Any:
    (image,) = normalize(
        ranking_body(vul_asap=[image_entry("ns", "repo", "v1", detail=detail)])
    ).images
    return image


TRUE = {"imageVulAsap": 3}
FALSE = {"imageVulAsap": 0}
CANNOT = {"imageVulLater": 1}  # the rule's metric is missing
BAD_DATA = "{not json"
ACTIVE = "2099-01-01"
LEVELS = ("advisory", "soft-mandatory", "hard-mandatory")

# condition data, waiver expiry (None: no waiver), enforcement, override, outcome, blocks
TABLE = [
    *[(FALSE, None, level, None, Outcome.PASS, False) for level in LEVELS],
    *[(FALSE, ACTIVE, level, None, Outcome.PASS, False) for level in LEVELS],
    *[(TRUE, ACTIVE, level, None, Outcome.WAIVED, False) for level in LEVELS],
    (TRUE, ACTIVE, "soft-mandatory", "release 1.2 hotfix", Outcome.WAIVED, False),
    (TRUE, None, "advisory", None, Outcome.WARN, False),
    (TRUE, None, "advisory", "release 1.2 hotfix", Outcome.WARN, False),
    (TRUE, None, "soft-mandatory", "release 1.2 hotfix", Outcome.OVERRIDDEN, False),
    (TRUE, None, "soft-mandatory", None, Outcome.FAIL, True),
    (TRUE, None, "hard-mandatory", None, Outcome.FAIL, True),
    (TRUE, None, "hard-mandatory", "release 1.2 hotfix", Outcome.FAIL, True),
    (CANNOT, None, "advisory", None, Outcome.WARN, False),
    (BAD_DATA, None, "advisory", None, Outcome.WARN, False),
    (CANNOT, None, "soft-mandatory", None, Outcome.ERROR, True),
    (CANNOT, None, "soft-mandatory", "release 1.2 hotfix", Outcome.ERROR, True),
    (CANNOT, None, "hard-mandatory", None, Outcome.ERROR, True),
    (BAD_DATA, None, "hard-mandatory", None, Outcome.ERROR, True),
    (CANNOT, ACTIVE, "hard-mandatory", None, Outcome.ERROR, True),  # a waiver is no data
]


@pytest.mark.parametrize(
    ("detail", "waiver", "enforcement", "override", "outcome", "blocks"),
    TABLE,
    ids=[
        f"{'true' if d is TRUE else 'false' if d is FALSE else 'cannot'}-"
        f"{'waiver' if w else 'none'}-{e}{'-override' if o else ''}-{out.value}"
        for d, w, e, o, out, _ in TABLE
    ],
)
def test_semantics_table(
    detail: Any,
    waiver: str | None,
    enforcement: str,
    override: str | None,
    outcome: Outcome,
    blocks: bool,
) -> None:
    report = run_engine(
        policy_with(enforcement, waiver_expires=waiver), [image_with(detail)], override=override
    )
    (entry,) = report.images
    (result,) = entry.results
    assert result.outcome is outcome
    assert result.enforcement.value == enforcement
    assert report.verdict == ("fail" if blocks else "pass")
    assert report.exit_code == (1 if blocks else 0)
    assert entry.verdict == report.verdict
    assert report.summary()[outcome.value] == 1
    if outcome is Outcome.WAIVED:
        assert result.waiver is not None and "SEC-1" in result.message
    if outcome is Outcome.OVERRIDDEN:
        assert "release 1.2 hotfix" in result.message
        assert report.override == "release 1.2 hotfix"
    if detail is TRUE:  # the message shows the condition with the actual values
        assert "imageVulAsap = 3 > 0" in result.message
        assert dict(result.values) == {"imageVulAsap": 3}
    if detail is CANNOT or detail is BAD_DATA:
        assert "cannot evaluate" in result.message


def test_cannot_evaluate_says_why() -> None:
    policy = policy_with("hard-mandatory")
    missing = run_engine(policy, [image_with(CANNOT)]).images[0].results[0]
    assert "imageVulAsap is missing from RiskLevelDetail" in missing.message
    bad = run_engine(policy, [image_with(BAD_DATA)]).images[0].results[0]
    assert "RiskLevelDetail is not valid JSON" in bad.message
    wrong = run_engine(policy, [image_with({"imageVulAsap": "lots"})]).images[0].results[0]
    assert 'imageVulAsap is not a number: "lots"' in wrong.message


def test_one_metric_missing_in_a_compound_condition_is_cannot_evaluate() -> None:
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - id: r
            fail_if: imageVulAsap > 0 or imageVulLater > 100
        """
    )
    result = run_engine(policy, [image_with({"imageVulAsap": 5})]).images[0].results[0]
    assert result.outcome is Outcome.ERROR
    assert dict(result.values) == {"imageVulAsap": 5}


def test_never_a_silent_pass_on_bad_data_under_a_mandatory_rule() -> None:
    report = run_engine(policy_with("soft-mandatory"), [image_with(BAD_DATA)], override="x")
    assert report.exit_code == 1


# --- waivers ---------------------------------------------------------------------------------


def waiver_report(expires: str, detail: Any = TRUE, now: dt.date = TODAY) -> Report:
    return run_engine(
        policy_with("hard-mandatory", waiver_expires=expires), [image_with(detail)], now=now
    )


def test_waiver_applies_through_its_expiry_day() -> None:
    report = waiver_report(TODAY.isoformat())
    assert report.images[0].results[0].outcome is Outcome.WAIVED
    assert report.exit_code == 0


def test_expired_waiver_no_longer_applies_and_is_reported() -> None:
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    report = waiver_report(yesterday)
    result = report.images[0].results[0]
    assert result.outcome is Outcome.FAIL
    assert result.waiver is None
    assert f"expired on {yesterday}" in result.message
    (status,) = report.waivers
    assert status.status is WaiverStatus.EXPIRED
    assert any("expired" in w and "no longer applies" in w for w in report.warnings)
    assert report.exit_code == 1


def test_expired_waiver_is_reported_even_without_a_violation() -> None:
    report = waiver_report("2020-01-01", detail=FALSE)
    assert report.waivers[0].status is WaiverStatus.EXPIRED


def test_unused_waiver_is_reported() -> None:
    report = waiver_report("2099-01-01", detail=FALSE)
    (status,) = report.waivers
    assert status.status is WaiverStatus.UNUSED
    assert status.uses == 0


def test_waiver_for_other_images_is_unused() -> None:
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - id: r
            fail_if: imageVulAsap > 0
        waivers:
          - {rule: r, images: ["other/*"], reason: x, expires: 2099-01-01}
        """
    )
    report = run_engine(policy, [image_with(TRUE)])
    assert report.images[0].results[0].outcome is Outcome.FAIL
    assert report.waivers[0].status is WaiverStatus.UNUSED


@pytest.mark.parametrize(
    ("days_left", "status"),
    [
        (0, WaiverStatus.EXPIRING),
        (1, WaiverStatus.EXPIRING),
        (EXPIRING_DAYS, WaiverStatus.EXPIRING),
        (EXPIRING_DAYS + 1, WaiverStatus.ACTIVE),
        (365, WaiverStatus.ACTIVE),
        (-1, WaiverStatus.EXPIRED),
    ],
)
def test_waiver_status_by_days_left(days_left: int, status: WaiverStatus) -> None:
    expires = TODAY + dt.timedelta(days=days_left)
    report = waiver_report(expires.isoformat())
    (entry,) = report.waivers
    assert entry.status is status
    assert entry.days_left == days_left
    if status is WaiverStatus.EXPIRING:
        when = {0: "today", 1: "tomorrow"}.get(days_left, f"in {days_left} days")
        assert any(f"expires {when}" in w for w in report.warnings)
        assert entry.uses == 1


def test_now_decides_expiry() -> None:
    policy = policy_with("hard-mandatory", waiver_expires="2026-12-31")
    image = image_with(TRUE)
    assert run_engine(policy, [image], now=dt.date(2026, 12, 31)).exit_code == 0
    late = run_engine(policy, [image], now=dt.date(2027, 1, 1))
    assert late.exit_code == 1
    assert late.now == dt.date(2027, 1, 1)


def test_active_waiver_wins_over_an_expired_one_for_the_same_rule() -> None:
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - id: r
            fail_if: imageVulAsap > 0
        waivers:
          - {rule: r, images: ["ns/*"], reason: old, expires: 2020-01-01}
          - {rule: r, images: ["ns/repo:v1"], reason: new, expires: 2099-01-01}
        """
    )
    report = run_engine(policy, [image_with(TRUE)])
    result = report.images[0].results[0]
    assert result.outcome is Outcome.WAIVED
    assert result.waiver is not None and result.waiver.reason == "new"
    assert [w.status for w in report.waivers] == [WaiverStatus.EXPIRED, WaiverStatus.ACTIVE]


def test_waiver_by_digest_prefix() -> None:
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - id: r
            fail_if: imageVulAsap > 0
        waivers:
          - {rule: r, images: ["sha256:abababababab"], reason: x, expires: 2099-01-01}
        """
    )
    assert run_engine(policy, [image_with(TRUE)]).images[0].results[0].outcome is Outcome.WAIVED


def test_waiver_only_covers_its_own_rule_and_policy() -> None:
    waiving = load_policy(
        """
        version: 1
        name: waiving
        rules:
          - {id: r, fail_if: imageVulAsap > 0}
          - {id: other, fail_if: imageVulAsap > 1}
        waivers:
          - {rule: r, images: ["ns/*"], reason: x, expires: 2099-01-01}
        """
    )
    strict = load_policy("version: 1\nname: strict\nrules: [{id: r, fail_if: imageVulAsap > 0}]\n")
    report = run_engine([waiving, strict], [image_with(TRUE)])
    outcomes = {(r.policy, r.rule): r.outcome for r in report.images[0].results}
    assert outcomes == {
        ("waiving", "r"): Outcome.WAIVED,
        ("waiving", "other"): Outcome.FAIL,
        ("strict", "r"): Outcome.FAIL,
    }


# --- override --------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_blank_override_is_no_override(blank: str) -> None:
    report = run_engine(policy_with("soft-mandatory"), [image_with(TRUE)], override=blank)
    assert report.images[0].results[0].outcome is Outcome.FAIL
    assert report.override is None


def test_override_reason_is_trimmed_and_recorded() -> None:
    report = run_engine(policy_with("soft-mandatory"), [image_with(TRUE)], override="  CAB-42 ")
    assert report.override == "CAB-42"


def test_override_never_affects_hard_mandatory_rules() -> None:
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - {id: soft, fail_if: imageVulAsap > 0, enforcement: soft-mandatory}
          - {id: hard, fail_if: imageVulAsap > 0, enforcement: hard-mandatory}
        """
    )
    report = run_engine(policy, [image_with(TRUE)], override="release")
    outcomes = {r.rule: r.outcome for r in report.images[0].results}
    assert outcomes == {"soft": Outcome.OVERRIDDEN, "hard": Outcome.FAIL}
    assert report.exit_code == 1


# --- scope, selection, duplicates ------------------------------------------------------------


def test_policy_and_rule_scopes() -> None:
    policy = load_policy(
        """
        version: 1
        name: p
        scope:
          namespaces: ["prod-*"]
          exclude: ["prod-legacy/*"]
        rules:
          - {id: all, fail_if: imageVulAsap > 0}
          - {id: legacy, fail_if: imageVulAsap > 0, scope: {repositories: ["legacy-*"]}}
          - {id: releases, fail_if: imageVulAsap > 0, scope: {tags: ["v*"]}}
        """
    )
    images = [
        make_image("prod-a", "api", "v1", metrics=TRUE),
        make_image("prod-a", "legacy-db", "latest", metrics=TRUE),
        make_image("prod-legacy", "api", "v1", metrics=TRUE),
        make_image("dev", "api", "v1", metrics=TRUE),
    ]
    report = run_engine(policy, images)
    rules = {e.image.name: [r.rule for r in e.results] for e in report.images}
    assert rules == {
        "prod-a/api:v1": ["all", "releases"],
        "prod-a/legacy-db:latest": ["all", "legacy"],
        "prod-legacy/api:v1": [],
        "dev/api:v1": [],
    }
    assert any("2 selected image(s) are outside the scope" in w for w in report.warnings)


def test_duplicate_image_across_lists_is_evaluated_once_with_both_lists() -> None:
    entry = image_entry("ns", "repo", "v1", uuid="u-1", detail=TRUE)
    images = normalize(ranking_body(vul_asap=[entry], baseline=[dict(entry)])).images
    report = run_engine(policy_with("hard-mandatory"), images)
    (only,) = report.images
    assert only.image.ranked_in == ("VulAsap", "Baseline")
    assert report.summary() == {
        "images": 1,
        "checks": 1,
        "pass": 0,
        "fail": 1,
        "warn": 0,
        "waived": 0,
        "overridden": 0,
        "error": 0,
    }


@pytest.mark.parametrize(
    ("namespaces", "expected"),
    [
        (["prod"], ["prod"]),
        (["prod-*"], ["prod-eu", "prod-us"]),
        (["prod*"], ["prod", "prod-eu", "prod-us"]),
        (["dev", "prod-eu"], ["prod-eu", "dev"]),
        ([" dev "], ["dev"]),
        (["PROD"], []),
        (None, ["prod", "prod-eu", "prod-us", "dev"]),
    ],
)
def test_select_images_by_namespace_globs(namespaces: Any, expected: list[str]) -> None:
    images = [make_image(ns) for ns in ("prod", "prod-eu", "prod-us", "dev")]
    assert [i.namespace for i in select_images(images, namespaces)] == expected


def test_empty_selection_passes_with_a_warning_naming_the_namespaces() -> None:
    report = run_engine(policy_with("hard-mandatory"), [], selection=("prod-*", "payments"))
    assert report.verdict == "pass"
    assert report.exit_code == 0
    assert any(
        "no ranked image matched prod-*, payments" in w and "nothing was evaluated" in w
        for w in report.warnings
    )


def test_empty_selection_with_require_images_fails() -> None:
    report = run_engine(policy_with("hard-mandatory"), [], require_images=True)
    assert report.verdict == "fail"
    assert report.exit_code == 1
    assert report.empty_selection_fails
    assert any("--require-images" in w for w in report.warnings)


def test_evaluate_is_pure_and_records_its_inputs() -> None:
    policy = policy_with("hard-mandatory")
    images = [image_with(TRUE)]
    source = SourceInfo(kind="snapshot", path="x.json")
    first = evaluate([policy], images, now=TODAY, source=source, selection=("ns",))
    second = evaluate([policy], images, now=TODAY, source=source, selection=("ns",))
    assert json.dumps(dataclasses.asdict(first.images[0].results[0]), default=str) == json.dumps(
        dataclasses.asdict(second.images[0].results[0]), default=str
    )
    assert first.source is source
    assert first.selection == ("ns",)
    assert first.now == TODAY
    assert first.policies == (policy,)


def test_require_images_fails_when_no_rule_applies_to_any_selected_image() -> None:
    """Selected images that every policy scopes out were not evaluated either: no silent pass."""
    policy = load_policy(
        "version: 1\nname: p\nscope: {namespaces: [prod-*]}\n"
        "rules: [{id: r, fail_if: imageVulAsap > 0}]\n"
    )
    images = [make_image("prod", metrics=TRUE)]  # "prod" is not "prod-*"
    lenient = run_engine(policy, images, selection=("prod",))
    assert lenient.exit_code == 0
    assert any("outside the scope of every policy" in w for w in lenient.warnings)
    strict = run_engine(policy, images, selection=("prod",), require_images=True)
    assert strict.summary()["checks"] == 0
    assert strict.exit_code == 1
    assert strict.empty_selection_fails
    assert any(
        "outside the scope of every policy" in w and "--require-images" in w
        for w in strict.warnings
    )
