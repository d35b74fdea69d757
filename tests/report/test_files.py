"""Atomic report files: a reader sees the old file or the whole new one, never a fragment."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gate.errors import OutputError
from gate.report.files import write_atomic


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_the_whole_text_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    write_atomic(str(target), "<x>✓</x>\n")
    assert target.read_text("utf-8") == "<x>✓</x>\n"
    assert leftovers(tmp_path) == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_replaces_an_existing_report_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("x" * 10_000)
    write_atomic(str(target), "{}\n")
    assert target.read_text() == "{}\n"
    assert leftovers(tmp_path) == []


def test_creates_missing_directories(tmp_path: Path) -> None:
    target = tmp_path / "out" / "reports" / "gate.xml"
    write_atomic(str(target), "ok")
    assert target.read_text() == "ok"


def test_failure_while_writing_keeps_the_old_report_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("previous complete report")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(str(target), "half" + "\ud800")  # cannot be encoded: fails mid-write
    assert target.read_text() == "previous complete report"
    assert leftovers(tmp_path) == []


def test_target_that_is_a_directory_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    target.mkdir()
    with pytest.raises(OutputError) as info:
        write_atomic(str(target), "data")
    assert str(target) in info.value.message
    assert info.value.exit_code == 2
    assert leftovers(tmp_path) == []


def test_parent_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError):
        write_atomic(str(tmp_path / "file" / "report.xml"), "data")


def test_dash_writes_to_standard_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_atomic("-", '{"a": 1}\n')
    assert capsys.readouterr().out == '{"a": 1}\n'
    assert list(tmp_path.iterdir()) == []
