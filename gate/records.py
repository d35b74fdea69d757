"""Metrics counted from vulnerability records: ``fixableVulAsap``, ``vulAsapOlderThan30d``...

A step before evaluation: for every selected image that a rule reading such a metric applies
to, fetch the records of the priorities those rules read (``DescribeImageVulList``, four
images at a time, inside the run's deadline) and add the counts to the image's metrics. The
engine then evaluates them like any counter. When the records cannot be had (refused,
throttled past the deadline, more than the record limit), the metric is unusable with the
reason, so a mandatory rule reading it is ``error`` (fail closed), never a silent pass.

Fetched pages are kept in a :class:`CachingSource`, so ``--explain`` reuses them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from gate.detail import VulRecord
from gate.errors import GateError
from gate.model import NECESSITIES, Image, Policy, Rule, Waiver
from gate.policy.metrics import record_metric
from gate.source.vulns import MAX_RECORDS, Page, RecordSource, why

WORKERS = 4


class CachingSource:
    """A record source that fetches each (image, priority) once per run."""

    def __init__(self, source: RecordSource) -> None:
        self.source = source
        self._pages: dict[tuple[str, ...], Page] = {}
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.source.label

    def fetch(self, image: Image, necessity: str, *, deadline: float, timeout: float) -> Page:
        key = (image.namespace, image.repository, image.tag, image.digest, image.uuid, necessity)
        with self._lock:
            page = self._pages.get(key)
        if page is None:
            page = self.source.fetch(image, necessity, deadline=deadline, timeout=timeout)
            with self._lock:
                self._pages[key] = page
        return page


def record_metrics(names: Iterable[str]) -> list[str]:
    """The record metrics among ``names``."""
    return [name for name in names if record_metric(name) is not None]


def needs(image: Image, policies: Sequence[Policy]) -> set[str]:
    """The record metrics that rules applying to ``image`` read."""
    wanted: set[str] = set()
    for policy in policies:
        if not policy.scope.contains(image):
            continue
        for rule in policy.rules:
            names = record_metrics(rule.condition.metrics)
            if names and (rule.scope is None or rule.scope.contains(image)):
                wanted.update(names)
    return wanted


def uses_records(policies: Sequence[Policy]) -> bool:
    return any(record_metrics(r.condition.metrics) for p in policies for r in p.rules)


def fixable(record: VulRecord) -> bool:
    """A fix exists: Security Center can fix it, or names a fix command or fixed version."""
    return bool(record.can_fix) or any(p.fix_command or p.fixed_version for p in record.packages)


def older_than(record: VulRecord, days: int, now: dt.date) -> bool:
    """First seen more than ``days`` days before ``now``; no first-seen time counts as old."""
    if not record.first_seen:
        return True
    first = dt.date.fromisoformat(record.first_seen[:10])
    return (now - first).days > days


def count(name: str, records: Sequence[VulRecord], now: dt.date) -> int:
    parsed = record_metric(name)
    if parsed is None:  # pragma: no cover - callers pass record metrics only
        raise ValueError(f"{name} is not a record metric")
    necessity, kind, days = parsed
    mine = [r for r in records if r.necessity == necessity]
    if kind == "fixable":
        return sum(1 for r in mine if fixable(r))
    return sum(1 for r in mine if older_than(r, days, now))


def _waived(
    image: Image, policy: Policy, rule: Rule, records: Sequence[VulRecord], now: dt.date
) -> tuple[dict[str, int], tuple[Waiver, ...]] | None:
    """The rule's record metrics without the records its active vulnerability waivers
    (``cves:``) exclude on this image, and the waivers that excluded one; None when none did."""
    names = record_metrics(rule.condition.metrics)
    necessities = {record_metric(n)[0] for n in names}  # type: ignore[index]
    kept = [r for r in records if r.necessity in necessities]
    used: list[Waiver] = []
    for waiver in policy.waivers:
        if waiver.rule != rule.id or not waiver.cves or waiver.expires < now:
            continue
        if not waiver.names_image(image):
            continue
        ids = set(waiver.cves)
        remaining = [r for r in kept if ids.isdisjoint(r.ids)]
        if len(remaining) < len(kept):
            used.append(waiver)
            kept = remaining
    if not used:
        return None
    return {name: count(name, kept, now) for name in names}, tuple(used)


def _apply_waivers(
    image: Image, policies: Sequence[Policy], records: Sequence[VulRecord], now: dt.date
) -> Image:
    rule_metrics: dict[tuple[str, str], dict[str, int]] = {}
    record_waivers: dict[tuple[str, str], tuple[Waiver, ...]] = {}
    for policy in policies:
        if not any(w.cves for w in policy.waivers) or not policy.scope.contains(image):
            continue
        for rule in policy.rules:
            if rule.scope is not None and not rule.scope.contains(image):
                continue
            waived = _waived(image, policy, rule, records, now)
            if waived is not None:
                rule_metrics[(policy.name, rule.id)], record_waivers[(policy.name, rule.id)] = (
                    waived
                )
    if not record_waivers:
        return image
    return dataclasses.replace(image, rule_metrics=rule_metrics, record_waivers=record_waivers)


def _enrich_one(
    image: Image,
    names: set[str],
    source: RecordSource,
    now: dt.date,
    deadline: float,
    timeout: float,
    policies: Sequence[Policy] = (),
) -> Image:
    necessities = sorted({record_metric(n)[0] for n in names}, key=NECESSITIES.index)  # type: ignore[index]
    records: list[VulRecord] = []
    problem: str | None = None
    try:
        for necessity in necessities:
            page = source.fetch(image, necessity, deadline=deadline, timeout=timeout)
            if page.truncated:
                problem = (
                    f"the image has more than {MAX_RECORDS} {necessity} vulnerability records; "
                    "the gate does not count a partial list"
                )
                break
            records.extend(page.records)
    except GateError as exc:
        problem = f"vulnerability records unavailable: {why(exc)}"
    if problem is not None:
        problems = {**image.metric_problems, **dict.fromkeys(names, problem)}
        return dataclasses.replace(image, metric_problems=problems)
    metrics = {**image.metrics, **{name: count(name, records, now) for name in names}}
    return _apply_waivers(dataclasses.replace(image, metrics=metrics), policies, records, now)


def enrich(
    images: Sequence[Image],
    policies: Sequence[Policy],
    source: RecordSource,
    *,
    now: dt.date,
    deadline: float,
    timeout: float,
    workers: int = WORKERS,
) -> list[Image]:
    """``images`` with the record metrics their rules read added (or marked unusable)."""
    jobs = [(index, needs(image, policies)) for index, image in enumerate(images)]
    jobs = [(index, names) for index, names in jobs if names]
    if not jobs:
        return list(images)
    result = list(images)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        futures = [
            (
                index,
                pool.submit(
                    _enrich_one, images[index], names, source, now, deadline, timeout, policies
                ),
            )
            for index, names in jobs
        ]
        for index, future in futures:
            result[index] = future.result()
    return result


def unavailable(images: Sequence[Image], policies: Sequence[Policy], reason: str) -> list[Image]:
    """``images`` with every record metric their rules read marked unusable for ``reason``."""
    result = []
    for image in images:
        names = needs(image, policies)
        if names:
            problem = f"vulnerability records unavailable: {reason}"
            problems = {**image.metric_problems, **dict.fromkeys(names, problem)}
            image = dataclasses.replace(image, metric_problems=problems)
        result.append(image)
    return result
