"""``services.text.strip_controls`` is one regex pass and one ``str.translate`` (issue 9: it ran
for every field of every command as a per-character Python loop). Its results are those of the
loop it replaced, kept here as the reference."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from services import text
from services.text import _BIDI, _ESC_SEQ, clean, strip_controls


def old_strip_controls(value: str, *, multiline: bool = False) -> str:
    """The implementation before issue 9's cut, verbatim."""
    value = _ESC_SEQ.sub("", value).translate(_BIDI)
    out = []
    for ch in value:
        if ch in "\n\t":
            out.append(ch if multiline else " ")
        elif unicodedata.category(ch) == "Cc":
            continue
        else:
            out.append(ch)
    return "".join(out)


# what the rules act on, mixed with ordinary text so that sequences form and break
_PIECES = st.sampled_from(
    [
        "\x1b",
        "\x1b[",
        "\x9b",
        "\x1b]",
        "\x1bP",
        "\x1b\\",
        "\x07",
        "\x9c",
        "\x90",
        "\x1b(",
        "[",
        "]",
        "31m",
        "0;",
        "?",
        " ",
        "\n",
        "\t",
        "\r",
        "\x00",
        "\x7f",
        "\x85",
        "\u202e",
        "\u2066",
        "\u200d",
        "é",
        "Fa",
        "c",
        "B",
        "7",
        "~",
    ]
)
_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=0x30F)),
    st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=30).map("".join),
)


@settings(max_examples=600, deadline=None)
@given(_TEXT, st.booleans())
def test_strip_controls_gives_what_the_loop_gave(value, multiline):
    assert strip_controls(value, multiline=multiline) == old_strip_controls(value, multiline=multiline)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.booleans())
def test_clean_is_unchanged(value, multiline):
    expected = old_strip_controls(value, multiline=multiline)
    if not multiline:
        import re

        expected = re.sub(r" {2,}", " ", expected)
    assert clean(value, multiline=multiline) == expected.strip()


def test_every_code_point_is_treated_as_before():
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for multiline in (False, True):
        assert strip_controls(everything, multiline=multiline) == old_strip_controls(everything, multiline=multiline)


def test_the_control_set_is_unicodes_cc():
    cc = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cc"]
    assert text._CONTROLS == cc
