"""Imports are planned outside the write transaction and applied all at once (issues 9 and 11):
all-or-nothing by default, --partial on request, a planned-on row changed meanwhile stops the
whole file, and every malformed or oversized input gets a clear refusal, not "unexpected"."""

from __future__ import annotations

import pytest

from services import changes, customers
from services import customer_import as ci
from services.errors import Conflict
from services.store import Store
from tests.conftest import actor_of

GOOD_AND_BAD = (
    "account,city\n"
    "C-000001,Tacoma\n"
    "C-000002,Leeds\n"
    "C-999999,Nowhere\n"  # no such customer
)


def city(store, account):
    with store.read() as s:
        return customers.get_customer(s, account).city


def write(tmp_path, text, name="in.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_one_bad_row_changes_nothing_and_every_bad_row_is_reported(cli, store, tmp_path):
    before = city(store, "C-000001"), city(store, "C-000002")
    text = GOOD_AND_BAD + "C-000003,Bothell,extra\n"
    r = cli("customers", "import", write(tmp_path, text), as_="admin1")
    assert r.code == 2, r
    assert "C-999999" in r.out and "3 cells" in r.out  # every bad row, not just the first
    assert "nothing changed" in (r.out + r.err).lower()
    assert (city(store, "C-000001"), city(store, "C-000002")) == before


def test_partial_applies_the_good_rows_and_says_so(cli, store, tmp_path):
    r = cli("customers", "import", write(tmp_path, GOOD_AND_BAD), "--partial", as_="admin1")
    assert r.code == 2, r
    assert "good rows" in (r.out + r.err).lower()
    assert city(store, "C-000001") == "Tacoma" and city(store, "C-000002") == "Leeds"


def test_all_good_rows_apply_with_exit_0(cli, store, tmp_path):
    r = cli("customers", "import", write(tmp_path, "account,city\nC-000001,Tacoma\n"), as_="admin1")
    assert r.code == 0, r
    assert city(store, "C-000001") == "Tacoma"


def test_service_refuses_to_half_apply(store):
    admin = actor_of(store)("admin1")
    report = store.call(ci.import_rows, admin, ci.parse_csv(GOOD_AND_BAD))
    assert report.written is False and report.counts["invalid"] == 1
    assert city(store, "C-000001") != "Tacoma"
    report = store.call(ci.import_rows, admin, ci.parse_csv(GOOD_AND_BAD), partial=True)
    assert report.written is True and city(store, "C-000001") == "Tacoma"


def test_a_row_changed_after_planning_stops_the_whole_file(any_store, clock, monkeypatch):
    """The plan read C-000002 at version v; an edit lands before the apply: nothing is applied."""
    admin = actor_of(any_store)("admin1")
    other = Store(any_store.url, clock=clock, upgrade=False)
    original = ci.commands.begin_write

    def edit_meanwhile(session):
        other.call(changes.edit_customer, actor_of(other)("support1"), "C-000002", {"city": "Sheffield"})
        original(session)

    monkeypatch.setattr(ci.commands, "begin_write", edit_meanwhile)  # where import_rows looks it up
    try:
        with pytest.raises(Conflict) as err:
            any_store.call(ci.import_rows, admin, ci.parse_csv("account,city\nC-000001,Tacoma\nC-000002,Leeds\n"))
    finally:
        other.dispose()
    assert "C-000002" in err.value.message and "line 3" in err.value.message
    assert city(any_store, "C-000001") != "Tacoma"
    assert city(any_store, "C-000002") == "Sheffield"


def test_a_bare_cr_inside_a_cell_is_an_error_not_a_truncation(cli, store, tmp_path):
    before = city(store, "C-000001")
    r = cli("customers", "import", write(tmp_path, "account,city\nC-000001,Ta\rcoma\nC-000002,Leeds\n"), as_="admin1")
    assert r.code == 2, r
    assert "carriage return" in r.err.lower() and "line 2" in r.err
    assert city(store, "C-000001") == before and city(store, "C-000002") != "Leeds"
    # CRLF line ends are fine
    r = cli("customers", "import", write(tmp_path, "account,city\r\nC-000001,Tacoma\r\n"), as_="admin1")
    assert r.code == 0, r


@pytest.mark.parametrize(
    "name,content,expect",
    [
        ("big.csv", None, "larger than"),
        ("field.csv", "account,city\nC-000001," + "x" * 200_000 + "\n", "longer than"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested"),
        ("deepobj.json", '[{"account": "C-000001", "city": ' + "[" * 5000 + "]" * 5000 + "}]", "nested"),
        ("num.json", '[{"account": "C-000001", "credit_limit": ' + "9" * 5000 + "}]", "number"),
        ("num.csv", "account,credit_limit\nC-000001," + "9" * 5000 + "\n", "number"),
    ],
)
def test_limits_give_a_clear_error(cli, store, tmp_path, monkeypatch, name, content, expect):
    if content is None:
        monkeypatch.setattr(ci.files, "MAX_FILE_BYTES", 64)  # where read_file looks it up
        content = "account,city\n" + "C-000001,Tacoma\n" * 10
    r = cli("customers", "import", write(tmp_path, content, name), as_="admin1")
    assert r.code == 2, r
    assert "unexpected" not in r.err and "Traceback" not in r.err
    assert expect in (r.out + r.err).lower(), r


def test_the_planned_rows_are_copied_before_the_write_phase(any_store, monkeypatch):
    """The temporary table of planned rows is filled while planning on both stores (COPY on
    PostgreSQL, 100k rows of Python under load): the write phase is the bulk statements only."""
    admin = actor_of(any_store)("admin1")
    events: list[str] = []
    original_begin, original_copy, original_many = ci.commands.begin_write, ci.bulk._copy, ci.bulk.execute_many

    def begin(session):
        events.append("begin_write")
        original_begin(session)

    def copy(session, sql, rows):
        events.append("fill")
        original_copy(session, sql, rows)

    def many(session, stmt, rows, expected=-1):
        if str(stmt).startswith(f"INSERT INTO {ci.bulk.PLANNED_PREFIX}"):  # SQLite: the prepared SQL
            events.append("fill")
        return original_many(session, stmt, rows, expected)

    monkeypatch.setattr(ci.commands, "begin_write", begin)
    monkeypatch.setattr(ci.bulk, "_copy", copy)
    monkeypatch.setattr(ci.bulk, "execute_many", many)
    report = any_store.call(ci.import_rows, admin, ci.parse_csv("account,city\nC-000001,Tacoma\nC-000002,Leeds\n"))
    assert report.written is True and city(any_store, "C-000002") == "Leeds"
    assert events == ["fill", "begin_write"]
