"""One version everywhere: gate.__version__, the CHANGELOG, and every pin the docs show.

A release is tagged vX.Y.Z (git, GitHub), X.Y.Z (the GitLab CI/CD catalog, which takes bare
semantic versions) and the moving major tag vX (docs/releasing.md). Every pin in the README,
action.yml, templates/image-gate.yml and docs/releasing.md must name this version.
"""

from __future__ import annotations

import re

import pytest

from gate import __version__
from tests.conftest import REPO_ROOT

VERSION = __version__
MAJOR_TAG = "v" + VERSION.split(".")[0]
DOCS = ("README.md", "action.yml", "templates/image-gate.yml", "docs/releasing.md")

# (what, pattern whose group 1 is the pinned version, the values it may take)
PINS = [
    ("GitHub Action", r"acs-image-gate@(v[0-9][\w.]*)", {MAJOR_TAG, "v" + VERSION}),
    ("GitLab component", r"/image-gate@([0-9][\w.]*)", {VERSION}),
    ("include: project ref", r"^\s*ref: (v?[0-9][\w.]*)\s*$", {"v" + VERSION}),
    ("raw template URL", r"acs-image-gate/-/raw/([^/\s]+)/", {"v" + VERSION}),
    ("pip pin", r"acs-image-gate==([0-9][\w.]*)", {VERSION}),
    ("git URL", r"acs-image-gate\.git@([^\s`'\"]+)", {"v" + VERSION}),
]


def read(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


def test_version_is_semantic() -> None:
    assert re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", VERSION)


@pytest.mark.parametrize(("what", "pattern", "allowed"), PINS, ids=[p[0] for p in PINS])
def test_every_pin_names_this_version(what: str, pattern: str, allowed: set[str]) -> None:
    found = [
        (name, match.group(1))
        for name in DOCS
        for match in re.finditer(pattern, read(name), re.MULTILINE)
    ]
    assert found, f"no {what} pin found: the README should show one"
    wrong = [(name, pin) for name, pin in found if pin not in allowed]
    assert wrong == [], f"{what} pins must be one of {sorted(allowed)}"


def test_readme_pins_the_moving_major_tag_of_this_version() -> None:
    assert f"acs-image-gate@{MAJOR_TAG}" in read("README.md")


def test_action_and_component_headers_show_this_version() -> None:
    assert f"acs-image-gate@{MAJOR_TAG}" in read("action.yml").split("\nname:", 1)[0]
    assert f"image-gate@{VERSION}" in read("templates/image-gate.yml").split("\nspec:", 1)[0]


def test_changelog_has_a_section_for_this_version() -> None:
    changelog = read("CHANGELOG.md")
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(VERSION)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)
    assert f"[{VERSION}]: " in changelog
    assert f"compare/v{VERSION}...HEAD" in changelog
