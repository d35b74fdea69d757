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
import random
import re
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from junitparser import Failure, JUnitXml
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
from tests.conftest import REPO_ROOT, load_policy, make_image, run_engine

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


def element_count(root: Any) -> int:
    """Every element node of the document, as GitLab counts them (text excluded)."""
    return sum(1 for _ in root.iter(tag=etree.Element))


def collapsed_cases(root: Any, kind: str) -> dict[str, Any]:
    """The cases of the suite ``gate: {kind} results (compacted)``, by message."""
    cases = root.xpath(f"//testsuite[@name='gate: {kind} results (compacted)']/testcase")
    return {child.get("message"): child for case in cases for child in case}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    report=reports(),
    max_cases=st.integers(1, 8),
    max_bytes=st.integers(1, 8000),
    max_elements=st.integers(1, 60),
)
def test_compacting_in_stages_never_hides_a_blocking_result(
    report: Report, max_cases: int, max_bytes: int, max_elements: int
) -> None:
    writer = JunitFormat(max_bytes=max_bytes, max_cases=max_cases, max_elements=max_elements)
    plan = writer.plan(report)
    text = "".join(plan.chunks())
    root = parse(text)
    summary = report.summary()
    nothing_evaluated = not any(entry.results for entry in report.images)  # the gate suite
    gate_failure = int(nothing_evaluated and report.require_images)
    cases = root.findall(".//testcase")
    assert int(root.get("tests")) == len(cases) == plan.cases
    assert int(root.get("failures")) == len(root.findall(".//failure"))
    assert int(root.get("errors")) == len(root.findall(".//error"))
    assert element_count(root) == plan.elements
    assert plan.size == len(text.encode("utf-8", "surrogatepass"))
    if not plan.compacted:
        assert plan.stage == junit.FULL
        assert text == reference_junit(report)
        return
    (marker,) = root.xpath("//property[@name='compacted']")
    assert marker.get("value") == "true"
    assert plan.notes and f"stage {plan.stage} of 3" in plan.notes[0]
    passing = root.xpath("//testcase[@classname='gate.compacted' and system-out]")
    counted = sum(int(case.get("name").rsplit(": ", 1)[1].split(" ")[0]) for case in passing)
    assert counted == summary["pass"]
    per_image = Counter(
        child.tag
        for suite in root.iter("testsuite")
        if not suite.get("name").startswith("gate")
        or suite.find("properties/property[@name='digest']") is not None
        for case in suite.iter("testcase")
        for child in case
        if child.tag != "system-out"
    )
    fits = plan.cases <= max_cases and plan.elements <= max_elements and plan.size <= max_bytes
    assert fits or plan.stage == junit.BLOCKING
    assert fits == (not any("still has" in note for note in plan.notes))
    non_blocking = summary["warn"] + summary["waived"] + summary["overridden"]
    if plan.stage == junit.PASSING:
        assert per_image["failure"] == summary["fail"]
        assert per_image["error"] == summary["error"]
        assert per_image["skipped"] == non_blocking
        return
    groups = Counter(
        (r.policy, r.rule, r.outcome.blocking)
        for entry in report.images
        for r in entry.results
        if r.outcome is not Outcome.PASS
    )
    skipped = collapsed_cases(root, "non-blocking")
    assert len(skipped) == len([key for key in groups if not key[2]])
    assert all(element.tag == "skipped" for element in skipped.values())
    assert all(m.startswith("compacted: ") and "JSON report" in m for m in skipped)
    if plan.stage == junit.NON_BLOCKING:
        assert per_image["failure"] == summary["fail"]
        assert per_image["error"] == summary["error"]
        assert per_image["skipped"] == 0
        return
    assert per_image == Counter()
    blocking = collapsed_cases(root, "blocking")
    assert len(blocking) == len([key for key in groups if key[2]])
    assert len(root.findall(".//failure")) + len(root.findall(".//error")) == (
        len(blocking) + gate_failure
    )
    expected = Counter()
    for entry in report.images:
        for r in entry.results:
            if r.outcome.blocking:
                expected[(r.policy, r.rule)] += 1
    found = []
    for message in blocking:
        assert "JSON report" in message
        numbers = re.search(r"(?:failed|could not be evaluated) on ([\d,]+) image", message)
        both = re.search(
            r"failed on ([\d,]+) image\(s\) and could not be evaluated on ([\d,]+)", message
        )
        if both:
            found.append(int(both[1].replace(",", "")) + int(both[2].replace(",", "")))
        else:
            assert numbers
            found.append(int(numbers[1].replace(",", "")))
    assert sorted(found) == sorted(expected.values())


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


