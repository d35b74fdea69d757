"""The engine's shortcuts for large rankings change nothing an image's results say.

Passing results are shared between images with the same integer values, complete images take
a loop without the per-rule "missing" check, and the engine hands each image its verdict.
Evaluating many images together must give, image by image, exactly what evaluating each
one alone gives, value types included.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.report.json_report import to_document
from tests.conftest import load_policy, make_image, run_engine

POLICIES = [
    load_policy(
        """
        version: 1
        name: main
        rules:
          - {id: urgent, fail_if: imageVulAsap > 0}
          - {id: budget, fail_if: imageVulLater + VulCount > 5, enforcement: advisory}
          - {id: soft, fail_if: imageBaselineHigh >= 1, enforcement: soft-mandatory}
          - {id: scoped, fail_if: imageVulAsap > 2, scope: {tags: ["v1"]}}
        waivers:
          - {rule: urgent, images: ["ns/waived:*"], reason: known, expires: 2026-12-31}
          - {rule: urgent, images: ["ns/old:*"], reason: gone, expires: 2020-01-01}
        """,
        file="main.yaml",
    ),
    load_policy(
        """
        version: 1
        name: prod
        scope: {namespaces: ["prod"]}
        rules:
          - {id: none, fail_if: imageVulAsap == 0 and not imageVulLater != 0}
        """,
        file="prod.yaml",
    ),
]
METRICS = ["imageVulAsap", "imageVulLater", "VulCount", "imageBaselineHigh"]
VALUES = st.one_of(st.integers(0, 3), st.sampled_from([0.0, -0.0, 1.0, 2.5, 10**18]))
IMAGES = st.builds(
    lambda ns, repo, tag, metrics: make_image(ns, repo, tag, metrics=metrics),
    st.sampled_from(["ns", "prod"]),
    st.sampled_from(["app", "waived", "old"]),
    st.sampled_from(["v1", "v2"]),
    st.dictionaries(st.sampled_from(METRICS), VALUES),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images=st.lists(IMAGES, max_size=12), override=st.sampled_from([None, "release"]))
def test_evaluating_together_is_evaluating_each_alone(images: list[Any], override: Any) -> None:
    together = run_engine(POLICIES, images, override=override)
    alone = [run_engine(POLICIES, [image], override=override) for image in images]
    document = to_document(together)
    assert json.dumps(document["images"]) == json.dumps(
        [to_document(report)["images"][0] for report in alone]
    )
    for entry in together.images:
        assert entry.blocking == any(r.outcome.blocking for r in entry.results)
        assert entry.verdict == ("fail" if entry.blocking else "pass")
    summary = together.summary()
    assert summary == dataclasses.replace(together).summary()  # the engine's tally: a recount
    for key in ("pass", "fail", "warn", "waived", "overridden", "error", "checks"):
        assert summary[key] == sum(report.summary()[key] for report in alone)
    uses = {(w.waiver.rule, w.waiver.reason): w.uses for w in together.waivers}
    for key in uses:
        expected = sum(
            w.uses
            for report in alone
            for w in report.waivers
            if (w.waiver.rule, w.waiver.reason) == key
        )
        assert uses[key] == expected


def test_failures_are_shared_unless_a_waiver_names_the_rule() -> None:
    """A risk ranking fails most images: a failure with the same values is one object (the
    reports render it once), except where a waiver makes the outcome depend on the image."""
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - {id: plain, fail_if: imageVulAsap > 0}
          - {id: waived, fail_if: imageVulLater > 0}
        waivers:
          - {rule: waived, images: ["ns/keep:*"], reason: known, expires: 2026-12-31}
        """
    )
    images = [
        make_image("ns", repo, "v1", metrics={"imageVulAsap": 3, "imageVulLater": 2})
        for repo in ("a", "b", "keep", "c")
    ]
    report = run_engine(policy, images)
    plain = [entry.results[0] for entry in report.images]
    assert all(result is plain[0] for result in plain)
    waived = [entry.results[1] for entry in report.images]
    assert [r.outcome.value for r in waived] == ["fail", "fail", "waived", "fail"]
    assert waived[0] is not waived[1]  # judged image by image
    (usage,) = report.waivers
    assert usage.uses == 1
