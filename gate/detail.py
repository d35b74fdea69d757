"""Values only some runs make: the vulnerability records behind results (``--explain``,
record metrics) and what a run was compared with (``--baseline``, ``--compare-to``).

They live apart from :mod:`gate.model` so that a plain check, which never makes them, does
not pay for defining them at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class VulPackage:
    """A software package a vulnerability record names (``ExtendContentJson.RpmEntityList``)."""

    name: str
    version: str
    fix_command: str = ""
    """The command Security Center suggests (``UpdateCmd``), e.g. ``apt-get install ...``."""
    fixed_version: str = ""
    """The first version without the vulnerability, when the match detail names it."""
    path: str = ""


@dataclass(frozen=True, slots=True)
class VulRecord:
    """One vulnerability record of one image (``DescribeImageVulList``), cleaned: every
    string is one line with control characters escaped."""

    name: str
    """``Name``, e.g. ``debian:10:CVE-2019-9893``."""
    alias: str
    """``AliasName``, e.g. ``CVE-2019-9893: libseccomp ...``."""
    necessity: str
    """Fix priority: asap, later, nntf (or what the API sent, cleaned)."""
    cves: tuple[str, ...]
    """CVE ids named by ``Related`` and ``Name``."""
    packages: tuple[VulPackage, ...]
    can_fix: bool | None
    """``CanFix``: whether Security Center can fix it (``None``: not said)."""
    first_seen: str | None
    """``FirstTs`` as an ISO 8601 UTC time (second precision)."""
    last_seen: str | None = None
    status: int | None = None
    """``Status``: 1 not fixed, 4 being fixed, 7 fixed."""

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id a waiver or a person may use for it: the CVE ids, then ``Name``."""
        return (*self.cves, self.name) if self.name not in self.cves else self.cves

    @property
    def label(self) -> str:
        """The best short name: the first CVE id, else ``Name``, else the alias."""
        return (self.cves[0] if self.cves else "") or self.name or self.alias or "(unnamed)"


@dataclass(frozen=True, slots=True)
class Explanation:
    """The vulnerability records behind an image's blocking vulnerability results
    (``gate check --explain``), or why they are not available. Never changes the verdict."""

    necessities: tuple[str, ...]
    """The fix priorities the blocking rules read (``asap`` for ``imageVulAsap``, ...)."""
    records: tuple[VulRecord, ...] = ()
    """Worst first: by fix priority, then fixable before not fixable, then oldest first."""
    totals: Mapping[str, int] = field(default_factory=dict)
    """Records per priority as the API counted them (``TotalCount``)."""
    truncated: bool = False
    """More records exist than were fetched (the per-image record limit)."""
    error: str | None = None
    """Why the detail is unavailable (nothing else is set then)."""
    source: str = ""
    """Where the records came from (``api``, ``demo``)."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """What the images were compared with: a baseline file (``--baseline``) or the image with
    another tag in the same ranking (``--compare-to``)."""

    kind: str  # "file" or "tag"
    source: str
    """The baseline file as given, or the compared tag (a glob)."""
    taken_at: str | None = None
    """When the baseline file was recorded (and last ratcheted)."""
    missing: tuple[str, ...] = ()
    """Images without a baseline: no entry in the file (compared with zero), or no image
    with the compared tag in their repository (baseline missing)."""

    def describe(self) -> str:
        if self.kind == "file":
            taken = f" (taken {self.taken_at})" if self.taken_at else ""
            return f"baseline {self.source}{taken}"
        return f"the image tagged '{self.source}' of the same repository, in the same ranking"
