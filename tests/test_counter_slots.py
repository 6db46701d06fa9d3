"""Status counters in slots (migration 0012): concurrent writers of one area never queue on a
counter row (PostgreSQL), and the kept counts, summed over slots, stay exact (issue 9)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services import counters, signup
from services.permissions import PORTAL
from services.schema import current_revisions, upgrade
from services.schema_heads import SCHEMA_HEADS
from services.store import Store
from tests.conftest import actor_of
from tests.test_signup_services import GOOD


def _submit(store, tag: str) -> str:
    return store.call(signup.submit, PORTAL, {**GOOD, "email": f"{tag}@x.example", "user_name": f"u{tag}"}).number


@pytest.mark.postgres
def test_two_open_transactions_moving_rows_into_one_status_do_not_wait_for_each_other(pg_store):
    """Each transaction adds to a slot no other open transaction holds: the second one, with a
    1 s lock timeout, goes through while the first still holds its counter row."""
    first, second, third = (_submit(pg_store, f"slot{i}") for i in range(3))
    a, b, c = (pg_store.engine.connect() for _ in range(3))
    try:
        for conn, number in ((a, first), (b, second), (c, third)):
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            conn.execute(text("UPDATE signuprequest SET status = 'Rejected' WHERE number = :n"), {"n": number})
        # a delete (a decrement of Requested and of Rejected) does not wait either
        c.execute(text("DELETE FROM signuprequest WHERE number = :n"), {"n": third})
        a.commit()
        b.commit()
        c.commit()
    finally:
        for conn in (a, b, c):
            conn.close()
    with pg_store.read() as s:
        slots = s.execute(
            text("SELECT count(*) FROM statuscount WHERE area = 'signup' AND status = 'Rejected'")
        ).scalar()
        assert slots >= 2  # the open transactions wrote to different rows
        assert counters.read(s, "signup").get("Rejected") == 2
    admin = actor_of(pg_store)("admin1")
    assert pg_store.call(counters.check, admin) == []


@pytest.mark.postgres
def test_repair_folds_the_slots_of_an_area_into_one(pg_store):
    for i in range(2):
        _submit(pg_store, f"fold{i}")
    with pg_store.write() as s:  # drift, spread over two slots
        s.execute(text("INSERT INTO statuscount (area, status, slot, n) VALUES ('signup', 'Requested', 777, 5)"))
    admin = actor_of(pg_store)("admin1")
    with pg_store.write() as s:  # as `regdesk db check-counters --repair`
        wrong = counters.check(s, admin, repair=True)
    assert [(w.status, w.kept - w.counted) for w in wrong] == [("Requested", 5)]
    assert pg_store.call(counters.check, admin) == []
    with pg_store.read() as s:
        assert s.execute(text("SELECT DISTINCT slot FROM statuscount WHERE area = 'signup'")).scalars().all() == [0]


def test_sqlite_uses_slot_zero_and_counts_stay_exact(store):
    for i in range(3):
        _submit(store, f"z{i}")
    with store.read() as s:
        assert s.execute(text("SELECT DISTINCT slot FROM statuscount")).scalars().all() == [0]
        assert counters.read(s, "signup")["Requested"] == 3
    assert store.call(counters.check, actor_of(store)("admin1")) == []


def test_upgrade_to_slots_keeps_the_counts_and_downgrade_sums_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url, upgrade=False, create=True)
    upgrade(store.engine, "0010")
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO statuscount (area, status, n) VALUES ('signup', 'Requested', 3), ('case', 'Open', 2)")
        )
    upgrade(store.engine)
    assert current_revisions(store.engine) == SCHEMA_HEADS
    with store.read() as s:
        assert counters.read(s, "signup") == {"Requested": 3} and counters.read(s, "case") == {"Open": 2}
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO statuscount (area, status, slot, n) VALUES ('signup', 'Requested', 9, -1)"))
    from alembic import command

    from services.schema import _alembic_config

    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0010")
    with store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT n FROM statuscount WHERE area = 'signup' AND status = 'Requested'")).scalar() == 2
        )
    upgrade(store.engine)
    store.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_and_downgrade_of_the_slots(pg_empty_database_url):
    from alembic import command

    from services.schema import _alembic_config
    from services.store import make_engine

    engine = make_engine(pg_empty_database_url)
    try:
        upgrade(engine, "0010")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO statuscount (area, status, n) VALUES ('signup', 'Requested', 3)"))
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO statuscount (area, status, slot, n) VALUES ('signup', 'Requested', 9, -1)"))
            assert conn.execute(text("SELECT sum(n) FROM statuscount WHERE area = 'signup'")).scalar() == 2
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0010")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT n FROM statuscount WHERE area = 'signup'")).scalar() == 2
        upgrade(engine)
        assert current_revisions(engine) == SCHEMA_HEADS
    finally:
        engine.dispose()
