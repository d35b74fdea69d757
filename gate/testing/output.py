"""What ``gate test`` shows: one line per case, a diff for each mismatch, coverage, and
the JUnit XML report (one test case per case)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from gate.report.text import escape, one_line, terminal_safe, xml_safe
from gate.testing.cases import Where
from gate.testing.runner import CaseResult, Mismatch, Status, TestRun

INDENT = "      "


def _mismatch_lines(mismatch: Mismatch) -> list[str]:
    return [
        f"{INDENT}{mismatch.where}: {escape(mismatch.what)}",
        f"{INDENT}  - expected: {escape(mismatch.expected)}",
        f"{INDENT}  + actual:   {escape(mismatch.actual)}",
        f"{INDENT}    saw: {escape(mismatch.detail)}",
    ]


def case_details(result: CaseResult, shown: set[tuple[str, ...]] | None = None) -> list[str]:
    """The lines under a case's status line: its mismatches or its problems."""
    lines: list[str] = []
    for mismatch in result.mismatches:
        lines += _mismatch_lines(mismatch)
    own = [p for p in result.problems if p.file == result.file]
    other = [p for p in result.problems if p.file != result.file]  # in the policies under test
    rendered = tuple(p.render() for p in other)
    if rendered and shown is not None and rendered in shown:
        files = sorted({p.file for p in other})
        texts = [p.render() for p in own]
        texts.append(f"the same problems as above ({', '.join(files)})")
    else:
        if rendered and shown is not None:
            shown.add(rendered)
        texts = [p.render() for p in (*own, *other)]
    for text in texts:
        first, *rest = text.split("\n")
        lines.append(INDENT + first)
        lines += [INDENT + line for line in rest]
    return lines


def coverage_lines(run: TestRun, *, require_coverage: bool) -> list[str]:
    rules = len(run.coverage.rules)
    waivers = len(run.coverage.waivers)
    gaps = run.gaps()
    counted = f"{rules} rule(s), {waivers} waiver(s)"
    if not gaps:
        return [
            f"coverage: complete ({counted}): every rule was seen failing and passing, "
            "every waiver was used"
        ]
    note = " (--require-coverage: the run fails)" if require_coverage else ""
    lines = [f"coverage: {len(gaps)} gap(s) in {counted}{note}"]
    lines += [f"  {gap.where}: {escape(gap.label)}: {gap.message}" for gap in gaps]
    return lines


def render_text(run: TestRun, *, require_coverage: bool = False) -> str:
    lines: list[str] = []
    shown: set[tuple[str, ...]] = set()
    for result in run.results:
        lines.append(
            f"{result.status.value:<6}{result.where.file}:{result.where.line or 1}: "
            f"{escape(result.name)}"
        )
        lines += case_details(result, shown)
    lines.append("")
    if run.coverage.rules or run.coverage.waivers:
        lines += coverage_lines(run, require_coverage=require_coverage)
    ok, failed, invalid = (run.count(s) for s in (Status.OK, Status.FAIL, Status.ERROR))
    lines.append(
        f"{len(run.results)} case(s): {ok} ok, {failed} failed, {invalid} invalid"
        f" (exit {run.exit_code(require_coverage=require_coverage)})"
    )
    return "\n".join(_log_safe(lines)) + "\n"


def _log_safe(lines: list[str]) -> list[str]:
    """No escape or control characters, and no line that data could have started (a problem
    message quoting a file can hold a line break): such a line, which a CI log could read as
    a workflow command, folds into the line above."""
    out: list[str] = []
    for line in lines:
        for index, part in enumerate(terminal_safe(line).split("\n")):
            if index and out and part.lstrip().startswith(("::", "##[")):
                out[-1] += " " + part.strip()
            else:
                out.append(part)
    return out


def _names(run: TestRun) -> list[str]:
    """Test case names, unique across the run (GitLab merges cases of the same name)."""
    counts = Counter(r.name for r in run.results)
    return [
        r.name if counts[r.name] == 1 else f"{r.name} ({r.where.file}:{r.where.line or 1})"
        for r in run.results
    ]


