"""The one library entry to the gate: a :class:`CheckRequest` in, a :class:`~gate.model.Report` out.

``gate check``, ``gate test`` and any Python caller share this path: load the policies, get the
ranking (the bundled demo, a saved snapshot, an in-memory body, or the live API), normalise
it, select the images, and evaluate. Nothing here prints or exits; every failure is a
:class:`~gate.errors.GateError` with its exit code.

    from gate.run import CheckRequest, run_check

    report = run_check(CheckRequest(snapshot="ranking.json", namespaces=("prod-*",)))
    print(report.verdict, report.exit_code)
    for image in report.images:
        print(image.image.name, image.verdict)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import UsageError

if TYPE_CHECKING:
    from gate.baseline import Baseline, BaselineRun
    from gate.imageref import ImageRef
    from gate.model import Image, Policy, Report, SourceInfo
    from gate.source.api import Session
    from gate.source.images import Instance, InstanceSource
    from gate.source.snapshot import Snapshot
    from gate.source.vulns import RecordSource

DEMO_RESPONSE = Path(__file__).parent / "data" / "demo-response.json"
UNRANKED_CHOICES = ("pass", "warn", "fail")
DEFAULT_TYPES = ("vulAsap", "baseline")


@dataclass(frozen=True)
class LiveOptions:
    """How to call the Security Center API (used when no other source is given)."""

    region: str | None = None
    """Region id; ``None``: the aliyun CLI profile's region when its credentials are used,
    else cn-hangzhou."""
    region_origin: str | None = None
    """Where ``region`` came from (an option, a variable), for the report."""
    endpoint: str | None = None
    types: tuple[str, ...] = DEFAULT_TYPES
    retries: int = 3
    timeout: float = 60.0
    """Overall deadline in seconds: connect, TLS, headers, body and every retry."""
    max_response_bytes: int = 32 * 1024 * 1024
    log: Callable[[str], None] | None = field(default=None, compare=False)
    """Receives debug lines (secrets redacted); ``None``: no debug output."""


@dataclass(frozen=True)
class CheckRequest:
    """What to evaluate and how. Exactly one source is used, in this order: ``demo``,
    ``body``, ``snapshot``, else the live API with ``live``."""

    policies: tuple[str, ...] = ()
    """Policy files or directories; empty: the bundled default policy."""
    loaded_policies: tuple[Policy, ...] | None = None
    """Policies already loaded (they win over ``policies``)."""
    namespaces: tuple[str, ...] = ()
    """Namespace globs to select; every pattern should match a ranked image."""
    all_namespaces: bool = False
    images: tuple[str, ...] = ()
    """``--image`` references: [REGISTRY/]NAMESPACE/REPOSITORY[:TAG][@sha256:DIGEST]."""
    unranked: str = "warn"
    """Outcome for a reference the ranking does not list: pass, warn or fail."""
    demo: bool = False
    body: Mapping[str, Any] | None = None
    """An API response body already in memory (tests, library callers)."""
    body_label: str = "in-memory body"
    snapshot: str | None = None
    """A saved response file (``-``: standard input)."""
    max_snapshot_bytes: int = 1024 * 1024 * 1024
    max_age: dt.timedelta | None = None
    """Refuse a snapshot older than this, or one without a fetch time."""
    now: dt.date | None = None
    """The day waivers are evaluated on; ``None``: today (UTC)."""
    override: str | None = None
    require_images: bool = False
    live: LiveOptions = field(default_factory=LiveOptions)
    baseline: str | None = None
    """A baseline file (``gate baseline -o FILE``): rules may read ``baseline.<metric>`` and
    ``delta.<metric>``, and reports show each counter against it."""
    compare_to: str | None = None
    """Compare each image with the image of its repository with this tag (a glob) in the
    same ranking, instead of a baseline file."""
    explain: bool = False
    """Fetch the vulnerability records behind blocking vulnerability results
    (``DescribeImageVulList``; the bundled sample records with ``demo``). Never changes
    the verdict; an image whose records cannot be had says why."""
    explain_max_images: int = 10
    """Explain at most this many images (the others say they were skipped)."""
    lookup_unranked: bool = False
    """Look each ``--image`` reference the ranking does not list up in Security Center's
    image list (``DescribeImageInstances``); a scanned one is evaluated with its own data
    (live API, or the bundled sample with ``demo``)."""
    scan_if_missing: bool = False
    """With the lookup (implied): scan a listed image that was never scanned, and wait for
    it. Each scan uses one of the account's purchased image scan authorizations."""
    wait_timeout: float = 600.0
    """How long to wait for such a scan (seconds); past it the run fails with exit 3."""
    vul_records: tuple[Mapping[str, Any], ...] | None = None
    """Vulnerability records in the API's shape (``DescribeImageVulList`` items) to use
    instead of the API, for record metrics and ``explain`` (policy tests, library callers)."""


