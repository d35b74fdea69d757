"""The console report: what a person needs at a glance, in the spirit of ``terraform plan``.

Each image with a non-pass result is listed with its results (rule, enforcement, the
condition with actual values); then warnings, waivers that need attention, and one summary
line with counts per outcome and the verdict. Colour only when asked (TTY, no ``NO_COLOR``).

Warnings are shown even with ``quiet``. Every string from data (the ranking, a snapshot, a
policy file) is shown escaped, on its own line's terms: it can never start a line (a GitHub
workflow command) or carry a terminal escape. The text is made to fit the stream's
encoding: ASCII markers where ``✓``/``✗`` cannot be encoded (cp1252, latin-1), and
backslash escapes for any other character that cannot.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable

from gate.model import ImageReport, Outcome, Report, WaiverReport, WaiverStatus
from gate.report import Format
from gate.report.text import can_encode, encodable, escape, one_line

MARKS = {"pass": "✓", "fail": "✗", "advisory": "~"}
ASCII_MARKS = {"pass": "+", "fail": "x", "advisory": "~"}

_STYLE: dict[Outcome, tuple[str, str]] = {
    Outcome.FAIL: ("FAIL", "red"),
    Outcome.ERROR: ("ERROR", "red"),
    Outcome.WARN: ("WARN", "yellow"),
    Outcome.WAIVED: ("WAIVED", "cyan"),
    Outcome.OVERRIDDEN: ("OVERRIDE", "magenta"),
    Outcome.PASS: ("pass", "green"),
}


_OUTCOME = operator.attrgetter("outcome")


def _all_pass(entry: ImageReport) -> bool:
    """Counted in C: a large run asks this of 100,000 images."""
    return list(map(_OUTCOME, entry.results)).count(Outcome.PASS) == len(entry.results)


def _plain(text: str, fg: str | None = None, bold: bool = False) -> str:
    return text


def _coloured(text: str, fg: str | None = None, bold: bool = False) -> str:
    import click

    return click.style(text, fg=fg, bold=bold)


def summary_line(report: Report) -> str:
    counts = report.summary()
    parts = ", ".join(f"{counts[o.value]} {o.value}" for o in _STYLE if o is not Outcome.PASS)
    unchecked = len(report.not_checked)
    images = f"{counts['images']} image(s)" + (f" ({unchecked} not checked)" if unchecked else "")
    return f"{images}, {counts['checks']} check(s): {counts['pass']} pass, {parts}"


def verdict_line(report: Report) -> str:
    counts = report.summary()
    blocking = counts["fail"] + counts["error"]
    if report.verdict == "pass":
        if report.evaluated_nothing:
            return f"PASS with warnings: nothing was evaluated (exit {report.exit_code})"
        if report.notes:
            return f"PASS with warnings: the gate passes (exit {report.exit_code})"
        return f"PASS: the gate passes (exit {report.exit_code})"
    images = report.failing_images
    blocks = f"the gate blocks: {blocking} blocking result(s) in {images} image(s)"
    problem = report.selection_problem
    if problem and blocking:
        return f"FAIL: {blocks}, and {escape(problem)} (exit {report.exit_code})"
    if problem:
        return f"FAIL: {escape(problem)} (exit {report.exit_code})"
    return f"FAIL: {blocks} (exit {report.exit_code})"


def verdict_colour(report: Report) -> str:
    if report.verdict != "pass":
        return "red"
    return "yellow" if report.notes else "green"


def attention(report: Report) -> list[WaiverReport]:
    """Waivers needing attention: expired, expiring and unused ones."""
    return [w for w in report.waivers if w.status is not WaiverStatus.ACTIVE]


def warnings(report: Report) -> list[str]:
    """The run's warnings less those a waiver-needing-attention line already says."""
    said = {w.note for w in attention(report)}
    return [note for note in report.notes if note not in said]


