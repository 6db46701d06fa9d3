"""The event loop's work per key while scrolling, counted (not timed), on both stores.

bench/console_bench.py measures the stalls; these pin what a key costs the loop: a line already
drawn is not worked out again in the next frame."""

from __future__ import annotations

from app.tui import make_app
from screens.browser.table import RecordTable
from screens.registration import PAGE_SIZE, RegistrationScreen
from tests.conftest import actor_of
from tests.helpers import run_async, until
from tests.test_console_registration import settle as _settle

SIZE = (140, 40)


async def _opened(app, pilot) -> RegistrationScreen:
    """The Registration list, its first page and detail shown and every worker done."""
    screen = app.screen
    assert isinstance(screen, RegistrationScreen)
    await until(app, pilot, lambda: screen.loaded > 0 and screen.detail is not None)
    await _settle(app, pilot)
    return screen


async def _to_the_view_bottom(app, pilot, screen: RegistrationScreen) -> None:
    """The cursor on the last line of the view: the next Down scrolls the list."""
    for _ in range(screen.table.scrollable_content_region.height):
        await pilot.press("down")
    await _settle(app, pilot)


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
        screen = await _opened(app, pilot)
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
        screen = await _opened(app, pilot)
        drawn.clear()
        for _ in range(6):
            await pilot.press("down")
            await pilot.pause()
        assert screen.table.cursor_row == 6
        assert drawn.count("Header") == 0, drawn
        assert drawn.count("KeyFooter") == 0, drawn
        assert drawn.count("filter-bar") == 0, drawn


