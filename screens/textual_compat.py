"""The private Textual internals regdesk relies on, listed in one place.

Textual is pinned in pyproject.toml and every name below was checked against ``WRITTEN_FOR``.
tests/test_textual_compat.py fails with a clear message when another Textual is installed or
one of these is gone: re-check each use listed here, then move ``WRITTEN_FOR`` and the pin
together. New uses of a private Textual name go through this module or into ``INTERNALS``.
(In ``screens`` so that both ``app`` and ``screens`` may import it: see the layers contract.)
"""

from __future__ import annotations

from typing import Any

from textual._context import active_app  # the running app, read by a mode's screen loader (app/tui.py)
from textual._segment_tools import line_crop  # screens/widgets.py RequestTable._render_line (DataTable's own)
from textual._two_way_dict import TwoWayDict  # screens/widgets.py RequestTable.remove_rows (row positions)

__all__ = [
    "INTERNALS",
    "TwoWayDict",
    "WRITTEN_FOR",
    "active_app",
    "app_exiting",
    "line_crop",
    "mark_screen_styled",
    "notifications",
    "realign_tab_underline",
    "relabel_tab_in_place",
    "register_screen",
    "renders_within_the_update",
    "scrollbar_lines_kept",
    "screen_strips",
    "screen_text",
    "stylesheet_untouched",
    "strips_freed_by_refcount",
    "watch_screen_updates",
]

WRITTEN_FOR = "8.2.8"

