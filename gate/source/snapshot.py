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
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from gate.errors import SourceError, UsageError
from gate.model import SourceInfo
from gate.report.text import one_line

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


DEFAULT_MAX_BYTES = 1 << 30
"""The largest snapshot read by default (1 GiB; 300,000 images are about 470 MB)."""
_CHUNK = 1 << 20


def read_snapshot(
    path: str,
    *,
    stdin: BinaryIO | None = None,
    kind: str = "snapshot",
    object_hook: ObjectHook | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Snapshot:
    """Read ``path`` (``-`` for standard input) and check it carries a ranking.

    At most ``max_bytes`` are read (default 1 GiB), in bounded chunks:
    a larger file, ``/dev/zero`` or an endless pipe is a :class:`SourceError`, not a run
    that eats the machine's memory. The file is read, not memory-mapped, so one that is
    truncated while it is read gives the bytes that were there (then a JSON error), never
    a SIGBUS.
    """
    label = "standard input" if path == "-" else path
    limit = max_bytes
    try:
        if path == "-":
            if stdin is None:
                if sys.stdin is None:  # started with file descriptor 0 closed
                    raise UsageError(
                        "--snapshot - reads the snapshot from standard input, which is closed",
                        hint="pipe the file in (gate check --snapshot - < ranking.json) "
                        "or pass its path",
                    )
                stdin = sys.stdin.buffer
            data = _read_bounded(stdin, label, limit)
        else:
            with open(path, "rb") as handle:
                data = _read_bounded(handle, label, limit)
    except OSError as exc:
        raise SourceError(
            f"cannot read snapshot {label}: {exc.strerror or exc}",
            hint="pass a file saved by 'gate fetch -o FILE' or by the Alibaba Cloud CLI",
        ) from exc
    text = _decode(data, label)
    del data  # hold the file once, not as bytes and text at the same time
    document = _load(text, label, object_hook)
    del text
    return _from_document(document, label, kind)


def parse_snapshot(
    data: bytes, label: str, *, kind: str = "snapshot", object_hook: ObjectHook | None = None
) -> Snapshot:
    return _from_document(_load(_decode(data, label), label, object_hook), label, kind)


def _read_bounded(handle: BinaryIO, label: str, limit: int) -> bytes | bytearray:
    """Every byte of ``handle``, read in chunks; more than ``limit`` is an error.

    The first chunk is checked to look like a JSON object, so ``/dev/zero`` or a stream of
    text is refused at once rather than after ``limit`` bytes.
    """
    data = bytearray()
    checked = False
    try:  # a regular file: its size is known, so it is read at once
        size = os.fstat(handle.fileno()).st_size if _regular(handle) else 0
    except (AttributeError, ValueError, OSError):
        size = 0
    if size > limit:
        raise _too_large(label, limit)
    if size:  # one read of the known size: a single copy into the result
        first = handle.read(min(size, limit) + 1)
        if len(first) >= 4:
            checked = True
            _check_start(first, label)
        if len(first) <= size:
            return first  # (shorter if the file shrank while it was read: what was there)
        data = bytearray(first)  # it grew: go on in chunks, up to the limit
        del first
        if len(data) > limit:
            raise _too_large(label, limit)
    while True:  # a pipe or a device (or a file that grew): bounded chunks
        chunk = handle.read(min(_CHUNK, limit + 1 - len(data)))
        if not chunk:
            return data
        data += chunk
        if len(data) > limit:
            raise _too_large(label, limit)
        if not checked and len(data) >= 4:
            checked = True
            _check_start(data, label)


def _regular(handle: BinaryIO) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(handle.fileno()).st_mode)


def _too_large(label: str, limit: int) -> SourceError:
    return SourceError(
        f"snapshot {label} is larger than {_size(limit)}; nothing was evaluated",
        hint="if this is really a ranking, raise the limit with --max-snapshot-mb N "
        "(or GATE_MAX_SNAPSHOT_MB=N)",
    )


_BLANK = re.compile(rb"[ \t\n\r\x0b\x0c]*")  # what bytes.isspace() calls whitespace
_JSON_BLANK = " \t\n\r"
_JSON_START = '{["-0123456789tfn'  # what a JSON value can begin with