@run_async
async def test_a_key_that_scrolls_the_list_does_not_draw_what_the_list_covers(any_store, monkeypatch):
    """Down at the bottom of the view scrolls the list: the frame draws the table and its scroll
    bar, not the containers and the screen behind them, whose lines the table covers (the
    compositor paints front to back and keeps the first strip for each cut: theirs were styled,
    divided and thrown away, every frame). screens/textual_compat.py renders_within_the_update."""
    from textual.widget import Widget

    from seed.demo import add_synthetic

    add_synthetic(any_store, 2 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    drawn: list[str] = []
    original = Widget.render_lines

    def counted(self: Widget, crop):  # type: ignore[no-untyped-def]
        drawn.append(self.id or type(self).__name__)
        return original(self, crop)

    monkeypatch.setattr(Widget, "render_lines", counted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _opened(app, pilot)
        table = screen.table
        await _to_the_view_bottom(app, pilot, screen)
        drawn.clear()
        for _ in range(5):
            await pilot.press("down")
            await pilot.pause()
        assert table.scroll_y > 0
        behind = [name for name in drawn if name in ("list-pane", "browser-body", type(screen).__name__)]
        assert behind == [], drawn


class _Terminal:
    """A terminal's cells as the app's updates leave them (each update: cursor moves and text)."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.cells: dict[tuple[int, int], tuple[str, str]] = {}

    def write(self, update) -> None:  # type: ignore[no-untyped-def]
        from rich.segment import ControlType

        console = self.app.console
        x = y = 0
        for segment in update.__rich_console__(console, console.options):
            if segment.control:
                for code in segment.control:
                    if code[0] == ControlType.CURSOR_MOVE_TO:
                        x, y = code[1], code[2]
                continue
            if segment.text == "\n":
                continue
            style = str(segment.style) if segment.style else ""
            for char in segment.text:
                self.cells[x, y] = (char, style)
                x += 1

    def differences(self, strips) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        whole: dict[tuple[int, int], tuple[str, str]] = {}
        for y, strip in enumerate(strips):
            x = 0
            for segment in strip:
                style = str(segment.style) if segment.style else ""
                for char in segment.text:
                    whole[x, y] = (char, style)
                    x += 1
        return [at for at in sorted(whole) if self.cells.get(at) != whole[at]]


@run_async
async def test_the_partial_updates_of_a_scroll_leave_the_terminal_as_the_whole_screen_drawn(any_store):
    """What the frames of a scroll write (partial updates: only the widgets each one needs are
    drawn) leaves every cell of the terminal as a full drawing of the screen shows it. The snapshot
    tests draw whole screens; this checks the partial path the terminal gets while keys are held."""
    from screens.textual_compat import screen_strips, watch_screen_updates
    from seed.demo import add_synthetic

    add_synthetic(any_store, 3 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    terminal = _Terminal(app)
    watch_screen_updates(app, terminal.write)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _opened(app, pilot)
        for keys in (["down"] * 45, ["pagedown"] * 3, ["up"] * 4, ["pageup"]):
            for key in keys:
                await pilot.press(key)
            await _settle(app, pilot)
            assert screen.table.key_at_cursor() == screen.selected
            differ = terminal.differences(screen_strips(screen))
            assert differ == [], f"after {keys[0]}: {len(differ)} cells differ, first {differ[:5]}"


@run_async
async def test_a_one_line_scroll_works_out_the_lines_it_changes_not_every_visible_line(any_store, monkeypatch):
    """Down at the bottom of the view scrolls the list by one line: the frame shows one new line and
    moves the cursor between two rows, and one more line is drawn ahead below the view. The other
    lines are the ones the last frame showed: found by their row, not worked out again (the line's
    key, the cut check, the line filters: ~35 lines a frame, and as many again drawn ahead, on the
    event loop for every Down while a key was held)."""
    from seed.demo import add_synthetic

    add_synthetic(any_store, 2 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    lines: list[int] = []
    original = RecordTable._render_line

    def counted(self: RecordTable, y: int, x1: int, x2: int, base_style):  # type: ignore[no-untyped-def]
        lines.append(y)
        return original(self, y, x1, x2, base_style)

    monkeypatch.setattr(RecordTable, "_render_line", counted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _opened(app, pilot)
        table = screen.table
        visible = table.scrollable_content_region.height
        await _to_the_view_bottom(app, pilot, screen)
        lines.clear()
        moves = 6
        for _ in range(moves):
            await pilot.press("down")
            await pilot.pause()
        await _settle(app, pilot)
        assert table.scroll_y >= moves
        assert len(lines) <= 5 * moves, (
            f"{len(lines)} lines worked out for {moves} one-line scrolls ({visible} visible)"
        )


@run_async
async def test_a_scroll_moves_the_scroll_bar_without_drawing_it_again(any_store, monkeypatch):
    """Each one-line scroll moves the list's scroll bar thumb; its lines are the strips kept for
    each kind of line (track, thumb, the thumb's partial ends), not the bar drawn again through
    Rich and the styles cache in every frame (screens/textual_compat.py scrollbar_lines_kept)."""
    from textual.scrollbar import ScrollBar

    from seed.demo import add_synthetic

    add_synthetic(any_store, 2 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    drawn: list[bool] = []
    original = ScrollBar._render_content

    def counted(self: ScrollBar) -> None:
        drawn.append(self.vertical)
        original(self)

    monkeypatch.setattr(ScrollBar, "_render_content", counted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _opened(app, pilot)
        table = screen.table
        for _ in range(table.scrollable_content_region.height + 30):  # the thumb has been everywhere near
            await pilot.press("down")
            await pilot.pause()
        await _settle(app, pilot)
        drawn.clear()
        scrolled = table.scroll_y
        for _ in range(6):
            await pilot.press("down")
            await pilot.pause()
        assert table.scroll_y == scrolled + 6
        assert drawn.count(True) <= 1, drawn


@run_async
async def test_a_cursor_move_finds_its_rows_without_walking_the_rows_above(any_store, monkeypatch):
    """A cursor move asks for three row regions (the row left, the row reached, the row scrolled into
    view); DataTable summed the heights of every row above each (``ordered_rows``), up to 300 rows a
    region in a scrolled window, for every key. The browser's rows are one line high: a row's line
    is its index (the same regions: compared with DataTable's for every row)."""
    from textual.widgets import DataTable

    from seed.demo import add_synthetic

    add_synthetic(any_store, 3 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _opened(app, pilot)
        table = screen.table
        await pilot.press("pagedown", "pagedown")
        await _settle(app, pilot)
        assert table.cursor_row > 40
        for row in range(table.row_count):
            assert table._get_row_region(row) == DataTable._get_row_region(table, row), row
        walked: list[int] = []  # the rows of each slice of ``ordered_rows`` taken (to sum their heights)
        ordered_rows = DataTable.ordered_rows

        class Watched(list):  # type: ignore[type-arg]
            def __getitem__(self, index):  # type: ignore[no-untyped-def]
                if isinstance(index, slice):
                    walked.append(len(range(*index.indices(len(self)))))
                return super().__getitem__(index)

        def counted(self: DataTable) -> list:  # type: ignore[type-arg]
            return Watched(ordered_rows.fget(self))  # type: ignore[attr-defined]

        monkeypatch.setattr(DataTable, "ordered_rows", property(counted))
        for _ in range(6):
            await pilot.press("down")
            await pilot.pause()
        assert sum(walked) == 0, walked


@run_async
async def test_a_page_dropped_above_does_not_draw_the_rows_that_stay_again(any_store, monkeypatch):
    """Scrolling down past the bounded window drops a page above: every row left moves up and is
    renumbered, but looks the same (its zebra stripe too: a page is an even number of rows). The
    frame after the drop draws the lines that changed (the new one, the cursor's), not every
    visible row again, nor the screenful ahead (DataTable's line cache is keyed on the line's
    position and the row's index: every line missed it after a drop, a ~10 ms frame at 1M)."""
    from seed.demo import add_synthetic

    add_synthetic(any_store, 5 * PAGE_SIZE)
    app = make_app(any_store, actor_of(any_store)("approver1"))
    drawn: list[str] = []  # the rows whose line was drawn
    original = RecordTable._render_line_in_row

    def counted(self: RecordTable, row_key, line_no, base_style, cursor_location, hover_location):  # type: ignore[no-untyped-def]
        drawn.append(str(row_key.value))
        return original(self, row_key, line_no, base_style, cursor_location, hover_location)

    monkeypatch.setattr(RecordTable, "_render_line_in_row", counted)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RegistrationScreen)
        screen.WINDOW_PAGES = 2  # a window of two pages: the third one drops the first
        await until(app, pilot, lambda: screen.loaded > 0 and screen.detail is not None)
        await _settle(app, pilot)
        table = screen.table
        await pilot.press("pagedown", "pagedown")
        await _settle(app, pilot)
        drops: list[int] = []  # rows drawn before, drawn again for a Down that dropped a page
        seen: set[str] = set(drawn)
        for _ in range(4 * PAGE_SIZE):
            drawn.clear()
            above, widths = len(screen.above), [c.content_width for c in table.ordered_columns]
            await pilot.press("down")
            await _settle(app, pilot, rounds=2)
            if len(screen.above) > above and widths == [c.content_width for c in table.ordered_columns]:
                # (a wider cell in the new page widens its column: everything is drawn again then;
                # the new page's rows are drawn ahead below the view: not counted)
                drops.append(len([key for key in drawn if key in seen]))
                assert table.key_at_cursor() == screen.selected
                break
            seen.update(drawn)
        visible = table.scrollable_content_region.height
        assert drops, "no page was dropped"
        # the rows the cursor left and reached, nothing else
        assert max(drops) <= 3, f"rows drawn again for each Down that dropped a page: {drops} ({visible} visible)"
