"""The JSON report: a stable, documented shape (``"version": 1``) for tools to consume.

Shape::

    {"version": 1, "verdict": "pass"|"fail", "exit_code": n, "now": "YYYY-MM-DD",
     "source": {"kind", "path", "region", "endpoint", "request_id", "fetched_at"},
     "policies": [{"name", "file", "bundled"}], "selection": [...], "image_refs": [...],
     "summary": {"images", "checks", "pass", "fail", "warn", "waived", "overridden", "error"},
     "images": [{"namespace", "repository", "tag", "digest", "uuid", "image_id", "ranked_in",
                 "verdict", "results": [{"policy", "rule", "enforcement", "outcome",
                 "condition", "values", "message", "waiver"}]}],
     "waivers": [{"policy", "rule", "images", "expires", "status", "reason", "owner",
                  "uses", "days_left"}],
     "warnings": [...], "override": null | {"reason"}}

When nothing could be evaluated (exit 2 or 3) the file still replaces any previous one, as
``{"version": 1, "verdict": "error", "exit_code": n, "error": {"kind", "message"}}``.

``image_refs`` lists the ``--image`` references as written. An image the ranking does not
list has ``"ranked_in": []`` and one result of policy ``gate``, rule ``unranked``.
"""

from __future__ import annotations

import json
from typing import Any

from gate.errors import GateError
from gate.model import Report, Result, Waiver
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


def to_document(report: Report) -> dict[str, Any]:
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
            "endpoint": source.endpoint,
            "request_id": source.request_id,
            "fetched_at": source.fetched_at,
        },
        "policies": [
            {"name": p.name, "file": p.file, "bundled": p.bundled} for p in report.policies
        ],
        "selection": list(report.selection),
        "image_refs": list(report.refs),
        "summary": report.summary(),
        "images": [
            {
                "namespace": entry.image.namespace,
                "repository": entry.image.repository,
                "tag": entry.image.tag,
                "digest": entry.image.digest,
                "uuid": entry.image.uuid,
                "image_id": entry.image.image_id,
                "ranked_in": list(entry.image.ranked_in),
                "verdict": entry.verdict,
                "results": [_result(r) for r in entry.results],
            }
            for entry in report.images
        ],
        "waivers": [
            {
                "policy": w.waiver.policy,
                "rule": w.waiver.rule,
                "images": [s.text for s in w.waiver.selectors],
                "expires": w.waiver.expires.isoformat(),
                "status": w.status.value,
                "reason": w.waiver.reason,
                "owner": w.waiver.owner,
                "uses": w.uses,
                "days_left": w.days_left,
            }
            for w in report.waivers
        ],
        "warnings": list(report.warnings),
        "override": {"reason": report.override} if report.override else None,
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


class JsonFormat(Format):
    def render(self, report: Report) -> str:
        return json.dumps(to_document(report), indent=2) + "\n"