def _check_start(data: bytes | bytearray, label: str) -> None:
    """Refuse a stream that cannot begin a JSON object (NUL bytes, text, binary)."""
    try:
        encoding = json.detect_encoding(bytes(data[:4]))
        head = str(bytes(data[:4096]), encoding, "ignore")
    except (ValueError, LookupError):
        return  # _decode() says what is wrong
    start = head.lstrip(_JSON_BLANK + "\ufeff")
    if start and start[0] not in _JSON_START:
        raise SourceError(
            f"snapshot {label} is not valid JSON: it starts with {_start(start)}",
            hint="a truncated download or an error page saved instead of the API response?",
        )


def _start(text: str) -> str:
    shown = one_line(text[:20].encode("unicode_escape").decode("ascii"))
    return f"'{shown}'" if shown else "control characters"


def _size(count: int) -> str:
    return f"{count >> 20} MB" if count >= 1 << 20 else f"{count} bytes"


def _decode(data: bytes | bytearray, label: str) -> str:
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


class DuplicateKeyError(ValueError):
    """An object of the snapshot names one key twice (the last value would silently win)."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(key, where)
        self.key = key
        self.where = where


def duplicate_key(pairs: list[tuple[str, Any]]) -> str:
    """The first key that ``pairs`` repeats (the caller knows one does)."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""  # pragma: no cover - only called when a key repeats


def object_name(obj: dict[str, Any]) -> str:
    """Which object a duplicate key is in, for the error message."""
    if "RepoName" in obj or "Uuid" in obj:
        parts = [obj.get(k) for k in ("RepoNamespace", "RepoName", "Tag")]
        name = "/".join(p if isinstance(p, str) else "?" for p in parts[:2])
        tag = parts[2] if isinstance(parts[2], str) else "?"
        return f"the image record {one_line(f'{name}:{tag}')[:120]}"
    if "VulAsap" in obj or "Baseline" in obj:
        return "RiskRankInfo"
    if "RiskRankInfo" in obj or "gate_snapshot" in obj:
        return "the top-level object"
    return "an object"


def json_float(text: str) -> float:
    """``parse_float`` for counters: a float, marked :class:`InexactFloat` when it only
    rounds to its value (``1e-400`` is 0.0, ``3.0000000000000001`` is 3.0)."""
    value = float(text)
    if value.is_integer() and not _exact_whole(text):
        return InexactFloat(value)
    return value


class InexactFloat(float):
    """A JSON number whose text is not the whole number its float value is."""


_FLOAT = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")


def _exact_whole(text: str) -> bool:
    match = _FLOAT.fullmatch(text)
    if match is None:
        return False
    whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3)
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return True  # zero, however written
    if exponent and len(exponent.lstrip("+-")) > 9:
        return False  # 1e-9999999999: far below one (a huge one is an infinity, refused)
    shift = (int(exponent) if exponent else 0) - len(fraction)
    if shift >= 0:
        return True
    return len(digits) > -shift and digits[shift:].strip("0") == ""


def _load(text: str, label: str, object_hook: ObjectHook | None) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> Any:
        obj = dict(items)
        if len(obj) != len(items):
            raise DuplicateKeyError(duplicate_key(items), object_name(obj))
        return obj if object_hook is None else object_hook(obj)

    # A DetailReader's hook has a pairs_hook twin that does both in one call, and record
    # templates that read records in a learnt shape without json building them first.
    reader = getattr(object_hook, "__self__", None)
    hook = getattr(reader, "pairs_hook", pairs)
    records = getattr(reader, "records", None)
    try:
        if records is not None:
            return _decoder(hook, records).decode(text)
        return json.loads(text, object_pairs_hook=hook, parse_float=json_float)
    except DuplicateKeyError as exc:
        raise SourceError(
            f"snapshot {label} names the key {one_line(repr(exc.key))[:80]} twice in "
            f"{exc.where}; nothing was evaluated",
            hint="a repeated key hides one of its values (JSON readers keep the last): "
            "the file was edited or is not what the API sent",
        ) from None
    except (ValueError, RecursionError) as exc:
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" at line {exc.lineno} column {exc.colno}"
        elif isinstance(exc, RecursionError):
            where = ": it is nested too deeply"
        elif "digits" in str(exc):
            where = ": it holds a number with thousands of digits"
        raise SourceError(
            f"snapshot {label} is not valid JSON{where}",
            hint="a truncated download or an error page saved instead of the API response?",
        ) from None


