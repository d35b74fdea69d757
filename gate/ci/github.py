"""GitHub Actions adapter: the files a step writes its summary and outputs to.

Active whenever ``GITHUB_ACTIONS=true``, which includes a plain ``run: gate check ...`` step,
not only this project's action. The summary is appended to ``$GITHUB_STEP_SUMMARY`` and the
outputs to ``$GITHUB_OUTPUT`` (both may be missing, e.g. on an old runner: then skipped);
the annotations are returned for the CLI to print, since GitHub reads workflow commands from
the step's log.

A report path that is not valid UTF-8 (undecodable bytes in argv, kept as surrogates) cannot
be named in ``$GITHUB_OUTPUT``, which the runner reads as UTF-8: its output is left empty and
a ``::warning`` says so. Nothing written to these files can fail on encoding.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from gate.errors import OutputError
from gate.model import Report
from gate.report.github import (
    TITLE,
    AnnotationsFormat,
    MarkdownFormat,
    OutputsFormat,
    command,
    error_annotation,
    error_outputs,
    error_summary,
)
from gate.report.text import can_encode, encodable, escape


def _append(path: str | None, text: str, what: str) -> None:
    if not path:
        return
    try:
        # backslashreplace: a last guard; every value is made UTF-8-safe before it gets here.
        with open(path, "a", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise OutputError(f"cannot append the {what} to {path}: {exc.strerror or exc}") from exc


def _output_paths(
    paths: dict[str, str | None],
) -> tuple[dict[str, str | None], str]:
    """The report paths step outputs can name, and warnings for those they cannot."""
    usable: dict[str, str | None] = {}
    notes = ""
    for name, path in paths.items():
        if path and not can_encode(path, "utf-8"):
            usable[name] = None
            notes += command(
                "warning",
                f"the {name} report was written to {escape(path)}, a path that is not valid "
                f"UTF-8, so the '{name}' step output is left empty; use a UTF-8 path",
                title=TITLE,
            )
            notes += "\n"
        else:
            usable[name] = path
    return usable, notes


def _stdout_safe(text: str) -> str:
    """Annotations as standard output's encoding can carry them (cp1252 on Windows)."""
    return encodable(text, getattr(sys.stdout, "encoding", None))


def publish(
    report: Report,
    *,
    junit: str | None,
    json: str | None,
    env: Mapping[str, str] = os.environ,
) -> str:
    """Write the step summary and outputs; return the annotations to print."""
    paths, notes = _output_paths({"junit": junit, "json": json})
    _append(env.get("GITHUB_STEP_SUMMARY"), MarkdownFormat().render(report), "job summary")
    _append(
        env.get("GITHUB_OUTPUT"),
        OutputsFormat(junit=paths["junit"], json=paths["json"]).render(report),
        "outputs",
    )
    return _stdout_safe(AnnotationsFormat().render(report) + notes)


def publish_error(
    message: str,
    exit_code: int,
    *,
    junit: str | None,
    json: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> str:
    """The same for a run that evaluated nothing (exit 2 or 3): verdict ``error``.

    ``junit`` and ``json`` are the error reports actually written (``None``: none), which
    the ``junit`` and ``json`` outputs name.
    """
    paths, notes = _output_paths({"junit": junit, "json": json})
    _append(env.get("GITHUB_STEP_SUMMARY"), error_summary(message, exit_code), "job summary")
    _append(
        env.get("GITHUB_OUTPUT"),
        error_outputs(exit_code, junit=paths["junit"], json=paths["json"]),
        "outputs",
    )
    return _stdout_safe(error_annotation(message) + notes)
