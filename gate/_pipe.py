"""A reader that stops reading ends the output, never changes the exit code.

``gate metrics | head -1``: ``head`` exits after one line and the next write to stdout fails
with EPIPE. Left alone, click turns that into exit 1, which means "the gate blocked". For
commands whose product is text on stdout (``metrics``, ``schema``, ``validate``, ``--help``,
``--version``), :func:`discard_after_reader_leaves` sends everything after that point to
``/dev/null`` silently, so the command finishes and exits with its own code: 0 for the
informational commands, ``validate``'s own verdict for ``validate``.

Not for ``gate check``: there a closed stdout may mean a ``--json -`` report never arrived,
which the check must report itself.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Stdout(io.RawIOBase):
    """File descriptor 1 that, once its reader has gone, swallows every further write."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.reader_gone = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        if self.reader_gone:
            return size
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self.reader_gone = True
            # The descriptor itself now leads nowhere, so nothing later (another stream on fd
            # 1, the interpreter's last flush at exit) can fail on it again.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._fd)
                os.close(devnull)
            return size

    def close(self) -> None:  # the descriptor belongs to the process, not to this object
        self.flush()
        super().close()


@contextlib.contextmanager
def discard_after_reader_leaves() -> Iterator[None]:
    """Within this block, a closed stdout pipe (EPIPE) silently discards the rest of stdout.

    ``sys.stdout`` is replaced for the block by an equivalent text stream (same encoding,
    error handler and buffering) whose writes go to file descriptor 1 directly; click's
    ``echo`` (text and bytes) writes through it. Other write errors (a full disk) still raise.
    """
    original = sys.stdout
    try:
        fd = original.fileno() if original is not None else -1
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        fd = -1
    if fd < 0:  # no real stdout (closed, or replaced by a test harness): nothing to guard
        yield
        return
    with contextlib.suppress(OSError, ValueError):
        original.flush()
    raw = _Stdout(fd)
    stream = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=original.encoding,
        errors=original.errors,
        line_buffering=bool(original.line_buffering),
    )
    sys.stdout = stream
    try:
        yield
    finally:
        if sys.stdout is stream:
            sys.stdout = original
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
        with contextlib.suppress(ValueError):
            stream.detach()  # keep the buffer from closing anything when collected


def informational(func: F) -> F:
    """Run a command whose product is text on stdout under :func:`discard_after_reader_leaves`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with discard_after_reader_leaves():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
