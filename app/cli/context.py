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
    reason: str | None = None  # --reason: why an admin OS login acts as another operator (SQLite)
    _store: Any = field(default=None, repr=False)
    _reason_token: Any = field(default=None, repr=False)
    _actor: Actor | None = field(default=None, repr=False)

    @property
    def settings(self):
        from app.settings import resolve

        settings = resolve(self.db, self.operator)
        _check_kind(settings.database_url)
        return settings

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
        """The operator the store vouches for (services.identity): the database login on
        PostgreSQL, the OS login on SQLite; --as/REGDESK_OPERATOR only where the rules allow."""
        if self._actor is None:
            from services import identity

            settings = self.settings
            reason = self.reason or identity.reason_from_env()
            token = identity.current_reason.set(None)
            with self.store.read() as s:
                self._actor = identity.establish(s, settings.operator_named, reason=reason)
            if self._reason_token is None:
                self._reason_token = token
        return self._actor

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a service as the acting operator."""
        return self.store.call(fn, self.actor, *args, **kwargs)

    def close(self) -> None:
        if self._reason_token is not None:
            from services.identity import current_reason

            current_reason.reset(self._reason_token)
            self._reason_token = None
        if self._store is not None:
            self._store.dispose()


def _check_kind(url: str) -> None:
    """A --db URL of a kind regdesk cannot use (mysql://...) names no database: exit 8 like a
    mistyped path (the store's own refusal was a plain error, exit 1)."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else "sqlite"
    if scheme not in ("sqlite", "postgresql", "postgres"):
        from services.errors import DatabaseUnavailable

        raise DatabaseUnavailable(f"unsupported database {scheme!r}: use SQLite or PostgreSQL")
