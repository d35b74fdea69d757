"""Run test cases through :func:`gate.run.run_check` and compare what came out.

A case ends ``ok`` (every expectation met), ``FAIL`` (a mismatch: expected against actual,
with the values the rule saw) or ``ERROR`` (the case or a policy under test is invalid, or
its input could not be read). Coverage records, for every rule of every policy a case
loaded, whether some case made its condition hold and some case made it pass, and which
waivers some case used.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gate.errors import EXIT_FAIL, EXIT_PASS, EXIT_USAGE, GateError, PolicyError, Problem
from gate.testing.cases import NOT_CHECKED, Case, InvalidCase, Where, find_files, load_file

if TYPE_CHECKING:
    from gate.model import Policy, Report, Result, Waiver


class Status(str, enum.Enum):
    OK = "ok"
    FAIL = "FAIL"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Mismatch:
    """One expectation a case did not meet."""

    what: str
    """What was compared: ``verdict``, ``exit code``, ``IMAGE POLICY/RULE``, ``waiver KEY``."""
    expected: str
    actual: str
    detail: str
    """What the rule saw (``imageVulAsap = 3 > 0``), or why there is no result."""
    where: Where


@dataclass(frozen=True)
class CaseResult:
    file: str
    name: str
    where: Where
    status: Status
    mismatches: tuple[Mismatch, ...] = ()
    problems: tuple[Problem, ...] = ()
    report: Report | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RuleKey:
    file: str
    policy: str
    rule: str
    index: int

    @property
    def label(self) -> str:
        return f"{self.policy}/{self.rule}"


@dataclass(frozen=True)
class WaiverKey:
    file: str
    policy: str
    index: int
    waiver: Waiver

    @property
    def label(self) -> str:
        return waiver_label(self.waiver)


@dataclass(frozen=True)
class Gap:
    """A rule or waiver no case exercised the way coverage asks."""

    where: Where
    label: str
    message: str


@dataclass
class Coverage:
    """What the cases exercised."""

    rules: dict[RuleKey, set[str]] = field(default_factory=dict)
    """Each rule, with ``fail`` when some case made its condition hold, ``pass`` when some
    case made it pass."""
    waivers: dict[WaiverKey, bool] = field(default_factory=dict)

    def add(self, report: Report) -> None:
        from gate.model import Outcome

        held = (Outcome.FAIL, Outcome.WARN, Outcome.WAIVED, Outcome.OVERRIDDEN)
        keys: dict[tuple[str, str, str], RuleKey] = {}
        for policy in report.policies:
            for index, rule in enumerate(policy.rules):
                key = RuleKey(policy.file, policy.name, rule.id, index)
                keys[(policy.file, policy.name, rule.id)] = key
                self.rules.setdefault(key, set())
            for index, waiver in enumerate(policy.waivers):
                self.waivers.setdefault(WaiverKey(policy.file, policy.name, index, waiver), False)
        rules = {(p.name, r.id): r for p in report.policies for r in p.rules}
        for image in report.images:
            for result in image.results:
                key_ = keys.get((result.file, result.policy, result.rule))
                if key_ is None:  # gate/unranked: no rule of a policy
                    continue
                if result.outcome is Outcome.PASS:
                    self.rules[key_].add("pass")
                elif result.outcome in held:
                    # Only a condition that was evaluated held (not "cannot evaluate").
                    metrics = rules[(result.policy, result.rule)].condition.metrics
                    if all(m in result.values for m in metrics):
                        self.rules[key_].add("fail")
        files = {id(w): p.file for p in report.policies for w in p.waivers}
        for entry in report.waivers:
            if entry.uses:
                file = files.get(id(entry.waiver))
                for wkey in self.waivers:
                    if wkey.file == file and wkey.waiver == entry.waiver:
                        self.waivers[wkey] = True

    def gaps(self) -> list[Gap]:
        from gate.testing.cases import parse_yaml

        positions: dict[str, object] = {}

        def where(file: str, path: tuple[str | int, ...]) -> Where:
            if file not in positions:
                try:
                    with open(file, "rb") as handle:
                        positions[file] = parse_yaml(file, handle.read())[1]
                except (OSError, GateError):
                    positions[file] = None
            found = positions[file]
            if found is None:
                return Where(file)
            line, column = found.of(path)  # type: ignore[attr-defined]
            return Where(file, line, column)

        out: list[Gap] = []
        for key, seen in self.rules.items():
            missing = [
                text
                for kind, text in (
                    ("fail", "makes its condition hold"),
                    ("pass", "makes it pass"),
                )
                if kind not in seen
            ]
            if missing:
                out.append(
                    Gap(
                        where(key.file, ("rules", key.index)),
                        key.label,
                        "no case " + " and no case ".join(missing),
                    )
                )
        for wkey, used in self.waivers.items():
            if not used:
                out.append(
                    Gap(
                        where(wkey.file, ("waivers", wkey.index)),
                        f"waiver {wkey.label}",
                        "no case uses it",
                    )
                )
        return out


def waiver_label(waiver: Waiver) -> str:
    return f"{waiver.policy}/{waiver.rule} on {', '.join(s.text for s in waiver.selectors)}"


@dataclass
class TestRun:
    """Everything one ``gate test`` run found."""

    __test__ = False  # not a pytest class

    results: list[CaseResult]
    coverage: Coverage
    inputs: tuple[str, ...] = ()
    """Every test, policy and snapshot file the run read (a report must not replace one)."""
    _gaps: list[Gap] | None = field(default=None, repr=False)

    def gaps(self) -> list[Gap]:
        if self._gaps is None:
            self._gaps = self.coverage.gaps()
        return self._gaps

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    def exit_code(self, *, require_coverage: bool = False) -> int:
        if self.count(Status.ERROR):
            return EXIT_USAGE
        if self.count(Status.FAIL) or (require_coverage and self.gaps()):
            return EXIT_FAIL
        return EXIT_PASS

    def render(self, *, require_coverage: bool = False) -> str:
        from gate.testing.output import render_text

        return render_text(self, require_coverage=require_coverage)


def run_tests(paths: Sequence[str]) -> TestRun:
    """Run every case of the test files and directories in ``paths``.

    Raises :class:`~gate.errors.UsageError` when a path does not exist or a directory holds
    no test file; every other problem is reported case by case.
    """
    files = find_files(paths)
    runner = _Runner()
    results = []
    for file in files:
        for entry in load_file(file):
            if isinstance(entry, InvalidCase):
                problems = list(entry.problems)
                if entry.case is not None:
                    problems += runner.name_problems(entry.case)
                results.append(
                    CaseResult(
                        entry.file,
                        entry.name or "(the whole file)",
                        entry.where,
                        Status.ERROR,
                        problems=tuple(problems),
                    )
                )
            else:
                results.append(runner.run(entry))
    inputs = {*files, *runner.inputs}
    for policies in runner.loaded.values():
        if not isinstance(policies, PolicyError):
            inputs.update(p.file for p in policies)
    return TestRun(results, runner.coverage, tuple(sorted(inputs)))


class _Runner:
    def __init__(self) -> None:
        self.loaded: dict[tuple[str, ...], tuple[Policy, ...] | PolicyError] = {}
        self.coverage = Coverage()
        self.inputs: set[str] = set()

    def policies(self, paths: tuple[str, ...]) -> tuple[Policy, ...] | PolicyError:
        if paths not in self.loaded:
            from gate.policy.loader import load_policies

            try:
                self.loaded[paths] = load_policies(paths)
            except PolicyError as exc:
                self.loaded[paths] = exc
        return self.loaded[paths]

    def name_problems(self, case: Case) -> list[Problem]:
        """The problems of a case's policies, or else its expectations that name no rule or
        waiver of them."""
        policies = self.policies(case.policies)
        if isinstance(policies, PolicyError):
            named = ", ".join(case.policies)
            return [
                case.policies_where.problem(f"the policies under test ({named}) are invalid:"),
                *policies.problems,
            ]
        return _check_names(case, policies)

    def run(self, case: Case) -> CaseResult:
        from gate.errors import SourceError
        from gate.run import run_check

        def error(problems: Sequence[Problem]) -> CaseResult:
            return CaseResult(
                case.file, case.name, case.where, Status.ERROR, problems=tuple(problems)
            )

        problems = self.name_problems(case)
        if problems:
            return error(problems)
        policies = self.policies(case.policies)
        assert not isinstance(policies, PolicyError)
        if case.snapshot is not None:
            self.inputs.add(case.snapshot)
        try:
            report = run_check(case.request(policies))
        except SourceError as exc:
            if case.exit_code == exc.exit_code:
                return CaseResult(case.file, case.name, case.where, Status.OK)
            return error([case.input_where.problem(exc.render())])
        except PolicyError as exc:
            return error(exc.problems)
        except GateError as exc:
            return error([case.where.problem(exc.render())])
        self.coverage.add(report)
        mismatches = tuple(_compare(case, report))
        status = Status.FAIL if mismatches else Status.OK
        return CaseResult(case.file, case.name, case.where, status, mismatches, report=report)


def _check_names(case: Case, policies: tuple[Policy, ...]) -> list[Problem]:
    """Expectations that name a rule or waiver the policies under test do not have."""
    rules = {f"{p.name}/{r.id}" for p in policies for r in p.rules} | {"gate/unranked"}
    problems = []
    for expected in case.results:
        if expected.rule not in rules:
            close = difflib.get_close_matches(expected.rule, sorted(rules), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                expected.where.problem(
                    f"no rule {expected.rule!r} in the policies under test{hint}",
                    ("cases", case.index, "expect", "results", expected.image, expected.rule),
                )
            )
    waivers = [w for p in policies for w in p.waivers]
    for expected_waiver in case.waivers:
        matching = _matching_waivers(expected_waiver.key, waivers)
        if len(matching) == 1:
            continue
        labels = [waiver_label(w) for w in waivers]
        if not matching:
            close = difflib.get_close_matches(expected_waiver.key, labels, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            message = f"no waiver {expected_waiver.key!r} in the policies under test{hint}"
        else:
            message = (
                f"{expected_waiver.key!r} names {len(matching)} waivers; write one of: "
                + "; ".join(repr(waiver_label(w)) for w in matching)
            )
        problems.append(
            expected_waiver.where.problem(
                message, ("cases", case.index, "expect", "waivers", expected_waiver.key)
            )
        )
    return problems


def _matching_waivers(key: str, waivers: Sequence[Waiver]) -> list[Waiver]:
    if " on " in key:
        return [w for w in waivers if waiver_label(w) == key]
    return [w for w in waivers if f"{w.policy}/{w.rule}" == key]


def _compare(case: Case, report: Report) -> list[Mismatch]:
    out: list[Mismatch] = []
    if case.verdict is not None and case.verdict != report.verdict:
        out.append(
            Mismatch(
                "verdict",
                case.verdict,
                report.verdict,
                _why_verdict(report),
                case.expect_where.get("verdict", case.where),
            )
        )
    if case.exit_code is not None and case.exit_code != report.exit_code:
        out.append(
            Mismatch(
                "exit code",
                str(case.exit_code),
                str(report.exit_code),
                _why_verdict(report),
                case.expect_where.get("exit_code", case.where),
            )
        )
    by_name: dict[str, dict[str, Result]] = {}
    selected: set[str] = set()
    for image in report.images:
        selected.add(image.image.name)
        table = by_name.setdefault(image.image.name, {})
        for result in image.results:
            table[f"{result.policy}/{result.rule}"] = result
    for expected in case.results:
        found = by_name.get(expected.image, {}).get(expected.rule)
        actual = found.outcome.value if found is not None else NOT_CHECKED
        if actual == expected.outcome:
            continue
        if found is not None:
            detail = _explain(found)
        elif expected.image not in selected:
            detail = "the image was not selected (or is not in the ranking)"
        else:
            detail = "the image is outside the policy's or the rule's scope"
        out.append(
            Mismatch(
                f"{expected.image} {expected.rule}",
                expected.outcome,
                actual,
                detail,
                expected.where,
            )
        )
    for expected_waiver in case.waivers:
        entry = next(
            (
                w
                for w in report.waivers
                if _matching_waivers(expected_waiver.key, [w.waiver]) == [w.waiver]
            ),
            None,
        )
        if entry is None:  # _check_names found it in the policies
            continue
        if entry.status.value != expected_waiver.status:
            detail = (
                f"expires {entry.waiver.expires.isoformat()}, now {report.now.isoformat()} "
                f"({entry.days_left} day(s) left), used by {entry.uses} result(s)"
            )
            out.append(
                Mismatch(
                    f"waiver {waiver_label(entry.waiver)}",
                    expected_waiver.status,
                    entry.status.value,
                    detail,
                    expected_waiver.where,
                )
            )
    return out


def _why_verdict(report: Report) -> str:
    blocking = [
        f"{image.image.name} {result.policy}/{result.rule}: {result.outcome.value}"
        for image in report.images
        for result in image.results
        if result.outcome.blocking
    ]
    if blocking:
        shown = "; ".join(blocking[:3])
        more = f" and {len(blocking) - 3} more" if len(blocking) > 3 else ""
        return f"blocking: {shown}{more}"
    if report.empty_selection_fails:
        return "--require-images and nothing was evaluated"
    counts = report.summary()
    return (
        f"{counts['images']} image(s), {counts['checks']} check(s), nothing blocking"
        if counts["checks"]
        else "nothing was evaluated"
    )


def _explain(result: Result) -> str:
    """What the rule saw: the message of a non-pass result, the values of a pass."""
    if result.message:
        return result.message
    values = ", ".join(f"{name} = {value}" for name, value in result.values.items())
    return f"{values}: {result.condition} is false" if values else f"{result.condition} is false"
