"""GitHub Actions: workflow-command escaping and caps, the job summary, step outputs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.model import Report
from gate.report.github import (
    ANNOTATIONS_PER_LEVEL,
    MAX_ROWS,
    AnnotationsFormat,
    MarkdownFormat,
    OutputsFormat,
    command,
    escape_data,
    escape_property,
    md,
)
from tests.conftest import TODAY, gate_command, image_entry, load_policy, make_image, run_engine

POLICY = """
version: 1
name: prod
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
  - {id: baseline, fail_if: imageBaselineHigh > 0, enforcement: soft-mandatory}
  - {id: budget, fail_if: imageVulLater > 50, enforcement: advisory}
waivers:
  - rule: urgent
    images: ["ns/waived:*"]
    reason: SEC-1 upstream fix
    expires: 2026-06-10
    owner: team-a
"""


def report(images: list[Any], **kwargs: Any) -> Report:
    return run_engine(load_policy(POLICY, file="policies/prod.yaml"), images, **kwargs)


def image(repo: str, tag: str = "v1", **metrics: int) -> Any:
    values = {"imageVulAsap": 0, "imageBaselineHigh": 0, "imageVulLater": 0, **metrics}
    return make_image("ns", repo, tag, metrics=values)


# --- escaping -------------------------------------------------------------------------------


def test_data_escaping() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_data("a:b,c") == "a:b,c"


def test_property_escaping_adds_colon_and_comma() -> None:
    assert escape_property("Image gate: a,b%\n") == "Image gate%3A a%2Cb%25%0A"


def test_percent_is_escaped_first_so_escapes_are_not_doubled_wrongly() -> None:
    assert escape_data("%0A") == "%250A"
    assert command("error", "x", title="%3A") == "::error title=%253A::x"


def test_hostile_names_cannot_inject_workflow_commands() -> None:
    hostile = image("app\n::error::pwned", "v1,file=x:1\r::set-output name=a::b", imageVulAsap=1)
    text = AnnotationsFormat().render(report([hostile]))
    lines = text.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("::error title=Image gate%3A prod/urgent (fail)::")
    # One line: GitHub reads commands only at the start of a line, so nothing is injected.
    assert "ns/app%0A::error::pwned:v1,file=x:1::set-output" in lines[0]


# --- annotations ----------------------------------------------------------------------------


def test_blocking_results_are_errors_and_advisory_ones_warnings() -> None:
    rep = report([image("a", imageVulAsap=3, imageVulLater=60), image("b", imageBaselineHigh=1)])
    lines = AnnotationsFormat().render(rep).splitlines()
    assert lines == [
        "::error title=Image gate%3A prod/urgent (fail)::ns/a:v1: imageVulAsap = 3 > 0",
        "::error title=Image gate%3A prod/baseline (fail)::ns/b:v1: imageBaselineHigh = 1 > 0",
        "::warning title=Image gate%3A prod/budget (warn)::ns/a:v1: imageVulLater = 60 > 50 "
        "(advisory)",
    ]


def test_overridden_results_are_warnings() -> None:
    rep = report([image("b", imageBaselineHigh=1)], override="hotfix INC-7")
    [line] = AnnotationsFormat().render(rep).splitlines()
    assert line.startswith("::warning title=Image gate%3A prod/baseline (overridden)::")
    assert "hotfix INC-7" in line


def test_annotations_are_capped_per_level_with_one_summary_line() -> None:
    images = [image(f"r{i:03d}", imageVulAsap=1, imageVulLater=99) for i in range(120)]
    lines = AnnotationsFormat().render(report(images)).splitlines()
    errors = [line for line in lines if line.startswith("::error")]
    warnings = [line for line in lines if line.startswith("::warning")]
    assert len(errors) == len(warnings) == ANNOTATIONS_PER_LEVEL
    assert errors[-1] == (
        f"::error title=Image gate::{120 - ANNOTATIONS_PER_LEVEL + 1} more blocking result(s) "
        "not annotated (GitHub shows 10 per step); see the job summary and the JUnit/JSON reports"
    )
    assert "more warning(s) not annotated" in warnings[-1]


def test_empty_selection_with_require_images_is_an_error_annotation() -> None:
    text = AnnotationsFormat().render(report([], require_images=True))
    error, warning = text.splitlines()
    assert (
        error == "::error title=Image gate::no ranked image matched ns and --require-images is set"
    )
    assert warning.startswith("::warning title=Image gate::no ranked image matched ns: nothing")
    # Without --require-images the run passes, and the annotation still says nothing matched.
    assert AnnotationsFormat().render(report([])) == (
        "::warning title=Image gate::no ranked image matched ns: nothing was evaluated\n"
    )


# --- the job summary ------------------------------------------------------------------------


def test_summary_of_a_failing_run() -> None:
    rep = report(
        [
            image("api", "app:v1", imageVulAsap=3, imageVulLater=60),
            image("waived", imageVulAsap=2),
            image("clean"),
        ]
    )
    text = MarkdownFormat().render(rep)
    assert text.startswith("## ❌ Image gate: FAIL (1 blocking result(s) in 1 image(s))\n")
    assert "| 3 | 9 | 6 | 1 | 0 | 1 | 1 | 0 |" in text
    assert "### Blocking results" in text
    assert (
        "| ns/api:app:v1 | prod/urgent | hard-mandatory | fail | imageVulAsap = 3 &gt; 0 |" in text
    )
    assert "### Warnings (advisory, not blocking)" in text
    assert "imageVulLater = 60 &gt; 50 (advisory)" in text
    assert "### Waived" in text
    # The waiver expires 9 days after TODAY: flagged as expiring soon.
    assert "### Waivers needing attention" in text
    assert (
        "| expiring | prod/urgent | ns/waived:\\* | expires in 9 days (2026-06-10) | 9 | team-a |"
        in text
    )
    assert f"date {TODAY.isoformat()}; exit code 1." in text
    assert "policies: prod (policies/prod.yaml)" in text


def test_summary_of_a_clean_run() -> None:
    text = MarkdownFormat().render(report([image("clean")]))
    assert text.startswith("## ✅ Image gate: PASS\n")
    assert "Every evaluated image passed every check (3)." in text
    assert "### Blocking results" not in text


def test_summary_tables_are_capped_and_say_how_many_were_left_out() -> None:
    images = [image(f"r{i:03d}", imageVulAsap=1) for i in range(MAX_ROWS + 25)]
    text = MarkdownFormat().render(report(images))
    rows = [line for line in text.splitlines() if line.startswith("| ns/r")]
    assert len(rows) == MAX_ROWS
    assert "_…and 25 more blocking result(s) not shown here; the JSON and JUnit reports" in text


def test_summary_cells_cannot_break_the_table_or_inject_markup() -> None:
    hostile = image("app|x", "<img src=x>*b*\n# h", imageVulAsap=1)
    text = MarkdownFormat().render(report([hostile]))
    [row] = [line for line in text.splitlines() if line.startswith("| ns/app")]
    # The line break is shown as an escape (``\\n``, its backslash escaped for Markdown).
    assert row.startswith("| ns/app\\|x:&lt;img src=x&gt;\\*b\\*\\\\n# h | prod/urgent |")
    assert "<img" not in text
    assert md("x" * 500).endswith("…") and len(md("x" * 500)) == 300


def test_summary_names_unranked_images_plainly(demo_body: dict[str, Any]) -> None:
    from gate.evaluate import evaluate
    from gate.imageref import parse_image_ref
    from gate.model import SourceInfo

    rep = evaluate(
        [load_policy(POLICY)],
        [],
        now=TODAY,
        source=SourceInfo(kind="snapshot", path="x.json"),
        selection=(),
        refs=[parse_image_ref("registry.cn-hangzhou.aliyuncs.com/prod/new:1")],
    )
    text = MarkdownFormat().render(rep)
    assert "images registry.cn-hangzhou.aliyuncs.com/prod/new:1" in text
    assert "| prod/new:1 | gate/unranked | advisory | warn |" in text
    assert "lists only images Security Center has ranked" in text


# --- outputs --------------------------------------------------------------------------------


def parse_outputs(text: str) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT the way the runner does (name=value and name<<DELIM)."""
    values: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def test_outputs() -> None:
    rep = report([image("a", imageVulAsap=1, imageVulLater=60), image("waived", imageVulAsap=1)])
    text = OutputsFormat(junit="out/gate junit.xml", json="-").render(rep)
    assert parse_outputs(text) == {
        "verdict": "fail",
        "exit-code": "1",
        "failed": "1",
        "warned": "1",
        "waived": "1",
        "images": "2",
        "junit": "out/gate junit.xml",
        "json": "",
    }