def test_when_failures_alone_are_too_many_they_collapse_one_case_per_rule() -> None:
    report = big_report(50, failing=50)  # 500 failures: more than the 100 cases allowed
    plan = JunitFormat(max_cases=100).plan(report)
    root = parse("".join(plan.chunks()))
    assert plan.stage == junit.BLOCKING
    failures = root.findall(".//failure")
    assert len(failures) == 10  # one per rule, none of the rules lost
    for n, failure in enumerate(failures):
        assert failure.get("message").startswith(f"big/r{n} failed on 50 image(s); worst first: ")
        assert "the JSON report (--json) lists every result" in failure.get("message")
        assert failure.get("type") == "policy.hard-mandatory"
        case = failure.getparent()
        assert case.get("name") == f"big/r{n} [compacted: every image with a blocking result]"
    assert root.get("failures") == "10"
    (note,) = plan.notes
    assert note.startswith("the JUnit report was compacted (stage 3 of 3: blocking results")
    assert "the full report would have 500 cases, more than the limit of 100" in note
    assert "500 blocking result(s) (fail, error) in one failed case per rule (10 rule(s))" in note


def test_a_compacted_report_still_over_the_limit_says_so() -> None:
    report = big_report(50, failing=50)
    plan = JunitFormat(max_cases=5).plan(report)
    root = parse("".join(plan.chunks()))
    assert len(root.findall(".//failure")) == 10  # every failing rule keeps its case
    assert any("still has 10 cases" in note for note in plan.notes)


def test_the_worst_images_come_first_by_the_rules_values() -> None:
    policy = load_policy("version: 1\nname: p\nrules: [{id: urgent, fail_if: imageVulAsap > 0}]\n")
    values = [3, 0, 7, 1, 7, 40, 2]
    images = [
        make_image("ns", f"repo-{n}", "v1", metrics={"imageVulAsap": v})
        for n, v in enumerate(values)
    ]
    plan = JunitFormat(max_cases=2).plan(run_engine(policy, images))
    (failure,) = parse("".join(plan.chunks())).findall(".//failure")
    assert failure.get("message").startswith(
        "p/urgent failed on 6 image(s); worst first: ns/repo-5:v1 (imageVulAsap = 40), "
        "ns/repo-2:v1 (imageVulAsap = 7), ns/repo-4:v1 (imageVulAsap = 7) and 3 more; "
    )
    listed = [line.split(" [")[0].strip() for line in failure.text.splitlines() if "[fail]" in line]
    assert listed == [f"ns/repo-{n}:v1" for n in (5, 2, 4, 0, 6, 3)]


def staged_report() -> Report:
    """Per image: a hard failure on some, an advisory warning on most, passes on the rest."""
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - {id: hard, fail_if: imageVulAsap > 5}
          - {id: advice, fail_if: imageVulLater > 0, enforcement: advisory}
          - {id: fine, fail_if: imageVulNntf > 0}
        """
    )
    images = [
        make_image(
            "ns",
            f"repo-{n}",
            "v1",
            metrics={"imageVulAsap": n % 10, "imageVulLater": n, "imageVulNntf": 0},
        )
        for n in range(100)
    ]
    return run_engine(policy, images)


def test_non_blocking_results_collapse_before_blocking_ones() -> None:
    report = staged_report()  # 40 failures in 40 images, 99 warnings, 161 passes
    summary = report.summary()
    assert (summary["fail"], summary["warn"]) == (40, 99)
    plan = JunitFormat(max_cases=100).plan(report)
    root = parse("".join(plan.chunks()))
    assert plan.stage == junit.NON_BLOCKING
    assert len(root.findall(".//failure")) == 40  # every failure still listed per image
    (skipped,) = root.findall(".//skipped")
    assert skipped.get("type") == "policy.compacted"
    assert skipped.get("message").startswith(
        "compacted: p/advice 99 image(s) warned; worst first: ns/repo-99:v1 (imageVulLater = 99)"
    )
    (note,) = plan.notes
    assert "stage 2 of 3: non-blocking results collapsed" in note
    assert "with passing checks collapsed, 140 cases (limit 100)" in note
    assert "99 non-blocking result(s) (warn, waived, overridden) in one skipped case" in note
    assert "every failure and error is listed" in note


@pytest.mark.parametrize("images", [1, 10, 1000, 5000])
def test_a_blocking_result_stays_visible_however_many_images_fail(images: int) -> None:
    policy = load_policy(
        "version: 1\nname: p\nrules:\n"
        "  - {id: urgent, fail_if: imageVulAsap > 0}\n"
        "  - {id: advice, fail_if: imageVulLater > 0, enforcement: advisory}\n"
    )
    made = [
        make_image("ns", f"r{n}", "v1", metrics={"imageVulAsap": n % 3, "imageVulLater": 1})
        for n in range(images)
    ]
    failing = sum(1 for n in range(images) if n % 3)
    for limits in ({"max_cases": 3}, {"max_elements": 20}, {"max_bytes": 3000}, {}):
        plan = JunitFormat(**limits).plan(run_engine(policy, made))
        root = parse("".join(plan.chunks()))
        messages = [f.get("message") for f in root.iter("failure")]
        if failing == 0:
            assert messages == []
            continue
        per_image = [m for m in messages if m.startswith("p/urgent failed: ")]
        collapsed = [m for m in messages if m.startswith(f"p/urgent failed on {failing:,} image")]
        assert len(per_image) == failing or collapsed, (limits, plan.stage)
        assert element_count(root) <= limits.get("max_elements", junit.DEFAULT_MAX_ELEMENTS)


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


# --- whole rankings: the benchmark profiles at the sizes GitLab sees ------------------------

BENCH_POLICY = REPO_ROOT / "benchmarks" / "policy.yaml"


def profile_report(profile: str, images: int) -> Report:
    """``images`` images with counters drawn as benchmarks/generate.py draws them."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        from generate import _detail
    finally:
        sys.path.pop(0)
    policy = load_policy(BENCH_POLICY.read_text(), file="benchmarks/policy.yaml")
    wanted = set(policy.rules[0].condition.metrics).union(
        *(rule.condition.metrics for rule in policy.rules)
    )
    rng = random.Random(9)
    made = []
    for n in range(images):
        detail = _detail(rng, "", profile)
        metrics = {name: detail[name] for name in wanted}
        made.append(make_image(f"ns-{n % 7}", f"repo-{n % 997}", f"v{n}", metrics=metrics))
    return run_engine(policy, made)


