"""The console report under GitLab CI: collapsible sections that GitLab's log viewer folds."""

from __future__ import annotations

import re
import subprocess
from typing import Any

from gate.report.gitlab import MAX_IMAGES, GitlabConsoleFormat
from tests.conftest import gate_command, load_policy, make_image, run_engine

POLICY = load_policy(
    """
    version: 1
    name: p
    rules:
      - {id: urgent, fail_if: imageVulAsap > 0}
      - {id: budget, fail_if: imageVulLater > 50, enforcement: advisory}
    """
)
START = re.compile(
    r"^\x1b\[0Ksection_start:(\d+):([a-zA-Z0-9_.-]+)\[collapsed=(true|false)\]\r\x1b\[0K(.*)$"
)
END = re.compile(r"^\x1b\[0Ksection_end:(\d+):([a-zA-Z0-9_.-]+)\r\x1b\[0K$")


def sections(text: str) -> list[tuple[str, bool, str, list[str]]]:
    """(name, collapsed, header, body lines) for every section; checks they nest properly."""
    found: list[tuple[str, bool, str, list[str]]] = []
    current: tuple[str, bool, str, list[str]] | None = None
    for line in text.split("\n"):
        start, end = START.match(line), END.match(line)
        if start:
            assert current is None, "sections do not nest here"
            assert start.group(1) == "1700000000"
            current = (start.group(2), start.group(3) == "true", start.group(4), [])
        elif end:
            assert current is not None and end.group(2) == current[0]
            found.append(current)
            current = None
        elif current is not None:
            current[3].append(line)
    assert current is None, "a section was left open"
    return found


def render(images: list[Any], **options: Any) -> str:
    report = run_engine(POLICY, images)
    return GitlabConsoleFormat(timestamp=1700000000, **options).render(report)


def test_sections_fold_details_and_keep_blocking_results_open() -> None:
    text = render(
        [
            make_image("ns", "bad", metrics={"imageVulAsap": 2, "imageVulLater": 0}),
            make_image("ns", "meh", metrics={"imageVulAsap": 0, "imageVulLater": 99}),
            make_image("ns", "ok", metrics={"imageVulAsap": 0, "imageVulLater": 0}),
        ]
    )
    found = {name: (collapsed, header, body) for name, collapsed, header, body in sections(text)}
    assert list(found) == ["gate_run", "gate_blocking", "gate_advisory"]
    assert found["gate_run"][:2] == (True, "Selected 3 image(s) from snapshot test.json")
    assert found["gate_blocking"][:2] == (False, "Blocking: 1 result(s) in 1 image(s)")
    assert any("imageVulAsap = 2 > 0" in line for line in found["gate_blocking"][2])
    assert found["gate_advisory"][0] is True
    assert any("imageVulLater = 99 > 50" in line for line in found["gate_advisory"][2])
    # The verdict is never folded away: the last lines stand outside every section.
    last = text.splitlines()[-2:]
    assert last[1] == "FAIL: the gate blocks: 1 blocking result(s) in 1 image(s) (exit 1)"
    assert "✓ 1 image(s) passed every check" in text


def test_notes_section_and_quiet_mode() -> None:
    text = render([])
    [(name, collapsed, header, body)] = sections(text)[1:]
    # A warning is for reading: its section starts open.
    assert (name, collapsed) == ("gate_notes", False)
    assert header == "Notes: 1 warning(s), 0 waiver(s) needing attention"
    assert any("no ranked image matched ns" in line for line in body)
    quiet = render([], quiet=True)
    assert "section_start" not in quiet
    assert "no ranked image matched ns" in quiet  # warnings are never quiet


def test_long_sections_are_capped() -> None:
    images = [make_image("ns", f"r{i}", metrics={"imageVulAsap": 1}) for i in range(MAX_IMAGES + 5)]
    text = render(images)
    assert text.count("✗ ns/r") == MAX_IMAGES
    assert "... and 5 more image(s) not listed here; the JUnit and JSON reports" in text


def test_installed_gate_uses_sections_and_colour_under_gitlab() -> None:
    done = subprocess.run(
        [*gate_command(), "check", "--demo"],
        env={"PATH": "/usr/bin:/bin", "GITLAB_CI": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "section_start:" in done.stdout and "[collapsed=true]" in done.stdout
    assert "\x1b[31m" in done.stdout  # GitLab renders ANSI colours
    plain = subprocess.run(
        [*gate_command(), "check", "--demo"],
        env={"PATH": "/usr/bin:/bin", "GITLAB_CI": "true", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "section_start:" in plain.stdout and "\x1b[31m" not in plain.stdout


def test_sections_survive_no_color() -> None:
    """NO_COLOR turns colours off, not GitLab's collapsible sections."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_"))}
    env.update(GITLAB_CI="true", NO_COLOR="1", GATE_CACHE_DIR="")
    done = subprocess.run(
        [*gate_command(), "check", "--demo"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "section_start:" in done.stdout
    assert "\x1b[0K" in done.stdout
    assert "\x1b[31m" not in done.stdout and "\x1b[1m" not in done.stdout
