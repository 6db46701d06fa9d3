"""What every command needs: the store and the acting operator, opened only when used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from services.permissions import Actor

T = TypeVar("T")


@dataclass
class CliContext:
    db: str | None = None
    operator: str | None = None
    create: bool = False  # may make a new SQLite file (db init, demo); else only at the default path
    _store: Any = field(default=None, repr=False)
    _actor: Actor | None = field(default=None, repr=False)

    @property
    def settings(self):
        from app.settings import resolve

        return resolve(self.db, self.operator)

    @property
    def store(self):
        if self._store is None:
            from app.settings import may_create
            from services.store import Store

            url = self.settings.database_url
            self._store = Store(url, create=self.create or may_create(url))
        return self._store

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            from services.operators import resolve_actor

            with self.store.read() as s:
                self._actor = resolve_actor(s, self.settings.operator)
        return self._actor

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a service as the acting operator."""
        return self.store.call(fn, self.actor, *args, **kwargs)

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
