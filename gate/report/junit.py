"""JUnit XML for CI test views (GitLab, GitHub report actions, Jenkins), as junit-xml writes it.

One ``<testsuite>`` per image, named by its stable identity ``namespace/repository:tag``;
one ``<testcase>`` per evaluated (policy, rule), named ``policy/rule [identity]`` with the
identity as classname and the policy file as ``file``. ``fail`` is a ``<failure>``, ``error``
an ``<error>``; ``warn``, ``waived`` and ``overridden`` are ``<skipped>`` with a reason.
Consumers' quirks shape the details: every body is non-empty (an empty one shows as a raw
hash), ``type`` values are dotted (``policy.hard-mandatory``; ``date``, ``yaml`` and
``symbol`` mean something else to some parsers), and all text is stripped of characters XML
cannot carry, since one of them makes GitLab reject the whole file.

Size: GitLab rejects a report over 30 MB or 500,000 cases, and a whole account is 100,000
images x 10 rules. When the full report would exceed ``max_cases`` (default 200,000) or
``max_bytes`` (default 20 MB), it is compacted: every image with a result other than
``pass`` keeps its suite with those cases (failures and errors are never dropped), and all
passing checks collapse into one case per policy in a suite that says it was compacted
(property ``compacted``); :attr:`JunitPlan.notes` tells the run's other reports.

Speed: the document is streamed suite by suite. Image suites are written by
:func:`_suite_text`, which produces exactly the bytes junit-xml and ElementTree would (the
tests compare them on arbitrary data) at a seventh of the cost; junit-xml writes the
run-level suites and the error report, and stays the reference.
"""

from __future__ import annotations

import operator
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from junit_xml import TestCase, TestSuite

from gate.model import ImageReport, Outcome, Policy, Report, Result
from gate.report import Format
from gate.report.text import one_line, xml_safe

_SKIP_LABEL = {
    Outcome.WARN: "warning",
    Outcome.WAIVED: "waived",
    Outcome.OVERRIDDEN: "overridden",
}


_SKIP_TYPES = set(_SKIP_LABEL.values())

DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_MAX_CASES = 200_000
GITLAB_MAX_BYTES = 30_000_000
GITLAB_MAX_CASES = 500_000
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


def _body(result: Result, headline: str) -> str:
    lines = [
        headline,
        f"policy: {result.policy}" + (f" ({result.file})" if result.file else ""),
        f"rule: {result.rule} [{result.enforcement.value}]",
        f"condition: {result.condition}",
    ]
    if result.values:
        values = ", ".join(f"{k} = {v}" for k, v in result.values.items())
        lines.append(f"values: {values}")
    if result.waiver is not None:
        owner = f", owner {result.waiver.owner}" if result.waiver.owner else ""
        lines.append(
            f"waiver: until {result.waiver.expires.isoformat()}{owner}: {result.waiver.reason}"
        )
    return "\n".join(lines)


def _problem(result: Result) -> tuple[str, str, str, str]:
    """What a non-passing result adds to its case: (element, type, message, body)."""
    outcome = result.outcome
    if outcome is Outcome.FAIL:
        headline = xml_safe(one_line(f"{result.policy}/{result.rule} failed: {result.message}"))
        kind = f"policy.{result.enforcement.value}"
        return "failure", kind, headline, xml_safe(_body(result, headline))
    if outcome is Outcome.ERROR:
        headline = xml_safe(
            one_line(f"{result.policy}/{result.rule} could not be evaluated: {result.message}")
        )
        return "error", "data.error", headline, xml_safe(_body(result, headline))
    label = _SKIP_LABEL[outcome]
    headline = xml_safe(one_line(f"{label}: {result.policy}/{result.rule}: {result.message}"))
    return "skipped", _skip_type(headline), headline, xml_safe(_body(result, headline))


def _skip_type(message: str) -> str:
    label = message.split(":", 1)[0]
    return f"policy.{label}" if label in _SKIP_TYPES else "gate.skipped"


def _case(identity: str, result: Result) -> TestCase:
    case = TestCase(
        xml_safe(f"{result.policy}/{result.rule} [{identity}]"),
        classname=identity,
        file=xml_safe(result.file),
    )
    if result.outcome is Outcome.PASS:
        return case
    element, kind, message, body = _problem(result)
    if element == "failure":
        case.add_failure_info(message=message, output=body, failure_type=kind)
    elif element == "error":
        case.add_error_info(message=message, output=body, error_type=kind)
    else:
        case.add_skipped_info(message=message, output=body)  # its type is set in _element
    return case


