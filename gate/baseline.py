"""Baselines: gate on what changed rather than on everything a registry already has.

Pure functions over normalised images; the reading and writing of files happens in
:mod:`gate.run` and the CLI.

* :func:`record` takes the counters the policies use from every selected image and keeps,
  per ``namespace/repository``, the highest value among its images (tags and digests move;
  the baseline is about the repository). Tag, digest and ranking time are kept for people.
* :func:`dump` writes the file: sorted keys, two-space indent, ASCII only, a version field and
  the time it was taken, so a pull request shows only real changes. :func:`parse` reads it
  back and trusts nothing in it.
* :func:`compare_with_file` and :func:`compare_with_tag` give every selected image the
  metrics ``baseline.<metric>`` and ``delta.<metric>`` (current minus baseline), which
  ``fail_if`` may use. A repository without an entry in the file, or a counter the file does
  not have, is compared with zero (so the delta is the current value). With a compared tag,
  a repository without an image of that tag has *no* baseline: rules that read one cannot be
  evaluated (``error`` under mandatory enforcement, fail closed).
* :func:`annotate` adds ``imageVulAsap = 5 (+2 vs baseline 3)`` to every result that did not
  pass, and records the comparison in the report.
* :func:`ratchet` merges a new recording into a baseline: counters that went down are
  lowered, counters that went up are kept (only ``accept`` raises them, and the reason is
  recorded), entries of repositories no longer ranked are kept and reported as stale.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gate.detail import Comparison
from gate.errors import UsageError
from gate.model import Image, ImageReport, Number, Outcome, Policy, Report, Rule
from gate.policy.metrics import CATALOGUE, COMPARISONS, MAX_MAGNITUDE

if TYPE_CHECKING:
    from gate.run import CheckRequest
    from gate.source.normalize import Ranking

FORMAT = "gate-baseline"
VERSION = 1
MAX_BYTES = 64 * 1024 * 1024
MAX_LISTED = 20
"""Images named in one note; the JSON report lists every one."""


def split_metric(name: str) -> tuple[str, str]:
    """``("delta", "imageVulAsap")`` for ``delta.imageVulAsap``; ``("", name)`` otherwise."""
    prefix, dot, base = name.partition(".")
    if dot and prefix in COMPARISONS:
        return prefix, base
    return "", name


def base_metrics(policies: Iterable[Policy]) -> list[str]:
    """Every counter the policies read, directly or through ``baseline.``/``delta.``, sorted."""
    return sorted(
        {split_metric(m)[1] for p in policies for r in p.rules for m in r.condition.metrics}
    )


def comparing_rules(policies: Iterable[Policy]) -> list[tuple[Policy, Rule]]:
    """The rules that read ``baseline.`` or ``delta.`` metrics."""
    return [
        (policy, rule)
        for policy in policies
        for rule in policy.rules
        if any(split_metric(m)[0] for m in rule.condition.metrics)
    ]


def require_comparison(policies: Sequence[Policy], *, given: bool) -> None:
    """A rule that reads a baseline, in a run without one, is a usage error (never a pass)."""
    if given:
        return
    rules = comparing_rules(policies)
    if not rules:
        return
    where = "; ".join(
        f"{p.file}:{r.line}: {p.name}/{r.id}" if r.line else f"{p.file}: {p.name}/{r.id}"
        for p, r in rules[:5]
    )
    more = f" and {len(rules) - 5} more" if len(rules) > 5 else ""
    raise UsageError(
        f"{len(rules)} rule(s) read baseline./delta. metrics, but no baseline was given "
        f"({where}{more})",
        hint="pass --baseline FILE (recorded with 'gate baseline -o FILE') or --compare-to TAG",
    )


def repository_key(image: Image) -> str:
    """The documented identity of a baseline entry: ``namespace/repository``."""
    return f"{image.namespace}/{image.repository}"


# --- the file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    """A counter raised on purpose (``gate baseline --update --accept-increase REASON``)."""

    metric: str
    before: Number | None
    after: Number
    reason: str
    at: str


@dataclass(frozen=True)
class Entry:
    """The recorded counters of one repository."""

    counters: Mapping[str, Number]
    images: tuple[tuple[str, str], ...] = ()
    """(tag, digest) of the images the counters came from, for information."""
    ranked_at: str | None = None
    """When the ranking they came from was fetched, for information."""
    accepted: tuple[Acceptance, ...] = ()


@dataclass(frozen=True)
class Baseline:
    taken_at: str
    entries: Mapping[str, Entry]
    updated_at: str | None = None

    @property
    def time(self) -> str:
        return self.updated_at or self.taken_at


def _number_text(value: Number) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def dump(baseline: Baseline) -> str:
    """The baseline file: small, sorted and stable."""
    metrics = sorted({m for entry in baseline.entries.values() for m in entry.counters})
    repositories: dict[str, Any] = {}
    for key, entry in baseline.entries.items():
        item: dict[str, Any] = {
            "counters": dict(entry.counters),
            "images": [{"tag": tag, "digest": digest} for tag, digest in sorted(entry.images)],
            "ranked_at": entry.ranked_at,
        }
        if entry.accepted:
            item["accepted_increases"] = [
                {
                    "metric": a.metric,
                    "from": a.before,
                    "to": a.after,
                    "reason": a.reason,
                    "at": a.at,
                }
                for a in entry.accepted
            ]
        repositories[key] = item
    fields: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "taken_at": baseline.taken_at,
        "metrics": metrics,
    }
    if baseline.updated_at:
        fields["updated_at"] = baseline.updated_at
    # One line per repository, in key order: a review shows exactly the repositories changed.
    body = ",\n".join(
        f"    {_json(key)}: {_json(repositories[key])}" for key in sorted(repositories)
    )
    fields["repositories"] = _Verbatim("{\n" + body + "\n  }" if body else "{}")
    parts = [
        f"  {_json(name)}: {value.text if isinstance(value, _Verbatim) else _json(value)}"
        for name, value in sorted(fields.items())
    ]
    return "{\n" + ",\n".join(parts) + "\n}\n"


@dataclass(frozen=True)
class _Verbatim:
    text: str


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=True)


class _Reader:
    def __init__(self, label: str) -> None:
        self.label = label

    def error(self, where: str, message: str) -> UsageError:
        return UsageError(
            f"baseline file {self.label}: {where}: {message}",
            hint="record a new one with 'gate baseline -o FILE', or fix the file",
        )

    def text(self, value: Any, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or len(value) > 4096:
            raise self.error(where, "expected a string")
        return value

    def number(self, value: Any, where: str) -> Number:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(where, f"expected a number, got {json.dumps(value)[:40]}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(where, "expected a finite number")
        if value < 0 or value > MAX_MAGNITUDE:
            raise self.error(where, f"counter {_number_text(value)} is out of range")
        return value

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, "expected an object")
        return value

    def entry(self, key: str, raw: Any) -> Entry:
        where = f"repositories[{json.dumps(key)}]"
        raw = self.mapping(raw, where)
        counters: dict[str, Number] = {}
        for metric, value in self.mapping(raw.get("counters"), f"{where}.counters").items():
            if type(value) is int and 0 <= value <= MAX_MAGNITUDE and metric in CATALOGUE:
                counters[metric] = value  # the common case, checked at once
                continue
            if metric not in CATALOGUE:
                raise self.error(f"{where}.counters", f"unknown metric {json.dumps(metric)[:80]}")
            counters[metric] = self.number(value, f"{where}.counters.{metric}")
        images: list[tuple[str, str]] = []
        raw_images = raw.get("images", [])
        if not isinstance(raw_images, list):
            raise self.error(f"{where}.images", "expected a list")
        for index, image in enumerate(raw_images):
            image = self.mapping(image, f"{where}.images[{index}]")
            tag = self.text(image.get("tag", ""), f"{where}.images[{index}].tag") or ""
            digest = self.text(image.get("digest", ""), f"{where}.images[{index}].digest") or ""
            images.append((tag, digest))
        accepted: list[Acceptance] = []
        raw_accepted = raw.get("accepted_increases", [])
        if not isinstance(raw_accepted, list):
            raise self.error(f"{where}.accepted_increases", "expected a list")
        for index, item in enumerate(raw_accepted):
            at = f"{where}.accepted_increases[{index}]"
            item = self.mapping(item, at)
            before = item.get("from")
            accepted.append(
                Acceptance(
                    metric=self.text(item.get("metric"), f"{at}.metric") or "",
                    before=None if before is None else self.number(before, f"{at}.from"),
                    after=self.number(item.get("to"), f"{at}.to"),
                    reason=self.text(item.get("reason"), f"{at}.reason") or "",
                    at=self.text(item.get("at"), f"{at}.at") or "",
                )
            )
        return Entry(
            counters=counters,
            images=tuple(images),
            ranked_at=self.text(raw.get("ranked_at"), f"{where}.ranked_at", optional=True),
            accepted=tuple(accepted),
        )


def parse(data: bytes, label: str) -> Baseline:
    """Read a baseline file; every problem is a usage error naming the file and the place."""
    reader = _Reader(label)
    if len(data) > MAX_BYTES:
        raise reader.error("file", f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise reader.error("file", f"not JSON ({exc})") from None
    document = reader.mapping(document, "top level")
    if document.get("format") != FORMAT:
        raise reader.error(
            "format", f"expected {json.dumps(FORMAT)}: this is not a gate baseline file"
        )
    if document.get("version") != VERSION:
        raise reader.error(
            "version",
            f"version {json.dumps(document.get('version'))[:20]} is not supported "
            f"(this gate reads version {VERSION})",
        )
    repositories = reader.mapping(document.get("repositories"), "repositories")
    entries = {}
    for key, raw in repositories.items():
        if "/" not in key:
            raise reader.error(
                "repositories", f"{json.dumps(key)[:80]} is not namespace/repository"
            )
        entries[key] = reader.entry(key, raw)
    return Baseline(
        taken_at=reader.text(document.get("taken_at"), "taken_at") or "",
        entries=entries,
        updated_at=reader.text(document.get("updated_at"), "updated_at", optional=True),
    )


# --- recording and ratcheting ----------------------------------------------------------------


def record(
    images: Sequence[Image], metrics: Sequence[str], *, taken_at: str, ranked_at: str | None
) -> tuple[Baseline, list[str]]:
    """A baseline of the ranked ``images``: per repository, the highest value of each counter.

    A counter that cannot be read on one image of a repository is not recorded for that
    repository (the highest value may be the unreadable one): the file then has no value for
    it, which compares with zero, and a ratchet never lowers it from a guess.
    Returns the baseline and notes about the counters not recorded.
    """
    counters: dict[str, dict[str, Number]] = {}
    unreadable: dict[str, set[str]] = {}
    seen: dict[str, list[tuple[str, str]]] = {}
    notes: list[str] = []
    for image in images:
        if not image.ranked:
            continue
        key = repository_key(image)
        values = counters.setdefault(key, {})
        seen.setdefault(key, []).append((image.tag, image.digest))
        for metric in metrics:
            value = image.metrics.get(metric)
            if value is None:
                reason = image.metric_problems.get(metric) or image.data_error or "not available"
                notes.append(f"{image.name}: {metric} not recorded for {key}: {reason}")
                unreadable.setdefault(key, set()).add(metric)
                continue
            if metric not in values or value > values[metric]:
                values[metric] = value
    entries = {
        key: Entry(
            counters={m: v for m, v in counters[key].items() if m not in unreadable.get(key, ())},
            images=tuple(sorted(set(seen[key]))),
            ranked_at=ranked_at,
        )
        for key in sorted(counters)
    }
    return Baseline(taken_at=taken_at, entries=entries), notes


@dataclass(frozen=True)
class Ratchet:
    baseline: Baseline
    lines: tuple[str, ...]
    """What changed and what was refused, one line each, for people."""
    stale: tuple[str, ...]
    refused: int


def ratchet(old: Baseline, new: Baseline, *, accept: str | None, at: str) -> Ratchet:
    """Merge the recording ``new`` into ``old``: lower what improved, never raise silently.

    A counter that went up (or a repository or counter not in ``old``, which counted as zero)
    is raised only with ``accept``, a reason recorded in the entry.
    """
    entries: dict[str, Entry] = {}
    lines: list[str] = []
    refused = 0
    touched = False
    for key in sorted(set(old.entries) | set(new.entries)):
        before = old.entries.get(key)
        now = new.entries.get(key)
        if now is None:
            assert before is not None
            entries[key] = before
            continue
        counters = dict(before.counters) if before else {}
        accepted = list(before.accepted) if before else []
        changed = False
        refused_here = 0
        for metric, value in sorted(now.counters.items()):
            recorded = counters.get(metric)
            current = 0 if recorded is None else recorded
            shown = "(none)" if recorded is None else _number_text(recorded)
            if value < current:
                counters[metric] = value
                changed = True
                lines.append(f"lowered  {key} {metric}: {shown} -> {_number_text(value)}")
            elif value > current:
                if accept:
                    counters[metric] = value
                    changed = True
                    accepted.append(Acceptance(metric, recorded, value, accept, at))
                    lines.append(
                        f"raised   {key} {metric}: {shown} -> {_number_text(value)} "
                        f"(accepted: {accept})"
                    )
                else:
                    refused_here += 1
                    lines.append(
                        f"kept     {key} {metric} at {shown} (now {_number_text(value)}); "
                        "--accept-increase REASON raises it"
                    )
            elif recorded is None:  # a zero not recorded yet: recording it raises nothing
                counters[metric] = value
                changed = True
        refused += refused_here
        if before is None and (refused_here or not counters):
            continue  # a new repository is added whole, or (until accepted) not at all
        if before is not None and not changed:
            entries[key] = before
            continue
        touched = True
        entries[key] = Entry(
            counters=counters,
            images=now.images,
            ranked_at=now.ranked_at,
            accepted=tuple(accepted),
        )
    stale = tuple(sorted(set(old.entries) - set(new.entries)))
    for key in stale:
        lines.append(f"stale    {key}: not in this ranking's selection; entry kept")
    return Ratchet(
        # Nothing changed: the file stays byte for byte the same (no spurious diff).
        baseline=Baseline(
            taken_at=old.taken_at, entries=entries, updated_at=at if touched else old.updated_at
        ),
        lines=tuple(lines),
        stale=stale,
        refused=refused,
    )


# --- comparing -----------------------------------------------------------------------------


def _attach(
    image: Image,
    baseline: Mapping[str, Number],
    metrics: Sequence[str],
    reasons: Mapping[str, str],
) -> Image:
    """``image`` with ``baseline.<m>`` and ``delta.<m>`` for every metric. A metric without a
    baseline value counts as zero, unless ``reasons`` says why it has no baseline."""
    values = dict(image.metrics)
    problems = dict(image.metric_problems)
    for metric in metrics:
        base = baseline.get(metric)
        if base is None:
            if metric in reasons:
                problems[_BASELINE[metric]] = problems[_DELTA[metric]] = reasons[metric]
                continue
            base = 0
        values[_BASELINE[metric]] = base
        current = image.metrics.get(metric)
        if current is None:
            problems[_DELTA[metric]] = (
                image.metric_problems.get(metric)
                or image.data_error
                or f"{metric} is not available"
            )
        else:
            values[_DELTA[metric]] = current - base
    return dataclasses.replace(image, metrics=values, metric_problems=problems)


_BASELINE = {metric: f"baseline.{metric}" for metric in CATALOGUE}
_DELTA = {metric: f"delta.{metric}" for metric in CATALOGUE}


def compare_with_file(
    images: Sequence[Image], baseline: Baseline, metrics: Sequence[str], *, label: str
) -> tuple[list[Image], Comparison]:
    """Give each image its repository's baseline; a repository without one compares with 0."""
    out: list[Image] = []
    missing: list[str] = []
    for image in images:
        if not image.ranked:
            out.append(image)
            continue
        entry = baseline.entries.get(repository_key(image))
        if entry is None:
            missing.append(image.name)
        out.append(_attach(image, entry.counters if entry else {}, metrics, {}))
    return out, Comparison("file", label, baseline.time, tuple(missing))