def test_an_output_with_a_line_break_uses_a_random_heredoc_delimiter() -> None:
    text = OutputsFormat(junit="a\nb=c").render(report([]))
    match = re.search(r"^junit<<(ghadelimiter_[0-9a-f]{32})\na\nb=c\n\1$", text, re.M)
    assert match is not None
    assert parse_outputs(text)["junit"] == "a\nb=c"


# --- through the installed command ----------------------------------------------------------


def run_gate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gate_command(), *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def github_files(tmp_path: Path) -> dict[str, str]:
    files = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_STEP_SUMMARY": tmp_path / "summary"}
    files["GITHUB_OUTPUT"].write_text("earlier=output\n")
    files["GITHUB_STEP_SUMMARY"].write_text("earlier step content\n")
    return {"GITHUB_ACTIONS": "true", **{k: str(v) for k, v in files.items()}}


def test_plain_run_step_under_github_actions(
    github_files: dict[str, str], write_json: Any, tmp_path: Path
) -> None:
    ranking = write_json(
        {
            "RiskRankInfo": {
                "VulAsap": [image_entry("ns", "app", "1", detail={"imageVulAsap": 2})],
            }
        }
    )
    junit = tmp_path / "gate-junit.xml"
    done = run_gate(
        ["check", "--snapshot", ranking, "--namespace", "ns", "--junit", str(junit)], github_files
    )
    assert done.returncode == 1, done.stderr
    assert (
        "::error title=Image gate%3A default/no-urgent-vulns (fail)::ns/app:1: imageVulAsap = 2 > 0"
        in done.stdout
    )
    summary = Path(github_files["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("earlier step content\n## ❌ Image gate: FAIL")  # appended
    outputs = parse_outputs(Path(github_files["GITHUB_OUTPUT"]).read_text())
    assert outputs["earlier"] == "output"
    assert outputs["verdict"] == "fail"
    assert outputs["exit-code"] == "1"
    assert outputs["junit"] == str(junit)


def test_a_run_that_evaluated_nothing_reports_an_error_verdict(
    github_files: dict[str, str], tmp_path: Path
) -> None:
    done = run_gate(
        ["check", "--snapshot", str(tmp_path / "missing.json"), "--all-namespaces"], github_files
    )
    assert done.returncode == 3
    assert done.stdout.startswith("::error title=Image gate::")
    outputs = parse_outputs(Path(github_files["GITHUB_OUTPUT"]).read_text())
    assert (outputs["verdict"], outputs["exit-code"]) == ("error", "3")
    assert "Image gate: ERROR (exit 3)" in Path(github_files["GITHUB_STEP_SUMMARY"]).read_text()


def test_outside_github_actions_nothing_is_written(
    github_files: dict[str, str], tmp_path: Path
) -> None:
    summary = tmp_path / "elsewhere.md"
    env = {**github_files, "GITHUB_ACTIONS": "false"}
    done = run_gate(["check", "--demo", "--summary", str(summary)], env)
    assert done.returncode == 1
    assert "::error" not in done.stdout
    assert Path(github_files["GITHUB_OUTPUT"]).read_text() == "earlier=output\n"
    assert summary.read_text().startswith("## ❌ Image gate: FAIL")
