"""Hygiene for untrusted text: control characters out, whitespace tidy, stable normal forms."""

from __future__ import annotations

import re
import unicodedata

# Legal-form words that do not tell two companies apart ("Contoso Ltd" == "contoso").
_LEGAL_FORMS = {
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc",
    "llp", "lp", "plc", "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa", "bv", "nv",
    "oy", "ab", "as", "aps", "kk", "pty", "pte", "the",
}
_ESC_SEQ = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def strip_controls(value: str, *, multiline: bool = False) -> str:
    """Drop terminal escape sequences and Unicode control characters (category Cc).

    Newline and tab survive only in multi-line fields; in single-line ones they become a space.
    """
    value = _ESC_SEQ.sub("", value)
    out = []
    for ch in value:
        if ch in "\n\t":
            out.append(ch if multiline else " ")
        elif unicodedata.category(ch) == "Cc":
            continue
        else:
            out.append(ch)
    return "".join(out)


def clean(value: object, *, multiline: bool = False) -> str:
    """Untrusted input to storable text: controls stripped, outer whitespace trimmed."""
    if value is None:
        return ""
    text = strip_controls(str(value), multiline=multiline)
    if not multiline:
        text = re.sub(r" {2,}", " ", text)
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
