"""Atomic report files: a reader sees the old file or the whole new one, never a fragment."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.errors import OutputError
from gate.report import files
from gate.report.files import write_atomic, write_stream


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_the_whole_text_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    write_atomic(str(target), "<x>✓</x>\n")
    assert target.read_text("utf-8") == "<x>✓</x>\n"
    assert leftovers(tmp_path) == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


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


# --- symlinks and files that are not regular files -----------------------------------------


def test_relative_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    real = tmp_path / "out" / "report.json"
    real.write_text('{"verdict": "fail"}')
    link = tmp_path / "report.json"
    link.symlink_to("out/report.json")
    write_atomic(str(link), '{"verdict": "pass"}')
    assert link.is_symlink() and os.readlink(link) == "out/report.json"
    assert real.read_text() == '{"verdict": "pass"}'
    assert leftovers(tmp_path) == leftovers(tmp_path / "out") == []


def test_absolute_symlink_chain_is_followed_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    real = tmp_path / "b" / "gate.xml"
    real.write_text("old")
    (tmp_path / "a" / "hop").symlink_to(real)
    link = tmp_path / "gate.xml"
    link.symlink_to(tmp_path / "a" / "hop")
    write_atomic(str(link), "new")
    assert real.read_text() == "new"
    assert link.is_symlink() and (tmp_path / "a" / "hop").is_symlink()


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "report.md"
    link.symlink_to("reports/summary.md")
    write_atomic(str(link), "# ok\n")
    assert link.is_symlink()
    assert (tmp_path / "reports" / "summary.md").read_text() == "# ok\n"


def test_symlink_loop_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OutputError) as info:
        write_atomic(str(tmp_path / "a"), "x")
    assert "symbolic links" in info.value.message
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def test_replaced_report_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o600)
    write_atomic(str(target), "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_character_device_is_written_not_replaced(tmp_path: Path) -> None:
    link = tmp_path / "null"
    link.symlink_to(os.devnull)
    write_atomic(str(link), "discarded")
    assert link.is_symlink()
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert leftovers(tmp_path) == []


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A FIFO with a reader already attached (non-blocking, so nothing waits)."""
    path = tmp_path / "report.fifo"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    yield path, reader
    os.close(reader)


def drain(reader: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(reader, 65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def test_fifo_with_a_reader_receives_the_report(fifo: tuple[Path, int]) -> None:
    path, reader = fifo
    write_stream(str(path), ["<a>", "✓", "</a>\n"])
    assert drain(reader) == "<a>✓</a>\n".encode()
    assert stat.S_ISFIFO(path.lstat().st_mode)  # still the FIFO, not a file renamed over it


def test_symlink_to_a_pipe_like_dev_stdout_writes_into_the_pipe(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    link = tmp_path / "stdout"
    link.symlink_to(f"/proc/self/fd/{write_end}")  # what /dev/stdout is on Linux
    try:
        write_atomic(str(link), '{"verdict": "pass"}\n')
        os.close(write_end)
        assert os.read(read_end, 1000) == b'{"verdict": "pass"}\n'
    finally:
        os.close(read_end)
    assert link.is_symlink()
    assert leftovers(tmp_path) == []


# --- temporary files in progress ---------------------------------------------------------------


def test_pending_lists_the_temporary_file_while_it_is_written(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    seen: list[tuple[str, ...]] = []

    def chunks() -> Iterator[str]:
        yield "half"
        seen.append(files.pending())
        yield "rest"

    write_stream(str(target), chunks())
    [(temp,)] = seen
    assert Path(temp).parent == tmp_path and temp.endswith(".tmp")
    assert files.pending() == ()
    assert target.read_text() == "halfrest"


def test_remove_pending_before_exit_leaves_the_previous_report_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    """What the signal handler does: remove the half-written files, then ``os._exit``."""
    target = tmp_path / "report.json"
    target.write_text("previous")
    script = (
        "import os, sys\n"
        "from gate.report import files\n"
        "def chunks():\n"
        "    yield 'half'\n"
        "    files.remove_pending()\n"
        "    os._exit(143)\n"
        "files.write_atomic(sys.argv[1], 'x')\n"
        "files.write_stream(sys.argv[1], chunks())\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(target)], check=False)
    assert done.returncode == 143
    assert leftovers(tmp_path) == []
    assert target.read_text() == "x"


def test_pending_is_empty_between_writes(tmp_path: Path) -> None:
    write_atomic(str(tmp_path / "a.json"), "{}")
    assert files.pending() == ()


def test_concurrent_pending_calls_do_not_fail(tmp_path: Path) -> None:
    threads = [
        threading.Thread(target=write_atomic, args=(str(tmp_path / f"r{i}.json"), "{}"))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for _ in range(100):
        files.pending()
    for thread in threads:
        thread.join()
    assert files.pending() == ()
