"""Turn a raw ``GetDockerhubImageRiskRankInfo`` body into :class:`~gate.model.Image` values.

API strings are not clean, and this module gives each oddity a defined outcome:

* ``RiskRankInfo`` must hold a ``VulAsap`` or a ``Baseline`` list (a null one counts as
  absent); with neither (``{}``, only nulls, or only keys such as ``vulasap``) the body is a
  :class:`~gate.errors.SourceError`, never an empty ranking. ``{"VulAsap": [], "Baseline":
  []}`` is a valid empty ranking; any other key is ignored with a warning;
* names are trimmed of surrounding whitespace (``"namespace-01\\n"`` is ``namespace-01``);
* two records are one image when their ``Uuid``, namespace, repository, tag and digest all
  agree (an empty ``Uuid`` included), as when an image is in both ``VulAsap`` and
  ``Baseline``. Records sharing a ``Uuid`` (masked ones such as the API reference's
  ``...****`` can collide) but not the rest are different images, each evaluated on its
  own, with a warning;
* records of one image are merged fail-closed: ``ranked_in`` lists every list they are
  in; a kept counter both give takes the higher value, with a warning counting the images
  whose records disagree; a counter that either record cannot give is a problem naming
  that record (``Baseline[3]``), and an unusable ``RiskLevelDetail`` in either makes the
  image's unusable;
* ``RiskLevelDetail`` is a JSON object in a string; a missing, unparsable or non-object
  value is a per-image data error, and a counter (or ``VulCount``, ``HcCount``,
  ``ImageSize``) that is missing, not a number or negative is a per-metric problem
  (numeric strings are numbers; booleans, NaN and infinities are not);
* the doubly escaped form shown in the API reference (``{\\"imageVulAsap\\":3}``) is decoded
  one extra level and counted in a warning, since it carries the same data.

Only the metrics some rule needs are kept, so large rankings stay small in memory.
:class:`DetailReader` reads ``RiskLevelDetail`` strings: a string in the service's usual
shape (one flat object of plain integers and escape-free strings, keys in the order seen
before) is read with one regular expression that captures only the wanted counters, and
anything else is parsed in full with :mod:`json`; both give the same outcome for every input.
Its :meth:`~DetailReader.hook` does this while the snapshot is being parsed, for every
record (a repeated ``Uuid`` included), so the counters no rule wants are never held in
memory at all.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from gate.errors import SourceError
from gate.model import Image, IntCounters, Number, fast_constructor
from gate.policy.metrics import CATALOGUE, DETAIL_COUNTERS, IMAGE_FIELDS, MAX_MAGNITUDE
from gate.report.text import one_line
from gate.source.snapshot import (
    DuplicateKeyError,
    duplicate_key,
    json_float,
    json_kind,
    object_name,
)

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
    if type(value) is int or type(value) is float:
        return str(value) if abs(value) < 10**18 else "(a huge number)"
    return f"({json_kind(value)})"  # never str() of a list: a deep one would overflow the stack


MISSING_NAMESPACE = "<missing namespace>"
"""The namespace shown for a record whose ``RepoNamespace`` is missing, null, empty or not a
string (no registry namespace has ``<``, ``>`` or a space). Such an image is bad data: it
carries a data error, and every ``--namespace`` selection takes it, so that mandatory rules
turn it into an error rather than letting it disappear from the run."""

_NUMERIC = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")
MAX_COUNTER_TEXT = 40
"""The longest numeric string read as a counter (``"3"``, ``"3.0"``); longer is unusable."""


def _whole(sign: str, whole: str, fraction: str, exponent: str) -> int | None:
    """The exact whole number the parts of a decimal number write, or None if not whole."""
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return 0
    if len(exponent.lstrip("+-")) > 9:
        return None  # 1e-9999999999 is no whole number; 1e9999999999 is too large
    shift = (int(exponent) if exponent else 0) - len(fraction)
    if shift >= 0:
        if len(digits) + shift > 19:
            return None  # above MAX_MAGNITUDE
        number = int(digits + "0" * shift)
    else:
        if len(digits) <= -shift or digits[shift:].strip("0"):
            return None
        number = int(digits[:shift])
    return -number if sign == "-" else number


def to_number(value: Any) -> int | None:
    """The exact whole number a counter's JSON value gives, or None if it gives none.

    Accepted: a JSON integer; a JSON number whose written value is exactly whole (``3.0``,
    ``3e2``, as some serialisers write integers); a string of one of those forms
    (``"3"``, ``" 3.0 "``, at most :data:`MAX_COUNTER_TEXT` characters). Refused: fractions
    (``2.5``), numbers that only round to a whole one (``1e-400``, ``"3e-999999"``),
    booleans, null, NaN, infinities, other strings, and values beyond
    :data:`~gate.policy.metrics.MAX_MAGNITUDE` (so arithmetic on them cannot overflow).
    Negative numbers are returned (the caller says they are negative).
    """
    number: int | None
    if type(value) is int:
        number = value
    elif type(value) is float:  # not an InexactFloat, whose text only rounds to its value
        if not value.is_integer():  # (a fraction, NaN or an infinity)
            return None
        number = int(value)
    elif type(value) is str:
        # Python's int()/float() also take "1_000", non-ASCII digits and "nan": not numbers here.
        text = value.strip()
        match = _NUMERIC.fullmatch(text) if len(text) <= MAX_COUNTER_TEXT else None
        if match is None:
            return None
        sign, whole, fraction, exponent = match.groups(default="")
        number = _whole(sign, whole, fraction, exponent)
    else:
        return None
    return number if number is not None and abs(number) <= MAX_MAGNITUDE else None


def _counter(name: str, value: Any) -> Number | str:
    """A counter's number, or (a str) why it is unusable: not a whole number, or below zero."""
    number = to_number(value)
    if number is None:
        return f"{name} {_why(value)}: {_describe(value)}"
    if number < 0:
        return f"{name} is negative: {_describe(value)}"
    return number


