"""Read a saved ranking: a raw API body (as the official CLI prints it) or a gate envelope.

The envelope written by ``gate fetch`` is
``{"gate_snapshot": 1, "fetched_at", "region", "endpoint", "request_id", "response": {...}}``.
Anything that is not JSON, or has no ``RiskRankInfo`` object, is a :class:`SourceError`;
so, under ``--max-age``, is a snapshot without a fetch time, older than the limit, or
fetched more than :data:`CLOCK_SKEW` in the future.

A snapshot may be a whole account's ranking (100,000 images are about 150 MB), so a file is
held once: its bytes are dropped once decoded and the text once parsed, and an
``object_hook`` (see :meth:`gate.source.normalize.DetailReader.hook`) can shrink each image
record while the JSON is parsed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from gate.errors import SourceError
from gate.model import SourceInfo

if TYPE_CHECKING:
    import mmap

ENVELOPE_KEY = "gate_snapshot"
ENVELOPE_VERSION = 1

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far in the future a fetch time may be (clocks differ a little) before it is refused."""

ObjectHook = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Snapshot:
    """A raw API body and where it came from."""

    body: dict[str, Any]
    info: SourceInfo


def read_snapshot(
    path: str,
    *,
    stdin: BinaryIO | None = None,
    kind: str = "snapshot",
    object_hook: ObjectHook | None = None,
) -> Snapshot:
    """Read ``path`` (``-`` for standard input) and check it carries a ranking."""
    label = "standard input" if path == "-" else path
    try:
        if path == "-":
            data = (stdin or sys.stdin.buffer).read()
            text = _decode(data, label)
            del data  # hold the file once, not as bytes and text at the same time
        else:
            with open(path, "rb") as handle:
                text = _read_text(handle, label)
    except OSError as exc:
        raise SourceError(
            f"cannot read snapshot {label}: {exc.strerror or exc}",
            hint="pass a file saved by 'gate fetch -o FILE' or by the Alibaba Cloud CLI",
        ) from exc
    document = _load(text, label, object_hook)
    del text
    return _from_document(document, label, kind)


def parse_snapshot(
    data: bytes, label: str, *, kind: str = "snapshot", object_hook: ObjectHook | None = None
) -> Snapshot:
    return _from_document(_load(_decode(data, label), label, object_hook), label, kind)


