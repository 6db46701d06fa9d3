"""Issue 11, hostile input: the Big List of Naughty Strings (tests/data/blns.json, MIT, see
tests/data/blns.LICENSE) through sign-up intake, customer edit, the CSV import and the console.

For every string: no traceback (only ValidationFailed is an acceptable refusal), a stored value
is exactly the input minus what the rules strip (``services.text.clean``: escape sequences,
control characters, bidi controls, outer and repeated spaces), and a refused input is not stored.
The figures are printed (``pytest -s``) and kept in ``FIGURES`` for the report.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from models.customer import Customer
from models.signup import SignupRequest
from services import changes, customer_import, signup
from services.errors import ValidationFailed
from services.permissions import PORTAL
from services.text import clean
from tests.conftest import actor_of
from tests.test_signup_services import GOOD

CORPUS: list[str] = json.loads((Path(__file__).parent / "data" / "blns.json").read_text(encoding="utf-8"))
FIGURES: dict[str, Counter] = {}


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 500


def _count(kind: str, outcome: str) -> None:
    FIGURES.setdefault(kind, Counter())[outcome] += 1


def _expect(value: str, max_length: int, required: bool) -> str | None:
    """What must be stored for ``value`` in a single-line field, or None: it must be refused."""
    text = clean(value)
    if len(text) > max_length or (required and not text):
        return None
    return text


def test_signup_intake(any_store):
    FIGURES["signup"] = Counter()
    for i, value in enumerate(CORPUS):
        data = {
            **GOOD,
            "company": value,
            "city": value[:400],
            "email": f"n{i}@naughty.example",
            "user_name": f"naughty{i}",
        }
        company, city = _expect(value, 200, True), _expect(value[:400], 80, False)
        try:
            number = any_store.call(signup.submit, PORTAL, data).number
        except ValidationFailed as exc:
            assert company is None or city is None, (value, exc.errors)
            assert set(exc.errors) <= {"company", "city"}
            with any_store.read() as s:
                assert s.exec(select(SignupRequest).where(SignupRequest.user_name == f"naughty{i}")).first() is None
            _count("signup", "refused")
            continue
        assert company is not None and city is not None, value
        with any_store.read() as s:
            req = s.exec(select(SignupRequest).where(SignupRequest.number == number)).one()
        assert (req.company, req.city) == (company, city), value
        _count("signup", "stored as given" if company == value else "stored, stripped")
    print("\nsign-up intake:", dict(FIGURES["signup"]))


def test_customer_edit(any_store):
    FIGURES["edit"] = Counter()
    support = actor_of(any_store)("support1")
    for value in CORPUS:
        with any_store.read() as s:
            before = s.exec(select(Customer).where(Customer.account == "C-000001")).one()
        name, street = _expect(value, 200, True), _expect(value, 200, False)
        try:
            any_store.call(changes.edit_customer, support, "C-000001", {"name": value, "street": value})
        except ValidationFailed as exc:
            assert name is None or street is None, (value, exc.errors)
            with any_store.read() as s:
                after = s.exec(select(Customer).where(Customer.account == "C-000001")).one()
            assert (after.name, after.street, after.version) == (before.name, before.street, before.version)
            _count("edit", "refused")
            continue
        assert name is not None and street is not None, value
        with any_store.read() as s:
            after = s.exec(select(Customer).where(Customer.account == "C-000001")).one()
        assert (after.name, after.street) == (name, street), value
        _count("edit", "stored as given" if name == value else "stored, stripped")
    print("\ncustomer edit:", dict(FIGURES["edit"]))


def test_csv_import(store):
    FIGURES["import"] = Counter()
    admin = actor_of(store)("admin1")
    for value in CORPUS:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([["account", "name"], ["C-000002", value]])
        with store.read() as s:
            before = s.exec(select(Customer).where(Customer.account == "C-000002")).one()
        expected = _expect(customer_import.un_neutralise(value), 200, True)
        try:
            rows = customer_import.parse_csv(buf.getvalue())
        except ValidationFailed:  # the file as a whole is refused (e.g. a NUL byte)
            _count("import", "file refused")
            continue
        report = store.call(customer_import.import_rows, admin, rows)
        with store.read() as s:
            after = s.exec(select(Customer).where(Customer.account == "C-000002")).one()
        status = report.report[0].status
        if expected is None:
            assert status == "invalid", (value, report.report[0])
            assert after.name == before.name and after.version == before.version
            _count("import", "refused")
        else:
            assert status in ("applied", "unchanged"), (value, report.report[0])
            assert after.name == expected, value
            _count("import", "stored as given" if expected == value else "stored, stripped")
    print("\nCSV import:", dict(FIGURES["import"]))


def test_console_shows_every_stored_value_literally(store):
    """Every accepted string in the Registration list and detail (Textual Pilot): no crash, shown as is."""
    from app.tui import make_app
    from screens.registration import RegistrationScreen

    numbers: dict[str, str] = {}
    for i, value in enumerate(CORPUS):
        data = {
            **GOOD,
            "company": value,
            "first_name": value[:80],
            "street": value,
            "email": f"c{i}@naughty.example",
            "user_name": f"console{i}",
        }
        try:
            numbers[store.call(signup.submit, PORTAL, data).number] = clean(value)
        except ValidationFailed:
            continue
    approver = actor_of(store)("approver1")

    async def scenario() -> int:
        app = make_app(store, approver)
        shown = 0
        async with app.run_test(size=(140, 40)) as pilot:
            for _ in range(3):
                await app.workers.wait_for_complete()
                await pilot.pause()
            screen = next(s for s in app.screen_stack if isinstance(s, RegistrationScreen))
            for index, (number, expected) in enumerate(numbers.items()):
                detail = app.call(signup.show_request, number)
                screen.show_detail(detail)
                if index % 20 == 0:  # let the compositor paint it now and then (a crash would show here)
                    await pilot.pause()
                contact = screen.query_one("#detail-contact").render().plain
                address = screen.query_one("#detail-address").render().plain
                assert expected in contact and expected in address, (number, expected)
                shown += 1
            await pilot.pause()
            assert app.is_running
            rows = screen.query_one("#requests")
            assert rows.row_count > 0  # the list painted the first page of naughty companies
        return shown

    shown = asyncio.run(scenario())
    assert shown == len(numbers) >= 400
    FIGURES["console"] = Counter({"details rendered": shown, "refused at intake": len(CORPUS) - len(numbers)})
    print("\nconsole:", dict(FIGURES["console"]))


@pytest.mark.parametrize("field", ["credit_limit", "cash_discount_base_days"])
def test_numbers_are_refused_unless_exact(store, field):
    """Every naughty string as a number: refused, or exactly a plain ASCII number."""
    import re

    support = actor_of(store)("support1")
    accepted = 0
    for value in CORPUS:
        try:
            store.call(changes.edit_customer, support, "C-000003", {field: value})
        except ValidationFailed as exc:
            assert set(exc.errors) == {field}
            continue
        accepted += 1
        assert re.fullmatch(r"[0-9]*(\.[0-9]+)?", clean(value)), value  # "" (all stripped) reads as 0
    _count("numbers", f"{field} accepted")
    print(f"\n{field}: {accepted} of {len(CORPUS)} accepted (plain numbers), the rest refused")