def _why(value: Any) -> str:
    """Why ``to_number`` refused a value."""
    if type(value) is int:
        return "is too large to be a counter"
    if isinstance(value, float) and math.isfinite(value):
        return "is negative" if value < 0 else "is not a whole number"
    if type(value) is str:
        text = value.strip()
        match = _NUMERIC.fullmatch(text)
        if match is not None:
            if text.startswith("-") and text.strip("-0.eE+"):
                return "is negative"
            _, whole, fraction, exponent = match.groups(default="")
            if len(text) > MAX_COUNTER_TEXT:
                return f"is longer than the {MAX_COUNTER_TEXT} characters a counter may have"
            if _whole("", whole, fraction, exponent) is None and not (fraction or exponent):
                return "is too large to be a counter"
            return "is not a whole number (or too large to be a counter)"
    return "is not a number"


def _parse_detail(raw: Any) -> tuple[dict[str, Any] | None, str | None, bool]:
    """(counters, error, was_double_escaped)."""
    if raw is None:
        return None, "RiskLevelDetail is missing", False
    if isinstance(raw, dict):
        return raw, None, False
    if not isinstance(raw, str):
        return None, f"RiskLevelDetail is {json_kind(raw)}, not a string holding JSON", False
    text = raw.strip()
    if not text:
        return None, "RiskLevelDetail is empty", False
    double = False
    try:
        detail = _loads(text)
    except DuplicateKeyError as exc:
        return None, _duplicate(exc), False
    except (ValueError, RecursionError) as exc:
        if '\\"' not in text:
            return None, _invalid(exc), False
        try:
            detail = _loads(json.loads(f'"{text}"'))
        except DuplicateKeyError as exc:
            return None, _duplicate(exc), False
        except (ValueError, RecursionError) as exc:
            return None, _invalid(exc), False
        double = True
    if isinstance(detail, str):  # a JSON string holding the object: one level too many
        try:
            detail = _loads(detail)
            double = True
        except DuplicateKeyError as exc:
            return None, _duplicate(exc), False
        except (ValueError, RecursionError) as exc:
            return None, _invalid(exc), False
    if not isinstance(detail, dict):
        return None, f"RiskLevelDetail is {json_kind(detail)}, not an object", False
    return detail, None, double


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: an object, unless it names a key twice (the last would win)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateKeyError(duplicate_key(pairs), "RiskLevelDetail")
    return obj