# (class, private attribute, where regdesk uses it and why). Attributes set in __init__ are
# checked on an instance; methods on the class.
INTERNALS: list[tuple[str, str, str]] = [
    (
        "textual.app:App",
        "_css_update_count",
        "app/tui.py _loader via stylesheet_untouched/mark_screen_styled: a mode's screen made before any "
        "stylesheet change skips the full CSS reparse",
    ),
    ("textual.screen:Screen", "_css_update_count", "same, on the new screen"),
    (
        "textual.app:App",
        "_exit",
        "screens/browser/screen.py via app_exiting: no deferred chrome once the app is "
        "exiting; tests/test_quick_start.py via app_exiting: the console closed itself",
    ),
    (
        "textual.widgets:DataTable",
        "_update_dimensions",
        "screens/widgets.py RequestTable: measures Text cells directly",
    ),
    (
        "textual.widgets:DataTable",
        "_render_cell",
        "screens/widgets.py RequestTable: one-line Text cells without "
        "Rich's general path (tests/test_request_table.py compares the segments)",
    ),
    ("textual.widgets:DataTable", "_get_styles_to_render_cell", "screens/widgets.py RequestTable._render_cell"),
    ("textual.widgets:DataTable", "_get_row_renderables", "screens/widgets.py RequestTable"),
    ("textual.widgets:DataTable", "_row_locations", "screens/widgets.py RequestTable"),
    ("textual.widgets:DataTable", "_column_locations", "screens/widgets.py RequestTable._render_cell"),
    ("textual.widgets:DataTable", "_cell_render_cache", "screens/widgets.py RequestTable._render_cell"),
    ("textual.widgets:DataTable", "_show_hover_cursor", "screens/widgets.py RequestTable._render_cell (cache key)"),
    (
        "textual.widgets:DataTable",
        "_update_count",
        "screens/widgets.py RequestTable._render_cell (cache key); RequestTable._update_dimensions bumps it "
        "when a column grows, so cells cut to the old width are not served from the caches",
    ),
    ("textual.widgets:DataTable", "_pseudo_class_state", "screens/widgets.py RequestTable._render_cell (cache key)"),
    ("textual.widgets:DataTable", "_data", "screens/widgets.py RequestTable.remove_rows"),
    ("textual.widgets:DataTable", "_updated_cells", "screens/widgets.py RequestTable.remove_rows"),
    ("textual.widgets:DataTable", "_require_update_dimensions", "screens/widgets.py RequestTable.remove_rows"),
    (
        "textual.widgets:DataTable",
        "_render_line",
        "screens/widgets.py RequestTable._render_line: DataTable's, its line cache keyed on the cursor's row only",
    ),
    ("textual.widgets:DataTable", "_render_line_in_row", "screens/widgets.py RequestTable (same cache key)"),
    ("textual.widgets:DataTable", "_line_cache", "screens/widgets.py RequestTable._render_line"),
    ("textual.widgets:DataTable", "_get_offsets", "screens/widgets.py RequestTable._render_line"),
    (
        "textual.widgets:DataTable",
        "_labelled_row_exists",
        "screens/widgets.py RequestTable._render_line_in_row (its own path only without row labels)",
    ),
    ("textual.widgets:DataTable", "_row_label_column_width", "screens/widgets.py RequestTable._render_line_in_row"),
    (
        "textual.widgets:DataTable",
        "_get_row_style",
        "screens/widgets.py RequestTable._row_style (the zebra styles, kept until the styles change)",
    ),
    (
        "textual.widgets:DataTable",
        "_y_offsets",
        "screens/widgets.py RequestTable._draw_ahead (the last line), render_lines, _get_row_region (rows one line high)",
    ),
    (
        "textual.widgets:DataTable",
        "_get_row_region",
        "screens/widgets.py RequestTable._get_row_region: a row's line is its index when every row is one line high",
    ),
    (
        "textual.widgets:DataTable",
        "_border_title",
        "screens/widgets.py RequestTable._plain_box: lines not restyled only without a border title",
    ),
    ("textual.widgets:DataTable", "_border_subtitle", "screens/widgets.py RequestTable._plain_box"),
    (
        "textual.widgets:DataTable",
        "_on_resize",
        "screens/widgets.py RequestTable._on_resize stops it (prevent_default) when only the virtual size changed",
    ),
    (
        "textual.widgets:DataTable",
        "_on_click",
        "screens/widgets.py RequestTable._row_under_pointer runs before it (the row from the pointer's position)",
    ),
    ("textual.widgets:DataTable", "_on_mouse_move", "screens/widgets.py RequestTable._row_under_pointer (same)"),
    (
        "textual.strip:Strip",
        "_divide_cache",
        "screens/textual_compat.py strips_freed_by_refcount: Strip.divide cached [self] there (a cycle)",
    ),
    (
        "textual.app:App",
        "_get_screen",
        "screens/dialogs/create_customer.py CreateCustomerDialog.warm via register_screen: "
        "compose and mount the installed Create dialog while idle, without showing it",
    ),
    (
        "textual.widgets:Tabs",
        "_highlight_active",
        "screens/browser/screen.py via realign_tab_underline: after tabs are relabelled with their counts, "
        "Textual can place the underline from the tab's width before the new label was laid out",
    ),
    (
        "textual.widgets:Tab",
        "_label",
        "screens/browser/screen.py via relabel_tab_in_place: a count that keeps the tab's width is "
        "repainted without a layout of the screen",
    ),
    (
        "textual.widgets:Input",
        "_on_key",
        "input_keys_in_order: the field's own bindings run when it takes the key, in order with the text",
    ),
    (
        "textual.app:App",
        "_bindings",
        "input_keys_in_order: a DOM node's own bindings (every node's, an Input's here; checked on an App)",
    ),
    (
        "textual.widgets:Input",
        "_restart_blink",
        "input_keys_in_order: the cursor shown at once after an editing key, as a typed character does",
    ),
    (
        "textual.app:App",
        "_notifications",
        "tests via notifications (tests/helpers.py notes): the notifications an app raised",
    ),
    (
        "textual._compositor:Compositor",
        "_get_renders",
        "renders_within_the_update: a partial update draws the widgets its crop covers (not all whose clip it touches)",
    ),
    (
        "textual.screen:Screen",
        "_compositor",
        "tests via screen_text (tests/test_console_registration.py): the screen's text as drawn; "
        "screen_strips (tests/test_console_scroll_work.py)",
    ),
    (
        "textual.app:App",
        "_display",
        "tests via watch_screen_updates (tests/test_console_scroll_work.py): the updates written to the terminal",
    ),
]


