"""Printing for the CLI: tables and records as data (never markup), or JSON with --json."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from services.text import strip_controls


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader stopped reading (``regdesk audit list | head -1``): the rest of the output goes
        nowhere and the command finishes as it would have (Rich's default exits 1, which the README's
        table reserves for a batch with mixed failures)."""
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (sys.stderr if self.stderr else sys.stdout).fileno())


out = _Console(highlight=False, soft_wrap=True)
err = _Console(stderr=True, highlight=False, soft_wrap=True)


def plain(value: Any) -> Any:
    """Models, decimals and datetimes to JSON-able data (pydantic models by duck typing: this
    module does not import pydantic, the CLI's light read path never loads it)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, ensure_ascii=False, default=str) + "\n")


def text(value: Any) -> Text:
    """Any value as literal text: control characters out, brackets shown as they are."""
    if value is None:
        return Text("")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, datetime):
        return Text(f"{value:%Y-%m-%d %H:%M}")
    return Text(strip_controls(str(value), multiline=True))


def table(rows: Iterable[Any], columns: Sequence[tuple[str, str]], *, title: str | None = None) -> None:
    """``columns`` are (attribute or key, heading)."""
    t = Table(title=Text(title) if title else None, show_lines=False, header_style="bold")
    for index, (_, heading) in enumerate(columns):
        # The first column is the record's key (number, account, id): never wrapped or cut, so
        # it can be read and copied into the next command even in a narrow terminal.
        t.add_column(Text(heading), no_wrap=index == 0)
    count = 0
    for row in rows:
        count += 1
        get = row.get if isinstance(row, dict) else lambda k, r=row: getattr(r, k, "")
        t.add_row(*[text(get(key)) for key, _ in columns])
    if out.is_terminal:
        out.print(t)
    else:
        # Into a pipe or a file nothing is cut or wrapped to fit an imagined 80-column screen:
        # the table takes the width its cells need.
        natural = Measurement.get(out, out.options.update_width(10_000), t).maximum
        _Console(file=out.file, width=max(out.width, natural), highlight=False, soft_wrap=True).print(t)
    if count == 0:
        out.print(Text("(none)"))


def record(value: Any, *, title: str | None = None, skip: Sequence[str] = ()) -> None:
    """A pydantic model or a dict as a two-column grid."""
    data = value if isinstance(value, dict) else value.model_dump()
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    if title:
        out.print(Text(title, style="bold underline"))
    for key, val in data.items():
        if key in skip or isinstance(val, (list, dict)):
            continue
        t.add_row(Text(key.replace("_", " ")), text(val))
    out.print(t)


def message(msg: str) -> None:
    out.print(Text(strip_controls(msg, multiline=True)))


def error(msg: str) -> None:
    err.print(Text("error: ", style="bold red") + Text(strip_controls(msg, multiline=True)))
