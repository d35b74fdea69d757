"""Reports of any size: streamed output equal to the reference writers, and compacted JUnit.

The JSON report is written image by image and the JUnit suites are written directly, both for
speed at 100,000 images. These tests hold them to references, byte for byte, on arbitrary
data: ``to_document(report)`` dumped in the documented layout (indented, a result per line),
and junit-xml serialised by ElementTree. Then the JUnit size limits: past ``max_cases`` or
``max_bytes`` passing checks collapse into one case per policy, and nothing that did not pass
is ever dropped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gate.model import (
    Enforcement,
    Image,
    ImageReport,
    Outcome,
    Policy,
    Report,
    Result,
    Scope,
    Selector,
    SourceInfo,
    Waiver,
    WaiverReport,
    WaiverStatus,
)
from gate.report import junit
from gate.report.json_report import JsonFormat, to_document
from gate.report.junit import JunitFormat
from tests.conftest import load_policy, make_image, run_engine

ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)
SOME_TEXT = st.one_of(ANY_TEXT, st.sampled_from(["", "a", "a&b<c>\"d'", "x\x1b[31my", "\x1b["]))
NUMBERS = st.one_of(
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, 10**18]),
)


@st.composite
def results(draw: st.DrawFn, policy: str, file: str) -> Result:
    waiver = None
    if draw(st.booleans()):
        waiver = Waiver(
            policy=policy,
            rule=draw(SOME_TEXT),
            selectors=(Selector(draw(SOME_TEXT), lambda image: True),),
            reason=draw(SOME_TEXT),
            expires=draw(st.dates()),
            owner=draw(st.none() | SOME_TEXT),
        )
    outcome = draw(st.sampled_from(list(Outcome)))
    return Result(
        policy=policy,
        rule=draw(SOME_TEXT),
        enforcement=draw(st.sampled_from(list(Enforcement))),
        outcome=outcome,
        condition=draw(SOME_TEXT),
        values=draw(st.dictionaries(SOME_TEXT, NUMBERS, max_size=3)),
        message="" if outcome is Outcome.PASS and draw(st.booleans()) else draw(SOME_TEXT),
        waiver=waiver,
        file=draw(st.sampled_from(["", "policies/p.yaml", file])),
    )


@st.composite
def reports(draw: st.DrawFn) -> Report:
    policy_names = draw(st.lists(SOME_TEXT, min_size=1, max_size=3, unique=True))
    files = {name: draw(SOME_TEXT) for name in policy_names}
    shared = [draw(results(name, files[name])) for name in policy_names]
    entries = []
    for _ in range(draw(st.integers(0, 5))):
        image = Image(
            namespace=draw(SOME_TEXT),
            repository=draw(st.sampled_from(["repo", "r2"]) | SOME_TEXT),
            tag=draw(st.sampled_from(["v1", "app:v1", ""]) | SOME_TEXT),
            digest=draw(st.sampled_from(["", "sha256:" + "ab" * 32]) | SOME_TEXT),
            uuid=draw(st.sampled_from(["", "u1"]) | SOME_TEXT),
            image_id=draw(SOME_TEXT),
            ranked_in=draw(st.sampled_from([(), ("VulAsap",), ("VulAsap", "Baseline")])),
            metrics={},
        )
        own = draw(
            st.lists(
                st.sampled_from(shared)  # the same (passing) result object in many images
                | st.sampled_from(policy_names).flatmap(lambda p: results(p, files[p])),
                max_size=4,
            )
        )
        entries.append(ImageReport(image, tuple(own)))
    policies = tuple(
        Policy(name, draw(SOME_TEXT), files[name], Scope(), (), (), draw(st.booleans()))
        for name in policy_names
    )
    waivers = tuple(
        WaiverReport(r.waiver, draw(st.sampled_from(list(WaiverStatus))), 1, 3)
        for r in shared
        if r.waiver is not None
    )
    return Report(
        source=SourceInfo(kind="snapshot", path=draw(SOME_TEXT), request_id=draw(SOME_TEXT)),
        now=dt.date(2026, 6, 1),
        policies=policies,
        selection=tuple(draw(st.lists(SOME_TEXT, max_size=2))),
        images=tuple(entries),
        waivers=waivers,
        warnings=tuple(draw(st.lists(SOME_TEXT, max_size=2))),
        override=draw(st.none() | SOME_TEXT),
        require_images=draw(st.booleans()),
        refs=tuple(draw(st.lists(SOME_TEXT, max_size=2))),
    )


def parse(text: str) -> Any:
    return etree.fromstring(text.encode("utf-8"), etree.XMLParser(recover=False))


def reference_junit(report: Report) -> str:
    """The document as junit-xml and ElementTree write it (the writer before streaming)."""
    entries = [entry for entry in report.images if entry.results]
    suites = [
        junit._suite(entry, name)
        for entry, name in zip(entries, junit._identities(entries), strict=True)
    ]
    gate_suite = junit._gate_suite(report)
    if gate_suite is not None:
        suites.append(gate_suite)
    return junit._serialize(suites)


UNLIMITED = JunitFormat(max_bytes=10**12, max_cases=10**9)


def reference_json(report: Report) -> str:
    """to_document() indented by two spaces, each result on one line: the documented layout."""
    document = to_document(report)
    lines = {}
    for i, image in enumerate(document["images"]):
        for j, result in enumerate(image["results"]):
            placeholder = f"\x00{i}:{j}\x00"
            lines[json.dumps(placeholder)] = json.dumps(result)
            image["results"][j] = placeholder
    text = json.dumps(document, indent=2)
    for placeholder, line in lines.items():
        text = text.replace(placeholder, line, 1)
    return text + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report=reports())
def test_streamed_json_is_the_document_one_result_per_line(report: Report) -> None:
    text = JsonFormat().render(report)
    assert text == reference_json(report)
    assert json.loads(text) == json.loads(json.dumps(to_document(report)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report=reports())
def test_directly_written_junit_is_exactly_what_junit_xml_writes(report: Report) -> None:
    text = UNLIMITED.render(report)
    assert text == reference_junit(report)
    parse(text)  # and strictly well-formed, whatever the data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report=reports(), max_cases=st.integers(1, 6), max_bytes=st.integers(1, 5000))
def test_compacting_keeps_every_check_that_did_not_pass(
    report: Report, max_cases: int, max_bytes: int
) -> None:
    plan = JunitFormat(max_bytes=max_bytes, max_cases=max_cases).plan(report)
    root = parse("".join(plan.chunks()))
    summary = report.summary()
    nothing_evaluated = not any(entry.results for entry in report.images)  # the gate suite
    assert root.get("failures") == str(
        summary["fail"] + (nothing_evaluated and report.require_images)
    )
    assert root.get("errors") == str(summary["error"])
    assert int(root.get("tests")) == len(root.findall(".//testcase"))
    if not plan.compacted:
        assert "".join(plan.chunks()) == reference_junit(report)
        return
    kept = Counter(
        child.tag for case in root.iter("testcase") for child in case if child.tag != "system-out"
    )
    assert kept["failure"] == summary["fail"]
    assert kept["error"] == summary["error"]
    assert kept["skipped"] == summary["warn"] + summary["waived"] + summary["overridden"]
    (marker,) = root.xpath("//property[@name='compacted']")
    assert marker.get("value") == "true"
    assert plan.notes and "compacted" in plan.notes[0]
    passing = root.xpath("//testcase[@classname='gate.compacted']")
    counted = sum(int(case.get("name").rsplit(": ", 1)[1].split(" ")[0]) for case in passing)
    assert counted == summary["pass"]


def big_report(images: int, failing: int = 0) -> Report:
    policy = load_policy(
        "version: 1\nname: big\nrules:\n"
        + "".join(f"  - {{id: r{n}, fail_if: imageVulAsap > {n}}}\n" for n in range(10))
    )
    made = [
        make_image("ns", f"repo-{n}", "v1", metrics={"imageVulAsap": 100 if n < failing else 0})
        for n in range(images)
    ]
    return run_engine(policy, made)


def test_the_case_limit_compacts_passes_into_one_case_per_policy() -> None:
    report = big_report(300, failing=2)  # 3,000 cases: 2 images fail all 10 rules
    plan = JunitFormat(max_cases=1000).plan(report)
    root = parse("".join(plan.chunks()))
    assert plan.compacted
    assert len(root.findall(".//failure")) == 20
    assert root.get("tests") == "21"  # 20 failures and the summary case
    (summary,) = root.xpath("//testcase[@classname='gate.compacted']")
    assert summary.get("name") == "big: 2,980 passing check(s), 298 image(s) passed all"
    assert summary.get("file") == "policy.yaml"
    assert "3,000 cases, more than the limit of 1,000" in summary.findtext("system-out")
    assert "3,000 cases, more than the limit of 1,000" in plan.notes[0]


def test_the_byte_limit_compacts_too_and_the_result_fits() -> None:
    report = big_report(300, failing=2)
    full = UNLIMITED.render(report)
    plan = JunitFormat(max_bytes=len(full) // 2).plan(report)
    text = "".join(plan.chunks())
    assert plan.compacted
    assert len(text.encode()) < len(full) // 2
    assert len(plan.notes) == 1  # no "still over the limit" note


def test_at_the_limits_the_report_is_full() -> None:
    report = big_report(10)
    full = UNLIMITED.render(report)
    plan = JunitFormat(max_cases=100, max_bytes=len(full.encode())).plan(report)
    assert not plan.compacted
    assert "".join(plan.chunks()) == full


def test_a_compacted_report_still_over_the_limit_says_so() -> None:
    report = big_report(50, failing=50)
    plan = JunitFormat(max_cases=100).plan(report)
    root = parse("".join(plan.chunks()))
    assert len(root.findall(".//failure")) == 500  # none dropped
    assert any("still has 500 cases" in note for note in plan.notes)


def test_large_reports_stay_valid_against_the_junit_schema(junit_xsd: Any) -> None:
    schema = etree.XMLSchema(etree.parse(str(junit_xsd)))
    report = big_report(300, failing=3)
    for writer in (UNLIMITED, JunitFormat(max_cases=100)):
        tree = parse(writer.render(report))
        for element in tree.iter("testsuite", "testsuites"):
            element.attrib.pop("disabled", None)
        for element in tree.iter("testcase"):
            element.attrib.pop("file", None)
        assert schema.validate(tree), schema.error_log


@pytest.mark.parametrize("value", [0, 0.0, -0.0, 1, 1.5, 10**18])
def test_shared_passing_results_keep_their_own_values(value: float) -> None:
    """Images with equal but differently typed values never share a passing result."""
    policy = load_policy("version: 1\nname: p\nrules: [{id: r, fail_if: imageVulAsap > 1}]\n")
    images = [
        make_image("ns", f"r{n}", "v", metrics={"imageVulAsap": v})
        for n, v in enumerate([0, 0.0, value, -0.0, 0, value])
    ]
    together = to_document(run_engine(policy, images))
    alone = [to_document(run_engine(policy, [image]))["images"][0] for image in images]
    assert json.dumps(together["images"]) == json.dumps(alone)