def validate_request(request: CheckRequest) -> None:
    """Refuse a request that asks for something impossible, before any work."""
    sources = [
        name
        for name, given in (
            ("--demo", request.demo),
            ("--snapshot", request.snapshot is not None),
            ("body", request.body is not None),
        )
        if given
    ]
    if len(sources) > 1:
        raise UsageError(f"{' and '.join(sources)} are different sources; choose one")
    if request.namespaces and request.all_namespaces:
        raise UsageError("use either --namespace or --all-namespaces, not both")
    if request.demo and request.namespaces:
        raise UsageError(
            "--demo evaluates every image of the bundled sample; --namespace does not apply",
            hint="to select namespaces, check a saved ranking: --snapshot FILE --namespace NS",
        )
    selects = request.namespaces or request.all_namespaces or request.images
    if not selects and not request.demo:
        raise UsageError(
            "choose the images to evaluate: --namespace NS (repeatable, globs allowed), "
            "--all-namespaces, or --image REF (repeatable)",
            hint="try 'gate check --demo' to see the gate on bundled sample data",
        )
    for pattern in request.namespaces:
        if not pattern.strip():
            raise UsageError(
                "--namespace is empty; an empty pattern would select nothing",
                hint="is a shell variable unset? pass a namespace or a glob such as 'prod-*'",
            )
    if request.override is not None and not request.override.strip():
        raise UsageError("--override needs a non-empty reason, which the reports record")
    if request.unranked not in UNRANKED_CHOICES:
        raise UsageError(f"--unranked must be one of {', '.join(UNRANKED_CHOICES)}")
    if request.max_age is not None and request.snapshot is None:
        raise UsageError("--max-age applies to --snapshot files")
    if request.snapshot is not None and not request.snapshot:
        raise UsageError("--snapshot is empty", hint="give a file, or '-' for standard input")
    if request.explain_max_images < 1:
        raise UsageError("--explain-max-images must be 1 or more")
    if request.scan_if_missing and (request.demo or request.snapshot is not None):
        raise UsageError(
            "--scan-if-missing starts scans through the live API; it does not apply to "
            f"{'--demo' if request.demo else '--snapshot'}"
        )
    if not request.wait_timeout > 0:
        raise UsageError("--wait-timeout must be more than 0 seconds")


def load_policies(request: CheckRequest) -> tuple[Policy, ...]:
    """The request's policies: given, loaded from its paths, or the bundled default."""
    if request.loaded_policies is not None:
        return request.loaded_policies
    from gate.policy import loader

    if request.policies:
        return loader.load_policies(request.policies)
    return loader.load_default()


def wanted_metrics(policies: Sequence[Policy]) -> set[str]:
    """The metrics some rule reads: the only ones kept from the ranking (``delta.X`` and
    ``baseline.X`` read ``X``)."""
    return {m.rpartition(".")[2] for p in policies for r in p.rules for m in r.condition.metrics}


