"""Turn a raw ``GetDockerhubImageRiskRankInfo`` body into :class:`~gate.model.Image` values.

API strings are not clean, and this module gives each oddity a defined outcome:

* names are trimmed of surrounding whitespace (``"namespace-01\\n"`` is ``namespace-01``);
* an image in both ``VulAsap`` and ``Baseline`` is one image ranked in both lists
  (identity: ``Uuid``, else namespace, repository, tag and digest);
* ``RiskLevelDetail`` is a JSON object in a string; a missing, unparsable or non-object
  value is a per-image data error, and a non-numeric counter a per-metric problem (numeric
  strings are numbers; booleans, NaN and infinities are not);
* the doubly escaped form shown in the API reference (``{\\"imageVulAsap\\":3}``) is decoded
  one extra level and counted in a warning, since it carries the same data.

Only the metrics some rule needs are kept, so large rankings stay small in memory.
:class:`DetailReader` reads ``RiskLevelDetail`` strings: a string in the service's usual
shape (one flat object of plain integers and escape-free strings, keys in the order seen
before) is read with one regular expression that captures only the wanted counters, and
anything else is parsed in full with :mod:`json`; both give the same outcome for every input.
Its :meth:`~DetailReader.hook` does this while the snapshot is being parsed, so the
counters no rule wants are never held in memory at all.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from gate.errors import SourceError
from gate.model import Image, Number
from gate.policy.metrics import CATALOGUE, DETAIL_COUNTERS, IMAGE_FIELDS, MAX_MAGNITUDE

LISTS = ("VulAsap", "Baseline")
DETAIL_KEY = "RiskLevelDetail"


@dataclass(frozen=True, slots=True)
class Ranking:
    images: tuple[Image, ...]
    warnings: tuple[str, ...]


def _text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    return str(value).strip()


_NUMERIC = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def to_number(value: Any) -> Number | None:
    """A finite int/float from a JSON value, plain decimal strings included; otherwise None.

    Values beyond :data:`~gate.policy.metrics.MAX_MAGNITUDE` are not counters anyone sends;
    they are refused so arithmetic on them cannot overflow.
    """
    number: Number
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        # Python's int()/float() also take "1_000", non-ASCII digits and "nan": not numbers here.
        match = _NUMERIC.fullmatch(value.strip())
        if match is None:
            return None
        text = match.group()
        number = int(text) if match.group(1) is None and match.group(2) is None else float(text)
    else:
        return None
    if isinstance(number, float) and not math.isfinite(number):
        return None
    return number if abs(number) <= MAX_MAGNITUDE else None


def _parse_detail(raw: Any) -> tuple[dict[str, Any] | None, str | None, bool]:
    """(counters, error, was_double_escaped)."""
    if raw is None:
        return None, "RiskLevelDetail is missing", False
    if isinstance(raw, dict):
        return raw, None, False
    if not isinstance(raw, str):
        return None, f"RiskLevelDetail is a {type(raw).__name__}, not a JSON string", False
    text = raw.strip()
    if not text:
        return None, "RiskLevelDetail is empty", False
    double = False
    try:
        detail = json.loads(text)
    except (ValueError, RecursionError):
        if '\\"' not in text:
            return None, "RiskLevelDetail is not valid JSON", False
        try:
            detail = json.loads(json.loads(f'"{text}"'))
        except (ValueError, RecursionError):
            return None, "RiskLevelDetail is not valid JSON", False
        double = True
    if isinstance(detail, str):  # a JSON string holding the object: one level too many
        try:
            detail = json.loads(detail)
            double = True
        except (ValueError, RecursionError):
            return None, "RiskLevelDetail is not valid JSON", False
    if not isinstance(detail, dict):
        return None, f"RiskLevelDetail is a JSON {type(detail).__name__}, not an object", False
    return detail, None, double


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


_NO_PROBLEMS: Mapping[str, str] = MappingProxyType({})

# The values the fast path reads, each where the learnt shape had one of its kind: a JSON
# integer of at most 18 digits, not negative (so always within MAX_MAGNITUDE), or a string
# without escapes and control characters. Anything else (negative numbers, floats, null,
# nesting, whitespace between tokens, escapes) goes through json.
_INTEGER = r"(?:0|[1-9][0-9]{0,17})"
_STRING = r'"[^"\\\x00-\x1f]*"'
_SMALL = 4096  # integer texts below this are looked up rather than parsed
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")
MAX_TEMPLATES = 8
MAX_TEMPLATE_KEYS = 200
LEARN_AFTER = 4  # compiling a template (3 ms) pays off only when the shape recurs


class Detail(NamedTuple):
    """What one ``RiskLevelDetail`` says about the counters a :class:`DetailReader` wants."""

    metrics: dict[str, Number]
    problems: Mapping[str, str]
    error: str | None
    double: bool
    names: tuple[str, ...]
    """The counters that were read: a body read for other rules cannot be used."""


_new_detail = functools.partial(tuple.__new__, Detail)  # a Detail without a Python call


class _Template(NamedTuple):
    fullmatch: Callable[[str], re.Match[str] | None]
    order: tuple[str, ...]  # the wanted counters, in the order the groups capture them
    absent: Mapping[str, str]  # problems for the wanted counters the shape lacks


def _no_small(text: str) -> int:
    raise KeyError(text)


class DetailReader:
    """Reads ``RiskLevelDetail`` values, keeping only the wanted counters.

    The service sends one flat object with the same keys in the same order for every
    image. After parsing one such string with :mod:`json`, the reader compiles its shape
    into a regular expression: the exact keys in that order, each value of the kind it was
    (a short integer, or a string without escapes), with groups capturing only the wanted
    counters. A string that
    matches it is valid JSON with exactly those keys, so what the groups capture is what
    ``json.loads`` would return; every other string takes the full parse. A shape is learnt
    once it has been parsed :data:`LEARN_AFTER` times, and at most :data:`MAX_TEMPLATES`
    shapes are, so hostile data cannot make it compile forever.
    """

    def __init__(self, wanted: Iterable[str] | None = None) -> None:
        names = set(CATALOGUE if wanted is None else wanted)
        self.names = tuple(n for n in DETAIL_COUNTERS if n in names)
        self._templates: list[_Template] = []
        # (keys, which hold strings) -> times seen; -1 once learnt
        self._shapes: dict[tuple[tuple[str, ...], tuple[bool, ...]], int] = {}
        self._uuids: set[str] = set()
        self._small: Callable[[str], int] = _no_small

    def read(self, raw: Any) -> Detail:
        if type(raw) is str:
            for template in self._templates:
                match = template.fullmatch(raw)
                if match is not None:
                    return self._matched(match.groups(), template)
        return self._parse(raw)

    def hook(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A ``json.loads`` object hook: read each image's detail while the body is parsed.

        A record whose ``Uuid`` was seen before is left as it is: it is the same image in the
        other list, which :func:`normalize` skips (or reads itself, should it need it).
        """
        if DETAIL_KEY in obj:
            uuid = obj.get("Uuid")
            if type(uuid) is str and uuid:
                if uuid in self._uuids:
                    return obj
                self._uuids.add(uuid)
            obj[DETAIL_KEY] = self.read(obj[DETAIL_KEY])
        return obj

    def _matched(self, groups: tuple[str, ...], template: _Template) -> Detail:
        order = template.order
        try:  # the common case: small integers, looked up
            metrics: dict[str, Number] = dict(zip(order, map(self._small, groups), strict=False))
        except KeyError:
            try:
                metrics = dict(zip(order, map(int, groups), strict=False))
            except ValueError:  # a counter sent as a string (int() refuses the quote)
                return self._strings(groups, template)
        return _new_detail((metrics, template.absent, None, False, self.names))

    def _strings(self, groups: tuple[str, ...], template: _Template) -> Detail:
        """A match where some wanted counter is a string: each one as to_number() reads it."""
        metrics: dict[str, Number] = {}
        problems = dict(template.absent)
        for name, text in zip(template.order, groups, strict=True):
            value: Any = text[1:-1] if text.startswith('"') else int(text)
            number = to_number(value)
            if number is None:
                problems[name] = f"{name} is not a number: {_describe(value)}"
            else:
                metrics[name] = number
        return Detail(metrics, problems or _NO_PROBLEMS, None, False, self.names)

    def _parse(self, raw: Any) -> Detail:
        detail, error, double = _parse_detail(raw)
        metrics: dict[str, Number] = {}
        problems: dict[str, str] = {}
        if detail is None:
            return Detail(metrics, _NO_PROBLEMS, error, double, self.names)
        for name in self.names:
            if name not in detail or detail[name] is None:
                problems[name] = f"{name} is missing from RiskLevelDetail"
                continue
            number = to_number(detail[name])
            if number is None:
                problems[name] = f"{name} is not a number: {_describe(detail[name])}"
            else:
                metrics[name] = number
        if isinstance(raw, str) and not double:
            self._learn(detail)
        return Detail(metrics, problems or _NO_PROBLEMS, None, double, self.names)

    def _learn(self, detail: dict[str, Any]) -> None:
        if len(self._templates) >= MAX_TEMPLATES or len(detail) > MAX_TEMPLATE_KEYS:
            return
        kinds = []  # which keys hold strings; every value must be a string or an integer
        for value in detail.values():
            if type(value) is str or (type(value) is int and value >= 0):
                kinds.append(type(value) is str)
            else:
                return
        keys = tuple(detail)
        shape = (keys, tuple(kinds))
        seen = self._shapes.get(shape, 0)
        if seen < 0 or len(self._shapes) > 100 * MAX_TEMPLATES:
            return
        self._shapes[shape] = seen + 1
        if seen + 1 < LEARN_AFTER or not all(_PLAIN_KEY.fullmatch(key) for key in keys):
            return
        self._shapes[shape] = -1
        wanted = set(self.names)
        parts = []
        for key, string in zip(keys, kinds, strict=True):
            value = _STRING if string else _INTEGER
            parts.append(f'"{key}":({value})' if key in wanted else f'"{key}":{value}')
        pattern = re.compile(r"\{" + ",".join(parts) + r"\}")
        if self._small is _no_small:
            self._small = {str(n): n for n in range(_SMALL)}.__getitem__
        absent = {n: f"{n} is missing from RiskLevelDetail" for n in self.names if n not in keys}
        order = tuple(key for key in keys if key in wanted)
        self._templates.append(
            _Template(
                pattern.fullmatch, order, MappingProxyType(absent) if absent else _NO_PROBLEMS
            )
        )