def render_junit(run: TestRun, *, require_coverage: bool = False) -> str:
    """The JUnit XML document: one ``<testsuite>`` per test file, one ``<testcase>`` per
    case (classname: the file), and a coverage suite."""
    root = ET.Element("testsuites", {"name": "gate test"})
    suites: dict[str, ET.Element] = {}
    totals = Counter[str]()
    for result, name in zip(run.results, _names(run), strict=True):
        file = xml_safe(result.file)
        suite = suites.get(file)
        if suite is None:
            suite = suites[file] = ET.SubElement(root, "testsuite", {"name": file})
        case = ET.SubElement(
            suite, "testcase", {"name": xml_safe(name), "classname": file, "time": "0"}
        )
        body = "\n".join(
            [f"{result.where.file}:{result.where.line or 1}: {result.name}", *case_details(result)]
        )
        if result.status is Status.FAIL:
            count = len(result.mismatches)
            first = result.mismatches[0]
            message = f"{first.what}: expected {first.expected}, got {first.actual}" + (
                f" (and {count - 1} more)" if count > 1 else ""
            )
            _problem(case, "failure", "gate.test-mismatch", message, body)
            totals[f"{file} failures"] += 1
        elif result.status is Status.ERROR:
            message = result.problems[0].render() if result.problems else "invalid case"
            _problem(case, "error", "gate.invalid-test", message, body)
            totals[f"{file} errors"] += 1
        totals[f"{file} tests"] += 1
    gaps = run.gaps()
    if run.coverage.rules or run.coverage.waivers:
        suite = ET.SubElement(root, "testsuite", {"name": "gate test coverage"})
        case = ET.SubElement(
            suite, "testcase", {"name": "coverage", "classname": "gate test coverage", "time": "0"}
        )
        file = "gate test coverage"
        totals[f"{file} tests"] += 1
        if gaps:
            body = "\n".join(coverage_lines(run, require_coverage=require_coverage))
            message = f"{len(gaps)} coverage gap(s)"
            if require_coverage:
                _problem(case, "failure", "gate.coverage-gap", message, body)
                totals[f"{file} failures"] += 1
            else:
                skipped = ET.SubElement(
                    case, "skipped", {"type": "gate.coverage-gap", "message": message}
                )
                skipped.text = xml_safe(body)
                totals[f"{file} skipped"] += 1
        suites[file] = suite
    for file, suite in suites.items():
        for kind in ("tests", "failures", "errors", "skipped"):
            suite.set(kind, str(totals[f"{file} {kind}"]))
        suite.set("time", "0")
    for kind in ("tests", "failures", "errors"):
        root.set(kind, str(sum(totals[f"{file} {kind}"] for file in suites)))
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _problem(case: ET.Element, element: str, kind: str, message: str, body: str) -> None:
    child = ET.SubElement(case, element, {"type": kind, "message": xml_safe(one_line(message))})
    child.text = xml_safe(body)


def write_junit(run: TestRun, path: str, *, require_coverage: bool = False) -> None:
    """Write the JUnit report atomically (``-``: standard output)."""
    import os

    from gate.errors import UsageError
    from gate.report.files import write_atomic

    if path != "-" and os.path.realpath(path) in {os.path.realpath(f) for f in run.inputs}:
        raise UsageError(
            f"--junit {path} would overwrite a file the tests read; choose another path"
        )
    write_atomic(path, render_junit(run, require_coverage=require_coverage))


ANNOTATIONS_PER_LEVEL = 10


def github_annotations(run: TestRun, *, require_coverage: bool = False) -> str:
    """Workflow commands that put each mismatch, problem and coverage gap on its file's line
    in a pull request (GitHub shows 10 per level and step; the last one says how many more)."""
    from gate.report.github import command

    def at(level: str, where: Where, title: str, message: str) -> str:
        props = {"file": where.file}
        if where.line is not None:
            props["line"] = str(where.line)
            if where.column is not None:
                props["col"] = str(where.column)
        return command(level, terminal_safe(message), title=one_line(title), **props)

    errors: list[str] = []
    for result in run.results:
        title = f"gate test: {result.name}"
        for mismatch in result.mismatches:
            message = (
                f"{mismatch.what}: expected {mismatch.expected}, got {mismatch.actual}\n"
                f"saw: {mismatch.detail}"
            )
            errors.append(at("error", mismatch.where, title, message))
        for problem in result.problems:
            where = Where(problem.file, problem.line, problem.column)
            errors.append(at("error", where, f"{title} (invalid)", problem.message))
    gaps = [
        at(
            "error" if require_coverage else "warning",
            gap.where,
            "gate test coverage",
            f"{gap.label}: {gap.message}",
        )
        for gap in run.gaps()
    ]
    lines = _capped("error", errors + (gaps if require_coverage else []))
    lines += [] if require_coverage else _capped("warning", gaps)
    return "".join(line + "\n" for line in lines)


def _capped(level: str, lines: list[str]) -> list[str]:
    from gate.report.github import command

    if len(lines) <= ANNOTATIONS_PER_LEVEL:
        return lines
    keep = ANNOTATIONS_PER_LEVEL - 1
    more = f"{len(lines) - keep} more not annotated (GitHub shows 10 per step); see the log"
    return [*lines[:keep], command(level, more, title="gate test")]
