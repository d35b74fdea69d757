"""The pure evaluation engine: policies + images + "now" + override in, a Report out.

No I/O, no clock, no printing. The semantics, for each selected image, each policy whose
scope contains it and each rule whose scope contains it:

=================  =================  ==============================  ============
condition          waiver             enforcement                     outcome
=================  =================  ==============================  ============
false              -                  any                             pass
true               active, matching   any                             waived
true               none               advisory                        warn
true               none               soft-mandatory with override    overridden
true               none               soft- or hard-mandatory         fail
cannot evaluate    -                  advisory                        warn
cannot evaluate    -                  soft- or hard-mandatory         error
=================  =================  ==============================  ============

A waiver is active through its ``expires`` day. Fail and error block the gate.

Large rankings (100,000 images x 10 rules is a million results) shape the loop: an image
whose metrics hold every counter the rules need takes a tight loop without the per-rule
"missing" check, and a result is shared by every image with the same (integer) values for
that rule, since it says nothing else about the image: a pass always, a fail, warn or
override too when no waiver names the rule (a waiver makes the outcome depend on the image).
In a risk ranking most images fail several rules, so failures are shared like passes.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gate.model import (
    Enforcement,
    Image,
    ImageReport,
    IntCounters,
    Number,
    Outcome,
    Policy,
    Report,
    Result,
    Rule,
    Scope,
    SourceInfo,
    Waiver,
    WaiverReport,
    WaiverStatus,
    fast_constructor,
)

if TYPE_CHECKING:  # only --image runs need the module
    from gate.imageref import ImageRef

_new_report = fast_constructor(ImageReport)  # one per image: see the hot loop below
EXPIRING_DAYS = 14
MISSING_NAMESPACE = "<missing namespace>"  # as gate.source.normalize names it


def select_images(images: Sequence[Image], namespaces: Sequence[str] | None) -> list[Image]:
    """Images whose namespace matches one of the globs (``None``: every image).

    An image whose namespace the ranking did not give (``RepoNamespace`` missing, null or
    not a string: see :data:`~gate.source.normalize.MISSING_NAMESPACE`) might be in any
    namespace, so every selection takes it; it carries a data error, which mandatory rules
    turn into ``error`` (fail closed) rather than letting it disappear.
    """
    if namespaces is None:
        return list(images)
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p.strip())})" for p in namespaces))
    return [
        image
        for image in images
        if regex.match(image.namespace)
        or (image.namespace == MISSING_NAMESPACE and image.data_error is not None)
    ]


def select(
    images: Sequence[Image],
    *,
    namespaces: Sequence[str] = (),
    all_namespaces: bool = False,
    refs: Sequence[ImageRef] = (),
) -> list[Image]:
    """The union of the chosen namespaces and the ``--image`` references, in ranking order.

    With neither namespaces nor references, every image is selected.
    """
    if all_namespaces or (not namespaces and not refs):
        return list(images)
    in_namespaces = {id(i) for i in select_images(images, namespaces)} if namespaces else set()
    return [i for i in images if id(i) in in_namespaces or any(r.matches(i) for r in refs)]


UNRANKED_NOTE = (
    "the Security Center ranking lists only images Security Center has ranked; an image "
    "missing from it may be unscanned or simply not ranked, so its risk is unknown"
)


def unranked_report(ref: ImageRef, outcome: Outcome) -> ImageReport:
    """The one result for an ``--image`` reference that no ranked image matches."""
    if outcome not in (Outcome.PASS, Outcome.WARN, Outcome.FAIL):
        raise ValueError(f"unranked outcome must be pass, warn or fail, not {outcome.value}")
    enforcement = Enforcement.HARD_MANDATORY if outcome is Outcome.FAIL else Enforcement.ADVISORY
    message = (
        f"{ref.text} is not in the Security Center ranking, so its risk is unknown "
        f"(--unranked {outcome.value})"
    )
    result = Result(
        policy="gate",
        rule="unranked",
        enforcement=enforcement,
        outcome=outcome,
        condition=f"--unranked {outcome.value}",
        values={},
        message=message,
        waiver=None,
        file="",
    )
    return ImageReport(ref.placeholder(), (result,))


def _cannot_evaluate(image: Image, missing: Sequence[str]) -> str:
    reasons = []
    for metric in missing:
        reason = image.metric_problems.get(metric) or image.data_error
        reasons.append(reason or f"{metric} is not available")
    unique = list(dict.fromkeys(reasons))
    return "cannot evaluate: " + "; ".join(unique)


def _selectors(waiver: Waiver) -> str:
    images = ", ".join(s.text for s in waiver.selectors)
    return f"{', '.join(waiver.cves)} in {images}" if waiver.cves else images


def _with_record_waivers(
    image: Image, policy: Policy, rule: Rule, metrics: Mapping[str, Number], uses: dict[int, int]
) -> Mapping[str, Number]:
    """The rule's metrics with the records its vulnerability waivers exclude left out, and
    each such waiver counted as used."""
    key = (policy.name, rule.id)
    for waiver in image.record_waivers.get(key, ()):
        uses[id(waiver)] += 1
    special = image.rule_metrics.get(key)
    return {**metrics, **special} if special else metrics


class _Passes:
    """The passing results of one rule, one per distinct tuple of integer values.

    ``cache`` maps the values (``key(metrics)``) of integer-valued images to their result:
    passes, and, when ``shared_failures`` (no waiver names the rule), the other outcomes too.
    """

    __slots__ = ("cache", "key", "names", "policy", "rule", "shared_failures")

    def __init__(self, policy: Policy, rule: Rule, shared_failures: bool = False) -> None:
        self.policy = policy
        self.rule = rule
        self.names = rule.condition.metrics
        self.key: Callable[[Mapping[str, Number]], Any] = (
            operator.itemgetter(*self.names) if self.names else lambda metrics: ()
        )
        self.cache: dict[Any, Result] = {}
        self.shared_failures = shared_failures

    def result(self, metrics: Mapping[str, Number]) -> Result:
        key = self.key(metrics)
        # Only integers are shared: 0 == 0.0 == False would otherwise pick another's values.
        ints = type(key) is int or (type(key) is tuple and all(type(value) is int for value in key))
        if ints:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        rule, policy = self.rule, self.policy
        result = Result(
            policy.name,
            rule.id,
            rule.enforcement,
            Outcome.PASS,
            rule.condition.source,
            {m: metrics[m] for m in self.names},
            "",
            None,
            policy.file,
        )
        if ints:
            self.cache[key] = result
        return result


def _trivial(scope: Scope) -> bool:
    return (
        scope.namespaces is None
        and scope.repositories is None
        and scope.tags is None
        and not scope.exclude
    )


def evaluate(
    policies: Sequence[Policy],
    images: Sequence[Image],
    *,
    now: dt.date,
    source: SourceInfo,
    selection: Sequence[str],
    override: str | None = None,
    require_images: bool = False,
    warnings: Sequence[str] = (),
    refs: Sequence[ImageRef] = (),
    unranked: Outcome = Outcome.WARN,
) -> Report:
    """Evaluate every image against every rule in scope and return the report.

    ``refs`` are the ``--image`` references; each one that matches none of ``images`` is
    reported as unranked with the ``unranked`` outcome (pass, warn or fail).
    """
    waivers_for: dict[tuple[str, str], list[Waiver]] = {}
    for policy in policies:
        for waiver in policy.waivers:
            waivers_for.setdefault((policy.name, waiver.rule), []).append(waiver)
    uses: dict[int, int] = {id(w): 0 for p in policies for w in p.waivers}
    override = override.strip() if override and override.strip() else None

    def judge(image: Image, policy: Policy, rule: Rule, passes: _Passes) -> Result:
        """The outcome of one rule on one image (see the table above)."""
        condition = rule.condition
        metrics = image.metrics
        if image.rule_metrics or image.record_waivers:  # vulnerability waivers (cves:)
            metrics = _with_record_waivers(image, policy, rule, metrics, uses)
        missing = [m for m in condition.metrics if m not in metrics]
        if missing:
            return Result(
                policy.name,
                rule.id,
                rule.enforcement,
                Outcome.ERROR if rule.enforcement.mandatory else Outcome.WARN,
                condition.source,
                {m: metrics[m] for m in condition.metrics if m in metrics},
                _cannot_evaluate(image, missing),
                None,
                policy.file,
            )
        if not condition.evaluate(metrics):
            return passes.result(metrics)
        values = {m: metrics[m] for m in condition.metrics}
        explained = condition.explain(metrics)
        active: Waiver | None = None
        expired: Waiver | None = None
        for waiver in waivers_for.get((policy.name, rule.id), ()):
            if waiver.covers(image):
                if waiver.expires >= now:
                    active = waiver
                    break
                expired = expired or waiver
        if active is not None:
            uses[id(active)] += 1
            owner = f" ({active.owner})" if active.owner else ""
            outcome = Outcome.WAIVED
            message = (
                f"{explained}; waived until {active.expires.isoformat()}{owner}: {active.reason}"
            )
        elif rule.enforcement is Enforcement.ADVISORY:
            outcome, message = Outcome.WARN, f"{explained} (advisory)"
        elif rule.enforcement is Enforcement.SOFT_MANDATORY and override:
            outcome, message = Outcome.OVERRIDDEN, f"{explained}; overridden: {override}"
        else:
            outcome, message = Outcome.FAIL, explained
        if expired is not None and active is None:
            message += f" (a waiver matched but expired on {expired.expires.isoformat()})"
        for excluding in image.record_waivers.get((policy.name, rule.id), ()):
            message += (
                f" (not counting {', '.join(excluding.cves)}: waived until "
                f"{excluding.expires.isoformat()})"
            )
        return Result(
            policy.name,
            rule.id,
            rule.enforcement,
            outcome,
            condition.source,
            values,
            message,
            active,
            policy.file,
        )

    plans = []
    for policy in policies:
        rules = [
            (
                rule,
                rule.condition.evaluate,
                _Passes(policy, rule, (policy.name, rule.id) not in waivers_for),
            )
            for rule in policy.rules
        ]
        # each rule's (its values, the result for them) lookups, for the hot loop
        lookups = [(passes.key, passes.cache.get) for _, _, passes in rules]
        unscoped = all(rule.scope is None for rule in policy.rules)
        plans.append(
            (policy, None if _trivial(policy.scope) else policy.scope, rules, unscoped, lookups)
        )
    needed = frozenset(m for p in policies for r in p.rules for m in r.condition.metrics)
    only_ints = {int}.issuperset
    fail, error = Outcome.FAIL, Outcome.ERROR
    outcome_of = operator.attrgetter("outcome")

    reports: list[ImageReport] = []
    unchecked: list[str] = []  # names of images no rule applied to
    tally: list[Outcome] = []  # every result's outcome, counted once at the end
    for image in images:
        results: list[Result] = []
        metrics = image.metrics
        # Per-rule record metrics (vulnerability waivers) take the per-image path below.
        ints = not image.rule_metrics and (
            type(metrics) is IntCounters or only_ints(map(type, metrics.values()))
        )
        for policy, policy_scope, rules, unscoped, lookups in plans:
            if policy_scope is not None and not policy_scope.contains(image):
                continue
            if ints and unscoped:  # the hot loop of a large run: results are shared
                try:
                    found = [get(key(metrics)) for key, get in lookups]
                except KeyError:  # a counter is missing: each rule says so below
                    found = None
                if found is not None:
                    if not all(found):  # values not seen before (a Result is always true)
                        for at, result in enumerate(found):
                            if result is None:
                                rule, holds, passes = rules[at]
                                if holds(metrics):
                                    result = judge(image, policy, rule, passes)
                                    if passes.shared_failures and result.outcome is not error:
                                        passes.cache[passes.key(metrics)] = result
                                else:
                                    result = passes.result(metrics)
                                found[at] = result
                    results += found  # type: ignore[arg-type]  # each None was replaced
                    continue
            complete = metrics.keys() >= needed and not image.rule_metrics
            if complete and unscoped:  # non-integer values: only passes with integers shared
                for rule, holds, passes in rules:
                    if holds(metrics):
                        results.append(judge(image, policy, rule, passes))
                    else:
                        results.append(passes.result(metrics))
                continue
            for rule, _, passes in rules:
                if rule.scope is None or rule.scope.contains(image):
                    results.append(judge(image, policy, rule, passes))
        if not results:
            unchecked.append(image.name)
        outcomes = list(map(outcome_of, results))  # searched in C: faster than any()
        blocking = fail in outcomes or error in outcomes
        tally += outcomes
        reports.append(_new_report(image, tuple(results), blocking, None))  # no explanation

    absent: dict[str, ImageRef] = {}
    for ref in refs:
        if not any(ref.matches(image) for image in images):
            absent.setdefault(ref.name, ref)
    reports += [unranked_report(ref, unranked) for ref in absent.values()]
    tally += [result.outcome for entry in reports[len(images) :] for result in entry.results]

    notes = list(warnings)
    if absent:
        names = ", ".join(ref.text for ref in absent.values())
        notes.append(
            f"{len(absent)} image(s) not in the ranking: {names}; {UNRANKED_NOTE} "
            f"(--unranked {unranked.value})"
        )
    if not images and not absent:
        where = ", ".join(selection) if selection else "any namespace (the ranking lists none)"
        notes.append(
            f"no ranked image matched {where}: nothing was evaluated"
            + (" (--require-images makes this a failure)" if require_images else "")
        )
    if unchecked:
        nothing = len(unchecked) == len(reports) and require_images
        shown = ", ".join(unchecked[:5]) + (
            f" and {len(unchecked) - 5} more" * (len(unchecked) > 5)
        )
        notes.append(
            f"{len(unchecked)} selected image(s) are outside the scope of every policy ({shown})"
            + (": nothing was evaluated (--require-images makes this a failure)" if nothing else "")
        )

    waiver_reports: list[WaiverReport] = []
    for policy in policies:
        for waiver in policy.waivers:
            days_left = (waiver.expires - now).days
            count = uses[id(waiver)]
            if days_left < 0:
                status = WaiverStatus.EXPIRED
                notes.append(
                    f"waiver for {policy.name}/{waiver.rule} on {_selectors(waiver)} "
                    f"expired on {waiver.expires.isoformat()} and no longer applies"
                )
            elif count == 0:
                status = WaiverStatus.UNUSED
            elif days_left <= EXPIRING_DAYS:
                status = WaiverStatus.EXPIRING
                when = {0: "today", 1: "tomorrow"}.get(days_left, f"in {days_left} days")
                notes.append(
                    f"waiver for {policy.name}/{waiver.rule} on {_selectors(waiver)} "
                    f"expires {when} ({waiver.expires.isoformat()})"
                )
            else:
                status = WaiverStatus.ACTIVE
            waiver_reports.append(WaiverReport(waiver, status, count, days_left))

    return Report(
        source=source,
        now=now,
        policies=tuple(policies),
        selection=tuple(selection),
        images=tuple(reports),
        waivers=tuple(waiver_reports),
        warnings=tuple(notes),
        override=override,
        require_images=require_images,
        refs=tuple(ref.text for ref in refs),
    ).counted(tally)
