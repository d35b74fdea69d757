"""Text hygiene shared by the writers: strip what XML, logs and terminals cannot carry."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# Characters XML 1.0 cannot carry, plus DEL and the C1 controls it allows but discourages.
# (Listed rather than negated: the negated class takes 6 ms to compile at every start.)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Control characters, and lone surrogates (undecodable bytes in argv or data), which would
# make printing fail.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """Remove ANSI escapes and every character XML 1.0 cannot carry (lone surrogates too)."""
    if text.isascii() and text.isprintable():  # nothing to remove: the common case, in C
        return text
    return _NOT_XML.sub("", _ANSI.sub("", text))


def one_line(text: str) -> str:
    """Collapse a value to one printable line (for messages and terminal output)."""
    return _CONTROL.sub("", _ANSI.sub("", text)).replace("\r", " ").replace("\n", " ").strip()


def terminal_safe(text: str) -> str:
    """Keep newlines but drop escapes and control characters that could rewrite a terminal."""
    return _CONTROL.sub("", _ANSI.sub("", text)).replace("\r", "")