def fetch_live(live: LiveOptions) -> Snapshot:
    """Call the API once (retries included) and return the body with where it came from."""
    from gate.model import SourceInfo
    from gate.source import api
    from gate.source.snapshot import Snapshot

    response = api.fetch_ranking(
        region=live.region,
        region_origin=live.region_origin,
        endpoint=live.endpoint,
        types=api.validate_types(live.types),
        retries=live.retries,
        timeout=live.timeout,
        max_body_bytes=live.max_response_bytes,
        log=live.log,
    )
    info = SourceInfo(
        kind="api",
        region=response.region,
        endpoint=response.endpoint,
        request_id=response.request_id,
        fetched_at=response.fetched_at,
        region_origin=response.region_origin,
        warnings=response.warnings,
    )
    return Snapshot(body=response.body, info=info)


def get_ranking(request: CheckRequest, wanted: set[str]) -> Snapshot:
    """The raw ranking the request names, checked for age when asked."""
    from gate.source.normalize import DetailReader

    if request.demo:
        from gate.source.snapshot import parse_snapshot

        # A plain file beside the package (importlib.resources costs 10 ms at start-up).
        return parse_snapshot(
            DEMO_RESPONSE.read_bytes(), "demo-response.json (bundled)", kind="demo"
        )
    if request.body is not None:
        import json

        from gate.source.snapshot import parse_snapshot

        data = json.dumps(request.body).encode("utf-8")
        return parse_snapshot(data, request.body_label, kind="snapshot")
    if request.snapshot is not None:
        from gate.source.snapshot import check_max_age, read_snapshot

        # Read each image's counters while parsing: a large file is then held only once.
        data_ = read_snapshot(
            request.snapshot,
            object_hook=DetailReader(wanted).hook,
            max_bytes=request.max_snapshot_bytes,
        )
        if request.max_age is not None:
            check_max_age(data_, request.max_age, dt.datetime.now(dt.timezone.utc))
        return data_
    return fetch_live(request.live)


def unmatched_patterns(images: Sequence[Image], patterns: Sequence[str]) -> tuple[str, ...]:
    """The namespace patterns that match no ranked image (a typo, or an unranked namespace)."""
    import fnmatch
    import re

    if not patterns:
        return ()
    namespaces = {image.namespace for image in images if image.ranked}
    missing = []
    for pattern in patterns:
        regex = re.compile(fnmatch.translate(pattern.strip()))
        if not any(regex.match(namespace) for namespace in namespaces):
            missing.append(pattern)
    return tuple(missing)


def evaluate_ranking(
    request: CheckRequest,
    policies: tuple[Policy, ...],
    body: dict[str, Any],
    source: SourceInfo,
    refs: Sequence[ImageRef],
    baseline: Baseline | None = None,
    enrich: Callable[[list[Image]], list[Image]] | None = None,
) -> Report:
    """Normalise, select and evaluate (the pure part of a check). ``baseline`` is the file
    ``request.baseline`` names, already read; ``enrich`` adds to the selected images what the
    ranking does not hold (record metrics) before evaluation."""
    from gate.evaluate import evaluate, select
    from gate.model import Outcome
    from gate.source.normalize import normalize

    ranking = normalize(body, wanted_metrics(policies))
    selected = select(
        ranking.images,
        namespaces=request.namespaces,
        all_namespaces=request.all_namespaces,
        refs=refs,
    )
    if enrich is not None:
        selected = enrich(selected)
    unmatched = unmatched_patterns(ranking.images, request.namespaces)
    comparison = None
    if baseline is not None or request.compare_to is not None:
        from gate import baseline as compare

        selected, comparison = compare.compare(request, policies, selected, ranking, baseline)
    warnings = [*source.warnings, *ranking.warnings]
    if refs:
        from gate.imageref import masked_digest_notes

        warnings += masked_digest_notes(selected, refs)
    for pattern in unmatched:
        warnings.append(f"--namespace {pattern!r} matched no ranked image")
    report = evaluate(
        policies,
        selected,
        now=request.now or dt.datetime.now(dt.timezone.utc).date(),
        source=source,
        # With --image, say that every namespace was taken too (the header lists both).
        selection=request.namespaces or (("*",) if request.all_namespaces and refs else ()),
        override=request.override,
        require_images=request.require_images,
        warnings=tuple(warnings),
        refs=refs,
        unranked=Outcome(request.unranked),
    )
    if unmatched:
        import dataclasses

        report = dataclasses.replace(report, unmatched=unmatched)
    if comparison is not None:
        report = compare.annotate(report, comparison)
    return report


