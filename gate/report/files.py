"""Atomic file output: write a temporary file beside the target, fsync, then rename.

Readers (CI systems collecting reports) see either the previous file or the complete new
one, never a truncated one, even when the run is killed while writing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from gate.errors import OutputError

_pending: set[str] = set()
"""Temporary files being written now: a signal handler removes them before the process ends."""
_pending_lock = threading.Lock()


def remove_pending() -> None:
    """Remove every temporary report file still being written, for the signal watcher that
    ends the process next. The lock is kept, so no new temporary file appears after this."""
    _pending_lock.acquire()
    for temp in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _write_stdout(chunks: Iterable[str]) -> None:
    stream = sys.stdout
    if stream is None:
        raise OutputError("cannot write a report to standard output: it is closed")
    try:
        for chunk in chunks:
            stream.write(chunk)
        stream.flush()
    except OSError as exc:
        raise OutputError(
            f"cannot write a report to standard output: {exc.strerror or exc}"
        ) from exc


def _create_temp(directory: Path, name: str) -> tuple[int, str]:
    """A new private file beside the target, registered as pending *before* it exists, so a
    signal at any moment finds every temporary file there is."""
    while True:
        temp = str(directory / f".{name}.{secrets.token_hex(6)}.tmp")
        with _pending_lock:
            _pending.add(temp)
            try:
                return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), temp
            except FileExistsError:  # pragma: no cover - 48 random bits
                _pending.discard(temp)
            except BaseException:
                _pending.discard(temp)
                raise


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; ``-`` writes to standard output."""
    write_stream(path, (text,))


def write_stream(path: str, chunks: Iterable[str]) -> None:
    """Write the concatenated ``chunks`` to ``path`` atomically, holding one chunk at a time.

    The chunks are produced while the temporary file is open, so a report of any size
    needs no more memory than its largest chunk.
    """
    if path == "-":
        _write_stdout(chunks)
        return
    target = Path(path)
    directory = target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = _create_temp(directory, target.name)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OutputError(
            f"cannot write {path}: a part of {directory} is a file, not a directory",
            hint="choose a path whose directories are directories",
        ) from exc
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check that the directory exists and is writable",
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=1 << 20) as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    finally:
        _pending.discard(temp)
