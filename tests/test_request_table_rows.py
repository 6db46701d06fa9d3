"""RequestTable draws a body row in one pass (``_render_row``): a page that has just arrived (a
search, a sort, a filter) was drawn cell by cell, each cell looking up its own cache, the row's
cells and its styles again (~1 ms a row, most of a search's key-to-repaint when it filled the
screen). The rows drawn that way are the stock DataTable's, also with cells it does not take
(cut, linked, markup strings)."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from screens.widgets import RequestTable, data


def _rows() -> list[tuple]:
    rows = []
    for i in range(40):
        mixed = Text("Ana ")
        mixed.append("Núñez", style="italic")
        rows.append(
            (
                Text(f"REQ-{i:05d}"),
                Text("Verified by user", style="cyan") if i % 2 else Text("Created", style="bold green"),
                data("a name far too long for its column" if i % 3 == 0 else "Short"),  # cut: fixed width
                Text("site", style="link https://example.com") if i % 4 == 0 else mixed,
                "[b]DE[/b]" if i % 5 == 0 else "FR",
                data("[@click=app.quit]q[/] \x1b[31m\u202eevil"),
            )
        )
    return rows


class _App(App):
    def __init__(self, table_class: type[DataTable]) -> None:
        super().__init__()
        self.table_class = table_class

    def compose(self) -> ComposeResult:
        table = self.table_class(id="t", cursor_type="row", zebra_stripes=True)
        table.add_column("Number", key="number")
        table.add_column("Status", key="status")
        table.add_column("Company", key="company", width=12)
        table.add_column("Contact", key="contact")
        table.add_column("Country", key="country")
        table.add_column("Note", key="note", width=8)
        for row in _rows():
            table.add_row(*row, key=row[0].plain)
        yield table


async def _frames(table_class: type[DataTable]) -> list[list]:
    frames = []
    async with _App(table_class).run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = pilot.app.query_one("#t", DataTable)
        for keys in [(), ("down", "down", "down"), ("pagedown",)]:
            if keys:
                await pilot.press(*keys)
                await pilot.pause()
            frames.append(
                [[(s.text, s.style, s.control) for s in table.render_line(y)] for y in range(table.size.height)]
            )
        await pilot.hover("#t", offset=(5, 6))
        await pilot.pause()
        frames.append([[(s.text, s.style, s.control) for s in table.render_line(y)] for y in range(table.size.height)])
    return frames


def test_rows_drawn_in_one_pass_are_the_stock_rows():
    stock = asyncio.run(_frames(DataTable))
    fast = asyncio.run(_frames(RequestTable))
    assert len(fast) == len(stock)
    for n, (a, b) in enumerate(zip(stock, fast)):
        for y, (line_a, line_b) in enumerate(zip(a, b)):
            assert line_b == line_a, f"frame {n}, line {y} differs"


def test_a_fresh_page_is_drawn_a_row_at_a_time(monkeypatch):
    """Drawing a screenful of rows not drawn before renders no body cell on its own and reads each
    row's cells once (the old path: once per cell, eight reads and eight cell renders a row)."""
    counts = {"cells": 0, "rows": 0}
    render_cell = DataTable._render_cell
    renderables = DataTable._get_row_renderables

    def counting_cell(self, row_index, *args, **kwargs):
        if row_index >= 0:
            counts["cells"] += 1
        return render_cell(self, row_index, *args, **kwargs)

    def counting_rows(self, row_index):
        if row_index >= 0:
            counts["rows"] += 1
        return renderables(self, row_index)

    async def run() -> int:
        app = App()
        async with app.run_test(size=(140, 30)) as pilot:
            table = RequestTable(cursor_type="row", zebra_stripes=True)
            await app.mount(table)
            for key in ["number", "created", "status", "company", "contact", "email", "user", "country"]:
                table.add_column(key.title(), key=key)
            for i in range(60):
                table.add_row(*[data(f"{key}-{i}") for key in range(8)], key=f"REQ-{i:05d}")
            await pilot.pause()
            table._clear_caches()
            counts.update(cells=0, rows=0)
            monkeypatch.setattr(DataTable, "_render_cell", counting_cell)
            monkeypatch.setattr(DataTable, "_get_row_renderables", counting_rows)
            lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
            monkeypatch.undo()
            return len(lines) - table.header_height

    body = asyncio.run(run())
    assert body > 20
    assert counts["cells"] == 0
    assert counts["rows"] <= body
