"""Text hygiene: the shortcut for plain ASCII gives what the full cleaning gives, for any text.

``gate.report.text`` answers printable ASCII (nearly every name and message) without its
regular expressions, which are compiled only when a string needs them. These tests compare
each function with a reference written out in full, on arbitrary Unicode and on the escapes,
controls and separators the functions exist for.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.report import text as hygiene

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def reference_one_line(text: str) -> str:
    return CONTROL.sub("", ANSI.sub("", text)).replace("\r", " ").replace("\n", " ").strip()


def reference_terminal_safe(text: str) -> str:
    return CONTROL.sub("", ANSI.sub("", text)).replace("\r", "")


def reference_xml_safe(text: str) -> str:
    return NOT_XML.sub("", ANSI.sub("", text))


TEXTS = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(" \t\n\r\x1b[]0;mAbc\x07\\\x85\u2028\u3000é\ud800\x7f")),
    st.sampled_from(
        ["", "  plain  ", "a\nb", "a\r\nb", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07x", "tab\there"]
    ),
)


@settings(max_examples=500)
@given(text=TEXTS)
def test_each_function_gives_what_the_full_cleaning_gives(text: str) -> None:
    assert hygiene.one_line(text) == reference_one_line(text)
    assert hygiene.terminal_safe(text) == reference_terminal_safe(text)
    assert hygiene.xml_safe(text) == reference_xml_safe(text)
    escaped = hygiene.escape(text)
    assert not ESCAPE.search(escaped)
    if text.isascii() and text.isprintable():
        assert escaped == text
