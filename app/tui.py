"""The Textual console: one app, a mode per top-level area, built by a factory for tests.

Areas are registered in ``AREAS`` (mode name, key, title, "module:Screen class"); their
screens are imported only when first shown, so start-up pays only for the first area.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from textual.app import App
from textual.binding import Binding

from services.permissions import Actor

T = TypeVar("T")


@dataclass(frozen=True)
class Area:
    mode: str
    key: str
    title: str
    screen: str  # "module.path:ClassName"


AREAS: list[Area] = [
    Area("registration", "f2", "Registration", "screens.registration:RegistrationScreen"),
]


def _loader(path: str) -> Callable[[], Any]:
    def load():
        module, _, name = path.partition(":")
        return getattr(importlib.import_module(module), name)()

    return load


class RegdeskApp(App):
    """Back-office console. Screens call services through ``call`` (never a session of their own)."""

    TITLE = "regdesk"
    CSS_PATH = "../screens/regdesk.tcss"
    MODES = {area.mode: _loader(area.screen) for area in AREAS}
    DEFAULT_MODE = "registration"
    BINDINGS = [
        Binding(area.key, f"switch_mode('{area.mode}')", area.title, id=f"area.{area.mode}",
                tooltip=f"Go to {area.title}", show=False)
        for area in AREAS
    ]

    def __init__(self, store: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.actor = actor
        self.sub_title = f"{actor.display_name} ({', '.join(sorted(actor.roles))})"

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a service as the acting operator, in its own session (call from a thread worker)."""
        return self.store.call(fn, self.actor, *args, **kwargs)


def make_app(store: Any, actor: Actor) -> RegdeskApp:
    return RegdeskApp(store, actor)
