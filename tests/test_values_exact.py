"""Issue 11, "values read exactly": decimals in one unambiguous format, whole escape sequences
and bidi controls stripped, e-mail local parts within SMTP's limit, and no "unexpected" exit 70
from any input (huge ids, deep or huge JSON, endless numbers, over-long case fields)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from services import cases, changes, customers
from services.errors import ValidationFailed
from services.text import clean
from tests.conftest import actor_of

ACC = "C-000001"


# ------------------------------------------------------------------ control characters


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Fa\x1bBrik", "FaBrik"),  # a lone ESC: only the ESC goes
        ("\x1b[31mred\x1b[0m", "red"),  # CSI, whole
        ("a\x1b[38;5;196mb", "ab"),
        ("a\x1b]0;title\x07b", "ab"),  # OSC ended by BEL
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # OSC 8 hyperlink ended by ST
        ("x\x1b(By", "xy"),  # nF: character set designation
        ("x\x1bcy", "xy"),  # RIS, two characters
        ("x\x1b]never ends", "x]never ends"),  # unterminated OSC: the ESC only
        ("\x9b31mred", "red"),  # 8-bit CSI
        ("Ev\u202eil\u202c Corp", "Evil Corp"),  # bidi override + pop
        ("a\u2066b\u2067c\u2068d\u2069e\u202a\u202b\u202d", "abcde"),  # isolates and embeddings
        ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"),  # ZWJ kept (Devanagari)
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),  # ZWNJ kept
        (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        ),  # emoji ZWJ sequence
    ],
)
def test_clean_strips_whole_escape_sequences_and_bidi_controls(raw, expected):
    assert clean(raw) == expected


def test_customer_name_and_address_lose_bidi_controls(any_store):
    a = actor_of(any_store)
    any_store.call(
        changes.edit_customer, a("support1"), ACC, {"name": "Fa\x1bBrik\u202e Inc", "street": "1 \u2067Main\u2069 St"}
    )
    with any_store.read() as s:
        c = customers.get_customer(s, ACC)
    assert (c.name, c.street) == ("FaBrik Inc", "1 Main St")


# ------------------------------------------------------------------ decimals


@pytest.mark.parametrize(
    "value, stored",
    [("1.50", "1.50"), ("1.5", "1.50"), ("25000", "25000.00"), ("0", "0.00"), ("0001.10", "1.10"), ("", "0.00")],
)
def test_decimal_accepts_point_without_grouping(any_store, value, stored):
    r = any_store.call(changes.edit_customer, actor_of(any_store)("support1"), ACC, {"credit_limit": value})
    assert "credit_limit" in r.saved or r.unchanged == ["credit_limit"]
    with any_store.read() as s:
        assert customers.get_customer(s, ACC).credit_limit == Decimal(stored)


@pytest.mark.parametrize(
    "value",
    [
        "1,50",
        "1.000,50",
        "1,000.00",
        "1 000",
        "1'000",
        "1_000",
        "1.2.3",
        "+1",
        "1e5",
        "\u0661\u0662",
        "\uff11\uff12",
        "\u0967",
        "12\u00a0000",
        ".5",
        "NaN",
        "Infinity",
        "9" * 5000,
        "-1",
        "1.555",
    ],
)
def test_decimal_refuses_everything_else_naming_the_field(any_store, value):
    a = actor_of(any_store)
    with pytest.raises(ValidationFailed) as info:
        any_store.call(changes.edit_customer, a("support1"), ACC, {"credit_limit": value})
    assert set(info.value.errors) == {"credit_limit"}
    reason = info.value.errors["credit_limit"]
    assert "e.g. 25000.00" in reason or reason == "zero or more"
    with any_store.read() as s:
        assert customers.get_customer(s, ACC).credit_limit == Decimal("0.00")  # nothing saved


def test_decimal_comma_refused_on_the_command_line(cli):
    r = cli("customers", "edit", ACC, "credit_limit=1,50", as_="support1")
    assert r.code == 2 and "credit_limit" in r.err and "point as decimal separator" in r.err and "25000.00" in r.err
    r = cli("customers", "show", ACC, "--json", as_="support1")
    assert r.json()["customer"]["credit_limit"] == "0.00"


def test_decimal_comma_refused_in_an_import(store, tmp_path):
    from services import customer_import

    path = tmp_path / "c.csv"
    path.write_text('account,credit_limit\nC-000001,"1,50"\nC-000002,\u0661\u0662\n', encoding="utf-8")
    rows = customer_import.read_file(path)
    report = store.call(customer_import.import_rows, actor_of(store)("admin1"), rows)
    assert [r.status for r in report.report] == ["invalid", "invalid"]
    assert "point as decimal separator" in report.report[0].errors["credit_limit"]
    assert "digits 0-9" in report.report[1].errors["credit_limit"]


def test_whole_numbers_are_ascii_digits_only(any_store):
    a = actor_of(any_store)
    for value in ("\u0661\u0662", "1_0", "+5", "1e2"):
        with pytest.raises(ValidationFailed) as info:
            any_store.call(changes.edit_customer, a("support1"), ACC, {"cash_discount_base_days": value})
        assert set(info.value.errors) == {"cash_discount_base_days"}


# ------------------------------------------------------------------ e-mail


def test_email_local_part_over_64_characters_is_refused(any_store):
    a = actor_of(any_store)
    with pytest.raises(ValidationFailed) as info:
        any_store.call(changes.edit_customer, a("support1"), ACC, {"email": "a" * 65 + "@example.com"})
    assert "64" in info.value.errors["email"]
    any_store.call(changes.edit_customer, a("support1"), ACC, {"email": "a" * 64 + "@example.com"})


def test_signup_email_local_part_over_64_is_refused(cli, tmp_path):
    data = {
        "company": "Long Mail Ltd",
        "first_name": "A",
        "last_name": "B",
        "email": "x" * 65 + "@example.com",
        "user_name": "longmail",
        "country": "US",
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    r = cli("signup", "submit", str(path), as_="support1")
    assert r.code == 2 and "email" in r.err and "64" in r.err


# ------------------------------------------------------------------ no exit 70


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "args, as_",
    [
        (("outbox", "retry", HUGE), "admin1"),
        (("work", "approve", HUGE), "approver1"),
        (("work", "reject", HUGE, "--reason", "x"), "approver1"),
        (("work", "show", HUGE), "approver1"),
        (("workflow", "show", HUGE), "admin1"),
        (("work", "approve", "\u0661\u0662"), "approver1"),
        (("work", "delegate", HUGE, "--to", "approver2"), "approver1"),
        (("cases", "show", "9" * 5000), "approver1"),
        (("cases", "show", "\u0661"), "approver1"),
        (("prospects", "show", "9" * 5000), "approver1"),
    ],
)
def test_out_of_range_ids_are_not_found(cli, args, as_):
    r = cli(*args, as_=as_)
    assert r.code == 4, r
    assert "unexpected" not in r.err


@pytest.mark.parametrize(
    "content, reason",
    [
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"company": ' + "9" * 5000 + "}", "number is too long"),
        (json.dumps({"company": "x" * 50_000_000}), "too large"),
        ('{"company": "\xff', "not valid JSON"),
    ],
)
def test_hostile_signup_json_is_refused_clearly(cli, tmp_path, content, reason):
    path = tmp_path / "s.json"
    path.write_text(content, encoding="utf-8")
    r = cli("signup", "submit", str(path), as_="support1")
    assert r.code == 2 and reason in r.err, r
    r = cli("requests", "list", "--json", as_="support1")
    assert r.json() == []


def test_signup_field_far_too_long_is_refused_by_the_service(store):
    from services import signup

    data = {
        "company": "x" * 5_000_000,
        "first_name": "A",
        "last_name": "B",
        "email": "a@example.com",
        "user_name": "abc",
        "country": "US",
    }
    with pytest.raises(ValidationFailed) as info:
        store.call(signup.submit, actor_of(store)("support1"), data)
    assert "company" in info.value.errors


def test_case_category_over_200_characters_is_a_validation_error(any_store):
    a = actor_of(any_store)
    number = any_store.call(cases.create_case, a("support1"), {"title": "T", "customer_account": ACC}).number
    with pytest.raises(ValidationFailed) as info:
        any_store.call(cases.update_case, a("support1"), number, {"category": "x" * 201})
    assert info.value.errors == {"category": "at most 200 characters"}


# ------------------------------------------------------------------ CSV export (OWASP CSV injection)


def test_csv_export_neutralises_formula_cells_and_import_restores_them(cli, store, tmp_path):
    a = actor_of(store)
    values = {
        "name": '=HYPERLINK("http://evil","x")',
        "phone": "+1 555 0100",
        "street": "@SUM(A1)",
        "city": "-Minus",
        "state": "'=already quoted",
        "county": "'plain quote",
    }
    store.call(changes.edit_customer, a("support1"), ACC, values)
    path = tmp_path / "out.csv"
    assert cli("customers", "export", str(path), as_="admin1").code == 0
    import csv

    row = next(r for r in csv.DictReader(path.open(encoding="utf-8")) if r["account"] == ACC)
    assert row["name"] == '\'=HYPERLINK("http://evil","x")' and row["phone"] == "'+1 555 0100"
    assert row["street"] == "'@SUM(A1)" and row["city"] == "'-Minus"
    assert row["state"] == "''=already quoted" and row["county"] == "'plain quote"
    # importing the neutralised export changes nothing: every value comes back exactly
    r = cli("customers", "import", str(path), "--json", as_="admin1")
    assert r.code == 0 and {x["status"] for x in r.json()["report"]} == {"unchanged"}, r
    with store.read() as s:
        c = customers.get_customer(s, ACC)
    assert {k: getattr(c, k) for k in values} == values
    raw = tmp_path / "raw.csv"
    assert cli("customers", "export", str(raw), "--raw", as_="admin1").code == 0
    row = next(r for r in csv.DictReader(raw.open(encoding="utf-8")) if r["account"] == ACC)
    assert {k: row[k] for k in values} == values
    # a raw export re-imported with --raw is an exact round trip too (a leading ' is data there)
    r = cli("customers", "import", str(raw), "--raw", "--json", as_="admin1")
    assert r.code == 0 and {x["status"] for x in r.json()["report"]} == {"unchanged"}, r
    with store.read() as s:
        c = customers.get_customer(s, ACC)
    assert {k: getattr(c, k) for k in values} == values