def run_check(request: CheckRequest) -> Report:
    """Evaluate what ``request`` names and return the report (its ``exit_code`` is the verdict).

    Raises :class:`~gate.errors.UsageError`/:class:`~gate.errors.PolicyError` (exit 2) for
    an impossible request or an invalid policy, and :class:`~gate.errors.SourceError` (exit 3)
    when the ranking cannot be obtained or read. Nothing is printed.
    """
    import time

    started = time.monotonic()
    validate_request(request)
    refs: tuple[ImageRef, ...] = ()
    if request.images:
        from gate.imageref import parse_image_ref

        refs = tuple(parse_image_ref(text) for text in request.images)
    policies = load_policies(request)
    baseline = comparison_baseline(request, policies)
    data = get_ranking(request, wanted_metrics(policies))
    records = _Records(request, started)
    enrich = None
    if _uses_records(policies) or (refs and records.can_look_up):
        import functools

        enrich = functools.partial(records.enrich, policies=policies, refs=refs)
    report = evaluate_ranking(request, policies, data.body, data.info, refs, baseline, enrich)
    if (request.lookup_unranked or request.scan_if_missing) and not records.can_look_up:
        records.notes.append(
            "--lookup-unranked looks images up live (or in the bundled sample with --demo); "
            "a --snapshot run stays offline, so unranked references stay unranked"
        )
    if records.notes:
        report = report.with_warnings(records.notes)
    if request.explain:
        report = explain_report(report, request, records, refs)
    return report


def _uses_records(policies: Sequence[Policy]) -> bool:
    """Some rule reads a metric counted from vulnerability records (checked without
    importing the record machinery, which a plain check never needs)."""
    from gate.policy.metrics import record_metric

    metrics = {m for p in policies for r in p.rules for m in r.condition.metrics}
    return any(record_metric(name) is not None for name in metrics)


def read_baseline(path: str) -> Baseline:
    """Read and check a baseline file (exit 2 when it is missing or not one)."""
    from gate.baseline import MAX_BYTES, parse

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(
            f"cannot read the baseline file {path}: {exc.strerror or exc}",
            hint="record one with 'gate baseline -o FILE' (see 'Adopting the gate on an "
            "existing registry' in the README)",
        ) from None
    return parse(data, path)


def comparison_baseline(request: CheckRequest, policies: Sequence[Policy]) -> Baseline | None:
    """Check the request's comparison options against the policies; read the baseline file.

    A rule that reads ``baseline.``/``delta.`` metrics with nothing to compare with is a
    usage error, never a silent pass.
    """
    if request.baseline is not None and request.compare_to is not None:
        raise UsageError("--baseline and --compare-to are different baselines; choose one")
    if request.baseline is not None and not request.baseline.strip():
        raise UsageError("--baseline is empty", hint="give the file 'gate baseline -o' wrote")
    if request.compare_to is not None and not request.compare_to.strip():
        raise UsageError("--compare-to is empty", hint="give a tag or a tag glob such as 'prod-*'")
    given = request.baseline is not None or request.compare_to is not None
    if given or any("." in m for p in policies for r in p.rules for m in r.condition.metrics):
        from gate.baseline import require_comparison  # only runs that compare need it

        require_comparison(policies, given=given)
    return read_baseline(request.baseline) if request.baseline is not None else None