RecordTemplates = Sequence[
    tuple[Callable[[str, int], "re.Match[str] | None"], Callable[["re.Match[str]"], Any]]
]
"""``(match, build)`` pairs: ``match(text, pos)`` matches an element written in a known
shape at ``pos``; ``build(match)`` is its value (see
:attr:`gate.source.normalize.DetailReader.records`)."""
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")  # as json.decoder.WHITESPACE


def _decoder(hook: Callable[[list[tuple[str, Any]]], Any], records: RecordTemplates) -> Any:
    """A ``json.JSONDecoder`` whose arrays offer each element to ``records`` first.

    An element that no template matches is parsed by the C scanner exactly as
    ``json.loads`` parses it (``hook`` and :func:`json_float` included), so the result
    differs only in what the templates built. Objects outside arrays (the top level,
    ``RiskRankInfo``) are parsed by :mod:`json`'s Python scanner, which hands arrays to
    :func:`_array`. ``records`` may grow while the text is parsed (shapes are learnt).
    """
    import functools
    from json.scanner import c_make_scanner, py_make_scanner  # type: ignore[attr-defined]

    decoder = json.JSONDecoder(object_pairs_hook=hook, parse_float=json_float)
    element = (c_make_scanner or py_make_scanner)(decoder)
    decoder.parse_array = functools.partial(_array, element=element, records=records)  # type: ignore[attr-defined]
    from json.decoder import JSONObject  # type: ignore[attr-defined]

    memo: dict[str, str] = {}

    def scan(text: str, at: int) -> tuple[Any, int]:
        # Objects and arrays here; every other value by the C scanner (json's Python scanner
        # would take non-ASCII digits in numbers, which json.loads refuses).
        char = text[at : at + 1]
        if char == "{":
            return JSONObject((text, at + 1), True, scan, None, hook, memo)  # type: ignore[no-any-return]
        if char == "[":
            return _array((text, at + 1), scan, element=element, records=records)
        return element(text, at)  # type: ignore[no-any-return]

    decoder.scan_once = scan  # type: ignore[attr-defined]
    return decoder


def _array(
    s_and_end: tuple[str, int],
    scan_once: Any,
    *,
    element: Callable[[str, int], tuple[Any, int]],
    records: RecordTemplates,
) -> tuple[list[Any], int]:
    """``json.decoder.JSONArray``, with each element offered to ``records`` first."""
    from json.decoder import JSONDecodeError

    s, end = s_and_end
    # (the pattern matches an empty string too: never None)
    blank = cast(Callable[[str, int], "re.Match[str]"], _JSON_WHITESPACE.match)
    values: list[Any] = []
    nextchar = s[end : end + 1]
    if nextchar in _JSON_BLANK:
        end = blank(s, end + 1).end()
        nextchar = s[end : end + 1]
    if nextchar == "]":
        return values, end + 1
    append = values.append
    while True:
        for match, build in records:  # (usually one)
            matched = match(s, end)
            if matched is not None:
                value = build(matched)
                end = matched.end()
                break
        else:
            try:
                value, end = element(s, end)
            except StopIteration as err:
                raise JSONDecodeError("Expecting value", s, err.value) from None
        append(value)
        nextchar = s[end : end + 1]
        if nextchar in _JSON_BLANK:
            end = blank(s, end + 1).end()
            nextchar = s[end : end + 1]
        end += 1
        if nextchar == "]":
            return values, end
        if nextchar != ",":
            raise JSONDecodeError("Expecting ',' delimiter", s, end - 1)
        if s[end : end + 1] in _JSON_BLANK:
            end = blank(s, end).end()


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's terms: ``null``, ``an object``, ``a number``..."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value"


def _from_document(document: Any, label: str, kind: str) -> Snapshot:
    if not isinstance(document, dict):
        raise SourceError(f"snapshot {label} is {json_kind(document)}, not an object")
    if ENVELOPE_KEY in document:
        return _from_envelope(document, label, kind)
    body, note = _unwrap_sdk(document, label)
    _require_ranking(body, label)
    request_id = body.get("RequestId")
    return Snapshot(
        body=body,
        info=SourceInfo(
            kind=kind,
            path=label,
            request_id=request_id if isinstance(request_id, str) else None,
            warnings=(note,) if note else (),
        ),
    )


SDK_KEYS = frozenset({"headers", "statusCode", "body"})


