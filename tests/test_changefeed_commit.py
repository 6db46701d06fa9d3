"""The change signal of PostgreSQL (services/changefeed.py, issue 9): the NOTIFY is sent after a
command's transaction commits, not inside it. PostgreSQL serializes the commits of notifying
transactions on one database-wide lock held through each commit's WAL flush; a NOTIFY inside
every command queued all commits (and the row locks they hold, such as a create's gap-free
sequence row) behind each other's disk flushes."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy import event

from services import changefeed, customers
from services.errors import ValidationFailed
from services.store import Store
from tests.conftest import actor_of

pytestmark = pytest.mark.postgres


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    """Every statement the engine sends (through SQLAlchemy), COMMIT and ROLLBACK included, in order."""
    seen: list[str] = []

    def execute(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()).lower())

    def commit(conn) -> None:
        seen.append("commit")

    event.listen(store.engine, "before_cursor_execute", execute)
    event.listen(store.engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", execute)
        event.remove(store.engine, "commit", commit)


@contextmanager
def _listening(store: Store) -> Iterator[changefeed.Listener]:
    listener = changefeed.Listener(store.url)
    assert listener.listening
    try:
        yield listener
    finally:
        listener.close()


def test_a_command_notifies_after_its_commit_not_inside_its_transaction(pg_store):
    admin = actor_of(pg_store)("admin1")
    with _listening(pg_store) as listener:
        with _statements(pg_store) as seen:
            pg_store.call(customers.save_role, admin, "Notified role", "one change")
        assert "commit" in seen, seen
        assert not [s for s in seen if "pg_notify" in s], seen  # nothing of it in the write transaction
        assert listener.wait(10.0)  # and yet the listening console is woken
        with pg_store.read() as s:  # by then the change is there to read
            assert any(r.name == "Notified role" for r in customers.list_roles(s, admin))


def test_a_rolled_back_command_notifies_no_one(pg_store):
    admin = actor_of(pg_store)("admin1")
    with _listening(pg_store) as listener:
        with pytest.raises(RuntimeError), pg_store.write() as s:
            customers.save_role(s, admin, "Never saved", "rolled back")
            raise RuntimeError("the caller gives up")
        with pytest.raises(ValidationFailed):
            pg_store.call(customers.save_role, admin, "", "refused before any write")
        pg_store.call(customers.save_role, admin, "Saved after", "committed")  # the next command's signal
        assert listener.wait(10.0)
        assert not listener.wait(0.5)  # one signal: the committed command's, none for the rolled-back one


def test_one_signal_per_transaction_and_a_savepoint_does_not_send_it_early(pg_store):
    admin = actor_of(pg_store)("admin1")
    with _listening(pg_store) as listener:
        with pg_store.write() as s:
            customers.save_role(s, admin, "First of two", "")
            with s.begin_nested():  # a savepoint released: the transaction is still open
                customers.save_role(s, admin, "Second of two", "")
            assert not listener.wait(0.3)  # nothing before the commit
        assert listener.wait(10.0)
        assert not listener.wait(0.5)