def compare_with_tag(
    images: Sequence[Image], ranking: Sequence[Image], tag: str, metrics: Sequence[str]
) -> tuple[list[Image], Comparison]:
    """Give each image the counters of the image of its repository with ``tag`` (a glob) in
    the same ranking; several such images: the highest value of each counter. A repository
    without one has no baseline."""
    by_repository: dict[str, list[Image]] = {}
    for candidate in ranking:
        if candidate.ranked and fnmatch.fnmatchcase(candidate.tag, tag):
            by_repository.setdefault(repository_key(candidate), []).append(candidate)
    out: list[Image] = []
    missing: list[str] = []
    for image in images:
        if not image.ranked:
            out.append(image)
            continue
        key = repository_key(image)
        compared = by_repository.get(key, [])
        values: dict[str, Number] = {}
        reasons: dict[str, str] = {}
        if not compared:
            missing.append(image.name)
            reason = (
                f"no image of {key} tagged '{tag}' in this ranking, so there is no baseline "
                "to compare with"
            )
            reasons = dict.fromkeys(metrics, reason)
        for metric in metrics if compared else ():
            unusable = [c for c in compared if c.metrics.get(metric) is None]
            if unusable:  # fail closed: the highest value may be the one that cannot be read
                bad = unusable[0]
                why = bad.metric_problems.get(metric) or bad.data_error or "not available"
                reasons[metric] = f"the compared image {bad.name} has no usable {metric}: {why}"
                continue
            values[metric] = max(c.metrics[metric] for c in compared)
        out.append(_attach(image, values, metrics, reasons))
    return out, Comparison("tag", tag, None, tuple(missing))