def whole_ranking_facts(profile: str, scale: int, xsd: str) -> dict[str, Any]:
    """Run in a child process (see below): the JUnit report of 100,000 images of ``profile``
    with every limit divided by ``scale``, as lxml, junitparser and the schema read it."""
    report = profile_report(profile, 100_000)
    writer = JunitFormat(
        max_bytes=junit.DEFAULT_MAX_BYTES // scale,
        max_cases=junit.GITLAB_MAX_CASES // scale,
        max_elements=junit.DEFAULT_MAX_ELEMENTS // scale,
    )
    plan = writer.plan(report)
    data = "".join(plan.chunks()).encode("utf-8")
    root = etree.fromstring(data, etree.XMLParser(recover=False, huge_tree=True))
    xml = JUnitXml.fromstring(data)
    cases = [case for suite in xml for case in suite]
    failed = [case for case in cases if any(isinstance(r, Failure) for r in case.result)]
    facts: dict[str, Any] = {
        "bytes": len(data),
        "elements": element_count(root),
        "cases": len(root.findall(".//testcase")),
        "junitparser_cases": len(cases),
        "failed_cases": len(failed),
        "failed_messages": [case.result[0].message for case in failed][:50],
        "plan": [plan.stage, plan.elements, plan.cases, plan.compacted],
        "fail": report.summary()["fail"],
        "failing_rules": len(
            {(r.policy, r.rule) for e in report.images for r in e.results if r.outcome.blocking}
        ),
        "notes": plan.notes,
    }
    if xsd:
        schema = etree.XMLSchema(etree.parse(xsd))
        for element in root.iter("testsuite", "testsuites"):
            element.attrib.pop("disabled", None)
        for element in root.iter("testcase"):
            element.attrib.pop("file", None)
        facts["valid"] = bool(schema.validate(root))
        facts["schema_errors"] = str(schema.error_log)[:2000]
    return facts


@pytest.mark.parametrize("profile", ["typical", "failing"])
@pytest.mark.parametrize("scale", [1, 3], ids=["100k", "as-if-300k"])
def test_whole_rankings_stay_inside_gitlabs_limits_and_parse(
    profile: str, scale: int, request: pytest.FixtureRequest
) -> None:
    """At 100,000 images, and with every limit a third as large (what 300,000 images meet):
    under the element, case and byte limits, read by lxml and junitparser, valid against
    the schema, and every rule that blocks is visible as a failed case. In a child process,
    so that this one (which forks the other tests' commands) does not grow."""
    try:  # the schema when there is one; the limits and parsers in any case
        xsd = str(request.getfixturevalue("junit_xsd"))
    except pytest.skip.Exception:
        xsd = ""
    code = (
        "import json, sys; from tests.report import test_large_reports as t; "
        "print(json.dumps(t.whole_ranking_facts(sys.argv[1], int(sys.argv[2]), sys.argv[3])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, profile, str(scale), xsd],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    stage, elements, cases, compacted = facts["plan"]
    assert compacted
    assert facts["bytes"] <= junit.DEFAULT_MAX_BYTES // scale
    assert facts["elements"] == elements <= junit.DEFAULT_MAX_ELEMENTS // scale
    assert facts["cases"] == facts["junitparser_cases"] == cases <= junit.GITLAB_MAX_CASES // scale
    if stage == junit.BLOCKING:
        assert facts["failed_cases"] == facts["failing_rules"]
        for message in facts["failed_messages"]:
            assert " failed on " in message and "JSON report" in message
    else:
        assert facts["failed_cases"] == facts["fail"]
    assert facts.get("valid", True), facts.get("schema_errors")
