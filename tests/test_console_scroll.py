"""The console's drawing while scrolling, searching and switching filters (bench/console_bench.py
measures its speed; these check what is drawn and what is no longer redone)."""

from __future__ import annotations

import gc

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from app.tui import make_app
from screens.footer import KeyFooter
from screens.registration import PAGE_SIZE, RegistrationScreen
from screens.textual_compat import FooterKey
from screens.widgets import RequestTable, Section
from tests.helpers import run_async, until, workers_done

SIZE = (140, 40)


async def settle(app, pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await workers_done(app)
        await pilot.pause()


def drawn_numbers(table: RequestTable) -> list[str]:
    """The first cell of each body line as the table hands its lines to the compositor."""
    lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [line.text.split()[0] if line.text.strip() else "" for line in lines[1:]]


def expected_numbers(table: RequestTable) -> list[str]:
    keys = [str(k.value) for k in table.rows]
    top = int(table.scroll_y)
    return [keys[i] if i < len(keys) else "" for i in range(top, top + table.size.height - 1)]


@run_async
async def test_rows_drawn_are_the_rows_held_after_pages_are_appended_and_dropped(store, actor):
    """Appending a page keeps the table's line caches (the rows above are drawn as before) and
    dropping one renumbers the rows: what is drawn is the window's rows at the scroll position, the
    cursor on the record it was on, all the way down and back up."""
    from seed.demo import add_synthetic

    add_synthetic(store, 8 * PAGE_SIZE + 7)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RegistrationScreen)
        table = screen.table
        dropped = False
        for key in ["pagedown"] * 14 + ["down"] * 5 + ["pageup"] * 14:
            before = screen.selected
            await pilot.press(key)
            await settle(app, pilot, 2)
            assert drawn_numbers(table) == expected_numbers(table), key
            assert table.key_at_cursor() == screen.selected
            assert before is None or screen.selected is not None
            dropped = dropped or bool(screen.above)
        assert dropped  # the window was trimmed on the way down


@run_async
async def test_search_and_filter_draw_their_rows(store, actor):
    from seed.demo import add_synthetic

    add_synthetic(store, 2 * PAGE_SIZE)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        table = screen.table
        await pilot.press("pagedown")
        await settle(app, pilot)
        await pilot.press("3")
        await until(app, pilot, lambda: screen.query_state.status == "Verified by user" and not screen._fetching)
        await settle(app, pilot)
        assert drawn_numbers(table) == expected_numbers(table)
        assert all(str(screen.records[k].status) == "Verified by user" for k in screen.records)
        await pilot.press("1")
        await until(app, pilot, lambda: screen.query_state.status == "All" and not screen._fetching)
        await settle(app, pilot)
        term = str(next(iter(screen.records.values())).company)
        await pilot.press("slash")
        app.screen.query_one("#search").value = term
        await pilot.press("enter")
        await until(app, pilot, lambda: screen.query_state.search == term and not screen._fetching, "searched")
        await settle(app, pilot)
        assert screen.records and drawn_numbers(table) == expected_numbers(table)
        assert all(term.casefold() in str(r.company).casefold() for r in screen.records.values())


@run_async
async def test_sorting_redraws_the_header_arrow(store, actor):
    """Column labels set in place are drawn again (appends no longer invalidate the line caches).
    (The arrow itself is cut when the label fills its column: the same before this change.)"""
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        table = screen.table
        header = lambda: table.render_lines(Region(0, 0, table.size.width, 1))[0].text  # noqa: E731
        before = header()
        await pilot.press("s")
        await until(app, pilot, lambda: screen.query_state.sort != "number" and not screen._fetching)
        await settle(app, pilot)
        drawn = table.render_lines(Region(0, 0, table.size.width, 1))[0]
        table._clear_caches()  # drawn from scratch: what the labels are now
        assert drawn == table.render_lines(Region(0, 0, table.size.width, 1))[0]
        _ = before


@run_async
async def test_the_footer_is_not_rebuilt_when_the_search_field_takes_and_gives_back_the_focus(store, actor):
    """The search field hides the list's letter keys while it has the focus; giving the focus back
    showed them by rebuilding the whole footer (part of every search's time): they are hidden and
    shown again instead, the same widgets."""
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        footer = app.screen.query_one(KeyFooter)
        await until(app, pilot, lambda: bool(list(footer.query(FooterKey))), "footer keys")
        before = list(footer.query(FooterKey))
        shown = lambda: [k.key for k in footer.query(FooterKey) if k.display]  # noqa: E731
        keys = shown()
        assert "a" in keys
        await pilot.press("slash")
        await settle(app, pilot)
        assert "a" not in shown()  # typed into the field
        await pilot.press("escape")
        await settle(app, pilot)
        assert shown() == keys
        assert list(footer.query(FooterKey)) == before  # the same widgets: not rebuilt


