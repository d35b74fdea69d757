"""The GitLab Code Quality report (``--codequality PATH``, ``artifacts:reports:codequality``).

A JSON array of issues, in the subset of the Code Climate format GitLab reads::

    [{"description": "...", "check_name": "POLICY/RULE", "fingerprint": "<sha256 hex>",
      "severity": "info"|"minor"|"major"|"critical"|"blocker",
      "location": {"path": "policies/prod.yaml", "lines": {"begin": 12}}}]

GitLab's merge request widget compares the fingerprints of the source and target branch's
reports and lists new and resolved findings (in every tier). So the fingerprint is made of
what identifies a finding over time, the policy, the rule and ``namespace/repository``,
never the tag, digest or values: a new release of the same repository with the same problem
is the same finding, and one that fixes it resolves it. Every image of a repository that a
rule flags is one issue (fingerprints must be unique in a report), its description naming
the tags. The location is the policy file and the line of the rule.

Results that pass or are waived are not issues; ``warn`` is ``minor``, ``overridden`` is
``major``, ``fail`` and ``error`` are ``critical`` (soft-mandatory) or ``blocker``
(hard-mandatory). Results of no policy file (``--image`` references the ranking does not
list) have no place in a repository's files; the JUnit and JSON reports list them.

When nothing could be evaluated (exit 2 or 3) the file holds one ``blocker`` issue saying so
(at the policy problem's file and line when there is one), never an empty list, which the
widget would show as every finding resolved.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from gate.errors import GateError, PolicyError
from gate.model import Enforcement, Outcome, Report, Result
from gate.report import Format
from gate.report.text import one_line

MAX_DESCRIPTION = 1000
MAX_TAGS = 10
_RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3, "blocker": 4}


def fingerprint(*parts: str) -> str:
    """A stable fingerprint of the parts (separated so that no two splits collide)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def severity(result: Result) -> str:
    if result.outcome is Outcome.WARN:
        return "minor"
    if result.outcome is Outcome.OVERRIDDEN:
        return "major"
    return "blocker" if result.enforcement is Enforcement.HARD_MANDATORY else "critical"


def repository_path(file: str, root: str | None = None) -> str:
    """A policy file as a path relative to the repository (GitLab wants no leading ``./``)."""
    path = file
    if root is not None and os.path.isabs(path):
        relative = os.path.relpath(path, root)
        if not relative.startswith(".."):
            path = relative
    path = path.replace(os.sep, "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _bounded(text: str) -> str:
    line = one_line(text)
    return line if len(line) <= MAX_DESCRIPTION else line[: MAX_DESCRIPTION - 1] + "…"


def issues(report: Report, *, root: str | None = None) -> list[dict[str, Any]]:
    """The Code Quality issues of ``report``, one per policy, rule and repository."""
    lines = {(p.name, r.id): r.line for p in report.policies for r in p.rules}
    found: dict[tuple[str, str, str], list[tuple[str, Result]]] = {}
    for entry in report.images:
        for result in entry.results:
            if result.outcome in (Outcome.PASS, Outcome.WAIVED) or not result.file:
                continue
            image = entry.image
            key = (result.policy, result.rule, f"{image.namespace}/{image.repository}")
            found.setdefault(key, []).append((image.tag or image.digest, result))
    out = []
    for (policy, rule, repository), items in found.items():
        worst = max(items, key=lambda item: _RANK[severity(item[1])])[1]
        tags = sorted(dict.fromkeys(tag for tag, _ in items))
        shown = ", ".join(tags[:MAX_TAGS]) + (
            f" and {len(tags) - MAX_TAGS} more" if len(tags) > MAX_TAGS else ""
        )
        outcome = worst.outcome.value
        description = (
            f"{repository} ({shown}): {policy}/{rule} {outcome} "
            f"[{worst.enforcement.value}]: {worst.message or worst.condition}"
        )
        out.append(
            {
                "description": _bounded(description),
                "check_name": f"{policy}/{rule}",
                "fingerprint": fingerprint(policy, rule, repository),
                "severity": severity(worst),
                "location": {
                    "path": repository_path(worst.file, root),
                    "lines": {"begin": lines.get((policy, rule)) or 1},
                },
            }
        )
    return out


def _document(items: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(items), indent=2, ensure_ascii=False) + "\n"


class CodeQualityFormat(Format):
    def __init__(self, *, root: str | None = None) -> None:
        self.root = root

    def render(self, report: Report) -> str:
        return _document(issues(report, root=self.root))


def error_issues(error: GateError, *, root: str | None = None) -> str:
    """The report of a run that evaluated nothing: one blocker per problem, never ``[]``."""
    items = []
    problems = error.problems if isinstance(error, PolicyError) else []
    for problem in problems:
        items.append(
            {
                "description": _bounded(f"invalid policy: {problem.message}"),
                "check_name": "gate/policy-error",
                "fingerprint": fingerprint("gate/policy-error", problem.file, problem.message),
                "severity": "blocker",
                "location": {
                    "path": repository_path(problem.file, root),
                    "lines": {"begin": problem.line or 1},
                },
            }
        )
    if not items:
        items.append(
            {
                "description": _bounded(
                    f"the image gate could not evaluate (exit {error.exit_code}): {error.render()}"
                ),
                "check_name": "gate/error",
                "fingerprint": fingerprint("gate/error"),
                "severity": "blocker",
                "location": {"path": ".gitlab-ci.yml", "lines": {"begin": 1}},
            }
        )
    return _document(items)
