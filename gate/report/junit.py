"""JUnit XML for CI test views (GitLab, GitHub report actions, Jenkins), as junit-xml writes it.

One ``<testsuite>`` per image, named by its stable identity ``namespace/repository:tag``;
one ``<testcase>`` per evaluated (policy, rule), named ``policy/rule [identity]`` with the
identity as classname and the policy file as ``file``. ``fail`` is a ``<failure>``, ``error``
an ``<error>``; ``warn``, ``waived`` and ``overridden`` are ``<skipped>`` with a reason.
Consumers' quirks shape the details: every body is non-empty (an empty one shows as a raw
hash), ``type`` values are dotted (``policy.hard-mandatory``; ``date``, ``yaml`` and
``symbol`` mean something else to some parsers), and all text is stripped of characters XML
cannot carry, since one of them makes GitLab reject the whole file.

Size: GitLab rejects a report over 30 MB, 500,000 cases or (since 17.6) 250,000 XML element
nodes, and a whole account is 100,000 images x 10 rules. When the full report would exceed
``max_cases`` (default 200,000), ``max_elements`` (default 200,000) or ``max_bytes`` (default
20 MB), it is compacted in stages, the first that fits (:class:`JunitPlan`): passing checks
collapse into one case per policy, in a suite that says it was compacted (property
``compacted``); then non-blocking results (warn, waived, overridden) into one skipped case
per policy rule; then blocking results (fail, error) into one failed case per policy rule
that counts the images and names the worst first. A blocking result is never invisible;
:attr:`JunitPlan.notes` tells the run's other reports which stage was used and why.

Speed: the document is streamed suite by suite. Image suites are written by
:func:`_suite_text`, which produces exactly the bytes junit-xml and ElementTree would (the
tests compare them on arbitrary data) at a seventh of the cost; junit-xml writes the
run-level suites and the error report, and stays the reference.
"""

from __future__ import annotations

import math
import operator
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress

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
_COLLAPSED_LABEL = {
    Outcome.WARN: "warned",
    Outcome.WAIVED: "waived",
    Outcome.OVERRIDDEN: "overridden",
}

DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_MAX_CASES = 200_000
DEFAULT_MAX_ELEMENTS = 200_000
GITLAB_MAX_BYTES = 30_000_000
GITLAB_MAX_CASES = 500_000
GITLAB_MAX_ELEMENTS = 250_000  # GitLab 17.6+: "XML exceeds permitted complexity"
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
    """Run-level cases, so an empty selection, or a namespace pattern that matched nothing,
    is visible in CI test views too."""
    if any(entry.results for entry in report.images):
        return _unmatched_suite(report)
    where = ", ".join(report.selection) or "any namespace"
    label = ", ".join(report.selection) or "all namespaces"
    if report.images:
        why = f"{len(report.images)} selected image(s) are outside the scope of every policy"
    else:
        why = f"no ranked image matched {where}"
    case = _selection_case(label, f"{why}: nothing was evaluated", report.require_images)
    return TestSuite("gate", [case])


def _selection_case(label: str, text: str, required: bool) -> TestCase:
    """A run-level case: failed under ``--require-images``, else skipped with a hint."""
    case = TestCase(f"gate/selection [{xml_safe(label)}]", classname="gate")
    message = xml_safe(one_line(text))
    if required:
        case.add_failure_info(
            message=message,
            output=message + "\n--require-images makes this a failure",
            failure_type="gate.require-images",
        )
    else:
        case.add_skipped_info(
            message=message, output=message + "\nuse --require-images to fail instead"
        )
    return case


def _unmatched_suite(report: Report) -> TestSuite | None:
    """One case per ``--namespace`` pattern that matched no ranked image."""
    cases = [
        _selection_case(
            pattern, f"--namespace {pattern!r} matched no ranked image", report.require_images
        )
        for pattern in report.unmatched
    ]
    return TestSuite("gate", cases) if cases else None


