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
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from gate.errors import SourceError
from gate.model import Image, Number
from gate.policy.metrics import CATALOGUE, DETAIL_COUNTERS, IMAGE_FIELDS, MAX_MAGNITUDE

LISTS = ("VulAsap", "Baseline")


@dataclass(frozen=True, slots=True)
class Ranking:
    images: tuple[Image, ...]
    warnings: tuple[str, ...]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
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
    except ValueError:
        if '\\"' not in text:
            return None, "RiskLevelDetail is not valid JSON", False
        try:
            detail = json.loads(json.loads(f'"{text}"'))
        except ValueError:
            return None, "RiskLevelDetail is not valid JSON", False
        double = True
    if isinstance(detail, str):  # a JSON string holding the object: one level too many
        try:
            detail = json.loads(detail)
            double = True
        except ValueError:
            return None, "RiskLevelDetail is not valid JSON", False
    if not isinstance(detail, dict):
        return None, f"RiskLevelDetail is a JSON {type(detail).__name__}, not an object", False
    return detail, None, double


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    """Images of the ranking, each once, keeping only the ``wanted`` metrics (default: all)."""
    info = body.get("RiskRankInfo")
    if not isinstance(info, dict):
        raise SourceError("the response has no RiskRankInfo object; nothing was evaluated")
    names = set(CATALOGUE if wanted is None else wanted)
    detail_names = [n for n in DETAIL_COUNTERS if n in names]
    field_names = [n for n in IMAGE_FIELDS if n in names]

    by_identity: dict[tuple[str, ...], int] = {}
    images: list[Image] = []
    double_escaped = 0
    for list_name, index, entry in _entries(info, LISTS):
        if not isinstance(entry, dict):
            raise SourceError(
                f"RiskRankInfo.{list_name}[{index}] is a JSON {type(entry).__name__}, "
                "not an image object",
                hint="the response is malformed; nothing was evaluated",
            )
        namespace = _text(entry.get("RepoNamespace"))
        repository = _text(entry.get("RepoName"))
        tag = _text(entry.get("Tag"))
        digest = _text(entry.get("Digest"))
        uuid = _text(entry.get("Uuid"))
        identity = ("uuid", uuid) if uuid else ("ref", namespace, repository, tag, digest)
        seen = by_identity.get(identity)
        if seen is not None:
            first = images[seen]
            if list_name not in first.ranked_in:
                images[seen] = replace(first, ranked_in=(*first.ranked_in, list_name))
            continue

        metrics: dict[str, Number] = {}
        problems: dict[str, str] = {}
        detail, data_error, double = _parse_detail(entry.get("RiskLevelDetail"))
        double_escaped += double
        for name in detail_names:
            if detail is None:
                continue
            if name not in detail or detail[name] is None:
                problems[name] = f"{name} is missing from RiskLevelDetail"
                continue
            number = to_number(detail[name])
            if number is None:
                problems[name] = f"{name} is not a number: {_describe(detail[name])}"
            else:
                metrics[name] = number
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
        by_identity[identity] = len(images)
        images.append(
            Image(
                namespace=namespace,
                repository=repository,
                tag=tag,
                digest=digest,
                uuid=uuid,
                image_id=_text(entry.get("ImageId")),
                ranked_in=(list_name,),
                metrics=metrics,
                metric_problems=problems,
                data_error=data_error,
            )
        )
    warnings = []
    if double_escaped:
        warnings.append(
            f"{double_escaped} image(s) carried a doubly escaped RiskLevelDetail "
            "(as in the API reference's example); it was decoded one extra level"
        )
    return Ranking(tuple(images), tuple(warnings))
