"""Remember which policy files passed JSON Schema validation, so later runs skip it.

Validating a policy takes a millisecond, but importing :mod:`jsonschema` to do it costs more
than the rest of a small run (about 65 ms, a third of ``gate check`` on a small ranking).
A pre-deploy hook runs the gate with the same policy files on every deploy, so the loader
records each file that validated cleanly as an empty marker file named by a digest of the
gate version, the schema and the file's bytes, and skips the schema step when the marker
exists. Everything else (YAML parsing and its limits, the meaning checks, compiling every
``fail_if``) still runs every time, and a file whose bytes changed in any way is validated
again.

The markers live in ``$GATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/acs-image-gate``, else
``~/.cache/acs-image-gate``; ``GATE_CACHE_DIR=`` (empty) turns the cache off. A cache that
cannot be read or written, or whose directory is not private to this user, is not used.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from gate import __version__

SUBDIR = "valid-policies"


def cache_dir() -> Path | None:
    """Where markers go, or None when caching is off or there is no home directory."""
    configured = os.environ.get("GATE_CACHE_DIR")
    if configured is not None:
        return Path(configured) / SUBDIR if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no HOME and no passwd entry
        return None
    return root / "acs-image-gate" / SUBDIR


def marker(schema: bytes, data: bytes) -> Path | None:
    """The marker for a policy file's bytes under this gate version and schema (None: off)."""
    directory = cache_dir()
    if directory is None:
        return None
    import hashlib  # 3 ms: only when the cache is on

    hasher = hashlib.sha256(f"gate {__version__}\0".encode())
    hasher.update(hashlib.sha256(schema).digest())
    hasher.update(data)
    return directory / hasher.hexdigest()


def known_valid(path: Path | None) -> bool:
    """A marker counts only in a private directory: one that others could write to could
    be seeded with markers that skip validation of a file that would fail it."""
    if path is None:
        return False
    try:
        directory = path.parent.stat()
    except OSError:
        return False
    private = directory.st_uid == os.getuid() and not directory.st_mode & 0o022
    return private and path.is_file()


def remember_valid(path: Path | None) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch()
