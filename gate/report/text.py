"""Text hygiene shared by the writers: strip or escape what XML, logs and terminals cannot carry."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache


def _lazy(pattern: str) -> Callable[[], re.Pattern[str]]:
    """A pattern compiled when first used: a class beyond Latin-1 (surrogates) takes a
    third of a millisecond to compile, and printable ASCII, the common case, needs none."""
    return cache(lambda: re.compile(pattern))


_ANSI = _lazy(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# Characters XML 1.0 cannot carry, plus DEL and the C1 controls it allows but discourages.
# (Listed rather than negated: the negated class takes 6 ms to compile.)
_NOT_XML = _lazy("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Control characters, and lone surrogates (undecodable bytes in argv or data), which would
# make printing fail.
_CONTROL = _lazy("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """Remove ANSI escapes and every character XML 1.0 cannot carry (lone surrogates too)."""
    if text.isascii() and text.isprintable():  # nothing to remove: the common case, in C
        return text
    return _NOT_XML().sub("", _ANSI().sub("", text))


def one_line(text: str) -> str:
    """Collapse a value to one printable line (for messages and terminal output)."""
    if text.isascii() and text.isprintable():  # no escape, control or line break: in C
        return text.strip()
    return _CONTROL().sub("", _ANSI().sub("", text)).replace("\r", " ").replace("\n", " ").strip()


def terminal_safe(text: str) -> str:
    """Keep newlines but drop escapes and control characters that could rewrite a terminal."""
    if text.isascii() and text.replace("\n", "").isprintable():  # the common case, in C
        return text
    return _CONTROL().sub("", _ANSI().sub("", text)).replace("\r", "")


# C0/C1 controls (ESC included), lone surrogates, and the Unicode line and paragraph
# separators and bidirectional controls, which can break or reorder a line as shown.
_ESCAPE = _lazy("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape(text: str) -> str:
    """Data shown as data: one line, every control character as a visible backslash escape.

    For strings from the ranking, a snapshot, a policy file or the environment that reach a
    terminal or a CI log, where a line break could start a workflow command (``::error``)
    and an escape sequence could rewrite what the log shows.
    """
    if text.isascii() and text.isprintable():  # the common case, in C
        return text
    return _ESCAPE().sub(_escaped, text)


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as ``encoding`` can carry it: what it cannot becomes a backslash escape."""
    if not encoding or text.isascii():
        return text
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: ASCII is safe everywhere
        return text.encode("ascii", "backslashreplace").decode("ascii")
    return text


def can_encode(text: str, encoding: str | None) -> bool:
    """Whether ``encoding`` (``None``: UTF-8) carries ``text`` as it is."""
    try:
        text.encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
