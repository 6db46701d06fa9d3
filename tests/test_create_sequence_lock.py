"""How long a customer create holds the gap-free sequence rows on PostgreSQL (issue 9): every
create in the company needs the same two rows (customer accounts, user requests), so each
create's hold is a wait for all the others. Observed on a second connection, no timing."""

from __future__ import annotations

import threading

import psycopg
import pytest

from services import changes, customer_import, sequences, signup
from services.customer_import import commands as import_commands
from tests.conftest import actor_of
from tests.test_signup_services import approved

pytestmark = pytest.mark.postgres
CREATE = {"mode": "new", "template": "DOMESTIC", "role": "Customer self-service user"}


def _locked(url: str, code: str) -> bool:
    """Whether another transaction holds sequence ``code``'s row (asked without waiting)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        try:
            conn.execute("SELECT 1 FROM numbersequence WHERE code = %s FOR UPDATE NOWAIT", (code,))
        except psycopg.errors.LockNotAvailable:
            return True
        finally:
            conn.rollback()
    return False


def test_the_numbers_are_taken_with_the_commit_so_no_client_time_holds_the_rows(pg_store, monkeypatch):
    """The settle statement and the COMMIT go out together: when the settle returns, the rows
    are free again (before, they stayed locked until the client's next round trip, its COMMIT)."""
    approver = actor_of(pg_store)("approver1")
    number = approved(pg_store, email="lock@example.org", user_name="lock1")
    url = pg_store.engine.url.render_as_string(hide_password=False)
    seen: dict[str, bool] = {}
    settle = sequences.settle

    def watched(session, **kwargs):
        mapping = settle(session, **kwargs)
        seen["customer"] = _locked(url, "customer")
        seen["userrequest"] = _locked(url, "userrequest")
        return mapping

    monkeypatch.setattr(sequences, "settle", watched)
    result = pg_store.call(signup.create_customer, approver, number, **CREATE)
    assert seen == {"customer": False, "userrequest": False}
    with pg_store.read() as s:
        req = signup.get_request(s, number)
        assert (req.status, req.created_customer_account) == ("Created", result.customer_account)
        assert result.customer_account.startswith("C-") and result.user_request.startswith("UR-")


def test_a_create_refused_at_the_commit_takes_no_number(pg_store, monkeypatch):
    """A failure of the COMMIT sent with the numbers rolls everything back: the next create gets
    the numbers this one would have had (gap-free), and the error is the store's."""
    from sqlalchemy.exc import DBAPIError

    approver = actor_of(pg_store)("approver1")
    first = approved(pg_store, email="gap1@example.org", user_name="gap1")
    second = approved(pg_store, email="gap2@example.org", user_name="gap2", company="Other Traders")
    url = pg_store.engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    with pg_store.read() as s:
        before = {q.code: q.next_value for q in sequences.list_sequences(s, actor_of(pg_store)("admin1"))}
    # a deferred check that fails at the COMMIT: the one way a commit refuses here
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION pgteam_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
        )
        conn.execute(
            "CREATE CONSTRAINT TRIGGER pgteam_refuse AFTER INSERT ON contactperson "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pgteam_refuse()"
        )
    try:
        with pytest.raises(DBAPIError, match="refused at commit"):
            pg_store.call(signup.create_customer, approver, first, **CREATE)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER pgteam_refuse ON contactperson")
            conn.execute("DROP FUNCTION pgteam_refuse()")
    with pg_store.read() as s:
        after = {q.code: q.next_value for q in sequences.list_sequences(s, actor_of(pg_store)("admin1"))}
        assert after == before
        assert signup.get_request(s, first).status == "Approved"
    result = pg_store.call(signup.create_customer, approver, second, **CREATE)
    assert result.customer_account == sequences.format_number("C-", 6, before["customer"])


def test_an_import_holding_its_write_phase_open_does_not_hold_up_a_create(pg_store, monkeypatch):
    """The import's write transaction (updates and new change proposals) is open; a create in
    another session finishes meanwhile: the import holds no row every create needs."""
    admin = actor_of(pg_store)("admin1")
    approver = actor_of(pg_store)("approver1")
    pg_store.call(changes.set_approvals, admin, "on")
    pg_store.call(changes.set_field_approval, admin, "Credit limit", "on")
    pg_store.call(changes.set_entity_behavior, admin, "propose")
    number = approved(pg_store, email="imp@example.org", user_name="imp1")
    rows = customer_import.parse_csv("account,city,credit_limit\nC-000001,Tacoma,5000\nC-000002,Everett,7000\n")
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    write_proposals = import_commands.write_proposals
    outcome: dict[str, object] = {}

    def held_open(*args, **kwargs):
        write_proposals(*args, **kwargs)
        written.set()  # every row written, the transaction still open
        release.wait(60)

    monkeypatch.setattr(import_commands, "write_proposals", held_open)

    def run_import() -> None:
        try:
            outcome["report"] = pg_store.call(customer_import.import_rows, admin, rows)
        except BaseException as exc:  # pragma: no cover - shown by the assert below
            outcome["error"] = exc
        finally:
            written.set()
            done.set()

    importer = threading.Thread(target=run_import)
    importer.start()
    try:
        assert written.wait(60)
        assert "error" not in outcome, outcome
        created: dict[str, object] = {}

        def create() -> None:
            try:
                created["result"] = pg_store.call(signup.create_customer, approver, number, **CREATE)
            except BaseException as exc:  # pragma: no cover - shown by the assert below
                created["error"] = exc

        creator = threading.Thread(target=create)
        creator.start()
        creator.join(60)
        assert not creator.is_alive(), "the create waited for the import's write transaction"
        assert not done.is_set()  # the import was still open all along
        assert "result" in created, created
    finally:
        release.set()
        importer.join(60)
    report = outcome["report"]
    assert report.counts["proposed"] == 2, report.counts  # type: ignore[attr-defined]
