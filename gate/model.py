"""Frozen values that flow through the gate: images, policies, results and the report.

Nothing here does I/O. The report owns the verdict and the exit code, so every front end
(CLI, GitHub Action, GitLab job) agrees on what a run means.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, TypeVar

from gate.errors import EXIT_FAIL, EXIT_PASS

if TYPE_CHECKING:  # values only some runs make; their module is imported by those runs
    from gate.detail import Comparison, Explanation

Number = int | float
T = TypeVar("T")


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """``cls(*values)`` for a frozen slots dataclass, every field given in order, in about
    half the time of its ``__init__`` (which looks ``object.__setattr__`` up again for each
    field): each slot is set through its own descriptor. For the loops that make one value
    per image of a large ranking."""
    setters = tuple(getattr(cls, f.name).__set__ for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    count = len(setters)
    new = object.__new__
    call: Callable[..., Any] | None = getattr(operator, "call", None)  # Python 3.11+

    def make(*values: Any) -> T:
        if len(values) != count:
            raise TypeError(f"{cls.__name__} has {count} fields, {len(values)} given")
        obj = new(cls)
        if call is None:
            for set_slot, value in zip(setters, values, strict=True):
                set_slot(obj, value)
        else:  # the same loop, run in C
            any(map(call, setters, repeat(obj), values))
        return obj

    return make


class Enforcement(str, enum.Enum):
    """Sentinel-style enforcement levels."""

    ADVISORY = "advisory"
    SOFT_MANDATORY = "soft-mandatory"
    HARD_MANDATORY = "hard-mandatory"

    @property
    def mandatory(self) -> bool:
        return self is not Enforcement.ADVISORY


class Outcome(str, enum.Enum):
    """What one rule concluded about one image."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    WAIVED = "waived"
    OVERRIDDEN = "overridden"
    ERROR = "error"

    @property
    def blocking(self) -> bool:
        return self in (Outcome.FAIL, Outcome.ERROR)


_OUTCOME = operator.attrgetter("outcome")
_BLOCKING_FLAG = operator.attrgetter("blocking")
_RESULTS = operator.attrgetter("results")

NOT_CHECKED = "not-checked"
"""The verdict of an image no rule applied to."""

OUTCOME_ORDER: tuple[Outcome, ...] = (
    Outcome.PASS,
    Outcome.FAIL,
    Outcome.WARN,
    Outcome.WAIVED,
    Outcome.OVERRIDDEN,
    Outcome.ERROR,
)


