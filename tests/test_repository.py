"""The repository stands alone: a plain clone runs the whole suite.

Reference files the tests need are kept in tests/data (with their origin and licence); nothing
in the repository reads a folder beside the clone.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT, TEST_DATA

# Built from parts so that this file does not match its own search.
SIBLING = "shared"
FORBIDDEN = (
    "../" + SIBLING,
    "/work/" + SIBLING,
    f'"{SIBLING}" / "reference"',
    f"{SIBLING}/reference",
)
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def repository_files() -> list[Path]:
    """The files a clone has: git's list when this is a git checkout, else a walk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        return [REPO_ROOT / os.fsdecode(name) for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for directory, dirs, files in os.walk(REPO_ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            found.extend(Path(directory) / name for name in files)
        return found


def test_nothing_reads_a_folder_beside_the_clone() -> None:
    offenders = []
    for path in repository_files():
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for needle in FORBIDDEN:
            if needle in text:
                offenders.append(f"{path.relative_to(REPO_ROOT)}: {needle}")
    assert offenders == []


def test_signature_vectors_are_in_the_repository() -> None:
    document = json.loads((TEST_DATA / "v3-signature-vectors.json").read_text(encoding="utf-8"))
    assert "alibabacloud_tea_openapi 0.4.6" in document["description"]
    assert set(document["vectors"]) == {
        "sdk_exact_static_ak",
        "sdk_exact_sts",
        "minimal_required_headers_ak",
        "minimal_required_headers_sts",
    }


def test_junit_schema_keeps_its_licence() -> None:
    text = (TEST_DATA / "junit-10.xsd").read_text(encoding="utf-8")
    head = text[: text.index("<xs:schema")]
    assert "The MIT License (MIT)" in head
    assert "Copyright (c) 2014, Gregory Boissinot" in head
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in head


def test_reference_files_say_where_they_come_from() -> None:
    notice = (TEST_DATA / "README.md").read_text(encoding="utf-8")
    for name in ("v3-signature-vectors.json", "junit-10.xsd"):
        assert f"`{name}`" in notice
    assert "alibabacloud-tea-openapi" in notice
    assert "jenkinsci/xunit-plugin" in notice
