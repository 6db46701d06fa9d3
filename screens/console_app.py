"""What screens may rely on in the console's app object, typed, without importing ``app`` (the
layers contract: app > screens).

``ConsoleApp`` is the base of ``app.tui.RegdeskApp``: the Textual ``App`` plus the attributes and
methods the screens use. The screens' bases (``ListWindow``, ``Dialog``, ``HelpDialog``,
``SettingsScreen``) declare ``app = getters.app(ConsoleApp)`` for a type checker (Textual's own way
to type ``app``; under ``TYPE_CHECKING``, so at run time it is Textual's ``app`` property).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

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
