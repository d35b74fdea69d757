"""Remember policy files that parsed and validated cleanly, so later runs skip that work.

Validating a policy takes a millisecond, but importing :mod:`jsonschema` to do it costs more
than the rest of a small run (about 65 ms, a third of ``gate check`` on a small ranking), and
importing and running the YAML parser another 10 ms. A pre-deploy hook runs the gate with
the same policy files on every deploy, so the loader records each file whose YAML and
schema are clean in a marker file named by a digest of the gate version, the schema and the
file's bytes. The marker holds the parsed document and where each value stands in the file
(JSON), so a later run with the same bytes skips the YAML parser and the schema step both.
The meaning checks and compiling every ``fail_if`` still run every time, and a file whose
bytes changed in any way is parsed and validated again. A marker that cannot be read as
such a document (an empty one, as older versions wrote, or one cut short) still skips the
schema step; the file is then parsed again and the marker rewritten.

The markers live in ``$GATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/acs-image-gate``, else
``~/.cache/acs-image-gate``; ``GATE_CACHE_DIR=`` (empty) turns the cache off. A cache that
cannot be read or written, or whose directory is not private to this user, is not used:
a marker there could stand for a policy that was never checked.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from gate import __version__

SUBDIR = "valid-policies"
FORMAT = 1
"""The stored document's layout (the marker's name already changes with the gate version)."""
MAX_STORED = 16 * 1024 * 1024
"""A marker larger than this is not read (policy files are at most a few hundred KiB)."""

Table = dict[tuple[str | int, ...], tuple[int, int]]


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
    try:  # hashlib's own BLAKE2, without hashlib loading OpenSSL (2 ms) for one digest
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - a Python built without it
        from hashlib import blake2b

    hasher = blake2b(f"gate {__version__}\0".encode(), digest_size=32)
    hasher.update(blake2b(schema, digest_size=32).digest())
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


def stored_document(path: Path | None) -> tuple[Any, Table, Table] | None:
    """The document a trusted marker holds: ``(document, value positions, key positions)``;
    None when there is no such marker or it holds no readable document."""
    if not known_valid(path):
        return None
    assert path is not None
    try:
        with open(path, "rb") as handle:
            content = handle.read(MAX_STORED + 1)
        if not content or len(content) > MAX_STORED:
            return None
        stored = json.loads(content)
        if type(stored) is not dict or stored.get("format") != FORMAT:
            return None
        return stored["document"], _table(stored["values"]), _table(stored["keys"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _table(rows: Any) -> Table:
    table: Table = {}
    for row in rows:
        path, line, column = row
        if type(path) is not list or not all(type(p) in (str, int) for p in path):
            raise ValueError(f"not a path: {path!r}")
        if type(line) is not int or type(column) is not int:
            raise ValueError(f"not a position: {line!r}, {column!r}")
        table[tuple(path)] = (line, column)
    return table


def remember_valid(path: Path | None, document: tuple[Any, Table, Table] | None = None) -> None:
    """Record that a file's bytes are clean, with its parsed ``document`` (as
    :func:`stored_document` returns it). Written whole or not at all."""
    if path is None:
        return
    content = b""
    if document is not None:
        doc, values, keys = document
        content = json.dumps(
            {
                "format": FORMAT,
                "document": doc,
                "values": [[list(p), *at] for p, at in values.items()],
                "keys": [[list(p), *at] for p, at in keys.items()],
            },
            separators=(",", ":"),
        ).encode()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError, ValueError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
