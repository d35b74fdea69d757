"""``gate check --explain``: the vulnerability records behind blocking vulnerability results.

A step after evaluation: it reads a finished :class:`~gate.model.Report` and returns the
same report with an :class:`~gate.detail.Explanation` on each image it explains. It never
changes a result or the verdict; when the records cannot be had, the explanation says why.

Which images: every image with a blocking result (``fail`` or ``error``) from a rule that
reads ``imageVulAsap``, ``imageVulLater`` or ``imageVulNntf`` or a record metric
(``fixableVulAsap``, ``vulLaterOlderThan30d``, ...); which records: the fix priorities those
rules read. Bounded: at most ``max_images`` images (in report order; the
others say they were skipped), ``workers`` at a time, every call inside one deadline, with
the API client's retries and throttling back-off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from gate.detail import Explanation, VulRecord
from gate.errors import GateError
from gate.model import NECESSITIES, Image, ImageReport, Policy, Report
from gate.policy.metrics import record_metric
from gate.source.vulns import RecordSource, why, worst_first

VUL_METRICS: Mapping[str, str] = {
    "imageVulAsap": "asap",
    "imageVulLater": "later",
    "imageVulNntf": "nntf",
}
"""Ranking counters and the fix priority (``Necessity``) whose records they count."""
DEFAULT_MAX_IMAGES = 10
WORKERS = 4
"""Images explained at once: each makes its calls one after another, so at most this many
calls are in flight (well inside Security Center's per-account rate limits)."""
SHOWN = 5
"""Records shown per image in the console, Markdown and JUnit reports (JSON has all)."""


def rule_necessities(policies: Sequence[Policy]) -> dict[tuple[str, str], tuple[str, ...]]:
    """For each (policy, rule) that reads vulnerability counters, the priorities it reads."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for policy in policies:
        for rule in policy.rules:
            wanted = {VUL_METRICS[m] for m in rule.condition.metrics if m in VUL_METRICS}
            wanted.update(
                parsed[0]
                for parsed in map(record_metric, rule.condition.metrics)
                if parsed is not None
            )
            if wanted:
                found[(policy.name, rule.id)] = tuple(n for n in NECESSITIES if n in wanted)
    return found


def candidates(
    report: Report, always: Callable[[Image], bool] | None = None
) -> list[tuple[int, tuple[str, ...]]]:
    """(index into ``report.images``, priorities) of every image to explain, in report order:
    those with a blocking vulnerability result, and those ``always`` names (``--image``
    references) with any vulnerability result."""
    reads = rule_necessities(report.policies)
    chosen = []
    for index, image in enumerate(report.images):
        wanted: set[str] = set()
        known = image.image.ranked or bool(image.image.looked_up)  # not a placeholder
        every = always is not None and known and always(image.image)
        for result in image.results:
            if every or result.outcome.blocking:
                wanted.update(reads.get((result.policy, result.rule), ()))
        if wanted:
            chosen.append((index, tuple(n for n in NECESSITIES if n in wanted)))
    return chosen


def _explain_one(
    image: ImageReport,
    necessities: tuple[str, ...],
    source: RecordSource,
    deadline: float,
    timeout: float,
) -> Explanation:
    records: list[VulRecord] = []
    totals: dict[str, int] = {}
    truncated = False
    try:
        for necessity in necessities:
            page = source.fetch(image.image, necessity, deadline=deadline, timeout=timeout)
            records.extend(page.records)
            totals[necessity] = page.total
            truncated = truncated or page.truncated
    except GateError as exc:
        return Explanation(necessities, error=why(exc), source=source.label)
    return Explanation(
        necessities,
        records=worst_first(records),
        totals=totals,
        truncated=truncated,
        source=source.label,
    )


def explain(
    report: Report,
    source: RecordSource,
    *,
    max_images: int = DEFAULT_MAX_IMAGES,
    deadline: float,
    timeout: float,
    workers: int = WORKERS,
    always: Callable[[Image], bool] | None = None,
) -> Report:
    """``report`` with the records behind its blocking vulnerability results (and behind
    every vulnerability result of the images ``always`` names)."""
    chosen = candidates(report, always)
    if not chosen:
        return report
    explained = chosen[:max_images]
    explanations: dict[int, Explanation] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(explained)))) as pool:
        futures = {
            index: pool.submit(
                _explain_one, report.images[index], wanted, source, deadline, timeout
            )
            for index, wanted in explained
        }
        for index, future in futures.items():
            explanations[index] = future.result()
    skipped = (
        f"not explained: at most {max_images} images are explained per run (--explain-max-images)"
    )
    for index, wanted in chosen[max_images:]:
        explanations[index] = Explanation(wanted, error=skipped, source=source.label)
    notes = []
    if len(chosen) > max_images:
        notes.append(
            f"--explain: {len(chosen)} images have blocking vulnerability results; the "
            f"records of the first {max_images} are shown (raise --explain-max-images for more)"
        )
    return with_explanations(report, explanations, notes)


def unavailable(
    report: Report,
    reason: str,
    label: str = "api",
    always: Callable[[Image], bool] | None = None,
) -> Report:
    """``report`` with every image that would be explained saying why it is not."""
    explanations = {
        index: Explanation(wanted, error=reason, source=label)
        for index, wanted in candidates(report, always)
    }
    return with_explanations(report, explanations, ())


def with_explanations(
    report: Report, explanations: Mapping[int, Explanation], notes: Sequence[str]
) -> Report:
    if not explanations and not notes:
        return report
    images = tuple(
        dataclasses.replace(image, explanation=explanations[index])
        if index in explanations
        else image
        for index, image in enumerate(report.images)
    )
    counts = report.summary()
    updated = dataclasses.replace(report, images=images, warnings=(*report.warnings, *notes))
    updated._counts.update(counts)  # the results are the same: so are their counts
    return updated


def record_line(explanation: Explanation, index: int) -> str:
    """One record as one line for people: id, priority, package and version, fix, age."""
    record = explanation.records[index]
    parts = [f"{record.label} [{record.necessity or '?'}]"]
    if record.packages:
        package = record.packages[0]
        parts.append(f"{package.name} {package.version}".strip())
        if package.fixed_version:
            parts.append(f"fixed in {package.fixed_version}")
        if package.fix_command:
            parts.append(f"fix: {package.fix_command}")
    fix_known = any(p.fix_command or p.fixed_version for p in record.packages)
    if not fix_known and record.can_fix is not None:
        parts.append("fixable" if record.can_fix else "no fix available yet")
    if record.first_seen:
        parts.append(f"first seen {record.first_seen[:10]}")
    return ", ".join(parts)


def summary_line(explanation: Explanation) -> str:
    """What the explanation holds, or why it is unavailable."""
    if explanation.error is not None:
        return f"vulnerability detail unavailable: {explanation.error}"
    total = len(explanation.records)
    counted = ", ".join(f"{explanation.totals.get(n, 0)} {n}" for n in explanation.necessities)
    shown = min(SHOWN, total)
    more = " (more exist than were fetched)" if explanation.truncated else ""
    if not total:
        return f"vulnerability records ({counted}): none open{more}"
    return f"vulnerability records ({counted}); worst {shown} of {total}{more}:"


def to_json(explanation: Explanation) -> dict[str, object]:
    """The explanation in the JSON report: every record fetched, worst first."""
    return {
        "priorities": list(explanation.necessities),
        "source": explanation.source,
        "available": explanation.error is None,
        "error": explanation.error,
        "totals": dict(explanation.totals),
        "truncated": explanation.truncated,
        "records": [
            {
                "name": r.name,
                "alias": r.alias,
                "cves": list(r.cves),
                "necessity": r.necessity,
                "can_fix": r.can_fix,
                "first_seen": r.first_seen,
                "last_seen": r.last_seen,
                "status": r.status,
                "packages": [
                    {
                        "name": p.name,
                        "version": p.version,
                        "fixed_version": p.fixed_version or None,
                        "fix_command": p.fix_command or None,
                        "path": p.path or None,
                    }
                    for p in r.packages
                ],
            }
            for r in explanation.records
        ],
    }


def text_lines(explanation: Explanation) -> tuple[str, list[str]]:
    """The explanation for people: a summary line, and the worst :data:`SHOWN` records."""
    shown = min(SHOWN, len(explanation.records)) if explanation.error is None else 0
    return summary_line(explanation), [record_line(explanation, i) for i in range(shown)]