def _read_text(handle: BinaryIO, label: str) -> str:
    """A regular file is decoded straight from a memory map: no copy of it as bytes."""
    try:
        import mmap

        flags = mmap.MAP_PRIVATE | getattr(mmap, "MAP_POPULATE", 0)
        mapped = mmap.mmap(handle.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    except (ImportError, AttributeError, ValueError, OSError):  # empty, a pipe, Windows
        return _decode(handle.read(), label)
    with mapped:  # (truncated by another process while mapped, it would end in SIGBUS)
        return _decode(mapped, label)


_BLANK = re.compile(rb"[ \t\n\r\x0b\x0c]*")  # what bytes.isspace() calls whitespace


def _decode(data: bytes | mmap.mmap, label: str) -> str:
    """The text of a JSON file, decoded exactly as ``json.loads`` decodes bytes."""
    blank = _BLANK.match(data)  # stops at the first other byte: no copy of a large file
    if blank is not None and blank.end() == len(data):
        raise SourceError(f"snapshot {label} is empty", hint="was the fetch interrupted?")
    try:
        return str(data, json.detect_encoding(bytes(data[:4])), "surrogatepass")
    except ValueError as exc:
        raise SourceError(
            f"snapshot {label} is not valid JSON",
            hint="a truncated download or an error page saved instead of the API response?",
        ) from exc


def _load(text: str, label: str, object_hook: ObjectHook | None) -> Any:
    try:
        return json.loads(text, object_hook=object_hook)
    except (ValueError, RecursionError) as exc:
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" at line {exc.lineno} column {exc.colno}"
        raise SourceError(
            f"snapshot {label} is not valid JSON{where}",
            hint="a truncated download or an error page saved instead of the API response?",
        ) from exc


def _from_document(document: Any, label: str, kind: str) -> Snapshot:
    if not isinstance(document, dict):
        raise SourceError(f"snapshot {label} is a JSON {type(document).__name__}, not an object")
    if ENVELOPE_KEY in document:
        return _from_envelope(document, label, kind)
    _require_ranking(document, label)
    request_id = document.get("RequestId")
    return Snapshot(
        body=document,
        info=SourceInfo(
            kind=kind,
            path=label,
            request_id=request_id if isinstance(request_id, str) else None,
        ),
    )


def _from_envelope(document: dict[str, Any], label: str, kind: str) -> Snapshot:
    version = document.get(ENVELOPE_KEY)
    if version != ENVELOPE_VERSION:
        raise SourceError(
            f"snapshot {label} has envelope version {version!r}; this gate reads version 1",
            hint="re-create it with this version's 'gate fetch'",
        )
    body = document.get("response")
    if not isinstance(body, dict):
        raise SourceError(f"snapshot {label} has no 'response' object inside its envelope")
    _require_ranking(body, label)

    def text(key: str) -> str | None:
        value = document.get(key)
        return value if isinstance(value, str) and value else None

    return Snapshot(
        body=body,
        info=SourceInfo(
            kind=kind,
            path=label,
            region=text("region"),
            endpoint=text("endpoint"),
            request_id=text("request_id")
            or (body.get("RequestId") if isinstance(body.get("RequestId"), str) else None),
            fetched_at=text("fetched_at"),
        ),
    )


def _require_ranking(body: dict[str, Any], label: str) -> None:
    if not isinstance(body.get("RiskRankInfo"), dict):
        code = body.get("Code")
        if isinstance(code, str):
            request_id = body.get("RequestId")
            raise SourceError(
                f"snapshot {label} holds an API error, not a ranking: "
                f"{code}: {body.get('Message', '')}",
                request_id=request_id if isinstance(request_id, str) else None,
            )
        raise SourceError(
            f"snapshot {label} has no RiskRankInfo object",
            hint="expected the GetDockerhubImageRiskRankInfo response body or a 'gate fetch' file",
        )


def parse_timestamp(text: str) -> dt.datetime:
    """Parse an ISO-8601 UTC timestamp such as ``2026-11-28T21:00:00Z``."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def check_max_age(snapshot: Snapshot, max_age: dt.timedelta, now: dt.datetime) -> None:
    """Refuse a snapshot older than ``max_age``, fetched in the future, or without a time.

    A fetch time more than :data:`CLOCK_SKEW` ahead of ``now`` means a wrong clock or an
    edited file, which would otherwise keep the snapshot fresh for ever.
    """
    fetched = snapshot.info.fetched_at
    if fetched is None:
        raise SourceError(
            f"snapshot {snapshot.info.path} carries no fetch time, so --max-age cannot be checked",
            hint="save snapshots with 'gate fetch -o FILE', which records when they were taken",
        )
    try:
        taken = parse_timestamp(fetched)
    except ValueError as exc:
        raise SourceError(
            f"snapshot {snapshot.info.path} has an unreadable fetched_at {fetched!r}"
        ) from exc
    age = now - taken
    if -age > CLOCK_SKEW:
        raise SourceError(
            f"snapshot {snapshot.info.path} has a fetch time in the future: {fetched} is "
            f"{_human(-age)} ahead of this machine's clock, so --max-age cannot vouch for it",
            hint="check this machine's clock (and the clock where the snapshot was fetched); "
            "a fetch time in the future means one of them is wrong or the file was edited",
        )
    if age > max_age:
        raise SourceError(
            f"snapshot {snapshot.info.path} was fetched at {fetched}, {_human(age)} ago, "
            f"older than --max-age {_human(max_age)}",
            hint="fetch a fresh ranking ('gate fetch -o FILE') or run without --snapshot",
        )


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f}d".replace(".0d", "d")
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h".replace(".0h", "h")
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``24h``, ``7d`` (or a combination like ``1d12h``)."""
    match = re.fullmatch(r"\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*", text)
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"'{text}' is not a duration; write e.g. 30m, 24h or 7d")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