def _unwrap_sdk(document: dict[str, Any], label: str) -> tuple[dict[str, Any], str | None]:
    """The body of an SDK ``response.to_map()`` (``{"headers", "statusCode", "body"}``).

    Anything else is returned as it is. A status other than 200, or a body that is not an
    object, is a :class:`SourceError`; an error body is refused by :func:`_require_ranking`.
    """
    if "RiskRankInfo" in document or "body" not in document or not set(document) <= SDK_KEYS:
        return document, None
    status = document.get("statusCode")
    body = document["body"]
    if status is not None and (type(status) is not int or status != 200):
        detail = ""
        if isinstance(body, dict):
            detail = _error_text(body)
        raise SourceError(
            f"snapshot {label} is a saved SDK response with HTTP status "
            f"{_shown(status)}, not a ranking{detail}",
            request_id=_request_id(body),
            hint="save the response of a successful call (statusCode 200)",
        )
    if not isinstance(body, dict):
        raise SourceError(
            f"snapshot {label} looks like a saved SDK response, but its 'body' is "
            f"{json_kind(body)}, not an object",
            hint="save response.to_map() of a successful call, or use 'gate fetch -o FILE'",
        )
    return body, (
        f"snapshot {label} is an SDK response (response.to_map()); its 'body' was evaluated"
    )


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(one_line(value)[:40])
    if type(value) is int:
        return str(value) if abs(value) < 10**9 else "(a huge number)"
    return json_kind(value)


def _request_id(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    request_id = body.get("RequestId")
    return one_line(request_id)[:100] if isinstance(request_id, str) else None


def _from_envelope(document: dict[str, Any], label: str, kind: str) -> Snapshot:
    version = document.get(ENVELOPE_KEY)
    if type(version) is not int or version != ENVELOPE_VERSION:
        raise SourceError(
            f"snapshot {label} has envelope version {_shown(version)}; this gate reads version 1",
            hint="re-create it with this version's 'gate fetch'",
        )
    body = document.get("response")
    if not isinstance(body, dict):
        raise SourceError(
            f"snapshot {label} has no 'response' object inside its envelope "
            f"(it is {json_kind(body)})"
        )
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


_SUCCESS_CODES = frozenset({"200", "ok", "success"})


def _error_text(body: dict[str, Any]) -> str:
    """``: CODE: message`` from an error answer's ``Code`` and ``Message``, on one line."""
    parts = []
    code = body.get("Code")
    if code is not None:
        parts.append(_shown(code).strip("'") if not isinstance(code, str) else code)
    message = body.get("Message")
    if isinstance(message, str) and message.strip():
        parts.append(message)
    text = one_line(": ".join(parts))
    return f": {text[:300]}{'...' if len(text) > 300 else ''}" if text else ""


def _is_error_answer(body: dict[str, Any]) -> bool:
    """``Success: false``, or a ``Code`` other than a success code (200, OK, Success)."""
    success = body.get("Success", True)
    if success is not True and success is not None:
        return True
    code = body.get("Code")
    if code is None:
        return False
    if type(code) is int:
        return code != 200
    return not isinstance(code, str) or code.strip().lower() not in _SUCCESS_CODES


def _require_ranking(body: dict[str, Any], label: str) -> None:
    if _is_error_answer(body):
        raise SourceError(
            f"snapshot {label} holds an API error, not a ranking{_error_text(body)}",
            request_id=_request_id(body),
            hint="an error answer cannot vouch for any image, even beside a RiskRankInfo; "
            "fetch the ranking again",
        )
    if not isinstance(body.get("RiskRankInfo"), dict):
        raise SourceError(
            f"snapshot {label} has no RiskRankInfo object",
            hint="expected the GetDockerhubImageRiskRankInfo response body, an SDK "
            "response.to_map(), or a 'gate fetch' file",
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
    shown = text.strip() if len(text.strip()) <= 30 else text.strip()[:27] + "..."
    too_long = f"'{shown}' is too long a duration; the longest is {MAX_DAYS}d"
    if any(g and len(g) > 15 for g in match.groups()):
        raise ValueError(too_long)  # (int() of thousands of digits would itself fail)
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    try:
        duration = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError(too_long) from None
    if duration > dt.timedelta(days=MAX_DAYS):
        raise ValueError(too_long)
    return duration


MAX_DAYS = 36500
"""The longest ``--max-age`` (a hundred years): longer ones would overflow date arithmetic."""
