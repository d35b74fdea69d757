"""GitHub Actions reports: the job summary (Markdown), workflow-command annotations and outputs.

Three formats behind the one :class:`~gate.report.Format` interface:

* :class:`MarkdownFormat`: the step summary (also ``--summary PATH``): verdict, counts, a
  table of blocking results with their values, advisory and overridden results, waivers that
  need attention, and the run's warnings. Tables are capped at :data:`MAX_ROWS` rows and say
  how many were left out, so a huge namespace stays readable (and far below GitHub's 1 MiB
  summary limit).
* :class:`AnnotationsFormat`: ``::error``/``::warning`` workflow commands for blocking and
  advisory results. GitHub shows at most 10 annotations of each level per step and drops
  the rest, so each level is capped at :data:`ANNOTATIONS_PER_LEVEL` lines, the last one
  saying how many were not annotated.
* :class:`OutputsFormat`: the step outputs (``verdict``, ``exit-code``, ``failed``,
  ``warned``, ``waived``, ``images``, ``junit``, ``json``) in ``$GITHUB_OUTPUT`` syntax,
  using the heredoc form for any value that contains a line break.

Everything that comes from the ranking or a policy file is escaped for where it lands: workflow
command data (``%``, CR, LF) and properties (also ``:`` and ``,``), Markdown table cells.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from gate.model import ImageReport, Outcome, Report, Result, WaiverStatus
from gate.report import Format
from gate.report.console import attention, warnings
from gate.report.text import escape, one_line, terminal_safe

MAX_ROWS = 50
MAX_NOTES = 30
MAX_CELL = 300
ANNOTATIONS_PER_LEVEL = 10
TITLE = "Image gate"


# --- escaping ------------------------------------------------------------------------------


def escape_data(text: str) -> str:
    """Escape the message part of a workflow command (as ``@actions/core`` does)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value: data escaping plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str) -> str:
    """One workflow command line, e.g. ``::error title=T::message``."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


_MD_SPECIAL = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "~": "\\~",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
    }
)


def md(text: str, limit: int = MAX_CELL) -> str:
    """Text safe inside a Markdown table cell: one line, no markup, no HTML, bounded; control
    characters shown as backslash escapes."""
    line = escape(text.strip())
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return line.translate(_MD_SPECIAL)


# --- the job summary ----------------------------------------------------------------------


def _results(report: Report, outcomes: Iterable[Outcome]) -> list[tuple[ImageReport, Result]]:
    wanted = set(outcomes)
    return [(e, r) for e in report.images for r in e.results if r.outcome in wanted]


def _table(header: list[str], rows: list[list[str]], noun: str) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines += [
            "",
            f"_…and {len(rows) - MAX_ROWS} more {noun} not shown here; the JSON and JUnit "
            "reports list every one._",
        ]
    return [*lines, ""]


def _result_rows(items: list[tuple[ImageReport, Result]]) -> list[list[str]]:
    return [
        [
            md(entry.image.name),
            md(f"{result.policy}/{result.rule}"),
            md(result.enforcement.value),
            md(result.outcome.value),
            md(result.message or result.condition),
        ]
        for entry, result in items
    ]


_RESULT_HEADER = ["Image", "Rule", "Enforcement", "Outcome", "Why (actual values)"]


def headline(report: Report) -> str:
    """Green only for a clean pass: a pass with warnings (nothing evaluated, a pattern that
    matched nothing, images no rule checked) has a warning headline."""
    counts = report.summary()
    if report.verdict == "pass":
        if report.evaluated_nothing:
            return f"⚠️ {TITLE}: PASS with warnings (nothing was evaluated)"
        if report.notes:
            return f"⚠️ {TITLE}: PASS with warnings ({len(report.notes)} warning(s))"
        return f"✅ {TITLE}: PASS"
    blocking = counts["fail"] + counts["error"]
    images = report.failing_images
    blocks = f"{blocking} blocking result(s) in {images} image(s)"
    problem = report.selection_problem
    if problem:
        why = f"{blocks}; {problem}" if blocking else problem
        return f"❌ {TITLE}: FAIL ({md(why)})"
    return f"❌ {TITLE}: FAIL ({blocks})"


def _source(report: Report) -> str:
    src = report.source
    where = {
        "demo": "the bundled demo sample",
        "snapshot": f"snapshot {md(src.path or '-')}",
        "api": f"Security Center API ({md(src.endpoint or src.region or '')})",
    }.get(src.kind, md(src.kind))
    if src.fetched_at:
        where += f", fetched {md(src.fetched_at)}"
    if src.request_id:
        where += f", request id {md(src.request_id)}"
    return where


class MarkdownFormat(Format):
    """The GitHub job summary; the same document ``--summary PATH`` writes."""

    def render(self, report: Report) -> str:
        counts = report.summary()
        lines = [f"## {headline(report)}", ""]
        keys = ["images", "checks", "pass", "fail", "error", "warn", "waived", "overridden"]
        lines += [
            "| " + " | ".join(keys) + " |",
            "|" + "|".join("---:" for _ in keys) + "|",
            "| " + " | ".join(str(counts[k]) for k in keys) + " |",
            "",
        ]
        unchecked = report.not_checked
        if unchecked:  # one more column, only when there is something to count
            lines[2] += " not checked |"
            lines[3] += "---:|"
            lines[4] += f" {len(unchecked)} |"
        policies = ", ".join(
            md(f"{p.name} ({p.file}{', bundled' if p.bundled else ''})") for p in report.policies
        )
        selection = []
        if report.selection:
            selection.append("namespaces " + md(", ".join(report.selection)))
        elif not report.refs:
            selection.append("all namespaces")
        if report.refs:
            selection.append("images " + md(", ".join(report.refs), 1000))
        lines += [
            f"Ranking from {_source(report)}; {'; '.join(selection)}; policies: {policies}; "
            f"date {report.now.isoformat()}; exit code {report.exit_code}.",
            "",
        ]
        if report.override:
            lines += [f"**Override in effect** for soft-mandatory rules: {md(report.override)}", ""]
        if report.comparison is not None:
            lines += [f"Compared with {md(report.comparison.describe())}.", ""]
        notes = warnings(report)  # less what the waiver table below says
        if notes:  # right under the headline: a pass with warnings says why
            lines += ["### ⚠️ Warnings", ""]
            lines += [f"- {md(w, 1000)}" for w in notes[:MAX_NOTES]]
            if len(notes) > MAX_NOTES:
                lines.append(f"- …and {len(notes) - MAX_NOTES} more in the JSON report")
            lines.append("")

        sections = [
            ("Blocking results", (Outcome.FAIL, Outcome.ERROR), "blocking result(s)"),
            ("Warnings (advisory, not blocking)", (Outcome.WARN,), "warning(s)"),
            ("Overridden (soft-mandatory, --override)", (Outcome.OVERRIDDEN,), "result(s)"),
            ("Waived", (Outcome.WAIVED,), "waived result(s)"),
        ]
        for title, outcomes, noun in sections:
            items = _results(report, outcomes)
            if items:
                lines += [f"### {title}", ""]
                lines += _table(_RESULT_HEADER, _result_rows(items), noun)
        lines += _explanation_section(report)
        if unchecked:
            lines += ["### Not checked (outside the scope of every policy)", ""]
            rows = [[md(e.image.name), "not-checked"] for e in unchecked]
            lines += _table(["Image", "Verdict"], rows, "image(s)")
        if (
            report.verdict == "pass"
            and not report.evaluated_nothing
            and not any(r.outcome is not Outcome.PASS for e in report.images for r in e.results)
        ):
            lines += [f"Every evaluated image passed every check ({counts['checks']}).", ""]

        needing = attention(report)
        if needing:
            order = {WaiverStatus.EXPIRING: 0, WaiverStatus.EXPIRED: 1, WaiverStatus.UNUSED: 2}
            needing.sort(key=lambda w: (order.get(w.status, 3), w.days_left))
            rows = [
                [
                    md(item.status.value),
                    md(f"{item.waiver.policy}/{item.waiver.rule}"),
                    md(", ".join(s.text for s in item.waiver.selectors)),
                    (
                        item.when
                        if item.status is not WaiverStatus.UNUSED
                        else f"expires {item.waiver.expires.isoformat()}"
                    ),
                    str(item.days_left),
                    md(item.waiver.owner or ""),
                    md(item.waiver.reason),
                ]
                for item in needing
            ]
            lines += ["### Waivers needing attention", ""]
            header = ["Status", "Rule", "Images", "Expiry", "Days left", "Owner", "Reason"]
            lines += _table(header, rows, "waiver(s)")

        return "\n".join(lines)


def _explanation_section(report: Report) -> list[str]:
    """The vulnerability records behind blocking results (``--explain``): the worst few per
    image, at most :data:`MAX_ROWS` images."""
    explained = [e for e in report.images if e.explanation is not None]
    if not explained:
        return []
    from gate.explain import text_lines

    lines = ["### Vulnerability detail", ""]
    for entry in explained[:MAX_ROWS]:
        assert entry.explanation is not None
        head, records = text_lines(entry.explanation)
        lines.append(f"- **{md(entry.image.name)}**: {md(head, 1000)}")
        lines += [f"  - {md(line, 1000)}" for line in records]
    if len(explained) > MAX_ROWS:
        lines.append(f"- …and {len(explained) - MAX_ROWS} more image(s) in the JSON report")
    lines.append("")
    return lines


def error_summary(message: str, exit_code: int) -> str:
    """The summary of a run that evaluated nothing (exit 2 or 3)."""
    return f"## ⚠️ {TITLE}: ERROR (exit {exit_code})\n\nNothing was evaluated: {md(message, 2000)}\n"


# --- annotations ---------------------------------------------------------------------------


def _annotation(level: str, entry: ImageReport, result: Result) -> str:
    title = f"{TITLE}: {result.policy}/{result.rule} ({result.outcome.value})"
    message = f"{entry.image.name}: {result.message or result.condition}"
    # Line breaks survive (escaped) in the message; control characters and ANSI escapes do not.
    return command(level, terminal_safe(message), title=one_line(title))


def _capped(level: str, lines: list[str], noun: str) -> list[str]:
    if len(lines) <= ANNOTATIONS_PER_LEVEL:
        return lines
    keep = ANNOTATIONS_PER_LEVEL - 1
    more = command(
        level,
        f"{len(lines) - keep} more {noun} not annotated (GitHub shows 10 per step); "
        "see the job summary and the JUnit/JSON reports",
        title=TITLE,
    )
    return [*lines[:keep], more]


class AnnotationsFormat(Format):
    """``::error`` for blocking results, ``::warning`` for advisory and overridden ones."""

    def render(self, report: Report) -> str:
        errors = [
            _annotation("error", e, r) for e, r in _results(report, (Outcome.FAIL, Outcome.ERROR))
        ]
        if report.empty_selection_fails and report.unmatched:
            errors.append(command("error", escape(str(report.selection_problem)), title=TITLE))
        elif report.empty_selection_fails:
            where = ", ".join(report.selection) or "any namespace"
            errors.append(
                command(
                    "error",
                    one_line(f"no ranked image matched {where} and --require-images is set"),
                    title=TITLE,
                )
            )
        # The run's warnings first (a pattern that matched nothing, images no rule checked),
        # then advisory and overridden results.
        advisory = [command("warning", escape(note), title=TITLE) for note in report.notes]
        advisory += [
            _annotation("warning", e, r)
            for e, r in _results(report, (Outcome.WARN, Outcome.OVERRIDDEN))
        ]
        lines = _capped("error", errors, "blocking result(s)")
        lines += _capped("warning", advisory, "warning(s)")
        return "".join(line + "\n" for line in lines)


def error_annotation(message: str) -> str:
    return command("error", one_line(message), title=TITLE) + "\n"


# --- step outputs --------------------------------------------------------------------------


def output(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry; the heredoc form when the value has a line break."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:  # pragma: no cover - 128 random bits
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


class OutputsFormat(Format):
    """Step outputs; ``junit``/``json`` are the report paths written (empty if none)."""

    def __init__(self, *, junit: str | None = None, json: str | None = None) -> None:
        self.junit = junit if junit and junit != "-" else ""
        self.json = json if json and json != "-" else ""

    def render(self, report: Report) -> str:
        counts = report.summary()
        values = {
            "verdict": report.verdict,
            "exit-code": str(report.exit_code),
            "failed": str(counts["fail"] + counts["error"]),
            "warned": str(counts["warn"]),
            "waived": str(counts["waived"]),
            "images": str(counts["images"]),
            "junit": self.junit,
            "json": self.json,
        }
        return "".join(output(k, v) for k, v in values.items())


def error_outputs(exit_code: int, *, junit: str | None = None, json: str | None = None) -> str:
    """Outputs of a run that evaluated nothing: verdict ``error``, the exit code, and the
    report paths written (the error JSON and JUnit reports)."""
    values = {
        "verdict": "error",
        "exit-code": str(exit_code),
        "failed": "0",
        "warned": "0",
        "waived": "0",
        "images": "0",
        "junit": junit if junit and junit != "-" else "",
        "json": json if json and json != "-" else "",
    }
    return "".join(output(k, v) for k, v in values.items())
