"""RequestTable's cheaper measuring and cell path render exactly what the stock DataTable renders.

``RequestTable._render_cell`` skips Rich's general rendering path for one-line ``Text``
cells and ``_update_dimensions`` measures ``Text`` cells directly (start-up time); Textual is pinned, and this test fails loudly if an upgrade
changes what DataTable draws so the fast path would no longer match.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from screens.widgets import RequestTable, data


def _sample_rows() -> list[tuple]:
    statuses = [
        Text("Requested", style="yellow"),
        Text("Verified by user", style="cyan"),
        Text("Created", style="bold green"),
        Text("Rejected", style="red"),
    ]
    companies = ["Fabrikam", "[bold]not markup[/]", "Ünïcode 日本語 GmbH", "", "A. Datum <b>Corp</b>"]
    rows = []
    for i in range(45):
        mixed = Text("Ana ")
        mixed.append("Núñez", style="italic")
        rows.append(
            (
                Text(f"REQ-{i:05d}"),
                Text(f"2026-01-{i % 28 + 1:02d} 10:{i % 60:02d}"),
                statuses[i % len(statuses)],
                data(companies[i % len(companies)]),
                mixed if i % 3 else data("Jo"),
                data(f"user{i}@example.com", style="underline" if i % 7 == 0 else ""),
                data(None),
                "[b]DE[/b]" if i % 5 == 0 else "FR",  # a plain str goes through DataTable's formatter
            )
        )
    return rows


class _TableApp(App):
    def __init__(self, table_class: type[DataTable]) -> None:
        super().__init__()
        self.table_class = table_class

    def compose(self) -> ComposeResult:
        table = self.table_class(id="t", cursor_type="row", zebra_stripes=True)
        for key in ["number", "created", "status", "company", "contact", "email", "user", "country"]:
            table.add_column(key.title(), key=key)
        for row in _sample_rows():
            table.add_row(*row, key=row[0].plain)
        yield table


async def _render(table_class: type[DataTable]) -> list[list]:
    app = _TableApp(table_class)
    frames: list[list] = []
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        table = app.query_one("#t", DataTable)
        frames.append([[column.content_width for column in table.ordered_columns], table.virtual_size])
        for keys in [(), ("down", "down"), ("end",), ("home",)]:
            if keys:
                await pilot.press(*keys)
                await pilot.pause()
            frames.append([list(table.render_line(y)) for y in range(table.size.height)])
        await pilot.hover("#t", offset=(20, 4))
        await pilot.pause()
        frames.append([list(table.render_line(y)) for y in range(table.size.height)])
        table.cursor_type = "cell"
        await pilot.pause()
        frames.append([list(table.render_line(y)) for y in range(table.size.height)])
    return frames


def test_fast_cell_path_renders_like_the_stock_data_table(monkeypatch):
    stock = asyncio.run(_render(DataTable))

    calls = {"stock": 0}
    original = DataTable._render_cell

    def counting(self, row_index, column_index, *args, **kwargs):
        if isinstance(self, RequestTable) and row_index >= 0:
            calls["stock"] += 1
        return original(self, row_index, column_index, *args, **kwargs)

    monkeypatch.setattr(DataTable, "_render_cell", counting)
    fast = asyncio.run(_render(RequestTable))

    assert len(fast) == len(stock)
    assert fast[0] == stock[0]  # column widths and virtual size
    for n, (a, b) in enumerate(zip(stock[1:], fast[1:]), 1):
        for y, (line_a, line_b) in enumerate(zip(a, b)):
            assert line_b == line_a, f"frame {n}, line {y} differs"
    assert calls["stock"] == 0  # every body cell of the sample took the fast path


def test_a_cursor_move_redraws_only_the_rows_it_left_and_reached(monkeypatch):
    """DataTable keys its line caches on the cursor's coordinate: every Down drew every visible row
    again (the table's drawing filled the event-loop stalls while Down was held). RequestTable keys
    them on what a row sees of the cursor: a move redraws the two rows it concerns."""
    drawn: list[object] = []
    original = DataTable._render_line_in_row

    def counting(self, row_key, *args, **kwargs):
        if isinstance(self, RequestTable):
            drawn.append(row_key.value)
        return original(self, row_key, *args, **kwargs)

    monkeypatch.setattr(DataTable, "_render_line_in_row", counting)

    async def run() -> list[list[object]]:
        app = _TableApp(RequestTable)
        per_move: list[list[object]] = []
        async with app.run_test(size=(140, 30)) as pilot:
            await pilot.pause()
            table = app.query_one("#t", DataTable)
            await pilot.press("down")  # the frames after start-up draw everything (widths measured)
            await pilot.pause()
            for y in range(table.size.height):
                table.render_line(y)
            for _ in range(3):
                drawn.clear()
                await pilot.press("down")
                await pilot.pause()
                for y in range(table.size.height):  # the whole view, as a scroll repaints it
                    table.render_line(y)
                per_move.append(sorted({str(k) for k in drawn}))
        return per_move

    moves = asyncio.run(run())
    for n, rows in enumerate(moves, 1):  # drawn by the app's own frame or by the reads above
        assert set(rows) <= {f"REQ-{n:05d}", f"REQ-{n + 1:05d}"}, rows


def test_remove_rows_leaves_the_table_as_remove_row_one_by_one():
    """``remove_rows`` renumbers the rows once (the bounded window drops a page of 60 at a time)."""

    async def run(bulk: bool) -> list:
        app = _TableApp(RequestTable)
        async with app.run_test(size=(140, 30)) as pilot:
            await pilot.pause()
            table = app.query_one("#t", RequestTable)
            table.move_cursor(row=20)
            gone = [f"REQ-{i:05d}" for i in [*range(0, 12), 15, 30, 44]]
            if bulk:
                table.remove_rows([*gone, "REQ-99999"])  # a key not in the table is skipped
            else:
                for key in gone:
                    table.remove_row(key)
            await pilot.pause()
            keys = [str(k.value) for k in table.rows]
            locations = [table.get_row_index(k) for k in keys]
            return [keys, locations, table.row_count, table.cursor_coordinate, len(table._data)]

    one_by_one = asyncio.run(run(False))
    assert asyncio.run(run(True)) == one_by_one
    assert one_by_one[1] == list(range(30))


def test_appending_rows_draws_no_row_already_shown(monkeypatch):
    """DataTable counts an appended row as an update of the whole table and keyed every cache on that
    count: each page appended while scrolling drew every visible row again. The rows above an
    appended one are drawn as they were, so RequestTable keeps their lines (and they stay right)."""
    drawn: list[object] = []
    original = DataTable._render_line_in_row

    def counting(self, row_key, *args, **kwargs):
        if isinstance(self, RequestTable):
            drawn.append(row_key.value)
        return original(self, row_key, *args, **kwargs)

    monkeypatch.setattr(DataTable, "_render_line_in_row", counting)

    async def run() -> tuple[list[object], list[str], list[str]]:
        from textual.geometry import Region

        app = _TableApp(RequestTable)
        async with app.run_test(size=(140, 30)) as pilot:
            await pilot.pause()
            table = app.query_one("#t", RequestTable)
            view = Region(0, 0, table.size.width, table.size.height)
            table.render_lines(view)
            drawn.clear()
            for i in range(45, 50):
                table.add_row(*[Text(f"REQ-{i:05d}")] + [Text("x")] * 7, key=f"REQ-{i:05d}")
            await pilot.pause()
            lines = [line.text for line in table.render_lines(view)]
            redrawn = list(drawn)
            table._clear_caches()
            fresh = [line.text for line in table.render_lines(view)]
        return redrawn, lines, fresh

    redrawn, lines, fresh = asyncio.run(run())
    assert redrawn == []
    assert lines == fresh


def test_a_click_after_rows_were_removed_above_lands_on_the_row_drawn_there():
    """Removing rows keeps the other rows' drawing (their cells carry the row index they were drawn
    at): a click or the hover still goes to the row drawn under the pointer."""

    async def run() -> tuple[str, str, int]:
        app = _TableApp(RequestTable)
        async with app.run_test(size=(140, 30)) as pilot:
            await pilot.pause()
            table = app.query_one("#t", RequestTable)
            await pilot.pause()
            table.remove_rows([f"REQ-{i:05d}" for i in range(10)])
            await pilot.pause()
            await pilot.hover("#t", offset=(3, 4))
            await pilot.pause()
            hovered = table.hover_row
            await pilot.click("#t", offset=(3, 4))  # the header, then rows 0, 1, 2: REQ-00013
            await pilot.pause()
            key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
            drawn = table.render_line(4).text.split()[0]
        return key, drawn, hovered

    key, drawn, hovered = asyncio.run(run())
    assert key == drawn == "REQ-00013"
    assert hovered == 3
