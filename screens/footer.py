"""The key footer of every screen and dialog, rebuilt only when the keys it shows change.

Textual's ``Footer`` recomposes (removes and mounts all its key widgets, restyles them and asks
for a layout) whenever the screen publishes its bindings: on every focus change, every screen
resume (a dialog opened or closed) and every ``refresh_bindings``. The keys shown are almost
always the same, so ``KeyFooter`` compares what it would show with what it shows and skips
the rebuild when nothing differs. (Imported where the footer is mounted: not on the fast start.)
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual.screen import Screen
from textual.widgets import Footer

from screens.textual_compat import FooterKey


class KeyFooter(Footer):
    _shown: tuple[Any, ...] | None = None

    def _keys(self, screen: Screen[Any]) -> tuple[Any, ...]:
        """What the footer shows: the shown bindings with their state, in order."""
        shown = tuple(
            (binding.key, binding.action, binding.description, binding.group, enabled, tooltip)
            for (_, binding, enabled, tooltip) in screen.active_bindings.values()
            if binding.show
        )
        return shown, self.show_command_palette, self.compact

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen is not self.screen or not screen.app.app_focus:
            super().bindings_changed(screen)
            return
        keys = self._keys(screen)
        if keys == self._shown and self.children:
            return  # the same keys: nothing to rebuild
        self._shown = keys
        if self.children and self._hide_all_but(keys):
            return
        self._composed = keys
        super().bindings_changed(screen)

    _composed: tuple[Any, ...] | None = None  # the keys the footer's widgets were composed for

    def _hide_all_but(self, keys: tuple[Any, ...]) -> bool:
        """Fewer of the composed keys shown (or all again): those hidden, not rebuilt. The search field
        with the focus hides the list's letter keys (typed into it); giving the focus back to the list
        rebuilt the footer (remove, mount, restyle every key: part of every search's time).
        False when the keys are not some of the composed ones, in their order and state."""
        if self._composed is None or keys[1:] != self._composed[1:]:
            return False
        composed = iter(self._composed[0])
        if not all(key in composed for key in keys[0]):  # a subsequence
            return False
        shown = {(key, action) for key, action, *_ in keys[0]}
        for widget in self.query(FooterKey):
            if not widget.has_class("-command-palette"):
                widget.display = (widget.key, widget.action) in shown
        return True

    # When one line cannot hold the keys they go on two or three lines, each key whole: at 80 columns
    # one line showed about half of a list's keys and cut the rest mid-word behind the palette key
    # ("/ Searc", "f1 He"). The palette key stays docked on the right of the first line.
    MAX_LINES = 3

    DEFAULT_CSS = """
    KeyFooter.-lines { layout: vertical; }
    KeyFooter .footer-line { layout: horizontal; height: 1; width: 1fr; }
    """

    _lines = 1

    def compose(self) -> Any:
        from textual.containers import Horizontal

        keys = list(super().compose())
        palette, rows = self._lines_of(keys, self.app.size.width)
        self._lines = len(rows)
        self.set_class(len(rows) > 1, "-lines")
        self.styles.height = max(1, len(rows))
        if len(rows) <= 1:
            return keys
        return [*palette, *(Horizontal(*row, classes="footer-line") for row in rows)]

    def _lines_of(self, keys: list[Any], width: int) -> tuple[list[Any], list[list[Any]]]:
        """The palette key (docked right) and the other keys split into lines of ``width``."""
        palette = [k for k in keys if isinstance(k, FooterKey) and k.has_class("-command-palette")]
        shown = [k for k in keys if k not in palette]
        room = width - sum(_width(k) + 2 for k in palette)
        return palette, split_lines(shown, [_width(k) for k in shown], room, self.MAX_LINES)

    async def on_resize(self, event: Any) -> None:
        keys = list(self.query(FooterKey))
        if keys and len(self._lines_of(keys, event.size.width)[1]) != self._lines:
            await self.recompose()


def _width(key: Any) -> int:
    """A compact key's width: the key, a space, the description, its right margin."""
    if not isinstance(key, FooterKey):
        return 0
    return cell_len(key.key_display) + 1 + cell_len(key.description) + 1


def split_lines(items: list[Any], widths: list[int], room: int, most: int) -> list[list[Any]]:
    """Items in order on lines of at most ``room`` columns, each whole; more lines than ``most``
    only when even that many cannot hold them (the last line then takes the rest)."""
    lines: list[list[Any]] = [[]]
    used = 0
    for item, width in zip(items, widths):
        if lines[-1] and used + width > room and len(lines) < most:
            lines.append([])
            used = 0
        lines[-1].append(item)
        used += width
    return lines if lines[0] else []
