"""What screens may rely on in the console's app object, typed, without importing ``app`` (the
layers contract: app > screens).

``ConsoleApp`` is the base of ``app.tui.RegdeskApp``: the Textual ``App`` plus the attributes and
methods the screens use. The screens' bases (``ListWindow``, ``Dialog``, ``HelpDialog``,
``SettingsScreen``) declare ``app = getters.app(ConsoleApp)`` for a type checker (Textual's own way
to type ``app``; under ``TYPE_CHECKING``, so at run time it is Textual's ``app`` property).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

from textual import events
from textual.app import App

if TYPE_CHECKING:
    from services.permissions import Actor

T = TypeVar("T")


class ConsoleApp(App[object]):
    """The console app as screens see it (``app.tui.RegdeskApp`` implements it)."""

    actor: Actor
    store: Any
    last_change: int | None  # the change counter the open lists reflect
    header_counts: dict[str, int]
    create_choices: Any = None  # Create dialog: template/role choices and defaults (screens/dialogs/create_customer.py)
    create_prepared: Any = None  # Create dialog: (request number, args, preview) read while the detail showed

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a service as the acting operator, in its own session (from a thread worker)."""
        raise NotImplementedError

    def wait_for_store(self) -> bool:
        """Block until the store is open (True) or will not be (False); thread workers only."""
        raise NotImplementedError

    def smtp_settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def take_first_view(self) -> Any:
        """The prefetched first view of the Registration list, once (None: read it through the services)."""
        return None

    # Keys typed while a dialog opens go to the dialog (DESIGN.md, the console): a key sent to the
    # list before an earlier key's binding pushed the dialog is re-sent when it comes back unused;
    # keys that arrive while the dialog mounts, or while a screen said one is coming (hold_keys),
    # are held in order and released when its first field has the focus (Dialog._keys_now_ready).
    _key_screens: dict[int, Any] | None = None  # id of a key on its way -> the screen it was sent to
    _held_keys: list[tuple[str, str | None]] | None = None
    _released: set[int] | None = None  # ids of released keys not yet back here
    _holding = False

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            if self._key_sent_to_a_screen_left(event):
                self.post_message(events.Key(event.key, event.character))
                return
            if self._key_held(event):
                return
        await super().on_event(event)

    def _dialog_coming(self) -> bool:
        from screens.dialogs.base import Dialog

        return self._holding or (isinstance(self.screen, Dialog) and not self.screen.keys_ready)

    def _hold(self, event: events.Key) -> None:
        self._held_keys = [*(self._held_keys or []), (event.key, event.character)]

    def _key_held(self, event: events.Key) -> bool:
        if event.is_forwarded:
            # back from the list's widget, unused, while a dialog is on its way: the dialog's, not a
            # list binding's (keys the list used, as arrows, do not come back)
            if not self._dialog_coming():
                return False
            self._hold(event)
            return True
        released = self._released or set()
        if id(event) in released:
            released.discard(id(event))
            if not released and self._held_keys:
                self.release_held_keys()  # keys that came while these were on their way
            return False
        waiting = self._dialog_coming()
        if not (waiting or released or self._held_keys):
            return False
        self._hold(event)
        if not waiting and not released:
            self.release_held_keys()
        return True

    def hold_keys(self) -> None:
        """Hold the keys typed from now on until a dialog that is about to open has the focus (a screen
        that opens it only after a read): they go to it, in order, not to the list under it."""
        self._holding = True
        self.set_timer(self.HOLD_SECONDS, self._hold_expired)

    HOLD_SECONDS = 5.0  # a dialog that never came (its read failed): the keys go where they would have

    def _hold_expired(self) -> None:
        if self._holding:
            self.release_held_keys()

    def release_held_keys(self) -> None:
        """Give the held keys to whatever has the focus now (a dialog's first field), in order."""
        self._holding = False
        keys, self._held_keys = self._held_keys or [], None
        if self._released is None:
            self._released = set()
        for key, character in keys:
            fresh = events.Key(key, character)
            self._released.add(id(fresh))
            self.post_message(fresh)

    def _key_sent_to_a_screen_left(self, event: events.Key) -> bool:
        """A key comes here twice: first to be sent to the focused widget, then, when nothing there
        used it, bubbling back for the bindings. True on its way back when a dialog has been pushed in
        between (the binding of an earlier key opened it): it was sent to a screen no longer on top."""
        if self._key_screens is None:
            self._key_screens = {}
        if not event.is_forwarded:
            if len(self._key_screens) > 64:  # keys used on their way (arrows in a list) never come back
                self._key_screens.clear()
            self._key_screens[id(event)] = self.screen
            return False
        sent_to = self._key_screens.pop(id(event), None)
        if sent_to is None or sent_to is self.screen:
            return False
        from screens.dialogs.base import Dialog

        return isinstance(self.screen, Dialog) and sent_to in self.screen_stack
