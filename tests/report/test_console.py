"""The console report: what a person needs at a glance."""

from __future__ import annotations

import re
from typing import Any

from gate.model import Report
from gate.report.console import ConsoleFormat
from gate.source.normalize import normalize
from tests.conftest import image_entry, load_policy, make_image, ranking_body, run_engine

ANSI = re.compile(r"\x1b\[")

POLICY = """
version: 1
name: prod
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
  - {id: baseline, fail_if: imageBaselineHigh > 0, enforcement: soft-mandatory}
  - {id: budget, fail_if: imageVulLater > 50 or imageVulNntf >= 500, enforcement: advisory}
waivers:
  - {rule: urgent, images: ["ns/waived:*"], reason: SEC-9, expires: 2026-06-05, owner: ops}
  - {rule: urgent, images: ["nowhere/*"], reason: SEC-10, expires: 2099-01-01}
"""


def report(**kwargs: Any) -> Report:
    policy = load_policy(POLICY, file="policies/prod.yaml")
    images = [
        make_image(
            "ns",
            "api",
            "app:v1",
            metrics={
                "imageVulAsap": 3,
                "imageBaselineHigh": 1,
                "imageVulLater": 182,
                "imageVulNntf": 1,
            },
            digest="d97c1348e56eb529aaaa",
        ),
        make_image(
            "ns",
            "waived",
            "v1",
            metrics={
                "imageVulAsap": 1,
                "imageBaselineHigh": 0,
                "imageVulLater": 0,
                "imageVulNntf": 0,
            },
        ),
        make_image(
            "ns",
            "clean",
            "v1",
            metrics={
                "imageVulAsap": 0,
                "imageBaselineHigh": 0,
                "imageVulLater": 0,
                "imageVulNntf": 0,
            },
        ),
    ]
    return run_engine(policy, images, **kwargs)


def test_failing_image_shows_rule_enforcement_condition_and_values() -> None:
    text = ConsoleFormat().render(report())
    assert "✗ ns/api:app:v1" in text
    assert "digest d97c1348e56e" in text
    assert "FAIL     prod/urgent  [hard-mandatory]" in text
    assert "imageVulAsap = 3 > 0" in text
    assert "prod/baseline  [soft-mandatory]" in text
    assert "imageBaselineHigh = 1 > 0" in text
    assert '--override "REASON"' in text  # what to change to let a soft rule pass
    assert "WARN     prod/budget  [advisory]" in text
    assert "imageVulLater = 182 > 50" in text


def test_waived_image_and_passing_images() -> None:
    text = ConsoleFormat().render(report())
    assert "WAIVED   prod/urgent" in text
    assert "SEC-9" in text
    assert "ns/clean:v1" not in text  # passing images are counted, not listed
    assert "1 image(s) passed every check" in text


def test_summary_and_verdict_lines_end_the_report() -> None:
    lines = ConsoleFormat().render(report()).rstrip("\n").splitlines()
    assert lines[-2] == (
        "3 image(s), 9 check(s): 5 pass, 2 fail, 0 error, 1 warn, 1 waived, 0 overridden"
    )
    assert lines[-1] == "FAIL: the gate blocks: 2 blocking result(s) in 1 image(s) (exit 1)"


def test_header_names_source_namespaces_policies_and_date() -> None:
    text = ConsoleFormat().render(report())
    assert "snapshot test.json" in text
    assert "namespaces: ns" in text
    assert "prod (policies/prod.yaml)" in text
    assert "date:       2026-06-01" in text


def test_waivers_needing_attention_are_listed() -> None:
    text = ConsoleFormat().render(report())
    assert "expiring prod/urgent on ns/waived:*" in text
    assert "unused   prod/urgent on nowhere/*" in text
    assert "expires in 4 days" in text


def test_override_is_shown() -> None:
    text = ConsoleFormat().render(report(override="CAB-42"))
    assert "OVERRIDE prod/baseline" in text
    assert "Override in effect for soft-mandatory rules: CAB-42" in text
    assert "PASS" not in text.splitlines()[-1]  # the hard-mandatory failure still blocks


def test_quiet_prints_only_summary_and_verdict() -> None:
    lines = ConsoleFormat(quiet=True, banner="BANNER").render(report()).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("3 image(s), 9 check(s)")
    assert lines[1].startswith("FAIL:")


def test_pass_verdict() -> None:
    policy = load_policy(POLICY)
    passing = run_engine(
        policy,
        [
            make_image(
                metrics=dict.fromkeys(
                    ("imageVulAsap", "imageBaselineHigh", "imageVulLater", "imageVulNntf"), 0
                )
            )
        ],
    )
    assert ConsoleFormat().render(passing).splitlines()[-1] == "PASS: the gate passes (exit 0)"


def test_empty_selection_warning_names_the_namespaces() -> None:
    policy = load_policy(POLICY)
    text = ConsoleFormat().render(run_engine(policy, [], selection=("prod-*", "payments")))
    assert "Warnings:" in text
    assert "no ranked image matched prod-*, payments: nothing was evaluated" in text
    assert text.splitlines()[-1].startswith("PASS")
    failing = run_engine(policy, [], selection=("prod-*",), require_images=True)
    assert ConsoleFormat().render(failing).splitlines()[-1] == (
        "FAIL: no image was evaluated and --require-images is set (exit 1)"
    )


def test_banner_comes_first() -> None:
    text = ConsoleFormat(banner="Demo: expected to BLOCK").render(report())
    assert text.startswith("Demo: expected to BLOCK\n")


def test_no_colour_unless_asked() -> None:
    assert not ANSI.search(ConsoleFormat().render(report()))
    assert ANSI.search(ConsoleFormat(color=True).render(report()))


def test_escapes_and_unprintable_data_never_reach_the_terminal() -> None:
    hostile = "x\x1b[2J\x1b]0;pwned\x07\r\x00\ud800"
    body = ranking_body(
        vul_asap=[image_entry(f"ns{hostile}", "repo", f"v1{hostile}", detail={"imageVulAsap": 1})]
    )
    policy = load_policy(POLICY)
    text = ConsoleFormat().render(
        run_engine(
            policy, normalize(body).images, override=f"ok{hostile}", selection=(f"n{hostile}",)
        )
    )
    assert "\x1b" not in text
    assert "\x00" not in text and "\r" not in text and "\x07" not in text
    text.encode("utf-8")  # no lone surrogate: printing it would crash the run