def _element(suite: TestSuite) -> ET.Element:
    element: ET.Element = suite.build_xml_doc()
    for skipped in element.iter("skipped"):
        message = skipped.get("message", "")
        compacted = message.startswith("compacted: ")
        skipped.set("type", "policy.compacted" if compacted else _skip_type(message))
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
_NOT_PASS = Outcome.PASS.__ne__
_IS_BLOCKING = (Outcome.FAIL, Outcome.ERROR).__contains__


def _size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (without encoding it when it is ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _elements(text: str) -> int:
    """Element nodes in well-formed XML written by ElementTree or :func:`_suite_text`.

    Every ``<`` in text and attributes is escaped, so each ``<`` opens a tag: an element is
    ``<x ... />`` or ``<x>...</x>``, and the declaration is ``<?...?>``.
    """
    return text.count("<") - text.count("</") - text.count("<?")


def _root(tests: int, failures: int, errors: int) -> str:
    return (
        f'{XML_DECLARATION}<testsuites name="gate" tests="{tests}" failures="{failures}" '
        f'errors="{errors}">'
    )


_END = "</testsuites>\n"
_ROOT_ELEMENTS = 1
_SUITE_ELEMENTS = 6  # <testsuite>, <properties> and its four <property> (see _suite_text)

#: The stages of compaction, in order; a plan uses the first whose document fits.
FULL, PASSING, NON_BLOCKING, BLOCKING = range(4)
STAGE_NAMES = ("full", "passing checks", "non-blocking results", "blocking results")

WORST_LISTED = 50  # images listed (worst first) in the body of a collapsed rule's case
WORST_NAMED = 3  # of which named in its one-line message


@dataclass(frozen=True)
class _Fixed:
    """A suite written whole (ElementTree), with what it adds to the document."""

    text: str
    tests: int
    failures: int
    errors: int
    elements: int
    size: int


def _fixed(suite: TestSuite | None) -> _Fixed:
    if suite is None:
        return _Fixed("", 0, 0, 0, 0, 0)
    element = _element(suite)
    text = ET.tostring(element, encoding="unicode")
    return _Fixed(
        text,
        int(element.get("tests", "0")),
        int(element.get("failures", "0")),
        int(element.get("errors", "0")),
        _elements(text),
        _size(text),
    )


def _severity(result: Result) -> tuple[float, ...]:
    """How bad a result is by its rule's values: their sum, then each in turn (NaN lowest)."""
    values = [v if v == v else -math.inf for v in result.values.values()]
    try:
        total = float(sum(values))
    except OverflowError:  # pragma: no cover - integers past float range
        total = math.inf
    return (total if total == total else -math.inf, *map(float, values))


def _values_text(result: Result) -> str:
    return ", ".join(f"{k} = {v}" for k, v in result.values.items())  # as in _body


class _Group:
    """The results of one (policy, rule) collapsed into one case.

    Images share result objects (see :mod:`gate.evaluate`), so images are kept per distinct
    result and each result is ranked once.
    """

    __slots__ = ("images", "rule")

    def __init__(self) -> None:
        self.images: dict[int, tuple[Result, list[str]]] = {}  # id(result) -> its images
        self.rule: Result | None = None

    def add(self, identity: str, result: Result) -> None:
        shared = self.images.get(id(result))
        if shared is None:
            self.images[id(result)] = (result, [identity])
            if self.rule is None:
                self.rule = result
        else:
            shared[1].append(identity)

    @property
    def count(self) -> int:
        return sum(len(identities) for _, identities in self.images.values())

    @property
    def outcomes(self) -> Counter[Outcome]:
        counts: Counter[Outcome] = Counter()
        for result, identities in self.images.values():
            counts[result.outcome] += len(identities)
        return counts

    def worst(self, blocking: bool) -> list[tuple[str, Result]]:
        """Up to :data:`WORST_LISTED` images, worst first by the rule's values (errors have
        none: those in ranking order), ties in ranking order."""
        shared = list(self.images.values())
        if blocking and all(r.outcome is Outcome.ERROR for r, _ in shared):
            ordered = sorted(
                ((identity, n, r) for r, ids in shared for n, identity in enumerate(ids)),
                key=operator.itemgetter(1),
            )
            return [(identity, r) for identity, _, r in ordered[:WORST_LISTED]]
        shared.sort(key=lambda item: _severity(item[0]), reverse=True)  # stable: ties kept
        listed: list[tuple[str, Result]] = []
        for result, identities in shared:
            listed.extend(
                (identity, result) for identity in identities[: WORST_LISTED - len(listed)]
            )
            if len(listed) >= WORST_LISTED:
                break
        return listed


def _clean(text: str) -> str:
    """One line XML can carry. Pieces are cleaned before they are joined, so no escape
    sequence can form across a join and swallow the text after it."""
    return xml_safe(one_line(text))


def _listing(worst: list[tuple[str, Result]], count: int, named: int) -> str:
    shown = []
    for identity, result in worst[:named]:
        values = _clean(_values_text(result))
        shown.append(f"{_clean(identity)} ({values})" if values else _clean(identity))
    more = count - len(shown)
    return ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")


def _group_case(
    key: tuple[str, str], group: _Group, blocking: bool, files: dict[str, str]
) -> TestCase:
    """One case for every result of a rule (blocking: fail and error; else the others)."""
    label = f"{_clean(key[0])}/{_clean(key[1])}"
    first = group.rule
    assert first is not None
    worst = group.worst(blocking)
    count = group.count
    outcomes = group.outcomes
    errors = outcomes[Outcome.ERROR]
    if blocking:
        failed = count - errors
        parts = [f"failed on {failed:,} image(s)"] if failed else []
        if errors:
            parts.append(f"could not be evaluated on {errors:,} image(s)")
        what = " and ".join(parts)
        order = "worst first" if failed else "in ranking order"
        name = f"{label} [compacted: every image with a blocking result]"
    else:
        what = ", ".join(
            f"{outcomes[o]:,} image(s) {_COLLAPSED_LABEL[o]}"
            for o in (Outcome.WARN, Outcome.WAIVED, Outcome.OVERRIDDEN)
            if outcomes[o]
        )
        order = "worst first"
        name = f"{label} [compacted: every image with a non-blocking result]"
    headline = (
        f"{label} {what}; {order}: {_listing(worst, count, WORST_NAMED)}; "
        "the JSON report (--json) lists every result"
    )
    if not blocking:
        headline = f"compacted: {headline}"
    lines = [
        headline,
        f"policy: {_clean(first.policy)}" + (f" ({_clean(first.file)})" if first.file else ""),
        f"rule: {_clean(first.rule)} [{first.enforcement.value}]",
        f"condition: {_clean(first.condition)}",
        f"images ({order}, {len(worst):,} of {count:,}):",
    ]
    for identity, result in worst:
        detail = _values_text(result) if result.outcome is not Outcome.ERROR else result.message
        lines.append(f"  {_clean(identity)} [{result.outcome.value}]: {_clean(detail)}")
    if len(worst) < count:
        lines.append(f"  ... and {count - len(worst):,} more in the JSON report (--json)")
    body = "\n".join(lines)
    case = TestCase(name, classname="gate.compacted", file=xml_safe(files.get(key[0], "")))
    if not blocking:
        case.add_skipped_info(message=headline, output=body)
    elif errors == count:
        case.add_error_info(message=headline, output=body, error_type="data.error")
    else:
        case.add_failure_info(
            message=headline, output=body, failure_type=f"policy.{first.enforcement.value}"
        )
    return case


class JunitPlan:
    """The document one report becomes: full, or compacted when the full one is too large.

    :meth:`chunks` streams it. :attr:`notes` are warnings for the run's other reports: set
    when the plan is made (compaction), and completed once :meth:`chunks` has run (a
    compacted report that is still over the limits). :attr:`stage` is how far it was
    compacted (:data:`FULL` to :data:`BLOCKING`); :attr:`elements`, :attr:`cases` and
    :attr:`size` are the document's, once planned (size: once streamed when compacted to
    the last stage).
    """

    def __init__(
        self,
        report: Report,
        *,
        max_bytes: int,
        max_cases: int,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
    ) -> None:
        self.report = report
        self.max_bytes = max_bytes
        self.max_cases = max_cases
        self.max_elements = max_elements
        self.compacted = False
        self.stage = FULL
        self.why = ""
        self.notes: list[str] = []
        self.cases = 0
        self.elements = 0
        self.size = 0
        self._entries = [entry for entry in report.images if entry.results]
        self._identities = _identities(self._entries)
        self._chunks: list[str] = []
        self._plan()

    # -- planning ---------------------------------------------------------------------------

    def _over(self, cases: int, elements: int) -> str:
        if cases > self.max_cases:
            return f"{cases:,} cases, more than the limit of {self.max_cases:,}"
        if elements > self.max_elements:
            return f"{elements:,} XML elements, more than the limit of {self.max_elements:,}"
        return ""

    def _plan(self) -> None:
        report = self.report
        counts = report.summary()
        gate = _fixed(_gate_suite(report))  # only when nothing was evaluated
        entries = list(zip(self._entries, self._identities, strict=True))
        non_pass = counts["checks"] - counts["pass"]
        blocking = counts["fail"] + counts["error"]
        reasons: list[str] = []

        def attempt(
            stage: str,
            kept: Callable[[], Sequence[tuple[ImageReport, str, Sequence[Result]]]],
            shape: tuple[int, int, int, int, int],
            fixed: Sequence[_Fixed],
        ) -> bool:
            """Use this stage if it fits. ``shape``: image suites, cases, cases that did not
            pass (each has a child element), failures and errors in them."""
            suites, kept_cases, problems, kept_failures, kept_errors = shape
            cases = kept_cases + sum(f.tests for f in fixed)
            elements = (
                _ROOT_ELEMENTS
                + _SUITE_ELEMENTS * suites
                + kept_cases
                + problems
                + sum(f.elements for f in fixed)
            )
            over = self._over(cases, elements)
            if not over:
                failures = kept_failures + sum(f.failures for f in fixed)
                errors = kept_errors + sum(f.errors for f in fixed)
                chunks = self._render(kept(), (failures, errors, cases), fixed)
                if chunks is not None:
                    self._chunks, self.cases, self.elements = chunks, cases, elements
                    return True
                over = f"larger than the limit of {self.max_bytes:,} bytes"
                reasons.append(f"{stage} would be {over}" if not reasons else f"{stage}, {over}")
                return False
            if reasons:  # the later stages, said shortly: the notes are read in job summaries
                over = over.replace(", more than the limit of ", " (limit ") + ")"
                reasons.append(f"{stage}, {over}")
            else:
                reasons.append(f"{stage} would have {over}")
            return False

        fail, error = counts["fail"], counts["error"]
        if attempt(
            "the full report",
            lambda: [(entry, identity, entry.results) for entry, identity in entries],
            (len(entries), counts["checks"], non_pass, fail, error),
            [gate],
        ):
            return
        passing, with_non_pass, with_blocking = self._scan()
        summary = _fixed(_summary_suite(passing, report.policies, "; ".join(reasons)))
        if attempt(
            "with passing checks collapsed",
            lambda: [
                (e, i, [r for r in e.results if r.outcome is not Outcome.PASS])
                for e, i in with_non_pass
            ],
            (len(with_non_pass), non_pass, non_pass, fail, error),
            [gate, summary],
        ):
            self._compacted(PASSING, reasons, counts)
            return
        groups_blocking, groups_other = self._groups(with_non_pass)
        files = {policy.name: policy.file for policy in report.policies}
        others = _fixed(self._group_suite(groups_other, False, files))
        if attempt(
            "with non-blocking results collapsed too",
            lambda: [
                (e, i, [r for r in e.results if r.outcome.blocking]) for e, i in with_blocking
            ],
            (len(with_blocking), blocking, blocking, fail, error),
            [gate, others, summary],
        ):
            self._compacted(NON_BLOCKING, reasons, counts, rules=len(groups_other))
            return
        collapsed = _fixed(self._group_suite(groups_blocking, True, files))
        fixed = [collapsed, gate, others, summary]
        self.cases = sum(f.tests for f in fixed)
        self.elements = _ROOT_ELEMENTS + sum(f.elements for f in fixed)
        failures, errors = sum(f.failures for f in fixed), sum(f.errors for f in fixed)
        self._chunks = [_root(self.cases, failures, errors), *(f.text for f in fixed), _END]
        self._compacted(
            BLOCKING, reasons, counts, rules=len(groups_other), blocking_rules=len(groups_blocking)
        )

    def _render(
        self,
        kept: Sequence[tuple[ImageReport, str, Sequence[Result]]],
        totals: tuple[int, int, int],
        fixed: Sequence[_Fixed],
    ) -> list[str] | None:
        """The document's chunks, or None as soon as it is over the byte limit.

        Rendered in memory up to the byte limit, then written or thrown away: bounded.
        """
        failures, errors, cases = totals
        chunks = [_root(cases, failures, errors)]
        size = _size(chunks[0]) + len(_END) + sum(f.size for f in fixed)
        if size > self.max_bytes:
            return None
        pieces = _Pieces()
        for entry, identity, results in kept:
            text = _suite_text(entry, identity, results, pieces)
            size += _size(text)
            if size > self.max_bytes:
                return None
            chunks.append(text)
        chunks.extend(f.text for f in fixed if f.text)
        chunks.append(_END)
        self.size = size
        return chunks

    def _scan(
        self,
    ) -> tuple[
        dict[str, tuple[int, int]], list[tuple[ImageReport, str]], list[tuple[ImageReport, str]]
    ]:
        """Per policy (passing checks, images all of whose checks under it passed), the
        images with a result that did not pass, and those with a blocking result."""
        checks: Counter[str] = Counter()
        images: Counter[str] = Counter()
        kept: list[tuple[ImageReport, str]] = []
        blocking: list[tuple[ImageReport, str]] = []
        # One policy and no --image placeholders (policy "gate"): count per image only.
        single = len(self.report.policies) == 1 and not self.report.refs
        for entry, identity in zip(self._entries, self._identities, strict=True):
            results = entry.results
            outcomes = list(map(_OUTCOME, results))
            passed = outcomes.count(Outcome.PASS)  # counted in C
            if passed < len(results):
                kept.append((entry, identity))
                blocks = entry.blocking  # known from the engine
                if blocks or (blocks is None and any(map(_IS_BLOCKING, outcomes))):
                    blocking.append((entry, identity))
            if not passed or single:
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
        if single and self.report.summary()["pass"]:
            name = self.report.policies[0].name
            checks[name] = self.report.summary()["pass"]
            images[name] = len(self._entries) - len(kept)
        passing = {policy: (checks[policy], images[policy]) for policy in checks if checks[policy]}
        return passing, kept, blocking

    def _groups(
        self, kept: list[tuple[ImageReport, str]]
    ) -> tuple[dict[tuple[str, str], _Group], dict[tuple[str, str], _Group]]:
        """The results that did not pass, per (policy, rule): blocking, and the others."""
        blocking: dict[tuple[str, str], _Group] = {}
        others: dict[tuple[str, str], _Group] = {}
        for entry, identity in kept:
            results = entry.results
            for result in compress(results, map(_NOT_PASS, map(_OUTCOME, results))):
                groups = blocking if _IS_BLOCKING(result.outcome) else others
                key = (result.policy, result.rule)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group()
                group.add(identity, result)
        order = {
            (policy.name, rule.id): n
            for n, (policy, rule) in enumerate(
                (p, r) for p in self.report.policies for r in p.rules
            )
        }
        last = len(order)

        def ordered(groups: dict[tuple[str, str], _Group]) -> dict[tuple[str, str], _Group]:
            return dict(sorted(groups.items(), key=lambda item: order.get(item[0], last)))

        return ordered(blocking), ordered(others)

    def _group_suite(
        self, groups: dict[tuple[str, str], _Group], blocking: bool, files: dict[str, str]
    ) -> TestSuite | None:
        if not groups:
            return None
        kind = "blocking" if blocking else "non-blocking"
        return TestSuite(
            f"gate: {kind} results (compacted)",
            [_group_case(key, group, blocking, files) for key, group in groups.items()],
            properties={"collapsed": f"{kind} results, one case per policy rule"},
        )

    def _compacted(
        self,
        stage: int,
        reasons: list[str],
        counts: dict[str, int],
        *,
        rules: int = 0,
        blocking_rules: int = 0,
    ) -> None:
        self.compacted = True
        self.stage = stage
        self.why = "; ".join(reasons)
        passing = counts["pass"]
        other = counts["warn"] + counts["waived"] + counts["overridden"]
        blocking = counts["fail"] + counts["error"]
        done = [f"{passing:,} passing check(s) are summarised in one case per policy"]
        if stage >= NON_BLOCKING and not other:
            done.append("no non-blocking result (warn, waived, overridden) to collapse")
        elif stage >= NON_BLOCKING:
            done.append(
                f"{other:,} non-blocking result(s) (warn, waived, overridden) in one skipped "
                f"case per rule ({rules:,} rule(s))"
            )
        if stage >= BLOCKING:
            done.append(
                f"{blocking:,} blocking result(s) (fail, error) in one failed case per rule "
                f"({blocking_rules:,} rule(s)) that counts its images and names the worst first"
            )
            kept = "; the JSON report has every result"
        elif stage == NON_BLOCKING:
            kept = "; every failure and error is listed, and the JSON report has every result"
        else:
            kept = "; every check that did not pass is listed, and the JSON report has every result"
        how = ", ".join(done[:-1]) + (", and " if len(done) > 1 else "") + done[-1]
        self.notes.append(
            f"the JUnit report was compacted (stage {stage} of 3: {STAGE_NAMES[stage]} "
            f"collapsed) because {self.why}: {how}{kept}"
        )

    # -- writing ----------------------------------------------------------------------------

    def chunks(self) -> Iterator[str]:
        size = 0
        for text in self._chunks:
            size += _size(text)
            yield text
        self.size = size
        if not self.compacted:
            return
        if (
            self.cases > self.max_cases
            or self.elements > self.max_elements
            or size > self.max_bytes
        ):
            over_gitlab = (
                self.cases > GITLAB_MAX_CASES
                or size > GITLAB_MAX_BYTES
                or self.elements > GITLAB_MAX_ELEMENTS
            )
            note = (
                f"the compacted JUnit report still has {self.cases:,} cases, "
                f"{self.elements:,} XML elements and {size:,} bytes, over the limit of "
                f"{self.max_cases:,} cases, {self.max_elements:,} elements or "
                f"{self.max_bytes:,} bytes: every rule with a blocking result keeps its case"
                + (
                    "; GitLab will reject it (30 MB, 500,000 cases or 250,000 elements)"
                    if over_gitlab
                    else ""
                )
            )
            if note not in self.notes:
                self.notes.append(note)


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
                "(GitLab accepts at most 30 MB, 500,000 cases or 250,000 XML elements). "
                "The JSON report (--json) lists every result."
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
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_cases: int = DEFAULT_MAX_CASES,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_cases = max_cases
        self.max_elements = max_elements

    def plan(self, report: Report) -> JunitPlan:
        return JunitPlan(
            report,
            max_bytes=self.max_bytes,
            max_cases=self.max_cases,
            max_elements=self.max_elements,
        )

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