_loads = functools.partial(json.loads, object_pairs_hook=_unique, parse_float=json_float)


def _duplicate(exc: DuplicateKeyError) -> str:
    return f"RiskLevelDetail names the key {_describe(exc.key)} twice (which value counts?)"


def _invalid(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "RiskLevelDetail is not valid JSON: it is nested too deeply"
    if not isinstance(exc, json.JSONDecodeError) and "digits" in str(exc):
        return "RiskLevelDetail is not valid JSON: it holds a number with thousands of digits"
    return "RiskLevelDetail is not valid JSON"


def _describe(value: Any) -> str:
    """A short JSON rendering of a scalar value; containers by their kind."""
    if isinstance(value, (dict, list)):
        return json_kind(value)
    if type(value) is int and abs(value) >= 10**30:
        return "a number with more than 30 digits"
    text = json.dumps(value)
    return one_line(text if len(text) <= 40 else text[:37] + "...")


_NO_PROBLEMS: Mapping[str, str] = MappingProxyType({})

# The values the fast path reads, each where the learnt shape had one of its kind: a JSON
# integer of at most 18 digits, not negative (so always within MAX_MAGNITUDE), or a string
# without escapes and control characters. Anything else (negative numbers, floats, null,
# nesting, whitespace between tokens, escapes) goes through json.
# Possessive where Python has it: what follows a number is never a digit, so giving digits
# back can never make a match, and not trying makes a large snapshot's records an eighth faster.
_INTEGER = r"(?:0|[1-9][0-9]{0,17}+)" if sys.version_info >= (3, 11) else r"(?:0|[1-9][0-9]{0,17})"
_STRING = r'"[^"\\\x00-\x1f]*"'
_ESCAPED_STRING = r'\\"[^"\\\x00-\x1f]*\\"'  # _STRING inside a JSON string: quotes as \"
# A string's text that str.strip() would leave as it is: \s is str.isspace(), as strip() uses.
_STRIPPED = r'(?!\s)[^"\\\x00-\x1f]*(?<!\s)'
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
    keys: tuple[str, ...]  # the shape: every key, in order
    strings: tuple[bool, ...]  # which of them hold strings (the others: integers)


RECORD_FIELDS = ("Uuid", "RepoNamespace", "RepoName", "Tag", "Digest", "ImageId")
"""The fields of an image record that :func:`normalize` reads (besides ``RiskLevelDetail``
and the wanted :data:`~gate.policy.metrics.IMAGE_FIELDS`)."""


RecordTemplate = tuple[
    Callable[[str, int], "re.Match[str] | None"], Callable[["re.Match[str]"], tuple[Any, ...]]
]
"""``(match, build)``: a learnt shape of a whole image record, ``RiskLevelDetail`` included.

``match(text, pos)`` matches a record written exactly in that shape at ``pos`` of the
snapshot's text (see :attr:`DetailReader.records`); ``build`` turns the match into
what :func:`normalize` reads of it: ``(metrics, problems, names, *fields)``, the
detail's :class:`Detail` ``metrics``, ``problems`` and ``names`` as
:meth:`DetailReader.read` gives them (its error is None and it is not doubly escaped),
then the fields in :attr:`DetailReader.fields` order (None for one the shape lacks),
each the value :mod:`json` would give.
"""


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
        self._small: Callable[[str], int] = _no_small
        self.fields = (*RECORD_FIELDS, *(n for n in IMAGE_FIELDS if n in names))
        self.records: list[RecordTemplate] = []
        """Learnt record shapes (at most :data:`MAX_TEMPLATES`), which the snapshot reader
        tries in order on each element of an array before it parses one with :mod:`json`.

        A match is a JSON object with exactly the shape's keys in its order, each value of
        the kind the shape had (an integer of at most 18 digits, or a string without
        escapes), its ``RiskLevelDetail`` a string holding, escaped only by ``\\"``, a
        detail in a learnt :class:`_Template`'s shape. What is built from it (a tuple, see
        :class:`RecordTemplate`; JSON gives no tuples) holds what :func:`normalize` reads of
        the record, as :meth:`pairs_hook` would have made it."""
        # (keys, which hold strings) -> times seen; -1 once learnt
        self._record_shapes: dict[tuple[tuple[str, ...], tuple[bool, ...]], int] = {}

    def read(self, raw: Any) -> Detail:
        if type(raw) is str:
            for template in self._templates:
                match = template.fullmatch(raw)
                if match is not None:
                    return self._matched(match.groups(), template)
        return self._parse(raw)

    def hook(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A ``json.loads`` object hook: read each image's detail while the body is parsed.

        Every record is read, a repeated ``Uuid`` included: a second listing of an image may
        carry other counters, or be another image under the same (masked) ``Uuid``, and
        :func:`normalize` decides which (on the usual shape a read costs a few microseconds).
        """
        if DETAIL_KEY in obj:
            obj[DETAIL_KEY] = self.read(obj[DETAIL_KEY])
        return obj

    def pairs_hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        """:meth:`hook` as a ``json.loads`` ``object_pairs_hook`` that also refuses an object
        naming a key twice (:class:`~gate.source.snapshot.DuplicateKeyError`)."""
        obj = dict(pairs)
        if len(obj) != len(pairs):
            raise DuplicateKeyError(duplicate_key(pairs), object_name(obj))
        if DETAIL_KEY in obj:
            raw = obj[DETAIL_KEY]
            obj[DETAIL_KEY] = self.read(raw)
            if type(raw) is str and len(self.records) < MAX_TEMPLATES:
                self._learn_record(pairs, raw)
        return obj

    def _matched(self, groups: tuple[str, ...], template: _Template) -> Detail:
        order = template.order
        try:  # the common case: small integers, looked up
            metrics: dict[str, Number] = IntCounters(
                zip(order, map(self._small, groups), strict=False)
            )
        except KeyError:
            try:
                metrics = IntCounters(zip(order, map(int, groups), strict=False))
            except ValueError:  # a counter sent as a string (int() refuses the quote)
                return self._strings(groups, template)
        return _new_detail((metrics, template.absent, None, False, self.names))

    def _strings(self, groups: tuple[str, ...], template: _Template) -> Detail:
        """A match where some wanted counter is a string: each one as to_number() reads it."""
        metrics: dict[str, Number] = {}
        problems = dict(template.absent)
        for name, text in zip(template.order, groups, strict=True):
            value: Any = text[1:-1] if text.startswith('"') else int(text)
            number = _counter(name, value)
            if isinstance(number, str):
                problems[name] = number
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
            number = _counter(name, detail[name])
            if isinstance(number, str):
                problems[name] = number
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
                pattern.fullmatch,
                order,
                MappingProxyType(absent) if absent else _NO_PROBLEMS,
                keys,
                tuple(kinds),
            )
        )

    def _learn_record(self, pairs: list[tuple[str, Any]], raw: str) -> None:
        """Count the shape of a record parsed with :mod:`json`; compile it into a
        :class:`RecordTemplate` once it has recurred :data:`LEARN_AFTER` times.

        Only the usual shape is learnt: plain keys, the names (:data:`RECORD_FIELDS`) all
        there and strings, every other value a string or a non-negative integer of at most
        18 digits, and a ``RiskLevelDetail`` that a learnt detail template reads with every
        wanted counter an integer.
        """
        if len(pairs) > MAX_TEMPLATE_KEYS or len(self._record_shapes) > 100 * MAX_TEMPLATES:
            return
        kinds = []
        for _key, value in pairs:
            if type(value) is str:
                kinds.append(True)
            elif type(value) is int and 0 <= value < 10**18:
                kinds.append(False)
            else:
                return
        keys = tuple(key for key, _ in pairs)
        shape = (keys, tuple(kinds))
        seen = self._record_shapes.get(shape, 0)
        if seen < 0:
            return
        self._record_shapes[shape] = seen + 1
        if seen + 1 < LEARN_AFTER:
            return
        strings = {key for key, string in zip(keys, kinds, strict=True) if string}
        if not strings.issuperset(RECORD_FIELDS) or not all(map(_PLAIN_KEY.fullmatch, keys)):
            self._record_shapes[shape] = -1
            return
        detail = next((n for n, t in enumerate(self._templates) if t.fullmatch(raw)), -1)
        if detail < 0:
            return  # this record's detail is not in a learnt shape: try the next one
        self._record_shapes[shape] = -1
        template = self._templates[detail]
        if any(s for k, s in zip(template.keys, template.strings, strict=True) if k in self.names):
            return  # a wanted counter sent as a string: such details take the full read
        self.records.append(self._compile_record(keys, tuple(kinds), template))

    def _compile_record(
        self, keys: tuple[str, ...], kinds: tuple[bool, ...], template: _Template
    ) -> RecordTemplate:
        wanted = set(self.names)
        fields = self.fields
        group: dict[str, int] = {}  # captured field -> its group number
        numbers: list[int] = []  # positions (in fields) of captured integers
        first_counter = 0  # the group number of the detail's first wanted counter
        parts = []
        for key, string in zip(keys, kinds, strict=True):
            if key == DETAIL_KEY:
                first_counter = len(group) + 1
                inner = [
                    rf'\\"{k}\\":'
                    + (_ESCAPED_STRING if s else f"({_INTEGER})" if k in wanted else _INTEGER)
                    for k, s in zip(template.keys, template.strings, strict=True)
                ]
                parts.append(f'"{key}":"\\{{' + ",".join(inner) + '\\}"')
                continue
            value = _STRING if string else _INTEGER
            if key in fields:
                group[key] = len(group) + 1 + (len(template.order) if first_counter else 0)
                if key in RECORD_FIELDS:  # a name, as normalize() strips it (a string here)
                    value = f'"({_STRIPPED})"'
                else:
                    value = f'"({_STRING[1:-1]})"' if string else f"({_INTEGER})"
                if not string:
                    numbers.append(fields.index(key))
            parts.append(f'"{key}":{value}')
        pattern = re.compile(r"\{" + ",".join(parts) + r"\}")
        counters = slice(first_counter - 1, first_counter - 1 + len(template.order))
        picks = tuple(group.get(name, 0) for name in fields)  # 0: the shape lacks it
        matched = self._matched
        if all(picks) and not numbers:  # the usual shape: every field there, each a string
            # (the names always are: see _learn_record)
            values_of = operator.itemgetter(*(n - 1 for n in picks))
            order, small, absent, names = template.order, self._small, template.absent, self.names

            def build(match: re.Match[str]) -> tuple[Any, ...]:
                groups = match.groups()
                try:  # _matched(), inlined: this runs for every record of a large ranking
                    metrics = IntCounters(zip(order, map(small, groups[counters]), strict=False))
                except KeyError:  # a counter of _SMALL or more
                    metrics = IntCounters(zip(order, map(int, groups[counters]), strict=False))
                return (metrics, absent, names, *values_of(groups))

        else:

            def build(match: re.Match[str]) -> tuple[Any, ...]:
                groups = match.groups()
                values: list[Any] = [groups[n - 1] if n else None for n in picks]
                for at in numbers:
                    values[at] = int(values[at])
                detail = matched(groups[counters], template)
                return (detail.metrics, detail.problems, detail.names, *values)

        return (pattern.match, build)


def _lists(info: dict[str, Any]) -> tuple[list[tuple[str, list[Any]]], list[str]]:
    """The ranking's lists (at least one) and warnings about keys it does not know."""
    lists = []
    for list_name in LISTS:
        entries = info.get(list_name)
        if entries is None:  # absent, or null: no list
            continue
        if not isinstance(entries, list):
            raise SourceError(
                f"RiskRankInfo.{list_name} is {json_kind(entries)}, not an array",
                hint="the response is malformed; nothing was evaluated",
            )
        lists.append((list_name, entries))
    unknown = [key for key in info if key not in LISTS]
    variants = [key for key in unknown if key.strip().lower() in _FOLDED]
    if variants:
        names = ", ".join(_key(key) for key in variants[:5])
        raise SourceError(
            f"RiskRankInfo has {names}, a variant of the list name "
            f"{_FOLDED[variants[0].strip().lower()]!r}; nothing was evaluated",
            hint="list names are case-sensitive (VulAsap, Baseline); a differently written "
            "one is not what the API sends, and its images would otherwise go unevaluated",
        )
    if not lists:
        keys = [_key(key) + (" (null)" if info[key] is None else "") for key in info]
        found = (
            "it is empty"
            if not keys
            else f"it has {', '.join(keys[:5])}"
            + (f" and {len(keys) - 5} more key(s)" if len(keys) > 5 else "")
        )
        raise SourceError(
            f"RiskRankInfo holds neither a VulAsap nor a Baseline list ({found}); "
            "nothing was evaluated",
            hint="expected the GetDockerhubImageRiskRankInfo response body, whose RiskRankInfo "
            'has "VulAsap" and "Baseline" lists (names are case-sensitive)',
        )
    warnings = []
    if unknown:
        names = ", ".join(_key(key) for key in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        plural = "s" if len(unknown) > 1 else ""
        warnings.append(f"RiskRankInfo has unknown key{plural} {names}{more} (ignored)")
    return lists, warnings


_FOLDED = {name.lower(): name for name in LISTS}


def _key(key: str) -> str:
    text = one_line(repr(key))
    return text if len(text) <= 40 else text[:36] + "...'"


_set = object.__setattr__  # Image is frozen; normalize() folds listings in before it returns
_new_image = fast_constructor(Image)  # every field given: it runs for every image


def _merge(
    kept: Image,
    kept_at: str,
    record: tuple[Mapping[str, Number], Mapping[str, str], str | None],
    record_at: str,
    names: tuple[str, ...],
    detail_names: frozenset[str],
) -> tuple[bool, bool]:
    """Fold another record of the same image into ``kept``: the worse of each counter.

    A counter both records hold takes the higher value; one that either record cannot
    give is a problem saying which record and what the other said (fail closed); an
    unusable ``RiskLevelDetail`` in either makes the image's unusable. Returns (some
    counter differed, some counter was unusable in one record only).
    """
    metrics, problems, error = record
    kept_metrics = kept.metrics
    kept_problems = kept.metric_problems
    kept_error = kept.data_error
    merged_error = kept_error
    if error is not None and kept_error is not None:
        if error != kept_error:
            merged_error = f"{kept_error} in {kept_at}; {error} in {record_at}"
    elif error is not None:
        merged_error = f"{error} in {record_at} (the record in {kept_at} is readable)"
    elif kept_error is not None:
        merged_error = f"{kept_error} in {kept_at} (the record in {record_at} is readable)"
    merged: dict[str, Number] = {}
    merged_problems: dict[str, str] = {}
    differed = False
    one_sided = (error is None) != (kept_error is None)
    for name in names:
        if merged_error is not None and name in detail_names:
            continue  # the data error speaks for every counter of RiskLevelDetail
        a, b = kept_metrics.get(name), metrics.get(name)
        if a is not None and b is not None:
            if a != b:
                differed = True
            merged[name] = b if b > a else a
            continue
        a_problem = kept_problems.get(name) or kept_error or f"{name} is not available"
        b_problem = problems.get(name) or error or f"{name} is not available"
        if a is None and b is None:
            merged_problems[name] = (
                a_problem if a_problem == b_problem else f"{a_problem}; {b_problem} in {record_at}"
            )
        elif a is None:
            one_sided = True
            merged_problems[name] = f"{a_problem} in {kept_at} ({record_at} says {b})"
        else:
            one_sided = True
            merged_problems[name] = f"{b_problem} in {record_at} ({kept_at} says {a})"
    _set(kept, "metrics", merged)
    _set(kept, "metric_problems", merged_problems or _NO_PROBLEMS)
    _set(kept, "data_error", merged_error)
    return differed, one_sided


def _namespace_error(raw: Any) -> str:
    if raw is None:
        return "RepoNamespace is missing or null, so the image's namespace is unknown"
    if type(raw) is str:
        return "RepoNamespace is empty, so the image's namespace is unknown"
    return f"RepoNamespace is {json_kind(raw)}, not a string, so the image's namespace is unknown"


def _some(names: Sequence[str], shown: int = 5) -> str:
    """The first few of ``names``, and how many more (notes name what they count)."""
    text = ", ".join(one_line(name) for name in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def normalize(body: dict[str, Any], wanted: Iterable[str] | None = None) -> Ranking:
    """Images of the ranking, each once, keeping only the ``wanted`` metrics (default: all).

    ``body`` may have been parsed with a :meth:`DetailReader.hook` for the same ``wanted``
    metrics; its details are then already read.
    """
    info = body.get("RiskRankInfo")
    if not isinstance(info, dict):
        raise SourceError("the response has no RiskRankInfo object; nothing was evaluated")
    lists, warnings = _lists(info)
    names = set(CATALOGUE if wanted is None else wanted)
    reader = DetailReader(names)
    field_names = [n for n in IMAGE_FIELDS if n in names]
    all_names = (*reader.names, *field_names)
    detail_names = frozenset(reader.names)

    # Identity: the Uuid together with namespace, repository, tag and digest. The first
    # image with a Uuid is found by the Uuid alone (by_uuid); images without one, and
    # other images under a Uuid already taken, by all five (by_names).
    by_uuid: dict[str, int] = {}
    by_names: dict[tuple[str, ...], int] = {}
    found: list[Image] = []
    first_index: list[int] = []  # where each image's first record is in its first list
    doubled: set[int] = set()
    differing: set[int] = set()
    one_sided: set[int] = set()
    shared_uuids: set[str] = set()
    for list_name, entries in lists:
        listed = (list_name,)  # ranked_in of the images first found in this list
        for index, entry in enumerate(entries):
            if type(entry) is tuple:  # read by a learnt record template (reader.records):
                # its names are strings without surrounding whitespace already
                (metrics, problems, read_for, uuid, namespace, repository) = entry[:6]
                tag, digest, image_id = entry[6:9]
                raw_fields: Sequence[Any] = entry[9:]
                error, double = None, False
                if namespace:
                    namespace_error = None
                else:
                    namespace_error = _namespace_error(namespace)
                    namespace = MISSING_NAMESPACE
            elif isinstance(entry, dict):
                get = entry.get
                detail = get(DETAIL_KEY)
                if not isinstance(detail, Detail):
                    detail = reader.read(detail)
                metrics, problems, error, double, read_for = detail
                # _text(), inlined for the usual str: this runs for many records
                raw = get("Uuid")
                uuid = raw.strip() if type(raw) is str else _text(raw)
                raw = get("RepoNamespace")
                namespace = raw.strip() if type(raw) is str else ""
                if namespace:
                    namespace_error = None
                else:
                    namespace_error = _namespace_error(raw)
                    namespace = MISSING_NAMESPACE
                raw = get("RepoName")
                repository = raw.strip() if type(raw) is str else _text(raw)
                raw = get("Tag")
                tag = raw.strip() if type(raw) is str else _text(raw)
                raw = get("Digest")
                digest = raw.strip() if type(raw) is str else _text(raw)
                raw = get("ImageId")
                image_id = raw.strip() if type(raw) is str else _text(raw)
                raw_fields = [get(name) for name in field_names] if field_names else ()
            else:
                raise SourceError(
                    f"RiskRankInfo.{list_name}[{index}] is {json_kind(entry)}, not an image object",
                    hint="the response is malformed; nothing was evaluated",
                )
            seen = by_uuid.get(uuid) if uuid else None
            if seen is not None:
                other = found[seen]
                if (
                    other.namespace != namespace
                    or other.repository != repository
                    or other.tag != tag
                    or other.digest != digest
                ):
                    shared_uuids.add(uuid)
                    seen = by_names.get((uuid, namespace, repository, tag, digest))
            elif not uuid:
                seen = by_names.get((uuid, namespace, repository, tag, digest))

            if read_for != reader.names:
                raise ValueError("the body's RiskLevelDetail was read for other metrics")
            if namespace_error is not None:
                error = namespace_error if error is None else f"{namespace_error}; {error}"
            if field_names:
                metrics, problems = dict(metrics), dict(problems)
                for name, raw in zip(field_names, raw_fields, strict=True):
                    number = None if raw is None else _counter(name, raw)
                    if number is None:
                        problems[name] = f"{name} is missing from the image record"
                    elif isinstance(number, str):
                        problems[name] = number
                    else:
                        metrics[name] = number
            if namespace_error is not None:  # no counter of an image of unknown namespace
                metrics, problems = {}, _NO_PROBLEMS  # counts: its data error speaks for all

            if seen is not None:  # another listing of an image already found
                kept = found[seen]
                if list_name not in kept.ranked_in:
                    _set(kept, "ranked_in", (*kept.ranked_in, list_name))
                if double:
                    doubled.add(seen)
                if (
                    metrics != kept.metrics
                    or problems != kept.metric_problems
                    or error != kept.data_error
                ):
                    differed, unusable = _merge(
                        kept,
                        f"{kept.ranked_in[0]}[{first_index[seen]}]",
                        (metrics, problems, error),
                        f"{list_name}[{index}]",
                        all_names,
                        detail_names,
                    )
                    if differed:
                        differing.add(seen)
                    if unusable:
                        one_sided.add(seen)
                continue

            position = len(found)
            if uuid and uuid not in by_uuid:
                by_uuid[uuid] = position
            else:
                by_names[uuid, namespace, repository, tag, digest] = position
            if double:
                doubled.add(position)
            first_index.append(index)
            found.append(
                _new_image(
                    namespace,
                    repository,
                    tag,
                    digest,
                    uuid,
                    image_id,
                    listed,  # ranked_in
                    metrics,
                    problems,  # metric_problems
                    error,  # data_error
                    _NO_PROBLEMS,  # rule_metrics: none (immutable, so shared)
                    _NO_PROBLEMS,  # record_waivers: none
                    "",  # looked_up: a ranked image
                )
            )

    def named(positions: Iterable[int]) -> str:
        return _some(sorted(found[i].name for i in positions))

    if doubled:
        warnings.append(
            f"{len(doubled)} image(s) carried a doubly escaped RiskLevelDetail "
            f"(as in the API reference's example); it was decoded one extra level: "
            f"{named(doubled)}"
        )
    if differing:
        warnings.append(
            f"{len(differing)} image(s) were listed twice with different counters; "
            f"the higher value of each counter was used: {named(differing)}"
        )
    if one_sided:
        warnings.append(
            f"{len(one_sided)} image(s) were listed twice with a counter that only one "
            f"listing could give; those counters cannot be evaluated: {named(one_sided)}"
        )
    if shared_uuids:
        warnings.append(
            f"{len(shared_uuids)} Uuid(s) were shared by different images (their namespace, "
            "repository, tag or digest differ); each image was evaluated on its own: "
            f"{_some(sorted(shared_uuids))}"
        )
    return Ranking(tuple(found), tuple(warnings))