def test_a_detail_block_of_the_same_height_asks_for_no_layout():
    """A new record's detail with the same lines repaints its block without a layout of the screen
    (20-30 ms while a key was held); more lines (or wrapped ones) still ask for one."""
    asked: list[bool] = []

    class One(App):
        def compose(self) -> ComposeResult:
            yield Section(id="s")

    async def run() -> None:
        app = One()
        async with app.run_test(size=(60, 10)) as pilot:
            section = app.query_one(Section)
            section.show(Text("Number   REG-000001\nStatus   Requested"))
            await pilot.pause()
            original = section.refresh

            def refresh(*a, layout: bool = False, **k):
                asked.append(layout)
                return original(*a, layout=layout, **k)

            section.refresh = refresh  # type: ignore[method-assign]
            section.show(Text("Number   REG-000002\nStatus   Verified by user"))
            assert asked and not any(asked)
            asked.clear()
            section.show(Text("Number   REG-000003\nStatus   Verified\nNote     three lines"))
            assert any(asked)
            asked.clear()
            section.show(Text("x" * 200 + "\nStatus"))  # wraps at 60 columns
            assert any(asked)
            await pilot.pause()
            assert section.size.height >= 4

    import asyncio

    asyncio.run(run())


def test_strips_divided_at_their_end_are_freed_without_the_cycle_collector():
    """Textual's ``Strip.divide`` cached ``[self]`` in the strip: every line the compositor drew
    became cyclic garbage (screens/textual_compat.py ``strips_freed_by_refcount``)."""
    from rich.segment import Segment

    gc.collect()
    gc.disable()
    try:
        for i in range(200):
            strip = Strip([Segment(f"line {i:04d}")])
            assert strip.divide([strip.cell_length]) == [strip]
            parts = strip.divide([3, strip.cell_length])
            assert [p.text for p in parts] == ["lin", f"e {i:04d}"]
            del strip, parts
        assert gc.collect() == 0  # nothing was left for the cycle collector
    finally:
        gc.enable()


def test_a_count_that_keeps_the_tab_width_relabels_without_a_layout():
    """A tab's count changing (1,234 -> 1,233 after an approve) repainted the tab through a layout of
    the whole screen; with the same width it is repainted in place, and still shows the new count."""
    from textual.widgets import Tab, Tabs

    from screens.textual_compat import relabel_tab_in_place

    asked: list[bool] = []

    class Bar(App):
        def compose(self) -> ComposeResult:
            yield Tabs(Tab("All (1,234)", id="all"), Tab("Verified (12)", id="verified"))

    async def run() -> None:
        app = Bar()
        async with app.run_test(size=(60, 5)) as pilot:
            await pilot.pause()
            tab = app.query_one("#all", Tab)
            original = tab.refresh

            def refresh(*a, layout: bool = False, **k):
                asked.append(layout)
                return original(*a, layout=layout, **k)

            tab.refresh = refresh  # type: ignore[method-assign]
            assert relabel_tab_in_place(tab, "All (1,233)")
            await pilot.pause()
            assert tab.label.plain == "All (1,233)" and "All (1,233)" in tab.render().plain
            assert asked and not any(asked)
            assert not relabel_tab_in_place(tab, "All (999)")  # narrower: the caller relabels it the usual way

    import asyncio

    asyncio.run(run())


@run_async
async def test_moving_the_cursor_redraws_only_the_rows_it_left_and_reached(store, actor, monkeypatch):
    """The detail of each selected record writes its status into its row (Registration): DataTable
    counts any cell update as an update of every row, so every selection drew every visible row
    again. A cell written with the value it has is left alone; another one redraws its own row."""
    from textual.widgets import DataTable

    from seed.demo import add_synthetic

    add_synthetic(store, 100)
    app = make_app(store, actor("approver1"))
    drawn: list[str] = []
    original = DataTable._render_line_in_row

    def counting(self, row_key, *args, **kwargs):
        if isinstance(self, RequestTable):
            drawn.append(str(row_key.value))
        return original(self, row_key, *args, **kwargs)

    monkeypatch.setattr(DataTable, "_render_line_in_row", counting)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        table = screen.table
        await until(app, pilot, lambda: screen.detail is not None, "detail")
        view = Region(0, 0, table.size.width, table.size.height)
        await settle(app, pilot)
        for _ in range(3):
            left = screen.selected
            drawn.clear()
            await pilot.press("down")
            await until(
                app, pilot, lambda: screen.detail is not None and screen.detail.number == screen.selected, "detail"
            )
            await settle(app, pilot)
            table.render_lines(view)  # as the next frame would
            assert set(drawn) <= {left, screen.selected}, sorted(set(drawn))
            assert {left, screen.selected} <= set(drawn_numbers(table))