def strips_freed_by_refcount() -> None:
    """``Strip.divide`` without the reference cycle: a strip divided at its own end (one cut: every
    line of a widget that nothing overlaps, on every frame the compositor draws) returns ``[self]``
    and Textual caches that list in the strip's own ``_divide_cache``, so the strip refers to
    itself and is freed only by the cyclic garbage collector. Every line redrawn while scrolling
    became such garbage (bench/console_bench.py, ``gc.DEBUG_SAVEALL`` over 30 PageDown and 400
    Down at 100k rows: 9.6k strips, 67k FIFOCaches and 12k segments, all of it cycles through
    ``_divide_cache``), which made the collections that stalled the event loop. Here that case
    returns ``[self]`` uncached (building it is cheaper than the cache lookup); other cuts go to
    Textual's ``divide`` as before. Applied once, when this module is imported (the console's app
    imports it); tests/test_textual_compat.py checks it still leaves no cycle."""
    from textual.strip import Strip

    divide = Strip.divide
    if getattr(divide, "_regdesk_no_self_cache", False):
        return

    def divide_without_self_cycle(self: Strip, cuts: Any) -> Any:
        length = self.cell_length
        kept = [cut for cut in cuts if cut <= length]
        if kept == [length]:
            return [self]  # what divide() gives for these cuts, without caching it in self
        return divide(self, kept)

    divide_without_self_cycle._regdesk_no_self_cache = True  # type: ignore[attr-defined]
    divide_without_self_cycle.__doc__ = divide.__doc__
    Strip.divide = divide_without_self_cycle  # type: ignore[method-assign]


strips_freed_by_refcount()


