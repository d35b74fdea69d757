"""What each path imports, seen in a real ``gate`` process (``python -X importtime``).

Start-up time is most of a small run, so the offline path must not import the live client's
libraries (httpx, alibabacloud-credentials and the aiohttp it pulls in), ``gate --help`` must
not import what only ``check`` needs, and a policy file that validated before must not import
jsonschema again (``gate.policy.cache``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gate.policy import cache
from tests.conftest import DEMO_RESPONSE, REPO_ROOT

LIVE_ONLY = ("httpx", "httpcore", "alibabacloud_credentials", "aiohttp", "gate.source.api")


def gate(args: list[str], env: dict[str, str], *python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python, "-m", "gate", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def imported(args: list[str], env: dict[str, str], expect: int) -> set[str]:
    """Every module the command imported (top-level and dotted names)."""
    done = gate(args, env, "-X", "importtime")
    assert done.returncode == expect, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "gate.cli" in names  # the listing worked
    return names


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "GATE_CACHE_DIR": str(tmp_path / "cache")}


SNAPSHOT_CHECK = ["check", "--snapshot", str(DEMO_RESPONSE), "--all-namespaces", "--quiet"]


def test_snapshot_path_never_imports_the_live_client(env: dict[str, str]) -> None:
    names = imported(SNAPSHOT_CHECK, env, expect=1)
    assert not names & set(LIVE_ONLY)


def test_help_imports_neither_policies_nor_reports(env: dict[str, str]) -> None:
    names = imported(["--help"], env, expect=0)
    heavy = {"yaml", "jsonschema", "gate.model", "gate.policy.loader", "junit_xml", "shutil"}
    heavy |= {"gate.errors", "hashlib"}  # imported where an error or a run needs them
    assert not names & (heavy | set(LIVE_ONLY))


def test_a_policy_validated_once_is_not_validated_with_jsonschema_again(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = imported(SNAPSHOT_CHECK, env, expect=1)
    assert "jsonschema" in first
    assert list((tmp_path / "cache" / cache.SUBDIR).iterdir())  # a marker was written
    again = imported(SNAPSHOT_CHECK, env, expect=1)
    assert "jsonschema" not in again


def test_a_policy_parsed_once_is_not_parsed_with_yaml_again(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = imported(SNAPSHOT_CHECK, env, expect=1)
    assert "yaml" in first
    again = imported(SNAPSHOT_CHECK, env, expect=1)
    assert not {"yaml", "jsonschema", "hashlib"} & again


def test_a_stored_policy_reports_its_problems_where_the_file_has_them(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A rule whose meaning is wrong passes the schema (so the file is stored) and is then
    found by the meaning checks on every run, at the same line and column."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nname: p\nrules:\n  - id: r\n    fail_if: imageVulAsap > 9\n"
        "  - id: r\n    fail_if: noSuchCounter > 1\n"
    )
    args = ["validate", str(policy)]
    outputs = []
    for _ in range(3):
        done = gate(args, env)
        assert done.returncode == 2
        outputs.append(done.stdout + done.stderr)
    assert outputs[0] == outputs[1] == outputs[2]
    assert f"{policy}:6:" in outputs[0] and "noSuchCounter" in outputs[0]
    assert "yaml" not in imported(args, env, expect=2)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"format": 1}',
        b'{"format": 1, "document": {}, "values": [[1, 2, 3]], "keys": []}',
        b'{"format": 99, "document": {}, "values": [], "keys": []}',
        b"[]",
        b"\xff\xfe",
        b'{"format": 1, "document": {}, "values": [[["a"], "1", 2]], "keys": []}',
    ],
)
def test_a_marker_without_a_readable_document_makes_the_file_parse_again(
    content: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gate.policy import loader

    monkeypatch.setenv("GATE_CACHE_DIR", str(tmp_path / "cache"))
    data = b"version: 1\nname: p\nrules:\n  - {id: r, fail_if: imageVulAsap > 9}\n"
    marker = cache.marker(loader.schema_bytes(), data)
    assert marker is not None
    cache.remember_valid(marker)
    marker.write_bytes(content)
    assert cache.stored_document(marker) is None
    policy = loader.parse_policy("p.yaml", data)  # parsed again, and stored again
    assert policy.rules[0].id == "r"
    stored = cache.stored_document(marker)
    assert stored is not None and stored[0]["name"] == "p"
    assert loader.parse_policy("p.yaml", data) == policy


def test_the_stored_document_is_what_the_file_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gate.policy import loader

    monkeypatch.setenv("GATE_CACHE_DIR", str(tmp_path / "cache"))
    text = (loader.bundled_policy_dir() / "strict-production.yaml").read_bytes()

    def shape(policy: Any) -> Any:  # matchers are functions: compare what they were made of
        return (
            policy.name,
            [(r.id, r.condition.source, r.enforcement, r.line) for r in policy.rules],
            [(w.rule, w.reason, w.expires, [s.text for s in w.selectors]) for w in policy.waivers],
            [s.text for s in policy.scope.exclude],
        )

    fresh = loader.parse_policy("f.yaml", text)
    stored = cache.stored_document(cache.marker(loader.schema_bytes(), text))
    assert stored is not None
    doc, converted = loader.parse_yaml("f.yaml", text)
    assert stored == (doc, converted.positions.values, converted.positions.keys)
    assert shape(loader.parse_policy("f.yaml", text)) == shape(fresh)


def test_cache_off_validates_every_time(env: dict[str, str], tmp_path: Path) -> None:
    env["GATE_CACHE_DIR"] = ""
    for _ in range(2):
        assert "jsonschema" in imported(SNAPSHOT_CHECK, env, expect=1)
    assert not (tmp_path / "cache").exists()


def test_an_edited_policy_is_validated_again(env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nname: p\nrules:\n  - {id: r, fail_if: imageVulAsap > 9}\n")
    args = [*SNAPSHOT_CHECK, "--policy", str(policy)]
    imported(args, env, expect=0)
    assert "jsonschema" not in imported(args, env, expect=0)
    # The same meaning, other bytes: validated again, and a schema problem is still found.
    policy.write_text("version: 1\nname: p\nrules:\n  - {id: r, fail_if: imageVulAsap > 9, x: 1}\n")
    done = gate(args, env)
    assert done.returncode == 2
    assert "unknown key 'x'" in done.stderr


def test_cache_location_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GATE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "acs-image-gate" / cache.SUBDIR
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "acs-image-gate" / cache.SUBDIR
    monkeypatch.setenv("GATE_CACHE_DIR", str(tmp_path / "own"))
    assert cache.cache_dir() == tmp_path / "own" / cache.SUBDIR
    monkeypatch.setenv("GATE_CACHE_DIR", " ")
    assert cache.cache_dir() is None


def test_an_unusable_cache_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GATE_CACHE_DIR", str(blocker))
    marker = cache.marker(b"schema", b"policy")
    cache.remember_valid(marker)  # cannot create it: no error
    assert not cache.known_valid(marker)


def test_the_marker_depends_on_schema_and_bytes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATE_CACHE_DIR", str(tmp_path))
    base = cache.marker(b"schema", b"policy")
    assert base == cache.marker(b"schema", b"policy")
    assert base != cache.marker(b"schema2", b"policy")
    assert base != cache.marker(b"schema", b"policy ")


def test_markers_in_a_directory_others_can_write_are_not_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATE_CACHE_DIR", str(tmp_path / "cache"))
    marker = cache.marker(b"schema", b"policy")
    assert marker is not None
    cache.remember_valid(marker)
    assert cache.known_valid(marker)
    assert marker.parent.stat().st_mode & 0o777 == 0o700
    marker.parent.chmod(0o777)  # anyone could plant a marker that skips validation
    assert not cache.known_valid(marker)