class IntCounters(dict[str, Number]):
    """Counters that are all ``int`` by construction (the snapshot reader's, read from JSON
    integers): the engine shares results by their values without checking each one's type.
    Any other mapping of counters is checked."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Image:
    """One ranked image, normalised from the API response.

    ``metrics`` holds only the counters some rule references (plus any that were asked for);
    ``metric_problems`` says why a referenced counter is unusable, and ``data_error`` why
    the whole ``RiskLevelDetail`` is.
    """

    namespace: str
    repository: str
    tag: str
    digest: str
    uuid: str
    image_id: str
    ranked_in: tuple[str, ...]
    metrics: Mapping[str, Number]
    metric_problems: Mapping[str, str] = field(default_factory=dict)
    data_error: str | None = None
    rule_metrics: Mapping[tuple[str, str], Mapping[str, Number]] = field(default_factory=dict)
    """Per (policy, rule): record metrics counted without the records a vulnerability
    waiver (``cves:``) of that rule excludes; they override ``metrics`` for that rule."""
    record_waivers: Mapping[tuple[str, str], tuple[Waiver, ...]] = field(default_factory=dict)
    """Per (policy, rule): the vulnerability waivers that excluded a record of this image."""
    looked_up: str = ""
    """For an ``--image`` reference the ranking does not list but Security Center's image
    list does (and has scanned): where its data came from. Empty for ranked images."""

    @property
    def name(self) -> str:
        """Stable identity for people and CI views: ``namespace/repository:tag``.

        An image known only by digest (an unranked ``--image`` reference) shows it instead.
        """
        if not self.tag and self.digest:
            return f"{self.namespace}/{self.repository}@{self.digest}"
        return f"{self.namespace}/{self.repository}:{self.tag}"

    @property
    def ranked(self) -> bool:
        """False for an ``--image`` reference the ranking does not list."""
        return bool(self.ranked_in)


@dataclass(frozen=True, slots=True)
class Selector:
    """An image selector: ``NAMESPACE/REPOSITORY[:TAG]`` globs, or a ``sha256:`` digest prefix."""

    text: str
    matches: Callable[[Image], bool] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which images a policy or rule applies to; ``None`` means "any"."""

    namespaces: Callable[[str], bool] | None = None
    repositories: Callable[[str], bool] | None = None
    tags: Callable[[str], bool] | None = None
    exclude: tuple[Selector, ...] = ()

    def contains(self, image: Image) -> bool:
        if self.namespaces is not None and not self.namespaces(image.namespace):
            return False
        if self.repositories is not None and not self.repositories(image.repository):
            return False
        if self.tags is not None and not self.tags(image.tag):
            return False
        return not any(sel.matches(image) for sel in self.exclude)


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled ``fail_if`` expression."""

    source: str
    metrics: tuple[str, ...]
    evaluate: Callable[[Mapping[str, Number]], bool] = field(compare=False, repr=False)
    explain: Callable[[Mapping[str, Number]], str] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    condition: Condition
    enforcement: Enforcement
    scope: Scope | None = None
    line: int | None = None
    """Line of the rule in its policy file (1-based), when known."""


@dataclass(frozen=True, slots=True)
class Waiver:
    policy: str
    rule: str
    selectors: tuple[Selector, ...]
    reason: str
    expires: dt.date
    owner: str | None = None
    cves: tuple[str, ...] = ()
    """Vulnerability ids (CVE ids or record names): the waiver then excludes those records
    from the rule's record metrics on the images it names, instead of waiving the result."""

    def covers(self, image: Image) -> bool:
        """Whether this waiver waives the rule's whole result on ``image``."""
        return not self.cves and any(sel.matches(image) for sel in self.selectors)

    def names_image(self, image: Image) -> bool:
        return any(sel.matches(image) for sel in self.selectors)


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    description: str
    file: str
    scope: Scope
    rules: tuple[Rule, ...]
    waivers: tuple[Waiver, ...]
    bundled: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one rule of one policy on one image."""

    policy: str
    rule: str
    enforcement: Enforcement
    outcome: Outcome
    condition: str
    values: Mapping[str, Number]
    message: str
    waiver: Waiver | None
    file: str


NECESSITIES: tuple[str, ...] = ("asap", "later", "nntf")
"""Security Center's fix priorities, most urgent first (high, medium, low)."""


@dataclass(frozen=True, slots=True)
class ImageReport:
    image: Image
    results: tuple[Result, ...]
    blocking: bool | None = field(default=None, repr=False, compare=False)
    """Whether a result blocks: given by whoever knows (the engine), else found when asked."""
    explanation: Explanation | None = field(default=None, compare=False)
    """The vulnerability records behind the blocking results (``--explain``), if asked."""

    @property
    def verdict(self) -> str:
        """``fail``, ``pass``, or ``not-checked`` when no rule applied to the image (outside
        every policy's scope): never counted as cleared."""
        if not self.results:
            return NOT_CHECKED
        blocking = self.blocking
        if blocking is None:  # found once, in C: reports ask for it image by image
            outcomes = list(map(_OUTCOME, self.results))
            blocking = Outcome.FAIL in outcomes or Outcome.ERROR in outcomes
            object.__setattr__(self, "blocking", blocking)
        return "fail" if blocking else "pass"


