"""The export in the import's format (CSV cells a spreadsheet would run are neutralised)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

from sqlmodel import Session, select

from services import changes, customers
from services.customer_import.bulk import CUSTOMERS
from services.customer_import.files import detect_format, neutralise
from services.errors import ValidationFailed
from services.permissions import Actor, require


def _export_value(field: str, value: Any, fmt: str, raw: bool = False) -> Any:
    plain = changes.plain_value(field, value)
    if fmt == "csv" and isinstance(plain, bool):
        return "yes" if plain else "no"
    if fmt == "csv":
        return str(plain) if raw else neutralise(str(plain))
    return plain


def iter_export(
    session: Session, actor: Actor, fmt: str = "csv", chunk: int = 5000, raw: bool = False
) -> Iterator[dict[str, Any]]:
    """Every customer as a row of the import format, by account (keyset pages); CSV cells that
    a spreadsheet would run are neutralised unless ``raw``."""
    require(actor, "customer.view")
    fields = list(customers.FIELDS)
    after = ""
    while True:
        page = (
            session.execute(
                select(CUSTOMERS).where(CUSTOMERS.c.account > after).order_by(CUSTOMERS.c.account).limit(chunk)
            )
            .mappings()
            .all()
        )
        if not page:
            return
        for m in page:
            yield {"account": m["account"], **{f: _export_value(f, m[f], fmt, raw) for f in fields}}
        after = page[-1]["account"]


def export_customers(
    session: Session, actor: Actor, path: str | Path, fmt: str | None = None, raw: bool = False
) -> int:
    """Write every customer to ``path`` (CSV or JSON, the import format); returns the count.

    CSV cells starting with = + - @ tab or CR get a leading ' (OWASP) unless ``raw``; the import
    takes it off again, so an export imports back unchanged either way."""
    fmt = detect_format(path, fmt)
    count = 0
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if fmt == "csv":
                writer = csv.DictWriter(fh, fieldnames=["account", *customers.FIELDS], lineterminator="\n")
                writer.writeheader()
                for row in iter_export(session, actor, fmt, raw=raw):
                    writer.writerow(row)
                    count += 1
            else:
                fh.write("[")
                for row in iter_export(session, actor, fmt):
                    fh.write(("\n  " if count == 0 else ",\n  ") + json.dumps(row, ensure_ascii=False, default=str))
                    count += 1
                fh.write("\n]\n")
    except OSError as exc:
        raise ValidationFailed({"file": f"cannot write {path}: {exc.strerror or exc}"}) from None
    return count
