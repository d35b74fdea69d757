"""``Report.unmatched``: --namespace patterns that matched nothing are a warning everywhere."""

from __future__ import annotations

import dataclasses
import json

from gate.model import Report
from gate.report.console import ConsoleFormat
from gate.report.github import AnnotationsFormat, MarkdownFormat
from gate.report.gitlab import GitlabConsoleFormat
from gate.report.json_report import JsonFormat
from tests.conftest import load_policy, make_image, policy_text, run_engine

NOTE = "--namespace 'prod-*' matched no ranked image"


def report() -> Report:
    clean = make_image("stage", "api", metrics={"imageVulAsap": 0})
    passing = run_engine(load_policy(policy_text()), [clean], selection=("stage", "prod-*"))
    return dataclasses.replace(passing, unmatched=("prod-*",))


def test_unmatched_pattern_is_a_warning_in_every_report() -> None:
    rep = report()
    assert rep.verdict == "pass" and rep.notes == (NOTE,)
    document = json.loads(JsonFormat().render(rep))
    assert document["unmatched"] == ["prod-*"]
    assert document["warnings"] == [NOTE]
    quiet = ConsoleFormat(quiet=True).render(rep)
    assert NOTE in quiet
    assert quiet.rstrip().endswith("PASS with warnings: the gate passes (exit 0)")
    summary = MarkdownFormat().render(rep)
    assert summary.startswith("## ⚠️ Image gate: PASS with warnings (1 warning(s))")
    assert "--namespace 'prod-\\*' matched no ranked image" in summary
    assert f"::warning title=Image gate::{NOTE}" in AnnotationsFormat().render(rep)
    gitlab = GitlabConsoleFormat(timestamp=1).render(rep)
    assert "section_start:1:gate_notes[collapsed=false]" in gitlab


def test_no_unmatched_pattern_no_warning() -> None:
    rep = dataclasses.replace(report(), unmatched=())
    assert rep.notes == ()
    assert MarkdownFormat().render(rep).startswith("## ✅ Image gate: PASS")
    assert json.loads(JsonFormat().render(rep))["unmatched"] == []