def _identities(entries: Sequence[ImageReport]) -> list[str]:
    """Each image's name for CI views, unique within the report.

    Consumers collapse cases with the same suite, classname and name, so images that share
    ``namespace/repository:tag`` (a re-pushed tag ranked twice) are told apart by digest,
    else by uuid, else by an ordinal.
    """
    names = [xml_safe(entry.image.name) for entry in entries]
    shared = {name for name, count in Counter(names).items() if count > 1}
    taken: set[str] = set()
    identities: list[str] = []
    for entry, name in zip(entries, names, strict=True):
        identity = name
        if name in shared:
            digest = xml_safe(entry.image.digest.lower().removeprefix("sha256:"))[:12]
            uuid = xml_safe(entry.image.uuid)
            candidates = [f"{name} (digest {digest})" if digest else "", f"{name} (uuid {uuid})"]
            identity = next((c for c in candidates if c and c not in taken), name)
        base, ordinal = identity, 2
        while identity in taken:
            identity, ordinal = f"{base} #{ordinal}", ordinal + 1
        taken.add(identity)
        identities.append(identity)
    return identities


def _properties(entry: ImageReport) -> dict[str, str]:
    image = entry.image
    return {
        "digest": xml_safe(image.digest),
        "uuid": xml_safe(image.uuid),
        "image_id": xml_safe(image.image_id),
        "ranked_in": ",".join(image.ranked_in),
        **_explanation_property(entry),
    }


def _explanation_property(entry: ImageReport) -> dict[str, str]:
    """``--explain``: the worst vulnerability records as one ``vulnerabilities`` property."""
    if entry.explanation is None:
        return {}
    from gate.explain import text_lines

    head, records = text_lines(entry.explanation)
    return {"vulnerabilities": xml_safe(one_line(" | ".join([head, *records])))}


def _suite(entry: ImageReport, identity: str, results: Sequence[Result] | None = None) -> TestSuite:
    """The image's suite, with a case for each of ``results`` (default: all of them)."""
    return TestSuite(
        identity,
        [_case(identity, r) for r in (entry.results if results is None else results)],
        properties=_properties(entry),
    )