class ConsoleFormat(Format):
    def __init__(
        self,
        *,
        color: bool = False,
        quiet: bool = False,
        banner: str | None = None,
        encoding: str | None = None,
    ) -> None:
        """``encoding``: the stream's, which the text must fit (default: standard
        output's)."""
        self.style: Callable[..., str] = _coloured if color else _plain
        self.quiet = quiet
        self.banner = banner
        if encoding is None:
            encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        self.encoding = encoding
        self.marks = MARKS if can_encode("".join(MARKS.values()), encoding) else ASCII_MARKS

    def fit(self, text: str) -> str:
        """``text`` as the stream's encoding can carry it (backslash escapes otherwise)."""
        return encodable(text, self.encoding)

    def render(self, report: Report) -> str:
        style = self.style
        tail = [summary_line(report), style(verdict_line(report), verdict_colour(report), True)]
        if self.quiet:  # warnings are never quiet
            return self.fit("\n".join(self._warnings(report) + tail) + "\n")
        lines: list[str] = []
        if self.banner:
            lines += [self.banner, ""]
        lines.append(self._header(report))
        lines.append("")
        passed = 0
        for entry in report.images:
            if not entry.results:
                continue
            if _all_pass(entry):
                passed += 1
            else:
                lines += self._image(entry)
        if passed:
            lines.append(
                style(f"{self.marks['pass']} {passed} image(s) passed every check", "green")
            )
        unchecked = [entry.image.name for entry in report.not_checked]
        if unchecked:
            lines.append(
                style(
                    # The engine's warning names them.
                    f"- {len(unchecked)} image(s) matched no policy scope: not checked",
                    "yellow",
                )
            )
            lines.append("")
        lines += self._notes(report)
        return self.fit("\n".join(lines + tail) + "\n")

    def _warnings(self, report: Report) -> list[str]:
        lines: list[str] = []
        notes = warnings(report)
        if notes:
            lines.append(self.style("Warnings:", "yellow", True))
            lines += [f"  ! {escape(w)}" for w in notes]
            lines.append("")
        return lines

    def _notes(self, report: Report) -> list[str]:
        """Warnings, waivers needing attention and the override, each block blank-line ended."""
        lines = self._warnings(report)
        items = attention(report)
        if items:
            lines.append("Waivers needing attention:")
            for item in items:
                w = item.waiver
                when = item.when if item.status is not WaiverStatus.UNUSED else ""
                when = when or f"expires {w.expires.isoformat()}"
                what = {WaiverStatus.EXPIRED: ", no longer applies"}.get(item.status, "")
                lines.append(
                    f"  {item.status.value:<8} {escape(w.policy)}/{escape(w.rule)} on "
                    f"{escape(', '.join(s.text for s in w.selectors))} ({when}{what}"
                    f"{', owner ' + escape(w.owner) if w.owner else ''})"
                )
            lines.append("")
        if report.override:
            lines.append(f"Override in effect for soft-mandatory rules: {escape(report.override)}")
            lines.append("")
        return lines

    def _header(self, report: Report) -> str:
        """The run's details, one line each; every value from data escaped."""
        src = report.source
        where = {
            "demo": "the bundled demo sample",
            "snapshot": f"snapshot {escape(src.path or '-')}",
            "api": f"Security Center API ({escape(src.endpoint or src.region or '')})",
        }.get(src.kind, escape(src.kind))
        if src.fetched_at:
            where += f", fetched {escape(src.fetched_at)}"
        if src.request_id:
            where += f", request id {escape(src.request_id)}"
        policies = ", ".join(
            escape(f"{p.name} ({p.file}{', bundled' if p.bundled else ''})")
            for p in report.policies
        )
        selection = escape(", ".join(report.selection)) if report.selection else "all namespaces"
        lines = [f"Selected {len(report.images)} image(s) from {where}"]
        if report.selection or not report.refs:
            lines.append(f"  namespaces: {selection}")
        if report.refs:
            lines.append(f"  images:     {escape(', '.join(report.refs))}")
        lines.append(f"  policies:   {policies}")
        if report.comparison is not None:
            lines.append(f"  compared:   with {report.comparison.describe()}")
        lines.append(f"  date:       {report.now.isoformat()}")
        return "\n".join(lines)

    def _image(self, entry: ImageReport) -> list[str]:
        style = self.style
        image = entry.image
        if entry.verdict == "fail":
            mark = style(self.marks["fail"], "red", True)
        else:
            mark = style(self.marks["advisory"], "yellow", True)
        ranked = escape(", ".join(image.ranked_in))
        details = [f"ranked in {ranked}" if image.ranked else "not ranked"]
        if image.looked_up:
            details[0] += ", found in Security Center's image list"
        if image.digest:
            digest = image.digest.removeprefix("sha256:")
            details.append(f"digest {one_line(digest[:12])}")
        lines = [f"{mark} {style(one_line(image.name), bold=True)}  ({'; '.join(details)})"]
        for result in entry.results:
            if result.outcome is Outcome.PASS:
                continue
            label, colour = _STYLE[result.outcome]
            lines.append(
                f"    {style(f'{label:<8}', colour, True)} {escape(result.policy)}/"
                f"{escape(result.rule)}"
                f"  [{result.enforcement.value}]"
            )
            lines.append(f"             {one_line(result.message)}")
            if result.outcome is Outcome.FAIL and result.enforcement.value == "soft-mandatory":
                lines.append(
                    '             soft-mandatory: --override "REASON" lets this pass, recorded'
                )
        lines += _explanation_lines(entry)
        lines.append("")
        return lines


def _explanation_lines(entry: ImageReport) -> list[str]:
    """The vulnerability records behind the blocking results (``--explain``), if any."""
    if entry.explanation is None:
        return []
    from gate.explain import text_lines

    head, records = text_lines(entry.explanation)
    return [f"    {one_line(head)}", *(f"      - {one_line(line)}" for line in records)]
