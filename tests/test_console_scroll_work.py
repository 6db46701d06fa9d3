"""The event loop's work per key while scrolling, counted (not timed), on both stores.

bench/console_bench.py measures the stalls; these pin what a key costs the loop: a line already
drawn is not worked out again in the next frame."""

from __future__ import annotations

from app.tui import make_app
from screens.browser.table import RecordTable
from screens.registration import PAGE_SIZE, RegistrationScreen
from tests.conftest import actor_of
from tests.helpers import run_async, until, workers_done

SIZE = (140, 40)


async def _settle(app, pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await workers_done(app)
        await pilot.pause()


@run_async
async def test_a_line_is_checked_for_a_cut_cell_once_not_in_every_frame(any_store, monkeypatch):
    """The list is wider than its pane, so each line's right edge is checked for a cell cut there
    (to end it with "…"). Moving the cursor redraws the two rows it leaves and reaches; the other
    lines come from the table's line cache and so does the answer: a few checks per key, not one
    per visible line per frame (each Down asked it for the whole table, on both stores)."""
    from seed.demo import add_synthetic

    add_synthetic(any_store, 2 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    checks: list[int] = []
    original = RecordTable._text_cut_at

    def counted(self: RecordTable, y: int, x: int) -> bool:
        checks.append(y)
        return original(self, y, x)

    monkeypatch.setattr(RecordTable, "_text_cut_at", counted)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RegistrationScreen)
        await until(app, pilot, lambda: screen.loaded > 0 and screen.detail is not None)
        await _settle(app, pilot)
        table = screen.table
        assert table.virtual_size.width > table.size.width  # the pane cuts the table: the check runs
        visible = table.size.height
        moves = 8  # within the view: no scroll
        checks.clear()
        for _ in range(moves):
            await pilot.press("down")
            await pilot.pause()
        await _settle(app, pilot)
        assert table.cursor_row == moves
        # the rows left and reached (a row under the cursor is drawn anew), nothing per frame
        assert len(checks) <= 3 * moves, f"{len(checks)} checks for {moves} moves ({visible} lines visible)"


@run_async
async def test_a_key_that_moves_the_list_cursor_draws_the_list_not_the_whole_screen(any_store, monkeypatch):
    """Down redraws the list's lines that changed; the header, the footer, the filter bar and the
    detail pane (unchanged, not in the update) are not drawn again for it. Each was, in every frame:
    the compositor picked the widgets to draw by their container's region, the whole screen for
    every top-level widget (screens/textual_compat.py renders_within_the_update)."""
    from textual.widget import Widget
    from textual.widgets import Header

    from screens.footer import KeyFooter
    from seed.demo import add_synthetic

    add_synthetic(any_store, 2 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    drawn: list[str] = []
    original = Widget.render_lines

    def counted(self: Widget, crop):  # type: ignore[no-untyped-def]
        drawn.append(type(self).__name__ if isinstance(self, (Header, KeyFooter)) else self.id or "")
        return original(self, crop)

    monkeypatch.setattr(Widget, "render_lines", counted)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RegistrationScreen)
        await until(app, pilot, lambda: screen.loaded > 0 and screen.detail is not None)
        await _settle(app, pilot)
        drawn.clear()
        for _ in range(6):
            await pilot.press("down")
            await pilot.pause()
        assert screen.table.cursor_row == 6
        assert drawn.count("Header") == 0, drawn
        assert drawn.count("KeyFooter") == 0, drawn
        assert drawn.count("filter-bar") == 0, drawn
