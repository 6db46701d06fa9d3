"""The key footer of every screen and dialog, rebuilt only when the keys it shows change.

Textual's ``Footer`` recomposes (removes and mounts all its key widgets, restyles them and asks
for a layout) whenever the screen publishes its bindings: on every focus change, every screen
resume (a dialog opened or closed) and every ``refresh_bindings``. The keys shown are almost
always the same, so ``KeyFooter`` compares what it would show with what it shows and skips
the rebuild when nothing differs. (Imported where the footer is mounted: not on the fast start.)
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


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
        super().bindings_changed(screen)
