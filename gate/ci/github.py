"""GitHub Actions adapter: the files a step writes its summary and outputs to.

Active whenever ``GITHUB_ACTIONS=true``, which includes a plain ``run: gate check ...`` step,
not only this project's action. The summary is appended to ``$GITHUB_STEP_SUMMARY`` and the
outputs to ``$GITHUB_OUTPUT`` (both may be missing, e.g. on an old runner: then skipped);
the annotations are returned for the CLI to print, since GitHub reads workflow commands from
the step's log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gate.errors import OutputError
from gate.model import Report
from gate.report.github import (
    AnnotationsFormat,
    MarkdownFormat,
    OutputsFormat,
    error_annotation,
    error_outputs,
    error_summary,
)


def _append(path: str | None, text: str, what: str) -> None:
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise OutputError(f"cannot append the {what} to {path}: {exc.strerror or exc}") from exc


def publish(
    report: Report,
    *,
    junit: str | None,
    json: str | None,
    env: Mapping[str, str] = os.environ,
) -> str:
    """Write the step summary and outputs; return the annotations to print."""
    _append(env.get("GITHUB_STEP_SUMMARY"), MarkdownFormat().render(report), "job summary")
    _append(
        env.get("GITHUB_OUTPUT"), OutputsFormat(junit=junit, json=json).render(report), "outputs"
    )
    return AnnotationsFormat().render(report)


def publish_error(
    message: str,
    exit_code: int,
    *,
    junit: str | None,
    env: Mapping[str, str] = os.environ,
) -> str:
    """The same for a run that evaluated nothing (exit 2 or 3): verdict ``error``."""
    _append(env.get("GITHUB_STEP_SUMMARY"), error_summary(message, exit_code), "job summary")
    _append(env.get("GITHUB_OUTPUT"), error_outputs(exit_code, junit=junit), "outputs")
    return error_annotation(message)
