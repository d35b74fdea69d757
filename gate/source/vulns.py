"""Vulnerability records of one image: ``DescribeImageVulList`` (Sas 2018-12-03).

Owns the request (``Type=cve``, the image's ``RepoNamespace``/``RepoName``/``Tag``, its
``Digest`` when known unmasked, one ``Necessity`` per query, paged with ``CurrentPage`` and
``PageSize``), the reading of each untrusted record into a :class:`~gate.detail.VulRecord`, and
the two places records come from: the live API (a :class:`~gate.source.api.Session`) and a
file of records in the API's own shape (the bundled demo sample, the emulator's data).

Field names follow the official SDK's ``DescribeImageVulListResponseBody`` model: ``Name``,
``AliasName``, ``Necessity``, ``CanFix`` (``yes``/``no``), ``FirstTs``/``LastTs`` (epoch
milliseconds), ``Status`` (1 not fixed, 4 being fixed, 7 fixed), ``Related`` (CVE ids) and
``ExtendContentJson.RpmEntityList[]`` with ``Name``, ``Version``, ``FullVersion``,
``UpdateCmd``, ``MatchDetail``, ``Path``. ``ExtendContentJson`` may arrive as an object or as
a JSON string; both are read. Records the API marks as fixed (``Status`` 7) are dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gate.detail import VulPackage, VulRecord
from gate.errors import GateError, SourceError
from gate.model import NECESSITIES, Image

if TYPE_CHECKING:
    from gate.source.api import Session

ACTION = "DescribeImageVulList"
RAM_ACTION = "yundun-sas:DescribeImageVulList"
PAGE_SIZE = 100
"""Records asked for per page (the API's default is 10)."""
MAX_RECORDS = 1000
"""Records fetched per image and priority at most (10 pages); more are counted, not listed."""
MAX_RATE = 10.0
"""Calls per second at most, whatever the number of images and workers."""
DEMO_VULNS = Path(__file__).resolve().parent.parent / "data" / "demo-vulns.json"
FIXED_STATUS = 7
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
_FULL_DIGEST = re.compile(r"^(?:sha256:)?[0-9a-f]{64}$")
_FIXED_IN = re.compile(
    r"(?:less than|lower than|before|<)\s*([0-9A-Za-z][0-9A-Za-z.+:~_-]*)", re.IGNORECASE
)


@dataclass(frozen=True)
class Page:
    """What one query returned: the open records and how many there are (the API's count
    less the records it marks as fixed)."""

    records: tuple[VulRecord, ...]
    total: int
    truncated: bool = False


class RecordSource(Protocol):
    """Where vulnerability records come from."""

    @property
    def label(self) -> str:
        """Where, for the reports: ``api`` or ``demo``."""
        ...

    def fetch(self, image: Image, necessity: str, *, deadline: float, timeout: float) -> Page:
        """The image's records of one fix priority; raises SourceError."""
        ...


def _text(value: object, limit: int = 300) -> str:
    from gate.source.credentials import safe_line

    if value is None or isinstance(value, (dict, list)):
        return ""
    return safe_line(str(value), limit)


def iso_time(value: object) -> str | None:
    """Epoch milliseconds (a number or numeric string) as ISO 8601 UTC, or None."""
    if isinstance(value, bool):
        return None
    try:
        millis = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not 0 < millis < 1e14:  # before the year 5138: anything else is not a time
        return None
    moment = dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _can_fix(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in ("yes", "true", "y", "1"):
        return True
    if text in ("no", "false", "n", "0"):
        return False
    return None


def _status(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _packages(extend: object) -> tuple[VulPackage, ...]:
    if isinstance(extend, str):
        try:
            extend = json.loads(extend)
        except ValueError:
            return ()
    if not isinstance(extend, dict):
        return ()
    entities = extend.get("RpmEntityList")
    if not isinstance(entities, list):
        return ()
    packages = []
    for entity in entities[:50]:
        if not isinstance(entity, dict):
            continue
        match = _text(entity.get("MatchDetail"))
        matches = entity.get("MatchList")
        if not match and isinstance(matches, list) and matches:
            match = _text(matches[0])
        fixed = _FIXED_IN.search(match)
        packages.append(
            VulPackage(
                name=_text(entity.get("Name"), 200),
                version=_text(entity.get("FullVersion") or entity.get("Version"), 120),
                fix_command=_text(entity.get("UpdateCmd"), 300),
                fixed_version=fixed.group(1) if fixed else "",
                path=_text(entity.get("Path"), 300),
            )
        )
    return tuple(packages)


def read_record(raw: object) -> VulRecord | None:
    """One ``VulRecords`` item as a :class:`VulRecord`; None for a non-object."""
    if not isinstance(raw, dict):
        return None
    name = _text(raw.get("Name"), 200)
    alias = _text(raw.get("AliasName"), 300)
    cves: list[str] = []
    for text in (_text(raw.get("Related"), 2000), name, alias):
        for found in _CVE.findall(text):
            cve = found.upper()
            if cve not in cves:
                cves.append(cve)
    return VulRecord(
        name=name,
        alias=alias,
        necessity=_text(raw.get("Necessity"), 20).lower(),
        cves=tuple(cves[:20]),
        packages=_packages(raw.get("ExtendContentJson")),
        can_fix=_can_fix(raw.get("CanFix")),
        first_seen=iso_time(raw.get("FirstTs")),
        last_seen=iso_time(raw.get("LastTs")),
        status=_status(raw.get("Status")),
    )


def why(exc: GateError) -> str:
    """A failure as one line for a report: the message and, when there is one, the hint
    (which names the RAM action to grant, the option to raise, ...)."""
    return f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message


def vul_list_problem(body: dict[str, Any]) -> str | None:
    """A DescribeImageVulList answer must carry a ``VulRecords`` list (never read as none)."""
    if isinstance(body.get("VulRecords"), list):
        return None
    if "VulRecords" not in body:
        return "has no VulRecords list"
    return "has a VulRecords that is not a list"


def _total(body: Mapping[str, Any], fallback: int) -> int:
    value = body.get("TotalCount")
    if isinstance(value, bool):
        return fallback
    try:
        total = int(str(value))
    except ValueError:
        return fallback
    return max(total, fallback)


def image_query(image: Image, necessity: str) -> list[tuple[str, str]]:
    """The filter for one image and priority (paging parameters are added per page)."""
    query = [
        ("Type", "cve"),
        ("Lang", "en"),
        ("RepoNamespace", image.namespace),
        ("RepoName", image.repository),
        ("Necessity", necessity),
    ]
    if image.tag:
        query.append(("Tag", image.tag))
    digest = image.digest.lower()
    if _FULL_DIGEST.match(digest):  # a masked digest (...****) would match nothing
        query.append(("Digest", digest.removeprefix("sha256:")))
    return query


def _keep(record: VulRecord | None, necessity: str) -> bool:
    return record is not None and record.status != FIXED_STATUS and record.necessity == necessity


class Pacer:
    """Spaces calls at least ``1 / rate`` seconds apart, across threads: a client-side rate
    limit, so many images never burst past the API's per-account throttling."""

    def __init__(
        self,
        rate: float = MAX_RATE,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.monotonic = monotonic
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, deadline: float) -> None:
        """Wait for this call's slot (never past ``deadline``: the call then fails on it)."""
        with self._lock:
            now = self.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = min(slot, deadline) - now
        if delay > 0:
            self.sleep(delay)


@dataclass(frozen=True)
class LiveRecords:
    """Records from the API, page by page, through a signed session, paced by ``pacer``."""

    session: Session
    page_size: int = PAGE_SIZE
    max_records: int = MAX_RECORDS
    label: str = "api"
    pacer: Pacer = field(default_factory=Pacer, compare=False)

    def fetch(self, image: Image, necessity: str, *, deadline: float, timeout: float) -> Page:
        kept: list[VulRecord] = []
        seen = 0
        page = 1
        total = 0
        query = image_query(image, necessity)
        while True:
            self.pacer.wait(deadline)
            answer = self.session.call(
                ACTION,
                [*query, ("CurrentPage", str(page)), ("PageSize", str(self.page_size))],
                deadline=deadline,
                timeout=timeout,
                what=f"the vulnerability records of {image.name}",
                check_body=vul_list_problem,
            )
            items = answer.body["VulRecords"]
            seen += len(items)
            total = _total(answer.body, seen)
            kept.extend(r for r in map(read_record, items) if _keep(r, necessity))  # type: ignore[misc]
            open_total = total - (seen - len(kept))
            if not items or seen >= total:
                return Page(tuple(kept), open_total)
            if seen >= self.max_records:
                return Page(tuple(kept), open_total, truncated=True)
            page += 1


def matches(raw: Mapping[str, Any], query: Sequence[tuple[str, str]]) -> bool:
    """Whether a record in the API's shape passes a DescribeImageVulList filter (as the
    emulator and the demo serve it): exact namespace, repository, tag, digest, priority."""
    fields = {
        "RepoNamespace": "RepoNamespace",
        "RepoName": "RepoName",
        "Tag": "Tag",
        "Digest": "ImageDigest",
        "Name": "Name",
    }
    for name, value in query:
        if name == "Necessity":
            if str(raw.get("Necessity", "")) not in value.split(","):
                return False
        elif name == "StatusList":
            if str(raw.get("Status", "")) not in value.split(","):
                return False
        elif name == "Uuids":
            if str(raw.get("Uuid", "")) not in value.split(","):
                return False
        elif name in fields and str(raw.get(fields[name], "")).strip() != value:
            return False
    return True


def load_records_file(path: Path | str) -> list[dict[str, Any]]:
    """Records in the API's shape from a file: a list, or an object with ``VulRecords``."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read vulnerability records from {path}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("VulRecords")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise SourceError(
            f"{path} holds no vulnerability records",
            hint='give a JSON list of DescribeImageVulList records, or {"VulRecords": [...]}',
        )
    return data


@dataclass(frozen=True)
class FileRecords:
    """Records from a file in the API's shape (the bundled demo sample)."""

    records: tuple[Mapping[str, Any], ...]
    label: str = "demo"

    def fetch(self, image: Image, necessity: str, *, deadline: float, timeout: float) -> Page:
        query = image_query(image, necessity)
        found = [read_record(raw) for raw in self.records if matches(raw, query)]
        kept = [r for r in found if r is not None and _keep(r, necessity)]
        return Page(tuple(kept), len(kept))


def demo_records() -> FileRecords:
    return FileRecords(tuple(load_records_file(DEMO_VULNS)))


def worst_first(records: Sequence[VulRecord]) -> tuple[VulRecord, ...]:
    """By fix priority, then fixable first (something to do now), then open longest."""

    def key(record: VulRecord) -> tuple[int, int, str, str]:
        rank = NECESSITIES.index(record.necessity) if record.necessity in NECESSITIES else 3
        return (rank, 0 if record.can_fix else 1, record.first_seen or "9999", record.label)

    return tuple(sorted(records, key=key))
