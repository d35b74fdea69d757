"""The console report: what a person needs at a glance, in the spirit of ``terraform plan``.

Each image with a non-pass result is listed with its results (rule, enforcement, the
condition with actual values); then warnings, waivers that need attention, and one summary
line with counts per outcome and the verdict. Colour only when asked (TTY, no ``NO_COLOR``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from gate.model import ImageReport, Outcome, Report, WaiverStatus
from gate.report import Format
from gate.report.text import one_line, terminal_safe

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
    return (
        f"{counts['images']} image(s), {counts['checks']} check(s): {counts['pass']} pass, {parts}"
    )


def verdict_line(report: Report) -> str:
    counts = report.summary()
    blocking = counts["fail"] + counts["error"]
    if report.verdict == "pass":
        return f"PASS: the gate passes (exit {report.exit_code})"
    if report.empty_selection_fails:
        return f"FAIL: no image was evaluated and --require-images is set (exit {report.exit_code})"
    images = sum(1 for i in report.images if i.verdict == "fail")
    return (
        f"FAIL: the gate blocks: {blocking} blocking result(s) in {images} image(s) "
        f"(exit {report.exit_code})"
    )


class ConsoleFormat(Format):
    def __init__(
        self, *, color: bool = False, quiet: bool = False, banner: str | None = None
    ) -> None:
        self.style: Callable[..., str] = _coloured if color else _plain
        self.quiet = quiet
        self.banner = banner

    def render(self, report: Report) -> str:
        style = self.style
        verdict_colour = "green" if report.verdict == "pass" else "red"
        tail = [summary_line(report), style(verdict_line(report), verdict_colour, True)]
        if self.quiet:
            return "\n".join(tail) + "\n"
        lines: list[str] = []
        if self.banner:
            lines += [self.banner, ""]
        lines.append(terminal_safe(self._header(report)))
        lines.append("")
        passed = unchecked = 0
        for entry in report.images:
            if not entry.results:
                unchecked += 1
            elif _all_pass(entry):
                passed += 1
            else:
                lines += self._image(entry)
        if passed:
            lines.append(style(f"✓ {passed} image(s) passed every check", "green"))
        if unchecked:
            lines.append(
                style(f"- {unchecked} image(s) matched no policy scope: not checked", "yellow")
            )
            lines.append("")
        lines += self._notes(report)
        return "\n".join(lines + tail) + "\n"

    def _notes(self, report: Report) -> list[str]:
        """Warnings, waivers needing attention and the override, each block blank-line ended."""
        style = self.style
        lines: list[str] = []
        attention = [w for w in report.waivers if w.status is not WaiverStatus.ACTIVE]
        if report.warnings:
            lines.append(style("Warnings:", "yellow", True))
            lines += [f"  ! {one_line(w)}" for w in report.warnings]
            lines.append("")
        if attention:
            lines.append("Waivers needing attention:")
            for item in attention:
                w = item.waiver
                lines.append(
                    f"  {item.status.value:<8} {w.policy}/{w.rule} on "
                    f"{', '.join(s.text for s in w.selectors)} (expires {w.expires.isoformat()}"
                    f"{', owner ' + w.owner if w.owner else ''})"
                )
            lines.append("")
        if report.override:
            lines.append(
                f"Override in effect for soft-mandatory rules: {one_line(report.override)}"
            )
            lines.append("")
        return lines

    def _header(self, report: Report) -> str:
        src = report.source
        where = {
            "demo": "the bundled demo sample",
            "snapshot": f"snapshot {src.path}",
            "api": f"Security Center API ({src.endpoint or src.region})",
        }.get(src.kind, src.kind)
        if src.fetched_at:
            where += f", fetched {src.fetched_at}"
        policies = ", ".join(
            f"{p.name} ({p.file}{', bundled' if p.bundled else ''})" for p in report.policies
        )
        selection = ", ".join(report.selection) if report.selection else "all namespaces"
        lines = [f"Selected {len(report.images)} image(s) from {where}"]
        if report.selection or not report.refs:
            lines.append(f"  namespaces: {selection}")
        if report.refs:
            lines.append(f"  images:     {one_line(', '.join(report.refs))}")
        lines.append(f"  policies:   {policies}")
        lines.append(f"  date:       {report.now.isoformat()}")
        return "\n".join(lines)

    def _image(self, entry: ImageReport) -> list[str]:
        style = self.style
        image = entry.image
        mark = style("✗", "red", True) if entry.verdict == "fail" else style("~", "yellow", True)
        details = [f"ranked in {', '.join(image.ranked_in)}" if image.ranked else "not ranked"]
        if image.digest:
            digest = image.digest.removeprefix("sha256:")
            details.append(f"digest {one_line(digest[:12])}")
        lines = [f"{mark} {style(one_line(image.name), bold=True)}  ({'; '.join(details)})"]
        for result in entry.results:
            if result.outcome is Outcome.PASS:
                continue
            label, colour = _STYLE[result.outcome]
            lines.append(
                f"    {style(f'{label:<8}', colour, True)} {result.policy}/{result.rule}"
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