def input_keys_in_order() -> None:
    """A text field's own bindings (Home, End, ctrl+u, Backspace, ←/→, Delete, ctrl+w, Enter ...)
    act when the field takes the key from its queue, in order with the characters around it.

    Textual types a character in ``Input._on_key``, but runs a binding only once the key, unused
    there, has bubbled back up to the app (``App._on_key``): the characters sent after it in the
    same burst (a ``tmux send-keys``, a fast typist, a paste of keys) were typed first, so "abc",
    Home, "X" gave "abcX". The field's bindings come first in the binding chain anyway (nothing
    above it can take those keys, priority bindings aside, which the app checks before sending the
    key to the field at all), so running them here changes what runs only in *when*. (Tab, a
    dialog's priority binding, is acted on at arrival for the same reason: screens/dialogs/base.py.)
    Applied once, when this module is imported; tests/test_console_keys.py sends the bursts."""
    from textual import events
    from textual.widgets import Input

    on_key = Input._on_key
    if getattr(on_key, "_regdesk_in_order", False):
        return

    async def on_key_in_order(self: Input, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if not binding.priority and await self.app.run_action(binding.action, self):
                    event.stop()
                    event.prevent_default()
                    self._restart_blink()
                    return
        await on_key(self, event)

    on_key_in_order._regdesk_in_order = True  # type: ignore[attr-defined]
    on_key_in_order.__doc__ = on_key.__doc__
    Input._on_key = on_key_in_order  # type: ignore[method-assign]


input_keys_in_order()


def renders_within_the_update() -> None:
    """A partial screen update draws the widgets whose visible part it covers, not every widget whose
    clip it touches.

    ``Compositor._get_renders(crop)`` picks the widgets to draw by ``crop.overlaps(clip)``, and a
    widget's clip is its container's region: for every widget placed on the screen itself (the
    header, the footer, the panes and their containers) that is the whole screen. So each frame of
    a held Down, which dirties only the list, drew the header, the footer, the detail pane, the
    filter bar, the info line and each container again (bench/console_bench.py, Registration at
    140x40: ten widgets per Down besides the table; their ``render_lines`` took more of the loop
    than the table's own). Here the test is on the widget's visible part (its region within its
    clip), which is what the update's lines are cut from: a widget outside the update's crop gives
    nothing to its lines (each chop of a line is a widget's whole span there, and the spans written
    are within the crop), so the update written is the same. Full updates (no crop) are as before.

    Nor is a widget drawn whose part within the update is wholly under widgets already drawn for it
    (the compositor paints front to back and the first strip for a cut wins, so nothing of it would
    be used): a Down that scrolls the list drew the list's pane, the body and the screen behind the
    table in every frame, 110 lines of background styled, divided and thrown away.
    Applied once, when this module is imported; tests/test_console_scroll_work.py counts the draws."""
    from textual._compositor import Compositor
    from textual.geometry import Region

    get_renders = Compositor._get_renders
    if getattr(get_renders, "_regdesk_within_update", False):
        return

    def get_renders_within(self: Compositor, crop: Region | None = None) -> Any:
        if not crop:
            yield from get_renders(self, crop)
            return
        _rich_traceback_guard = True  # noqa: F841 (as Textual's: a render error's traceback starts here)
        crop_overlaps = crop.overlaps
        intersection = Region.intersection
        contains_region = Region.contains_region
        drawn: list[Region] = []  # the visible parts of the widgets drawn so far (in front of the next)
        for widget, (region, clip) in list(self.visible_widgets.items()):
            if contains_region(clip, region):
                if crop_overlaps(region) and not _covered(intersection(region, crop), drawn):
                    drawn.append(region)
                    yield region, clip, widget.render_lines(Region(0, 0, region.width, region.height))
                continue
            visible = intersection(region, clip)
            new_x, new_y, new_width, new_height = visible
            if new_width and new_height and crop_overlaps(visible) and not _covered(intersection(visible, crop), drawn):
                drawn.append(visible)
                yield (
                    region,
                    clip,
                    widget.render_lines(Region(new_x - region.x, new_y - region.y, new_width, new_height)),
                )

    get_renders_within._regdesk_within_update = True  # type: ignore[attr-defined]
    get_renders_within.__doc__ = get_renders.__doc__
    Compositor._get_renders = get_renders_within  # type: ignore[method-assign]


def _covered(target: Any, fronts: list[Any]) -> bool:
    """Whether the rectangles ``fronts`` together cover the whole of ``target`` (regions)."""
    from textual.geometry import Region

    remaining = [target]
    for front in fronts:
        left = []
        for part in remaining:
            if not part.overlaps(front):
                left.append(part)
                continue
            x, y, width, height = part
            ix, iy, iwidth, iheight = part.intersection(front)
            if iy > y:  # above the front
                left.append(Region(x, y, width, iy - y))
            if iy + iheight < y + height:  # below it
                left.append(Region(x, iy + iheight, width, y + height - iy - iheight))
            if ix > x:  # beside it, on its left
                left.append(Region(x, iy, ix - x, iheight))
            if ix + iwidth < x + width:  # and on its right
                left.append(Region(ix + iwidth, iy, x + width - ix - iwidth, iheight))
        remaining = left
        if not remaining:
            return True
    return False


renders_within_the_update()


def scrollbar_lines_kept() -> None:
    """A vertical scroll bar's lines drawn once per kind, not once per frame.

    Every frame that scrolls a list moves its scroll bar's thumb (an eighth of a cell or more), and
    Textual draws the bar again whole: the bar's segments through Rich into a ``Visual``, then each
    of its ~35 lines through the widget's styles cache (padding, tint, filters), ~30% of the event
    loop's time for a frame of a held Down (bench/console_bench.py). Yet a line of a vertical bar
    is one of a few kinds (the track above or below the thumb, the thumb, its partial ends: one
    segment each, ``ScrollBarRender.render_bar``), and how it is styled depends only on that
    segment and on the widget (its size, styles, colours, the app's line filters), not on where
    the line is: so the bar's segments are worked out (cheap) and each line is the strip kept for
    its kind, drawn the stock way the first time a kind shows up (every line of that frame is drawn
    the stock way then). Only a bar without border, padding or outline, drawn whole, by the stock
    renderer; anything else as before. Applied once, when this module is imported;
    tests/test_console_scroll_work.py compares the lines with Textual's for every thumb position."""
    from textual.geometry import Region
    from textual.scrollbar import ScrollBar, ScrollBarRender

    render_lines = ScrollBar.render_lines
    if getattr(render_lines, "_regdesk_kept", False):
        return

    def segments_by_line(bar: ScrollBar, width: int, height: int) -> list[Any] | None:
        renderable = bar.render()
        if type(renderable) is not ScrollBarRender or renderable.window_size is None:
            return None
        style = bar.app.console.get_style(renderable.style)
        if style.bgcolor is None or style.color is None:
            return None
        rendered = ScrollBarRender.render_bar(
            size=height,
            window_size=renderable.window_size,
            virtual_size=renderable.virtual_size,
            position=renderable.position,
            vertical=True,
            thickness=width,
            back_color=style.bgcolor,
            bar_color=style.color,
        )
        lines = list(rendered.segments)
        return lines if len(lines) == height else None

    def render_lines_kept(self: ScrollBar, crop: Region) -> Any:
        width, height = self.size
        styles = self.styles
        if (
            not self.vertical
            or crop != Region(0, 0, width, height)
            or styles.gutter
            or any(edge for edge, _ in styles.border)
            or any(edge for edge, _ in styles.outline)
        ):
            return render_lines(self, crop)
        lines = segments_by_line(self, width, height)
        if lines is None:
            return render_lines(self, crop)
        app = self.app
        state = (
            self.size,
            self.visual_style,
            self.background_colors,
            tuple(map(id, self.get_line_filters())),
            self.opacity,
            id(app.ansi_theme),
            app.native_ansi_color,
        )
        kept = self.__dict__.get("_regdesk_lines")
        if kept is None or kept[0] != state:
            kept = self._regdesk_lines = (state, {})  # type: ignore[attr-defined]
        by_kind: dict[Any, Any] = kept[1]
        strips = [by_kind.get(line) for line in lines]
        if None in strips:
            drawn = render_lines(self, crop)
            if len(by_kind) > 64:
                by_kind.clear()
            by_kind.update(zip(lines, drawn))
            return drawn
        return strips

    render_lines_kept._regdesk_kept = True  # type: ignore[attr-defined]
    render_lines_kept._regdesk_stock = render_lines  # type: ignore[attr-defined]
    render_lines_kept.__doc__ = render_lines.__doc__
    ScrollBar.render_lines = render_lines_kept  # type: ignore[method-assign,assignment]


scrollbar_lines_kept()


def stylesheet_untouched(app: Any) -> bool:
    """Nothing has invalidated the app's stylesheet since it was parsed (start-up)."""
    return getattr(app, "_css_update_count", None) == 0


def mark_screen_styled(screen: Any) -> None:
    """Tell Textual the screen's styles are current, so it does not reparse and restyle them."""
    screen._css_update_count = 0


def register_screen(app: Any, name: str) -> Any:
    """Compose and mount an installed screen without showing it (so its first push costs no compose)."""
    return app._get_screen(name)


def __getattr__(name: str) -> Any:
    # FooterKey (one key of the footer: screens/footer.py sizes its lines) is imported when first
    # asked for, so the console's fast start does not load the footer module
    if name == "FooterKey":
        from textual.widgets._footer import FooterKey

        return FooterKey
    raise AttributeError(name)


def realign_tab_underline(tabs: Any) -> None:
    """Move a tab bar's underline under its active tab as laid out now (no animation)."""
    tabs._highlight_active(animate=False)


def relabel_tab_in_place(tab: Any, label: str, dim: bool = False) -> bool:
    """Give a tab a label of the same width without a layout of the screen (``Tab.label = ...`` asks
    for one, and the tab bar's realignment, on every relabel: a count that went from 1,234 to 1,233
    after an approve laid out the whole screen). False (nothing done) when the width differs.
    ``dim``: the label drawn dimmed (a count that is being read again)."""
    from rich.cells import cell_len
    from rich.text import Text
    from textual.content import Content
    from textual.widgets import Static

    if cell_len(tab._label.plain) != cell_len(label):
        return False
    tab._label = Content.from_text(Text(label, style="dim") if dim else label)
    Static.update(tab, tab._label, layout=False)
    return True


def measure_table_now(table: Any) -> None:
    """Measure a DataTable's new rows now (column widths, virtual size) instead of on its next idle:
    the screen's frame timer may come first, and then the rows were drawn at the old column widths
    and drawn again a frame later (seen at 1M requests: a search's 7-digit numbers widen "Number")."""
    if table._require_update_dimensions:
        table._require_update_dimensions = False
        new_rows = table._new_rows.copy()
        table._new_rows.clear()
        table._update_dimensions(new_rows)


def app_exiting(app: Any) -> bool:
    """The app has been asked to exit (nothing more should be mounted)."""
    return bool(getattr(app, "_exit", False))


def notifications(app: Any) -> list[Any]:
    """The notifications the app raised and still shows (tests)."""
    return list(getattr(app, "_notifications", ()))


def watch_screen_updates(app: Any, seen: Any) -> None:
    """Call ``seen(renderable)`` with every update the app writes to the terminal (tests: what a
    terminal shows after the partial updates, next to the screen drawn whole)."""
    display = app._display

    def displayed(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            seen(renderable)
        display(screen, renderable)

    app._display = displayed


def screen_strips(screen: Any) -> list[Any]:
    """The screen drawn whole by its compositor, one ``Strip`` per row (tests)."""
    return list(screen._compositor.render_strips())


def screen_text(screen: Any) -> str:
    """The screen's text as the compositor draws it, one line per row (tests)."""
    return "\n".join("".join(seg.text for seg in strip) for strip in screen._compositor.render_strips())