def run_baseline(
    request: CheckRequest,
    *,
    update: Baseline | None = None,
    accept_increase: str | None = None,
    now: dt.datetime | None = None,
) -> BaselineRun:
    """Record the counters the request's policies use for every selected image, per
    ``namespace/repository``; with ``update``, ratchet that baseline instead (lower what
    improved; raise only with ``accept_increase``, whose reason is recorded)."""
    from gate.baseline import BaselineRun, base_metrics, ratchet, record
    from gate.evaluate import select
    from gate.source.normalize import normalize

    validate_request(request)
    if accept_increase is not None and not accept_increase.strip():
        raise UsageError("--accept-increase needs a non-empty reason, which the file records")
    if accept_increase is not None and update is None:
        raise UsageError(
            "--accept-increase applies to --update FILE",
            hint="a new baseline (-o FILE) records the current counters as they are",
        )
    refs: tuple[ImageRef, ...] = ()
    if request.images:
        from gate.imageref import parse_image_ref

        refs = tuple(parse_image_ref(text) for text in request.images)
    policies = load_policies(request)
    data = get_ranking(request, wanted_metrics(policies))
    ranking = normalize(data.body, wanted_metrics(policies))
    selected = select(
        ranking.images,
        namespaces=request.namespaces,
        all_namespaces=request.all_namespaces,
        refs=refs,
    )
    notes = list(ranking.warnings)
    notes += [
        f"--namespace {p!r} matched no ranked image"
        for p in unmatched_patterns(ranking.images, request.namespaces)
    ]
    notes += [
        f"--image {ref.text} is not in the ranking: nothing recorded for it"
        for ref in refs
        if not any(ref.matches(image) for image in selected)
    ]
    taken = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recorded, unreadable = record(
        selected, base_metrics(policies), taken_at=taken, ranked_at=data.info.fetched_at
    )
    notes += unreadable
    if not selected:
        notes.append("no ranked image matched the selection: the baseline has no entries")
    if update is None:
        return BaselineRun(recorded, len(selected), tuple(notes))
    merged = ratchet(
        update, recorded, accept=accept_increase.strip() if accept_increase else None, at=taken
    )
    return BaselineRun(
        merged.baseline, len(selected), tuple(notes), merged.lines, merged.refused, merged.stale
    )


