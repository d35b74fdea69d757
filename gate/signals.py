"""Signals end a run at once: 130 for SIGINT, 143 for SIGTERM, never 0 or 1.

A Python-level signal handler runs only when the main thread next executes Python code. A
signal that lands just before a blocking system call (reading a pipe, sleeping) is noticed
only when that call returns, which may be never; and a ``SystemExit`` raised by a handler
inside import machinery can be swallowed. So the gate does not handle these signals in the
main thread at all: SIGINT and SIGTERM are blocked in every thread, and one small thread
waits for them with ``sigwait``. When one arrives, that thread removes the report files still
being written (see :func:`gate.report.files.remove_pending`), says ``interrupted`` for Ctrl-C,
and ends the process with ``os._exit``. A report is then either the previous run's file or a
complete new one; the exit code says the run did not finish.

This module imports nothing heavy: the console script installs the watcher before it imports
anything else of the gate.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys

EXIT_SIGNAL_BASE = 128
SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

_installed = False


def _watch() -> None:
    signum = signal.sigwait(SIGNALS)
    files = sys.modules.get("gate.report.files")
    if files is not None:
        files.remove_pending()  # takes the files' lock and keeps it: nothing new is created
    if signum == signal.SIGINT:
        with contextlib.suppress(OSError):
            os.write(2, b"interrupted\n")
    os._exit(EXIT_SIGNAL_BASE + signum)


def install() -> None:
    """Block SIGINT and SIGTERM in this and every later thread and start the watcher.

    Call it from the main thread before any other thread starts; calling it again does
    nothing. Where ``sigwait`` is missing (Windows), the default handling stays.
    """
    global _installed
    if _installed or not hasattr(signal, "sigwait"):
        return
    _installed = True
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    # _thread, not threading: Thread.start() waits until the thread runs (0.25 ms of every
    # command); the watcher needs no join, and sigwait() catches a signal sent before it waits.
    _thread.start_new_thread(_watch, ())


def main() -> None:
    """The console script: the watcher first, then the command line."""
    install()
    from gate.cli import main as cli_main

    cli_main()
