"""The JSON report: a stable, documented shape (``"version": 1``) for tools to consume.

Shape::

    {"version": 1, "verdict": "pass"|"fail", "exit_code": n, "now": "YYYY-MM-DD",
     "source": {"kind", "path", "region", "region_origin", "endpoint", "request_id",
                "fetched_at"},
     "policies": [{"name", "file", "bundled"}], "selection": [...], "image_refs": [...],
     "unmatched": [...],
     "summary": {"images", "checks", "pass", "fail", "warn", "waived", "overridden", "error",
                 "not_checked"},
     "images": [{"namespace", "repository", "tag", "digest", "uuid", "image_id", "ranked_in",
                 "verdict", "results": [{"policy", "rule", "enforcement", "outcome",
                 "condition", "values", "message", "waiver"}]}],
     "waivers": [{"policy", "rule", "images", "expires", "status", "reason", "owner",
                  "uses", "days_left"}],
     "warnings": [...], "override": null | {"reason"},
     "comparison": null | {"kind": "file"|"tag", "source", "taken_at", "without_baseline"}}

An image's ``verdict`` is ``pass``, ``fail``, or ``not-checked`` when no rule applied to it
(outside every policy's scope; its ``results`` are empty): never to be counted as cleared.
``summary.not_checked`` counts those images. ``unmatched`` lists the ``--namespace``
patterns that matched no ranked image; ``warnings`` says so too, with every other warning.

When nothing could be evaluated (exit 2 or 3) the file still replaces any previous one, as
``{"version": 1, "verdict": "error", "exit_code": n, "error": {"kind", "message"}}``.

``image_refs`` lists the ``--image`` references as written. An image the ranking does not
list has ``"ranked_in": []`` and one result of policy ``gate``, rule ``unranked``.

Layout: indented by two spaces, except that each result is written on one line, so a
report reads (and greps) one result per line, and a whole account's report (100,000 images,
a million results) is 270 MB rather than 390 MB. :class:`JsonFormat` streams the document
image by image, writing the images itself and each result with ``json.dumps``; a passing
result is written once and reused for every image that shares it (see :mod:`gate.evaluate`).
The tests hold the output to :func:`to_document` written in that layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii as _string
from typing import Any

from gate.errors import GateError
from gate.model import ImageReport, Report, Result, Waiver
from gate.report import Format

SCHEMA_VERSION = 1


def _waiver(waiver: Waiver | None) -> dict[str, Any] | None:
    if waiver is None:
        return None
    return {
        "reason": waiver.reason,
        "expires": waiver.expires.isoformat(),
        "owner": waiver.owner,
        "images": [s.text for s in waiver.selectors],
    }


def _result(result: Result) -> dict[str, Any]:
    return {
        "policy": result.policy,
        "rule": result.rule,
        "enforcement": result.enforcement.value,
        "outcome": result.outcome.value,
        "condition": result.condition,
        "values": dict(result.values),
        "message": result.message,
        "waiver": _waiver(result.waiver),
    }


def _explanation(entry: ImageReport) -> dict[str, Any]:
    """``{"looked_up": ...}`` for an image found with ``--lookup-unranked`` and
    ``{"explanation": ...}`` for an image ``--explain`` explained; else nothing."""
    extra: dict[str, Any] = {}
    if entry.image.looked_up:
        extra["looked_up"] = entry.image.looked_up
    if entry.explanation is not None:
        from gate.explain import to_json

        extra["explanation"] = to_json(entry.explanation)
    return extra


def _image(entry: ImageReport) -> dict[str, Any]:
    return {
        "namespace": entry.image.namespace,
        "repository": entry.image.repository,
        "tag": entry.image.tag,
        "digest": entry.image.digest,
        "uuid": entry.image.uuid,
        "image_id": entry.image.image_id,
        "ranked_in": list(entry.image.ranked_in),
        "verdict": entry.verdict,
        "results": [_result(r) for r in entry.results],
        **_explanation(entry),
    }


def to_document(report: Report) -> dict[str, Any]:
    return _document(report, [_image(entry) for entry in report.images])


def _document(report: Report, images: Any) -> dict[str, Any]:
    source = report.source
    return {
        "version": SCHEMA_VERSION,
        "verdict": report.verdict,
        "exit_code": report.exit_code,
        "now": report.now.isoformat(),
        "source": {
            "kind": source.kind,
            "path": source.path,
            "region": source.region,
            "region_origin": source.region_origin,
            "endpoint": source.endpoint,
            "request_id": source.request_id,
            "fetched_at": source.fetched_at,
        },
        "policies": [
            {"name": p.name, "file": p.file, "bundled": p.bundled} for p in report.policies
        ],
        "selection": list(report.selection),
        "image_refs": list(report.refs),
        "unmatched": list(report.unmatched),
        "summary": {**report.summary(), "not_checked": len(report.not_checked)},
        "images": images,
        "waivers": [
            {
                "policy": w.waiver.policy,
                "rule": w.waiver.rule,
                "images": [s.text for s in w.waiver.selectors],
                **({"cves": list(w.waiver.cves)} if w.waiver.cves else {}),
                "expires": w.waiver.expires.isoformat(),
                "status": w.status.value,
                "reason": w.waiver.reason,
                "owner": w.waiver.owner,
                "uses": w.uses,
                "days_left": w.days_left,
            }
            for w in report.waivers
        ],
        "warnings": list(report.notes),
        "override": {"reason": report.override} if report.override else None,
        "comparison": _comparison(report),
    }


def _comparison(report: Report) -> dict[str, Any] | None:
    """What the images were compared with (``--baseline``/``--compare-to``), or null."""
    found = report.comparison
    if found is None:
        return None
    return {
        "kind": found.kind,
        "source": found.source,
        "taken_at": found.taken_at,
        "without_baseline": list(found.missing),
    }


def error_document(error: GateError) -> str:
    """The JSON written when nothing could be evaluated (exit 2 or 3): verdict ``error``."""
    document = {
        "version": SCHEMA_VERSION,
        "verdict": "error",
        "exit_code": error.exit_code,
        "error": {"kind": type(error).__name__, "message": error.render()},
    }
    return json.dumps(document, indent=2) + "\n"


# Stands in for the image list in the document's skeleton; cannot occur in real data at the
# top level, where it is looked for.
_IMAGES = "\x00images\x00"
_BATCH = 500  # images per chunk written
_CACHE = 50_000  # rendered results kept for reuse (most are shared)


def _result_text(result: Result) -> str:
    """One result on its own line, at the depth of ``images[i].results[j]`` (8 spaces)."""
    return "        " + json.dumps(_result(result))


_RANKED_IN: dict[tuple[str, ...], str] = {}


_NL = "\n"


def _image_text(entry: ImageReport, results: str) -> str:
    """One image at the depth of ``images[i]`` (4 spaces), with its rendered ``results``
    (joined, without brackets: one copy fewer of the largest part)."""
    image = entry.image
    ranked_in = _RANKED_IN.get(image.ranked_in)
    if ranked_in is None:
        ranked_in = (
            "[\n" + ",\n".join(f"        {_string(name)}" for name in image.ranked_in) + "\n      ]"
            if image.ranked_in
            else "[]"
        )
        if len(_RANKED_IN) < 64:  # a handful of list combinations in any real ranking
            _RANKED_IN[image.ranked_in] = ranked_in
    return (
        "    {\n"
        f'      "namespace": {_string(image.namespace)},\n'
        f'      "repository": {_string(image.repository)},\n'
        f'      "tag": {_string(image.tag)},\n'
        f'      "digest": {_string(image.digest)},\n'
        f'      "uuid": {_string(image.uuid)},\n'
        f'      "image_id": {_string(image.image_id)},\n'
        f'      "ranked_in": {ranked_in},\n'
        f'      "verdict": {_string(entry.verdict)},\n'
        f'      "results": {"[" + _NL if results else "[]"}{results}'
        f"{_NL + '      ]' if results else ''}"
        + "".join(
            f',\n      "{key}": ' + json.dumps(value, indent=2).replace("\n", "\n      ")
            for key, value in _explanation(entry).items()
        )
        + "\n    }"
    )


class JsonFormat(Format):
    def render(self, report: Report) -> str:
        return "".join(self.chunks(report))

    def chunks(self, report: Report) -> Iterator[str]:
        skeleton = json.dumps(_document(report, _IMAGES), indent=2)
        head, found, tail = skeleton.partition(f'\n  "images": {json.dumps(_IMAGES)}')
        if not found:  # pragma: no cover - the skeleton always has it
            raise AssertionError("the JSON skeleton lost its image list")
        if not report.images:
            yield f'{head}\n  "images": []{tail}\n'
            return
        yield f'{head}\n  "images": [\n'
        # id of a result -> its text. The engine shares results between images (passes, and
        # failures of rules no waiver names), and the report holds them: ids stay valid.
        cache: dict[int, str] = {}
        cached = cache.get
        batch: list[str] = []
        for number, entry in enumerate(report.images):
            texts = list(map(cached, map(id, entry.results)))  # in C: usually all found
            if None in texts:
                for index, result in enumerate(entry.results):
                    if texts[index] is None:
                        texts[index] = text = _result_text(result)
                        if len(cache) < _CACHE:
                            cache[id(result)] = text
            batch.append(_image_text(entry, ",\n".join(texts)))  # type: ignore[arg-type]
            if len(batch) == _BATCH and number + 1 < len(report.images):
                yield ",\n".join(batch) + ",\n"
                batch = []
        yield ",\n".join(batch) + f"\n  ]{tail}\n"
