"""Hygiene for untrusted text: control characters out, whitespace tidy, stable normal forms."""

from __future__ import annotations

import re
import unicodedata

# Legal-form words that do not tell two companies apart ("Contoso Ltd" == "contoso").
_LEGAL_FORMS = {
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "ltd",
    "limited",
    "llc",
    "llp",
    "lp",
    "plc",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "ab",
    "as",
    "aps",
    "kk",
    "pty",
    "pte",
    "the",
}
# Terminal escape sequences (ECMA-48 as xterm reads them), each removed whole and nothing more:
# CSI (ESC [ or 8-bit CSI: parameters, intermediates, one final byte), OSC / DCS / SOS / PM / APC
# strings up to their terminator (BEL or ST), nF sequences (ESC, intermediates, final: ESC ( B),
# and the two-character sequences a terminal acts on (ESC 7, ESC c, ESC D, ESC M...). An ESC that
# starts none of these (``Fa\x1bBrik``) is dropped alone: the character after it stays.
_ESC_SEQ = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]+[0-~]"  # nF: character set designation and the like
    r"|\x1b[6-9=>cDEFHMNOZ\\lmno|}~]"  # two-character sequences terminals act on
)
# Bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069): they reorder how
# text is shown ("Trojan source") and are never needed in a name or an address. The joiners
# (ZWJ U+200D, ZWNJ U+200C) that some scripts need are kept.
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


# Unicode control characters (category Cc: U+0000-001F, U+007F-009F) out, with the bidi
# controls, in one ``str.translate``; newline and tab are kept in multi-line fields and become a
# space in single-line ones.
# (Unicode's stability policy fixes the Cc set; tests/test_text_controls.py checks it against unicodedata)
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
_DROP_MULTILINE = {**dict.fromkeys(_CONTROLS), **_BIDI, ord("\n"): "\n", ord("\t"): "\t"}
_DROP_SINGLE_LINE = {**_DROP_MULTILINE, ord("\n"): " ", ord("\t"): " "}


def strip_controls(value: str, *, multiline: bool = False) -> str:
    """Drop terminal escape sequences, bidi controls and Unicode control characters (category Cc).

    Newline and tab survive only in multi-line fields; in single-line ones they become a space.
    """
    if "\x1b" in value or not value.isascii():  # ESC, or 8-bit CSI / OSC ... (U+0080-009F)
        value = _ESC_SEQ.sub("", value)
    return value.translate(_DROP_MULTILINE if multiline else _DROP_SINGLE_LINE)


_SPACES = re.compile(r" {2,}")


def clean(value: object, *, multiline: bool = False) -> str:
    """Untrusted input to storable text: controls stripped, outer whitespace trimmed."""
    if value is None:
        return ""
    text = strip_controls(str(value), multiline=multiline)
    if not multiline:
        text = _SPACES.sub(" ", text)
    return text.strip()


def normalize_company(name: str) -> str:
    """A company name reduced to what identifies it: case, accents, punctuation, legal form."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ")
    words = re.findall(r"[^\W_]+", text)
    kept = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(kept or words)


def normalize_email(email: str) -> str:
    """Compare e-mail addresses case-insensitively (after email-validator's normalization)."""
    return email.strip().casefold()
