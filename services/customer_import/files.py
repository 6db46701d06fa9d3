"""Reading import files (CSV or JSON, with their limits) and the CSV cell neutralisation that
the export writes and the import takes off again (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Callable

from services import customers
from services.customer_import.views import ImportRow
from services.errors import ValidationFailed
from services.text import clean

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_FIELD_CHARS = 10_000
MAX_NUMBER_CHARS = 40
_BARE_CR = re.compile(r"\r(?!\n)")


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in ("csv", "json"):
            raise ValidationFailed({"format": "csv or json"})
        return fmt
    return "json" if str(path).lower().endswith(".json") else "csv"


def _check_columns(columns: list[str]) -> list[str]:
    errors: dict[str, str] = {}
    names = [clean(c) for c in columns]
    if "account" not in names:
        errors["account"] = "the header must have an 'account' column"
    seen: set[str] = set()
    for name in names:
        if name != "account" and name not in customers.FIELDS:
            errors[name or "(blank)"] = "unknown customer field"
        if name in seen:
            errors[name] = "column appears twice"
        seen.add(name)
    if errors:
        raise ValidationFailed(
            errors,
            message="the header is not valid:\n  "
            + "\n  ".join(f"{k}: {v}" for k, v in errors.items())
            + f"\n  (fields: account, {', '.join(customers.FIELDS)})",
        )
    return names


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def parse_csv(text: str, *, raw: bool = False) -> list[ImportRow]:
    """Rows of a CSV file; cells neutralised by an export (``'=...``) are restored unless ``raw``
    (a file written by ``customers export --raw`` holds the exact values)."""
    bare = _BARE_CR.search(text)
    if bare:
        raise ValidationFailed(
            {
                "file": f"line {_line_of(text, bare.start())}: a carriage return (CR) that does not end a "
                "line, inside a cell: remove it (line ends must be LF or CRLF)"
            }
        )
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        return _parse_csv(text, raw)
    finally:
        csv.field_size_limit(limit)


def _parse_csv(text: str, raw: bool = False) -> list[ImportRow]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed({"file": "empty: expected a header row (account, fields...)"}) from None
    except csv.Error as exc:
        raise _csv_error(reader.line_num, exc) from None
    columns = _check_columns(header)
    rows: list[ImportRow] = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            _csv_row(rows, columns, cells, start, reader, raw)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _csv_error(reader.line_num, exc) from None
    return rows


def _csv_error(line: int, exc: csv.Error) -> ValidationFailed:
    msg = str(exc)
    if "field larger than field limit" in msg:
        msg = f"a cell longer than {MAX_FIELD_CHARS} characters"
    return ValidationFailed({"file": f"line {line}: not valid CSV: {msg}"})


def _csv_row(
    rows: list[ImportRow], columns: list[str], cells: list[str], line: int, reader: object, raw: bool = False
) -> None:
    if not cells or all(not c.strip() for c in cells):
        return
    if len(cells) != len(columns):
        at = columns.index("account")
        rows.append(
            ImportRow(
                line=line,
                account=clean(cells[at]) if len(cells) > at else "",
                values={},
                error=f"{len(cells)} cells, the header has {len(columns)}",
            )
        )
        return
    record = {k: v if raw else un_neutralise(v) for k, v in zip(columns, cells)}
    account = clean(record.pop("account"))
    rows.append(ImportRow(line=line, account=account, values=record))


class _NumberTooLong(ValueError):
    pass


def _bounded(kind: Callable[[str], object]) -> Callable[[str], object]:
    def parse(raw: str) -> object:
        if len(raw) > MAX_NUMBER_CHARS:
            raise _NumberTooLong(raw)
        return kind(raw)

    return parse


def parse_json(text: str) -> list[ImportRow]:
    from decimal import Decimal

    decoder = json.JSONDecoder(parse_int=_bounded(int), parse_float=_bounded(Decimal))
    text = text.lstrip("\ufeff")
    pos, n = 0, len(text)

    def skip(p: int) -> int:
        while p < n and text[p] in " \t\r\n":
            p += 1
        return p

    def fail(p: int, msg: str) -> ValidationFailed:
        return ValidationFailed({"file": f"not valid JSON (line {text.count(chr(10), 0, p) + 1}): {msg}"})

    pos = skip(pos)
    if pos >= n or text[pos] != "[":
        raise fail(pos, 'expected a list of objects: [{"account": ..., ...}, ...]')
    pos = skip(pos + 1)
    rows: list[ImportRow] = []
    line, counted = 1, 0
    while pos < n and text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, exc.msg) from None
        except _NumberTooLong:
            raise fail(
                pos, f"a number longer than {MAX_NUMBER_CHARS} characters in the object that starts here"
            ) from None
        except RecursionError:
            raise fail(
                pos, 'nested too deeply: an import file is a list of flat objects ({"account": ..., "field": value})'
            ) from None
        rows.append(_json_row(line, item))
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos = skip(pos + 1)
        elif pos < n and text[pos] != "]":
            raise fail(pos, "expected ',' or ']'")
    if pos >= n:
        raise fail(pos, "the list is not closed with ']'")
    if skip(pos + 1) != n:
        raise fail(pos + 1, "extra data after the list")
    return rows


def _json_row(line: int, item: Any) -> ImportRow:
    if not isinstance(item, dict):
        return ImportRow(line=line, account="", values={}, error="not an object")
    account = item.get("account")
    values: dict[str, Any] = {}
    bad = []
    for k, v in item.items():
        if k == "account":
            continue
        if isinstance(v, (dict, list)):
            bad.append(f"{k}: a single value expected, not nested data")
        elif isinstance(v, str) and len(v) > MAX_FIELD_CHARS:
            bad.append(f"{k}: longer than {MAX_FIELD_CHARS} characters")
            v = ""
        values[str(k)] = "" if v is None else v
    unknown = [k for k in values if k not in customers.FIELDS]
    if unknown:
        bad.append("unknown field " + ", ".join(unknown))
    return ImportRow(
        line=line,
        account=clean(account) if isinstance(account, (str, int)) else "",
        values=values,
        error="; ".join(bad) or None,
    )


def read_file(path: str | Path, fmt: str | None = None, *, raw: bool = False) -> list[ImportRow]:
    fmt = detect_format(path, fmt)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValidationFailed(
                {
                    "file": f"{path} is larger than the import's limit ({size:,} bytes, at most "
                    f"{MAX_FILE_BYTES:,}): split it into several files"
                }
            )
        with open(path, encoding="utf-8", newline="") as fh:  # newline="": a bare CR stays visible
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed({"file": f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"}) from None
    return parse_json(text) if fmt == "json" else parse_csv(text, raw=raw)


# Cells a spreadsheet would run as a formula (OWASP "CSV injection"): the export prefixes them
# with ' (also a value that already starts with quotes before such a character, so the import
# can tell the two apart); ``un_neutralise`` takes exactly one ' off again on import.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _needs_quote(text: str) -> bool:
    rest = text.lstrip("'")
    return bool(rest) and rest[0] in FORMULA_START


def neutralise(text: str) -> str:
    """``=1+1`` -> ``'=1+1``; ``'=x`` -> ``''=x``; anything else unchanged."""
    return "'" + text if _needs_quote(text) else text


def un_neutralise(cell: str) -> str:
    """The inverse of ``neutralise`` for a cell read from a CSV file."""
    if cell.startswith("'") and _needs_quote(cell[1:]):
        return cell[1:]
    return cell
