"""The console report shaped for GitLab's job log viewer (used when ``GITLAB_CI=true``).

The same content as :class:`~gate.report.console.ConsoleFormat`, in collapsible sections::

    ESC[0Ksection_start:TIMESTAMP:NAME[collapsed=true]\\rESC[0KHeader
    ...
    ESC[0Ksection_end:TIMESTAMP:NAME\\rESC[0K

Run details, advisory results (warn, waived, overridden) and waivers needing attention start
collapsed; blocking results and the run's warnings (a pattern that matched nothing, images
no rule checked) start expanded, and the summary and verdict lines stay outside every
section, so the end of the log always says what happened. GitLab truncates a job log at
4 MB by default, so each section lists at most :data:`MAX_IMAGES` images and says how many
more the JUnit and JSON reports hold.
"""

from __future__ import annotations

import re

from gate.model import ImageReport, Outcome, Report
from gate.report.console import (
    ConsoleFormat,
    attention,
    summary_line,
    verdict_colour,
    verdict_line,
    warnings,
)

MAX_IMAGES = 200
_NAME = re.compile(r"[^a-zA-Z0-9_.-]")


def section_start(name: str, header: str, timestamp: int, *, collapsed: bool) -> str:
    flag = "true" if collapsed else "false"
    return (
        f"\x1b[0Ksection_start:{timestamp}:{_NAME.sub('_', name)}[collapsed={flag}]"
        f"\r\x1b[0K{header}"
    )


def section_end(name: str, timestamp: int) -> str:
    return f"\x1b[0Ksection_end:{timestamp}:{_NAME.sub('_', name)}\r\x1b[0K"


class GitlabConsoleFormat(ConsoleFormat):
    """Console report with GitLab collapsible sections; ``timestamp`` is Unix seconds."""

    def __init__(
        self,
        *,
        timestamp: int,
        color: bool = False,
        quiet: bool = False,
        banner: str | None = None,
        encoding: str | None = None,
    ) -> None:
        super().__init__(color=color, quiet=quiet, banner=banner, encoding=encoding)
        self.timestamp = timestamp

    def _section(self, name: str, header: str, body: list[str], *, collapsed: bool) -> list[str]:
        while body and not body[-1]:
            body = body[:-1]
        return [
            section_start(f"gate_{name}", header, self.timestamp, collapsed=collapsed),
            *body,
            section_end(f"gate_{name}", self.timestamp),
        ]

    def _images(self, entries: list[ImageReport]) -> list[str]:
        lines: list[str] = []
        for entry in entries[:MAX_IMAGES]:
            lines += self._image(entry)
        if len(entries) > MAX_IMAGES:
            lines.append(
                f"... and {len(entries) - MAX_IMAGES} more image(s) not listed here; "
                "the JUnit and JSON reports list every one"
            )
        return lines

    def render(self, report: Report) -> str:
        if self.quiet:
            return super().render(report)
        style = self.style
        lines: list[str] = []
        if self.banner:
            lines += [self.banner, ""]
        header, *details = self._header(report).split("\n")
        lines += self._section("run", header, details, collapsed=True)

        blocking = [e for e in report.images if e.verdict == "fail"]
        advisory = [
            e
            for e in report.images
            if e.verdict != "fail" and any(r.outcome is not Outcome.PASS for r in e.results)
        ]
        passed = sum(
            1
            for e in report.images
            if e.results and all(r.outcome is Outcome.PASS for r in e.results)
        )
        if blocking:
            count = sum(1 for e in blocking for r in e.results if r.outcome.blocking)
            title = style(
                f"Blocking: {count} result(s) in {len(blocking)} image(s)", "red", bold=True
            )
            lines += self._section("blocking", title, self._images(blocking), collapsed=False)
        if advisory:
            title = style(
                f"Not blocking: warnings, waivers or overrides in {len(advisory)} image(s)",
                "yellow",
            )
            lines += self._section("advisory", title, self._images(advisory), collapsed=True)
        if passed:
            lines.append(
                style(f"{self.marks['pass']} {passed} image(s) passed every check", "green")
            )
        unchecked = [e.image.name for e in report.not_checked]
        if unchecked:
            lines.append(
                style(
                    # The engine's warning names them.
                    f"- {len(unchecked)} image(s) matched no policy scope: not checked",
                    "yellow",
                )
            )
        notes = self._notes(report)
        if notes:
            count = len(warnings(report))
            title = (
                f"Notes: {count} warning(s), {len(attention(report))} waiver(s) needing attention"
            )
            # Warnings are for reading: open. Only waiver bookkeeping starts folded.
            lines += self._section("notes", style(title, "yellow"), notes, collapsed=not count)
        lines += [summary_line(report), style(verdict_line(report), verdict_colour(report), True)]
        return self.fit("\n".join(lines) + "\n")