class WaiverStatus(str, enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    UNUSED = "unused"
    EXPIRING = "expiring"


@dataclass(frozen=True, slots=True)
class WaiverReport:
    waiver: Waiver
    status: WaiverStatus
    uses: int
    days_left: int

    @property
    def when(self) -> str:
        """The expiry as people read it: ``expired on D``, ``expires in N days (D)``."""
        date = self.waiver.expires.isoformat()
        if self.days_left < 0:
            return f"expired on {date}"
        if self.days_left <= 1:
            return f"expires {('today', 'tomorrow')[self.days_left]} ({date})"
        return f"expires in {self.days_left} days ({date})"

    @property
    def note(self) -> str | None:
        """The run's warning about this waiver, as the engine words it (none if active or
        unused); reports that list waivers needing attention show it there, once."""
        w = self.waiver
        on = f"{w.policy}/{w.rule} on {', '.join(s.text for s in w.selectors)}"
        if self.status is WaiverStatus.EXPIRED:
            return f"waiver for {on} {self.when} and no longer applies"
        if self.status is WaiverStatus.EXPIRING:
            return f"waiver for {on} {self.when}"
        return None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where the ranking came from, as recorded in every report."""

    kind: str  # "demo", "snapshot" or "api"
    path: str | None = None
    region: str | None = None
    endpoint: str | None = None
    request_id: str | None = None
    fetched_at: str | None = None
    region_origin: str | None = None
    """Where ``region`` came from (``--region``, ``aliyun CLI profile 'default'``, ...)."""
    warnings: tuple[str, ...] = ()
    """What the source said that the reports should repeat (an unknown region id, ...)."""


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one run concluded. The exit code is a property of this value."""

    source: SourceInfo
    now: dt.date
    policies: tuple[Policy, ...]
    selection: tuple[str, ...]
    images: tuple[ImageReport, ...]
    waivers: tuple[WaiverReport, ...]
    warnings: tuple[str, ...]
    override: str | None
    require_images: bool = False
    refs: tuple[str, ...] = ()
    """Image references given with ``--image``, as written."""
    unmatched: tuple[str, ...] = ()
    """``--namespace`` patterns that matched no ranked image (each is a warning: see
    :attr:`notes`)."""
    comparison: Comparison | None = None
    """The baseline the images were compared with (``--baseline``, ``--compare-to``)."""
    _counts: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def summary(self) -> dict[str, int]:
        if not self._counts:  # counted once: a large run has millions of results
            # Counted in C: a comprehension over a million results costs a tenth of a second.
            self.counted(map(_OUTCOME, chain.from_iterable(map(_RESULTS, self.images))))
        return dict(self._counts)

    def counted(self, outcomes: Iterable[Outcome]) -> Report:
        """This report, its counts taken from ``outcomes`` (every result's, in any order):
        for the engine, which has them at hand."""
        tally = Counter(outcomes)
        self._counts.update(
            images=len(self.images),
            checks=sum(tally.values()),
            **{o.value: tally[o] for o in OUTCOME_ORDER},
        )
        return self

    def with_warnings(self, notes: Sequence[str]) -> Report:
        """This report with ``notes`` added to its warnings (and its counts kept)."""
        report = dataclasses.replace(self, warnings=(*self.warnings, *notes))
        report._counts.update(self._counts)
        return report

    @property
    def notes(self) -> tuple[str, ...]:
        """Every warning the reports show: the run's warnings, then one per unmatched
        ``--namespace`` pattern that no warning names yet."""
        if not self.unmatched:
            return self.warnings
        extra = tuple(
            note
            for note in (f"--namespace {p!r} matched no ranked image" for p in self.unmatched)
            if note not in self.warnings
        )
        return (*self.warnings, *extra) if extra else self.warnings

    @property
    def failing_images(self) -> int:
        """How many images fail (counted in C from the engine's blocking flags)."""
        flags = list(map(_BLOCKING_FLAG, self.images))
        if None in flags:  # an ImageReport made without its flag: ask each image
            return sum(1 for entry in self.images if entry.verdict == "fail")
        return flags.count(True)

    @property
    def not_checked(self) -> tuple[ImageReport, ...]:
        """Selected images that no rule applied to (outside every policy's scope)."""
        return tuple(entry for entry in self.images if not entry.results)

    @property
    def evaluated_nothing(self) -> bool:
        """No rule evaluated a ranked (or looked-up) image (none selected, or all outside
        every scope)."""
        return not any(
            image.results for image in self.images if image.image.ranked or image.image.looked_up
        )

    @property
    def empty_selection_fails(self) -> bool:
        """``--require-images`` and no rule evaluated a ranked image (none selected, all scoped
        out, or only unranked ``--image`` references, whose placeholder results judge nothing),
        or a ``--namespace`` pattern matched nothing."""
        return self.require_images and (bool(self.unmatched) or self.evaluated_nothing)

    @property
    def selection_problem(self) -> str | None:
        """Why ``--require-images`` fails the run, in words (``None``: it does not)."""
        if not self.empty_selection_fails:
            return None
        if self.unmatched:
            patterns = ", ".join(repr(p) for p in self.unmatched)
            return f"--namespace {patterns} matched no ranked image and --require-images is set"
        return "no image was evaluated and --require-images is set"

    @property
    def verdict(self) -> str:
        if self.empty_selection_fails:
            return "fail"
        counts = self.summary()
        return "fail" if counts["fail"] or counts["error"] else "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.verdict == "fail" else EXIT_PASS
