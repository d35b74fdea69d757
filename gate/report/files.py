"""Report output: write through symlinks, atomically where the target is a regular file.

* A regular file (or a path that does not exist yet) is replaced atomically: the report is
  written to a temporary file in the *target's* directory, synced, then renamed over the
  target. Readers (CI systems collecting reports) see either the previous file or the
  complete new one, never a truncated one, even when the run is killed while writing.
* A symlink is followed (relative, absolute, chains, dangling): the file it points to is
  replaced, the link itself stays a link. A loop is an error.
* Anything that is not a regular file (``/dev/stdout``, ``/dev/null``, a FIFO, a terminal,
  ``/proc/self/fd/N``) is written directly, never replaced: renaming a file over
  ``/dev/stdout`` as root would replace the machine's device link. One of this process's
  own descriptors (``/dev/stdout``, ``/dev/fd/3``) is written through a duplicate, so a report
  and the console share one file offset even when the shell redirected them to a file.
* A replaced file keeps its permission bits; a new one gets ``0o666`` less the umask.

Temporary files being written are listed by :func:`pending`; a signal handler that leaves
with ``os._exit`` calls :func:`remove_pending` first, so no ``.NAME.*.tmp`` file is left
behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from gate.errors import OutputError

_MAX_LINKS = 40  # as the kernel's own limit on symlinks followed in one lookup
_pending: set[str] = set()
"""Temporary files being written now: a signal handler removes them before the process ends."""
_pending_lock = threading.Lock()


def pending() -> tuple[str, ...]:
    """The temporary files being written right now (empty between writes)."""
    return tuple(_pending)


def remove_pending() -> None:
    """Remove every temporary report file still being written, for the signal watcher that
    ends the process next. The lock is kept, so no new temporary file appears after this
    (the targets, the previous reports, are left untouched)."""
    _pending_lock.acquire()
    for temp in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _write_stdout(chunks: Iterable[str]) -> None:
    stream = sys.stdout
    if stream is None:
        raise OutputError("cannot write a report to standard output: it is closed")
    try:
        binary = getattr(stream, "buffer", None)
        if binary is None:  # a text-only stream: it encodes as it must
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            return
        # Reports are UTF-8 whatever the console's encoding (cp1252 on Windows runners).
        stream.flush()
        for chunk in chunks:
            binary.write(chunk.encode("utf-8"))
        binary.flush()
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
    """Write ``text`` (UTF-8) to ``path``; ``-`` writes to standard output.

    See the module documentation for what happens with symlinks and special files.
    """
    write_stream(path, (text,))


def _resolve(path: str) -> tuple[str, bool, int | None]:
    """Follow ``path``'s symlinks: the file to write, whether it was reached through a
    ``/proc`` or ``/dev/fd`` link (an open descriptor such as ``/dev/stdout``), and which of
    this process's own descriptors that is, if one is."""
    current = os.path.abspath(path)
    through_fd = False
    own: int | None = None
    mine = f"/proc/{os.getpid()}/fd"
    for _ in range(_MAX_LINKS):
        # Resolve the directories first, then look at the last component.
        head, name = os.path.split(current)
        head = os.path.realpath(head)
        current = os.path.join(head, name)
        if head == "/proc" or head.startswith(("/proc/", "/dev/fd")):
            through_fd = True
            if own is None and head == mine and name.isdigit():
                own = int(name)
        try:
            link = os.readlink(current)
        except (FileNotFoundError, NotADirectoryError):
            return current, through_fd, own  # does not exist (yet): a new file
        except OSError:  # not a link (EINVAL) or unreadable: the path itself
            return current, through_fd, own
        if through_fd and not link.startswith("/"):
            return current, True, own  # "pipe:[123]": only the link itself opens it
        current = os.path.join(head, link)
    raise OutputError(
        f"cannot write {path}: too many levels of symbolic links (a loop?)",
        hint="point the report path at a file, or fix the symlinks",
    )


def write_stream(path: str, chunks: Iterable[str]) -> None:
    """Write the concatenated ``chunks`` to ``path``, holding one chunk at a time.

    The chunks are produced while the output is open, so a report of any size needs no
    more memory than its largest chunk.
    """
    if path == "-":
        _write_stdout(chunks)
        return
    target, through_fd, own = _resolve(path)
    try:
        info: os.stat_result | None = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(
            f"cannot write {path}: it is a directory", hint="give a file name for the report"
        )
    if own is not None:
        _write_own(path, own, chunks)
        return
    if info is not None and (through_fd or not stat.S_ISREG(info.st_mode)):
        _write_direct(path, chunks, regular=stat.S_ISREG(info.st_mode))
        return
    _write_replace(path, Path(target), chunks, info)


def _write_direct(path: str, chunks: Iterable[str], *, regular: bool) -> None:
    """Write into a device, FIFO or open descriptor as it is (opening a FIFO waits for a
    reader). A regular file behind ``/dev/stdout`` is appended to, as the shell opened it.
    The path is opened as given, so the kernel follows its links (``pipe:[N]`` included)."""
    flags = os.O_WRONLY | (os.O_APPEND if regular else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=1 << 16) as handle:
            for chunk in chunks:
                handle.write(chunk)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_own(path: str, fd: int, chunks: Iterable[str]) -> None:
    """Write into one of this process's open descriptors (``/dev/stdout`` is fd 1) through a
    duplicate, which shares its file offset: what is written there before and after (the
    console report) lands before and after the report, even in a file the shell opened."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    try:
        handle = os.fdopen(os.dup(fd), "w", encoding="utf-8", newline="", buffering=1 << 16)
        with handle:
            for chunk in chunks:
                handle.write(chunk)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_replace(
    path: str, target: Path, chunks: Iterable[str], previous: os.stat_result | None
) -> None:
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
        where = (
            f" (the link points into {directory})" if str(target) != os.path.abspath(path) else ""
        )
        raise OutputError(
            f"cannot write {path}{where}: {exc.strerror or exc}",
            hint="the report is written to a temporary file beside its target and renamed; "
            "check that the directory exists and is writable",
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=1 << 20) as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if previous is not None:  # keep the report's permissions (and owner, if we may)
            os.chmod(temp, stat.S_IMODE(previous.st_mode) & 0o777)
            if hasattr(os, "chown") and (previous.st_uid, previous.st_gid) != (
                os.getuid(),
                os.getgid(),
            ):
                with contextlib.suppress(OSError):
                    os.chown(temp, previous.st_uid, previous.st_gid)
        else:
            os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    finally:
        _pending.discard(temp)
