"""Signals end a run at once: 130 for SIGINT, 143 for SIGTERM, never 0 or 1.

The handler does not raise (a ``SystemExit`` raised inside import machinery or a ``finally``
can be swallowed, so a signal was lost in about one run in four). It removes the report files
still being written, says ``interrupted`` for Ctrl-C, and ends the process with
``os._exit``. A report is then either the previous run's file or a complete new one; the
exit code says the run did not finish, so no pipeline reads either as this run's verdict.

This module imports nothing heavy: the console script installs the handlers before it
imports anything else of the gate.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

EXIT_SIGNAL_BASE = 128


def _on_signal(signum: int, frame: object) -> None:
    files = sys.modules.get("gate.report.files")
    if files is not None:
        files.remove_pending()
    if signum == signal.SIGINT:
        with contextlib.suppress(OSError):
            os.write(2, b"interrupted\n")
    os._exit(EXIT_SIGNAL_BASE + signum)


def install() -> None:
    """Handle SIGINT and SIGTERM as described above (main thread only)."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