def compare(
    request: CheckRequest,
    policies: Sequence[Policy],
    selected: Sequence[Image],
    ranking: Ranking,
    baseline: Baseline | None,
) -> tuple[list[Image], Comparison]:
    """The selected images with their baselines, as the request asks (file or tag)."""
    metrics = base_metrics(policies)
    if request.compare_to is not None:
        return compare_with_tag(selected, ranking.images, request.compare_to.strip(), metrics)
    if baseline is None:  # pragma: no cover - run.comparison_baseline reads it
        raise UsageError("no baseline to compare with")
    return compare_with_file(selected, baseline, metrics, label=request.baseline or "")


def _delta_text(delta: Number) -> str:
    if delta == 0:
        return "±0"
    return ("+" if delta > 0 else "") + _number_text(delta)


def annotate(report: Report, comparison: Comparison) -> Report:
    """Every result that did not pass shows each counter its rule reads with the baseline,
    e.g. ``imageVulAsap = 5 (+2 vs baseline 3)``; the report records the comparison and
    says which images had no baseline."""
    no_entry = set(comparison.missing) if comparison.kind == "file" else set()
    reads = {
        (p.name, r.id): tuple(dict.fromkeys(split_metric(m)[1] for m in r.condition.metrics))
        for p in report.policies
        for r in p.rules
    }
    entries: list[ImageReport] = []
    for entry in report.images:
        if not entry.image.ranked or all(r.outcome is Outcome.PASS for r in entry.results):
            entries.append(entry)
            continue
        metrics = entry.image.metrics
        results = []
        for result in entry.results:
            names = reads.get((result.policy, result.rule), ())
            if result.outcome is Outcome.PASS or not names:
                results.append(result)
                continue
            parts: list[str] = []
            values = dict(result.values)
            for name in names:
                current = metrics.get(name)
                if current is None:
                    continue
                values[name] = current
                base = metrics.get(f"baseline.{name}")
                if base is None:
                    parts.append(f"{name} = {_number_text(current)} (no baseline)")
                    continue
                values[f"baseline.{name}"] = base
                values[f"delta.{name}"] = current - base
                why = ", no baseline entry" if entry.image.name in no_entry else ""
                parts.append(
                    f"{name} = {_number_text(current)} "
                    f"({_delta_text(current - base)} vs baseline {_number_text(base)}{why})"
                )
            if parts:
                result = dataclasses.replace(
                    result, message=f"{result.message}; {'; '.join(parts)}", values=values
                )
            results.append(result)
        entries.append(dataclasses.replace(entry, results=tuple(results)))
    updated = dataclasses.replace(report, images=tuple(entries), comparison=comparison)
    missing = comparison.missing
    if not missing:
        return updated
    listed = ", ".join(missing[:MAX_LISTED])
    if len(missing) > MAX_LISTED:
        listed += f" and {len(missing) - MAX_LISTED} more"
    if comparison.kind == "file":
        note = (
            f"{len(missing)} image(s) have no entry in the baseline {comparison.source}, so "
            f"they are compared with zero (delta = current value): {listed}"
        )
    else:
        note = (
            f"{len(missing)} image(s) have no image tagged '{comparison.source}' in their "
            "repository, so their baseline is missing (rules reading baseline./delta. cannot "
            f"be evaluated: error under mandatory enforcement, warn under advisory): {listed}"
        )
    return updated.with_warnings([note])


@dataclass(frozen=True)
class BaselineRun:
    """What ``gate baseline`` recorded (or ratcheted), and what to tell the user."""

    baseline: Baseline
    images: int
    """Ranked images the counters came from."""
    notes: tuple[str, ...]
    """Warnings: counters that could not be read, patterns that matched nothing."""
    changes: tuple[str, ...] = ()
    """With ``update``: one line per lowered, raised, kept (refused) counter or stale entry."""
    refused: int = 0
    stale: tuple[str, ...] = ()