class _Records:
    """The run's vulnerability records: one source (credentials resolved once), each page
    fetched once, every call inside the run's ``--timeout`` counted from ``started``."""

    def __init__(self, request: CheckRequest, started: float) -> None:
        self.request = request
        self.timeout = request.live.timeout
        self.deadline = started + self.timeout
        self._source: RecordSource | None = None
        self._session: Session | None = None
        self.notes: list[str] = []
        """What the reports should say about looked-up ``--image`` references."""

    @property
    def can_look_up(self) -> bool:
        """With ``lookup_unranked``, unranked references are looked up live, or in the
        bundled sample for the demo (a snapshot or in-memory body stays offline)."""
        request = self.request
        offline = request.snapshot is not None or request.body is not None
        wanted = request.lookup_unranked or request.scan_if_missing
        return wanted and (request.demo or not offline)

    def source(self) -> RecordSource:
        """Raises GateError when no source can be set up (no credentials, ...)."""
        if self._source is None:
            import time

            from gate.records import CachingSource

            left = max(self.deadline - time.monotonic(), 0.001)
            source = record_source(self.request, left)
            self._session = getattr(source, "session", None)
            self._source = CachingSource(source)
        return self._source

    def enrich(
        self, images: list[Image], policies: Sequence[Policy], refs: Sequence[ImageRef] = ()
    ) -> list[Image]:
        """``images`` with the looked-up unranked references added, and the record metrics
        their rules read."""
        if refs and self.can_look_up:
            images = [*images, *self.look_up(images, policies, refs)]
        return self.add_record_metrics(images, policies)

    def look_up(
        self, images: list[Image], policies: Sequence[Policy], refs: Sequence[ImageRef]
    ) -> list[Image]:
        from gate import lookup
        from gate.errors import GateError
        from gate.source.vulns import why

        missing = lookup.absent(refs, images)
        if not missing:
            return []
        try:
            instances = self.instances()
        except GateError as exc:
            self.notes += [
                f"could not look {ref.text} up in Security Center's image list: {why(exc)}; "
                "it stays unranked"
                for ref in missing
            ]
            return []
        found, notes = lookup.look_up(
            missing,
            instances,
            self.source(),
            wanted=wanted_metrics(policies),
            deadline=self.deadline,
            timeout=self.timeout,
            scan=self.scan if self.request.scan_if_missing else None,
        )
        self.notes += notes
        return found

    def scan(self, instance: Instance) -> str:
        """Scan a listed, never-scanned image and wait (``--scan-if-missing``); raises
        SourceError (exit 3) unless the scan succeeds."""
        import time

        from gate.source import scans

        assert self._session is not None  # scans need the live API (validate_request)
        done = scans.scan(
            self._session,
            instance,
            wait_timeout=self.request.wait_timeout,
            call_timeout=self.timeout,
        )
        self.deadline = max(self.deadline, time.monotonic() + self.timeout)
        took = f"{done.seconds:.0f}s"
        return f"scanned just now by task {done.task_id} in {took} ({scans.AUTHORIZATIONS})"

    def instances(self) -> InstanceSource:
        """Where unranked references are looked up; raises GateError (no credentials...)."""
        from gate.source import images

        if self.request.demo:
            return images.demo_instances()
        self.source()
        assert self._session is not None
        return images.LiveInstances(self._session)

    def add_record_metrics(self, images: list[Image], policies: Sequence[Policy]) -> list[Image]:
        from gate import records
        from gate.errors import GateError
        from gate.source.vulns import why

        if not any(records.needs(image, policies) for image in images):
            return images
        try:
            source = self.source()
        except GateError as exc:
            return records.unavailable(images, policies, why(exc))
        return records.enrich(
            images,
            policies,
            source,
            now=self.request.now or dt.datetime.now(dt.timezone.utc).date(),
            deadline=self.deadline,
            timeout=self.timeout,
        )


def record_source(request: CheckRequest, timeout: float) -> RecordSource:
    """Where vulnerability records come from: the bundled sample for the demo, else the API
    (also for a snapshot: the records are not in it). Raises GateError (no credentials...)."""
    from gate.source import vulns

    if request.vul_records is not None:
        return vulns.FileRecords(request.vul_records, label="given")
    if request.demo:
        return vulns.demo_records()
    from gate.source import api

    live = request.live
    session = api.open_session(
        region=live.region,
        region_origin=live.region_origin,
        endpoint=live.endpoint,
        retries=live.retries,
        timeout=timeout,
        max_body_bytes=live.max_response_bytes,
        log=live.log,
    )
    return vulns.LiveRecords(session)


def explain_report(
    report: Report, request: CheckRequest, records: _Records, refs: Sequence[ImageRef] = ()
) -> Report:
    """``report`` with the records behind its blocking vulnerability results (and behind
    the vulnerability results of every ``--image`` reference), fetched within what is left
    of the run's ``--timeout``."""
    from gate import explain
    from gate.errors import GateError
    from gate.source.vulns import why

    def named(image: Image) -> bool:
        return any(ref.matches(image) for ref in refs)

    always = named if refs else None
    if not explain.candidates(report, always):
        return report
    try:
        source = records.source()
    except GateError as exc:
        return explain.unavailable(report, why(exc), always=always)
    return explain.explain(
        report,
        source,
        max_images=request.explain_max_images,
        deadline=records.deadline,
        timeout=records.timeout,
        always=always,
    )