def _cdata(text: str) -> str:
    """Element text escaped exactly as ElementTree escapes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _attr(text: str) -> str:
    """An attribute value escaped exactly as ElementTree escapes it."""
    text = _cdata(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text


class _Pieces:
    """The escaped pieces of case names and files, computed once per rule and per file."""

    def __init__(self) -> None:
        self.prefixes: dict[tuple[str, str], str | None] = {}
        self.files: dict[str, str] = {}

    def prefix(self, result: Result) -> str | None:
        """``policy/rule [`` escaped, or None when it needs cleaning as part of the name."""
        key = (result.policy, result.rule)
        if key not in self.prefixes:
            raw = f"{result.policy}/{result.rule} ["
            # xml_safe works per character unless an escape sequence could span the join.
            clean = "\x1b" not in raw and xml_safe(raw) == raw
            self.prefixes[key] = _attr(raw) if clean else None
        return self.prefixes[key]

    def file(self, result: Result) -> str:
        if result.file not in self.files:
            safe = xml_safe(result.file)
            self.files[result.file] = f' file="{_attr(safe)}"' if safe else ""
        return self.files[result.file]


def _suite_text(
    entry: ImageReport, identity: str, results: Sequence[Result], pieces: _Pieces
) -> str:
    """Exactly ``_suite_xml(_suite(entry, identity, results))``, written directly.

    junit-xml builds ElementTree objects for every case and ElementTree serialises them,
    which at 100,000 images costs more than evaluating them. This writes the same bytes
    (the tests compare the two on arbitrary data) from the same pieces (:func:`_problem`,
    :func:`_properties`).
    """
    problems = [None if r.outcome is Outcome.PASS else _problem(r) for r in results]
    counted = [p[0] for p in problems if p is not None and (p[2] or p[3])]
    name = _attr(identity)
    classname = f' classname="{name}"' if identity else ""
    out = [
        f'<testsuite disabled="0" errors="{counted.count("error")}" '
        f'failures="{counted.count("failure")}" name="{name}" '
        f'skipped="{counted.count("skipped")}" tests="{len(results)}" time="0"><properties>'
    ]
    for key, value in _properties(entry).items():
        out.append(f'<property name="{key}" value="{_attr(value)}" />')
    out.append("</properties>")
    for result, problem in zip(results, problems, strict=True):
        prefix = pieces.prefix(result)
        case = (
            f"{prefix}{name}]"
            if prefix is not None
            else _attr(xml_safe(f"{result.policy}/{result.rule} [{identity}]"))
        )
        head = f'<testcase name="{case}"{classname}{pieces.file(result)}'
        # Like junit-xml: an empty failure or error is left out (an empty skip is not).
        if problem is None or (problem[0] != "skipped" and not (problem[2] or problem[3])):
            out.append(f"{head} />")
            continue
        element, kind, message, body = problem
        attrs = f'{element} type="{_attr(kind)}"'
        if message:
            attrs += f' message="{_attr(message)}"'
        child = f"<{attrs}>{_cdata(body)}</{element}>" if body else f"<{attrs} />"
        out.append(f"{head}>{child}</testcase>")
    out.append("</testsuite>")
    return "".join(out)


def _gate_suite(report: Report) -> TestSuite | None:
    """Run-level cases, so an empty selection is visible in CI test views too."""
    if any(entry.results for entry in report.images):
        return None
    where = ", ".join(report.selection) or "any namespace"
    label = ", ".join(report.selection) or "all namespaces"
    case = TestCase(f"gate/selection [{xml_safe(label)}]", classname="gate")
    if report.images:
        why = f"{len(report.images)} selected image(s) are outside the scope of every policy"
    else:
        why = f"no ranked image matched {where}"
    message = xml_safe(one_line(f"{why}: nothing was evaluated"))
    if report.require_images:
        case.add_failure_info(
            message=message,
            output=message + "\n--require-images makes this a failure",
            failure_type="gate.require-images",
        )
    else:
        case.add_skipped_info(
            message=message, output=message + "\nuse --require-images to fail instead"
        )
    return TestSuite("gate", [case])


def _element(suite: TestSuite) -> ET.Element:
    element: ET.Element = suite.build_xml_doc()
    for skipped in element.iter("skipped"):
        skipped.set("type", _skip_type(skipped.get("message", "")))
    return element


def _suite_xml(suite: TestSuite) -> str:
    return ET.tostring(_element(suite), encoding="unicode")


def _serialize(suites: Iterable[TestSuite]) -> str:
    root = ET.Element("testsuites", {"name": "gate"})
    tests = failures = errors = 0
    for suite in suites:
        element = _element(suite)
        tests += int(element.get("tests", "0"))
        failures += int(element.get("failures", "0"))
        errors += int(element.get("errors", "0"))
        root.append(element)
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


_POLICY = operator.attrgetter("policy")
_OUTCOME = operator.attrgetter("outcome")


def _size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (without encoding it when it is ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _root(tests: int, failures: int, errors: int) -> str:
    return (
        f'{XML_DECLARATION}<testsuites name="gate" tests="{tests}" failures="{failures}" '
        f'errors="{errors}">'
    )


class JunitPlan:
    """The document one report becomes: full, or compacted when the full one is too large.

    :meth:`chunks` streams it. :attr:`notes` are warnings for the run's other reports: set
    when the plan is made (compaction), and completed once :meth:`chunks` has run (a
    compacted report that is still over the limits).
    """

    def __init__(self, report: Report, *, max_bytes: int, max_cases: int) -> None:
        self.report = report
        self.max_bytes = max_bytes
        self.max_cases = max_cases
        self.compacted = False
        self.why = ""
        self.notes: list[str] = []
        self._entries = [entry for entry in report.images if entry.results]
        self._identities = _identities(self._entries)
        self._full: list[str] | None = None
        self._plan()

    def _plan(self) -> None:
        cases = self.report.summary()["checks"]
        if cases > self.max_cases:
            self._compact(
                f"the full report would have {cases:,} cases, more than the limit of "
                f"{self.max_cases:,}"
            )
            return
        counts = self.report.summary()
        failures, errors = counts["fail"], counts["error"]
        gate_suite = _gate_suite(self.report)  # only when nothing was evaluated
        if gate_suite is not None:
            cases, failures = 1, int(self.report.require_images)
        # Rendered in memory up to the byte limit, then written or thrown away: bounded.
        full = [_root(cases, failures, errors)]
        if gate_suite is not None:
            full.append(_suite_xml(gate_suite))
        full.append("</testsuites>\n")
        size = sum(map(_size, full))
        pieces = _Pieces()
        for entry, identity in zip(self._entries, self._identities, strict=True):
            text = _suite_text(entry, identity, entry.results, pieces)
            size += _size(text)
            if size > self.max_bytes:
                self._compact(
                    f"the full report would be larger than the limit of {self.max_bytes:,} bytes"
                )
                return
            full.insert(-1, text)
        self._full = full

    def _compact(self, why: str) -> None:
        self.compacted = True
        passing = self.report.summary()["pass"]
        self.why = why
        self.notes.append(
            f"the JUnit report was compacted: {passing:,} passing check(s) are summarised in "
            f"one case per policy, because {why}; every check that did not pass is listed, and "
            "the JSON report has every result"
        )

    def chunks(self) -> Iterator[str]:
        if self._full is not None:
            yield from self._full
            return
        yield from self._compacted()

    def _compacted(self) -> Iterator[str]:
        counts = self.report.summary()
        passing, kept = self._scan()
        summary = _summary_suite(passing, self.report.policies, self.why)
        tests = counts["checks"] - counts["pass"] + len(summary.test_cases)
        size = 0
        chunks = self._compacted_suites(kept, tests, counts["fail"], counts["error"], summary)
        for text in chunks:
            size += _size(text)
            yield text
        if tests > self.max_cases or size > self.max_bytes:
            over_gitlab = tests > GITLAB_MAX_CASES or size > GITLAB_MAX_BYTES
            self.notes.append(
                f"the compacted JUnit report still has {tests:,} cases and {size:,} bytes, over "
                f"the limit of {self.max_cases:,} cases or {self.max_bytes:,} bytes: that many "
                "checks did not pass, and none is dropped"
                + ("; GitLab will reject it (30 MB or 500,000 cases)" if over_gitlab else "")
            )

    def _compacted_suites(
        self,
        kept: list[tuple[ImageReport, str]],
        tests: int,
        failures: int,
        errors: int,
        summary: TestSuite,
    ) -> Iterator[str]:
        yield _root(tests, failures, errors)
        pieces = _Pieces()
        for entry, identity in kept:
            results = [r for r in entry.results if r.outcome is not Outcome.PASS]
            yield _suite_text(entry, identity, results, pieces)
        yield _suite_xml(summary)  # also when no check passed: it says the report is compacted
        yield "</testsuites>\n"

    def _scan(self) -> tuple[dict[str, tuple[int, int]], list[tuple[ImageReport, str]]]:
        """Per policy (passing checks, images all of whose checks under it passed), and the
        images with a result that did not pass (with their identities)."""
        checks: Counter[str] = Counter()
        images: Counter[str] = Counter()
        kept: list[tuple[ImageReport, str]] = []
        for entry, identity in zip(self._entries, self._identities, strict=True):
            results = entry.results
            passed = list(map(_OUTCOME, results)).count(Outcome.PASS)  # counted in C
            if passed < len(results):
                kept.append((entry, identity))
            if not passed:
                continue
            policies = set(map(_POLICY, results))
            if len(policies) == 1:  # the common case
                (policy,) = policies
                checks[policy] += passed
                images[policy] += passed == len(results)
                continue
            failed: set[str] = set()
            for result in results:
                if result.outcome is Outcome.PASS:
                    checks[result.policy] += 1
                else:
                    failed.add(result.policy)
            images.update(policies - failed)
        passing = {policy: (checks[policy], images[policy]) for policy in checks if checks[policy]}
        return passing, kept


def _summary_suite(
    passing: dict[str, tuple[int, int]], policies: Sequence[Policy], why: str
) -> TestSuite:
    files = {policy.name: policy.file for policy in policies}
    cases = []
    for policy, (checks, images) in passing.items():
        case = TestCase(
            xml_safe(f"{policy}: {checks:,} passing check(s), {images:,} image(s) passed all"),
            classname="gate.compacted",
            file=xml_safe(files.get(policy, "")),
            stdout=xml_safe(
                f"{checks:,} check(s) of policy {policy} passed; {images:,} image(s) passed "
                f"every rule of it. They are summarised in this one case because {why} "
                "(GitLab accepts at most 30 MB or 500,000 cases). The JSON report (--json) "
                "lists every result."
            ),
        )
        cases.append(case)
    return TestSuite(
        "gate: passing checks (compacted)",
        cases,
        properties={"compacted": "true", "reason": xml_safe(why)},
    )


class JunitFormat(Format):
    def __init__(
        self, *, max_bytes: int = DEFAULT_MAX_BYTES, max_cases: int = DEFAULT_MAX_CASES
    ) -> None:
        self.max_bytes = max_bytes
        self.max_cases = max_cases

    def plan(self, report: Report) -> JunitPlan:
        return JunitPlan(report, max_bytes=self.max_bytes, max_cases=self.max_cases)

    def chunks(self, report: Report) -> Iterator[str]:
        return self.plan(report).chunks()

    def render(self, report: Report) -> str:
        return "".join(self.chunks(report))


def error_report(
    message: str, *, title: str = "gate/data-source", kind: str = "gate.source-error"
) -> str:
    """A report with one ``<error>`` case, for runs that evaluated nothing (exit 2 or 3)."""
    text = xml_safe(one_line(message))
    case = TestCase(title, classname="gate")
    case.add_error_info(message=text, output=xml_safe(message) or text, error_type=kind)
    return _serialize([TestSuite("gate", [case])])
