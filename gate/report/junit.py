"""JUnit XML for CI test views (GitLab, GitHub report actions, Jenkins), written with junit-xml.

One ``<testsuite>`` per image, named by its stable identity ``namespace/repository:tag``;
one ``<testcase>`` per evaluated (policy, rule), named ``policy/rule [identity]`` with the
identity as classname and the policy file as ``file``. ``fail`` is a ``<failure>``, ``error``
an ``<error>``; ``warn``, ``waived`` and ``overridden`` are ``<skipped>`` with a reason.
Consumers' quirks shape the details: every body is non-empty (an empty one shows as a raw
hash), ``type`` values are dotted (``policy.hard-mandatory``; ``date``, ``yaml`` and
``symbol`` mean something else to some parsers), and all text is stripped of characters XML
cannot carry, since one of them makes GitLab reject the whole file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence

from junit_xml import TestCase, TestSuite

from gate.model import ImageReport, Outcome, Report, Result
from gate.report import Format
from gate.report.text import one_line, xml_safe

_SKIP_LABEL = {
    Outcome.WARN: "warning",
    Outcome.WAIVED: "waived",
    Outcome.OVERRIDDEN: "overridden",
}


_SKIP_TYPES = set(_SKIP_LABEL.values())


def _body(result: Result, headline: str) -> str:
    lines = [
        headline,
        f"policy: {result.policy} ({result.file})",
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


def _case(identity: str, result: Result) -> TestCase:
    case = TestCase(
        xml_safe(f"{result.policy}/{result.rule} [{identity}]"),
        classname=identity,
        file=xml_safe(result.file),
    )
    outcome = result.outcome
    if outcome is Outcome.PASS:
        return case
    kind = f"policy.{result.enforcement.value}"
    if outcome is Outcome.FAIL:
        headline = xml_safe(one_line(f"{result.policy}/{result.rule} failed: {result.message}"))
        case.add_failure_info(
            message=headline, output=xml_safe(_body(result, headline)), failure_type=kind
        )
    elif outcome is Outcome.ERROR:
        headline = xml_safe(
            one_line(f"{result.policy}/{result.rule} could not be evaluated: {result.message}")
        )
        case.add_error_info(
            message=headline, output=xml_safe(_body(result, headline)), error_type="data.error"
        )
    else:
        label = _SKIP_LABEL[outcome]
        headline = xml_safe(one_line(f"{label}: {result.policy}/{result.rule}: {result.message}"))
        case.add_skipped_info(message=headline, output=xml_safe(_body(result, headline)))
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


def _suite(entry: ImageReport, identity: str) -> TestSuite:
    image = entry.image
    properties = {
        "digest": xml_safe(image.digest),
        "uuid": xml_safe(image.uuid),
        "image_id": xml_safe(image.image_id),
        "ranked_in": ",".join(image.ranked_in),
    }
    return TestSuite(
        identity,
        [_case(identity, r) for r in entry.results],
        properties=properties,
    )


def _gate_suite(report: Report) -> TestSuite | None:
    """Run-level cases, so an empty selection is visible in CI test views too."""
    if any(entry.results for entry in report.images):
        return None
    where = ", ".join(report.selection) or "the ranking"
    case = TestCase(f"gate/selection [{xml_safe(where)}]", classname="gate")
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


def _serialize(suites: Iterable[TestSuite]) -> str:
    root = ET.Element("testsuites", {"name": "gate"})
    tests = failures = errors = 0
    for suite in suites:
        element = suite.build_xml_doc()
        for skipped in element.iter("skipped"):
            label = skipped.get("message", "").split(":", 1)[0]
            skipped.set("type", f"policy.{label}" if label in _SKIP_TYPES else "gate.skipped")
        tests += int(element.get("tests", "0"))
        failures += int(element.get("failures", "0"))
        errors += int(element.get("errors", "0"))
        root.append(element)
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


class JunitFormat(Format):
    def render(self, report: Report) -> str:
        entries = [entry for entry in report.images if entry.results]
        suites = [_suite(e, n) for e, n in zip(entries, _identities(entries), strict=True)]
        gate_suite = _gate_suite(report)
        if gate_suite is not None:
            suites.append(gate_suite)
        return _serialize(suites)


def error_report(message: str, *, title: str = "gate/data-source") -> str:
    """A report with one ``<error>`` case, for runs whose data could not be read (exit 3)."""
    text = xml_safe(one_line(message))
    case = TestCase(title, classname="gate")
    case.add_error_info(
        message=text, output=xml_safe(message) or text, error_type="gate.source-error"
    )
    return _serialize([TestSuite("gate", [case])])
