"""The report files a run writes, behind one small interface.

Each file format is one :class:`FileOutput` (how to write a report, and what to leave when
nothing could be evaluated) and one line in :data:`FILE_OUTPUTS`. :class:`ReportFiles` writes
the requested ones in that order: the JUnit writer may compact its report, and what it says
about that goes into every report written after it.

A run that ends with exit 2 or 3 replaces every requested file with an error document, so no
later pipeline step reads a previous run's verdict.
"""

from __future__ import annotations

import abc
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from gate.errors import GateError, OutputError, PolicyError, SourceError
from gate.model import Report


@dataclass(frozen=True)
class OutputSettings:
    """Limits and options that shape the report files."""

    junit_max_bytes: int = 20_000_000
    junit_max_cases: int = 200_000
    junit_max_elements: int = 200_000


class FileOutput(abc.ABC):
    """One report file format."""

    option: str
    """The command-line option that asks for it (for messages)."""

    def __init__(self, path: str, settings: OutputSettings) -> None:
        self.path = path
        self.settings = settings

    @abc.abstractmethod
    def write(self, report: Report) -> Report:
        """Write ``report``; return it, with warnings added if the file says something more."""

    @abc.abstractmethod
    def write_error(self, error: GateError) -> None:
        """Replace the file with a document saying nothing could be evaluated."""


class JunitOutput(FileOutput):
    option = "--junit"

    def write(self, report: Report) -> Report:
        from gate.report.files import write_stream
        from gate.report.junit import JunitFormat

        settings = self.settings
        plan = JunitFormat(
            max_bytes=settings.junit_max_bytes,
            max_cases=settings.junit_max_cases,
            max_elements=settings.junit_max_elements,
        ).plan(report)
        write_stream(self.path, plan.chunks())
        return report.with_warnings(plan.notes) if plan.notes else report

    def write_error(self, error: GateError) -> None:
        if self.path == "-":
            return
        from gate.report.files import write_atomic
        from gate.report.junit import error_report

        title = "gate/data-source" if isinstance(error, SourceError) else "gate/configuration"
        kinds = ((SourceError, "source"), (PolicyError, "policy"), (OutputError, "output"))
        kind = next(
            (f"gate.{k}-error" for cls, k in kinds if isinstance(error, cls)), "gate.usage-error"
        )
        write_atomic(self.path, error_report(error.render(), title=title, kind=kind))


class JsonOutput(FileOutput):
    option = "--json"

    def write(self, report: Report) -> Report:
        from gate.report.files import write_stream
        from gate.report.json_report import JsonFormat

        write_stream(self.path, JsonFormat().chunks(report))
        return report

    def write_error(self, error: GateError) -> None:
        from gate.report.files import write_atomic
        from gate.report.json_report import error_document

        write_atomic(self.path, error_document(error))


class SummaryOutput(FileOutput):
    option = "--summary"

    def write(self, report: Report) -> Report:
        if not is_step_summary(self.path):
            from gate.report.files import write_atomic
            from gate.report.github import MarkdownFormat

            write_atomic(self.path, MarkdownFormat().render(report))
        return report

    def write_error(self, error: GateError) -> None:
        if is_step_summary(self.path):
            return  # the GitHub adapter appends the error summary there
        from gate.report.files import write_atomic
        from gate.report.github import error_summary

        write_atomic(self.path, error_summary(error.render(), error.exit_code))


FILE_OUTPUTS: dict[str, type[FileOutput]] = {
    "junit": JunitOutput,
    "json": JsonOutput,
    "summary": SummaryOutput,
}
"""Every report file format, in the order they are written."""


def is_step_summary(path: str) -> bool:
    """Under GitHub Actions the job summary is appended anyway: writing it again would
    replace what earlier steps wrote there."""
    step = os.environ.get("GITHUB_STEP_SUMMARY")
    return (
        os.environ.get("GITHUB_ACTIONS") == "true"
        and bool(step)
        and os.path.realpath(path) == os.path.realpath(str(step))
    )


class ReportFiles:
    """The report files one run was asked for, by format name (see :data:`FILE_OUTPUTS`)."""

    def __init__(self, paths: Mapping[str, str | None], settings: OutputSettings) -> None:
        self.outputs = [
            FILE_OUTPUTS[name](path, settings) for name in FILE_OUTPUTS if (path := paths.get(name))
        ]
        self.written: set[str] = set()

    def write(self, report: Report) -> Report:
        """Write every file; on failure, replace all of them with the error document."""
        try:
            for output in self.outputs:
                report = output.write(report)
                self.written.add(output.option)
        except GateError as error:
            self.write_errors(error)
            raise
        return report

    def write_errors(self, error: GateError) -> None:
        """Every requested file says the run evaluated nothing usable, never a stale verdict."""
        for output in self.outputs:
            # The original error is the one worth reporting, whatever happens to this file.
            with contextlib.suppress(GateError):
                output.write_error(error)
                self.written.add(output.option)

    def path(self, name: str) -> str | None:
        return next(
            (o.path for o in self.outputs if o.option == f"--{name}"),
            None,
        )