def _entries(info: dict[str, Any], types: Iterable[str]) -> Iterable[tuple[str, int, Any]]:
    for list_name in types:
        entries = info.get(list_name)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise SourceError(
                f"RiskRankInfo.{list_name} is a JSON {type(entries).__name__}, not a list",
                hint="the response is malformed; nothing was evaluated",
            )
        for index, entry in enumerate(entries):
            yield list_name, index, entry


def normalize(body: dict[str, Any], wanted: Iterable[str] | None = None) -> Ranking:
    """Images of the ranking, each once, keeping only the ``wanted`` metrics (default: all).

    ``body`` may have been parsed with a :meth:`DetailReader.hook` for the same ``wanted``
    metrics; its details are then already read.
    """
    info = body.get("RiskRankInfo")
    if not isinstance(info, dict):
        raise SourceError("the response has no RiskRankInfo object; nothing was evaluated")
    names = set(CATALOGUE if wanted is None else wanted)
    reader = DetailReader(names)
    field_names = [n for n in IMAGE_FIELDS if n in names]

    # Identity: the Uuid (a str key), else namespace, repository, tag and digest (a tuple).
    by_identity: dict[str | tuple[str, ...], int] = {}
    ranked_in: list[tuple[str, ...]] = []
    found: list[dict[str, Any]] = []  # each image's fields but ranked_in
    double_escaped = 0
    for list_name, index, entry in _entries(info, LISTS):
        if not isinstance(entry, dict):
            raise SourceError(
                f"RiskRankInfo.{list_name}[{index}] is a JSON {type(entry).__name__}, "
                "not an image object",
                hint="the response is malformed; nothing was evaluated",
            )
        uuid = _text(entry.get("Uuid"))
        identity: str | tuple[str, ...] = uuid
        seen = by_identity.get(uuid) if uuid else None
        if seen is None:
            namespace = _text(entry.get("RepoNamespace"))
            repository = _text(entry.get("RepoName"))
            tag = _text(entry.get("Tag"))
            digest = _text(entry.get("Digest"))
            if not uuid:
                identity = (namespace, repository, tag, digest)
                seen = by_identity.get(identity)
        if seen is not None:
            if list_name not in ranked_in[seen]:
                ranked_in[seen] += (list_name,)
            continue

        detail = entry.get(DETAIL_KEY)
        if not isinstance(detail, Detail):
            detail = reader.read(detail)
        elif detail.names != reader.names:
            raise ValueError("the body's RiskLevelDetail was read for other metrics")
        double_escaped += detail.double
        metrics = detail.metrics
        problems = detail.problems
        if field_names:
            metrics, problems = dict(metrics), dict(problems)
            for name in field_names:
                raw = entry.get(name)
                number = to_number(raw)
                if number is None:
                    problems[name] = (
                        f"{name} is missing from the image record"
                        if raw is None
                        else f"{name} is not a number: {_describe(raw)}"
                    )
                else:
                    metrics[name] = number
        by_identity[identity] = len(found)
        ranked_in.append((list_name,))
        found.append(
            {
                "namespace": namespace,
                "repository": repository,
                "tag": tag,
                "digest": digest,
                "uuid": uuid,
                "image_id": _text(entry.get("ImageId")),
                "metrics": metrics,
                "metric_problems": problems,
                "data_error": detail.error,
            }
        )
    # Built once every list has been seen: an image may be ranked in both.
    images = [
        Image(**fields, ranked_in=lists) for fields, lists in zip(found, ranked_in, strict=True)
    ]
    warnings = []
    if double_escaped:
        warnings.append(
            f"{double_escaped} image(s) carried a doubly escaped RiskLevelDetail "
            "(as in the API reference's example); it was decoded one extra level"
        )
    return Ranking(tuple(images), tuple(warnings))
