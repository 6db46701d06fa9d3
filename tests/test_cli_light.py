"""The CLI's light read path (app/cli/light.py) prints exactly what the typer path prints.

Every case runs ``main`` twice on the same data: once as it is (the light path answers, which
the test checks), once with the light path switched off (typer, the services, the ORM); stdout,
stderr and the exit code must be identical, on both stores, with hostile strings in the data.
Arguments the light path must not answer fall through to typer and still agree.
"""

from __future__ import annotations

import pytest

from app.cli import light, main
from services import customers, quick, signup
from services.permissions import PORTAL
from tests.conftest import HOSTILE, actor_of
from tests.test_console_registration import load_requests

REAL_RUN = light.run
ANSWERED = [
    ("requests", "list"),
    ("requests", "list", "--json"),
    ("requests", "list", "--status", "Approved", "--sort", "company", "--desc"),
    ("requests", "list", "--status=Requested", "--sort=status", "--limit=2"),
    ("requests", "list", "--sort", "created", "--limit", "3", "--json"),
    *[("requests", "list", "--sort", sort, "--desc", "--limit", "4") for sort in signup.SORTS],
    *[("requests", "list", "--sort", sort, "--json", "--limit", "5000") for sort in signup.SORTS],
    ("customers", "list"),
    ("customers", "list", "--json"),
    ("customers", "list", "--limit", "2", "--json"),
]
DECLINED = [
    ("requests", "list", "--search", "Alpine"),
    ("requests", "list", "--status", "bogus"),
    ("requests", "list", "--status", "requested"),
    ("requests", "list", "--sort", "nope"),
    ("requests", "list", "--limit", "0"),
    ("requests", "list", "--limit", "5001"),
    ("requests", "list", "--limit", "x"),
    ("requests", "list", "--limit", "3", "--limit", "4"),
    ("requests", "list", "--json=1"),
    ("requests", "list", "--help"),
    ("customers", "list", "--search", "a"),
    ("customers", "list", "--limit", "1001"),
    ("customers", "list", "extra"),
]


@pytest.fixture
def loaded(any_store):
    actor = actor_of(any_store)
    load_requests(any_store, actor)
    approver = actor("approver1")
    for i, hostile in enumerate(HOSTILE):
        data = {
            "company": f"{hostile} Trading {i}",
            "first_name": hostile,
            "last_name": f"Ä{hostile}",
            "email": f"h{i}@example.com",
            "user_name": f"hostile{i}",
            "phone": "+1 555 0100",
            "street": hostile,
            "city": hostile,
            "zip": "10001",
            "country": "US",
            "language": "en-us",
        }
        try:
            number = any_store.call(signup.submit, PORTAL, data).number
        except Exception:  # a value the intake refuses: the cleaned variant
            data = {**data, "first_name": "H", "last_name": "X", "street": "1 Main", "city": "City"}
            number = any_store.call(signup.submit, PORTAL, data).number
        if i == 0:
            from tests.test_console_registration import link_token

            any_store.call(signup.verify, link_token(any_store, number))
            any_store.call(signup.approve, approver, number)
            any_store.call(
                signup.create_customer,
                approver,
                number,
                mode="new",
                template="EXPORT",
                role="Customer self-service user",
            )
    # duplicate hints of every kind: the same e-mail twice, a customer's name, an account given
    created = any_store.call(customers.list_customers, approver, limit=1)[0]
    for i, extra in enumerate(
        [{}, {"company": created.name}, {"customer_account": created.account}, {"customer_account": "NOPE-404"}]
    ):
        data = {
            "company": f"Dup {HOSTILE[1]} {i}",
            "first_name": "Dup",
            "last_name": "Licate",
            "email": "dup@example.com",
            "user_name": f"dup{i}",
            "phone": "+1 555 0100",
            "street": "1 Main",
            "city": "Oslo",
            "zip": "10001",
            "country": "NO",
            "language": "en-us",
            **extra,
        }
        any_store.call(signup.submit, PORTAL, data)
    return any_store


def _numbers(store) -> list[str]:
    approver = actor_of(store)("approver1")
    return [r.number for r in store.call(signup.list_requests, approver, limit=5000).rows]


def test_requests_show_prints_what_typer_prints(loaded, monkeypatch, capsys):
    numbers = _numbers(loaded)
    assert len(numbers) > 10
    numbers = numbers[:4] + numbers[-10:]  # every status, the hostile ones, the duplicates
    for number in numbers:
        for args in (("requests", "show", number), ("requests", "show", "--json", number.lower())):
            answered, mine, theirs = _both(monkeypatch, capsys, loaded.url, args)
            assert answered == 0, args
            assert mine == theirs, args
    shown = "".join(_both(monkeypatch, capsys, loaded.url, ("requests", "show", n))[1][1] for n in numbers)
    assert "Possible duplicates" in shown and "(no such customer)" in shown and "same company name" in shown
    for args in (
        ("requests", "show", "REG-9999999"),
        ("requests", "show"),
        ("requests", "show", "a", "b"),
        ("requests", "show", "--limit", "3", numbers[0]),
    ):
        answered, mine, theirs = _both(monkeypatch, capsys, loaded.url, args)
        assert answered is None and mine == theirs and mine[0] != 0, args


def test_light_constants_agree_with_the_services():
    from services import audit

    assert quick.OPEN_REQUEST_STATUSES == signup.OPEN_STATUSES
    assert [(name, t.permission, set(t.sources)) for name, t in signup.TRANSITIONS.items() if t.permission] == [
        (name, permission, set(sources)) for name, permission, sources in quick.REQUEST_ACTIONS
    ]
    assert [*quick.DETAIL_COLUMNS, "user_request", "version", "duplicates", "history", "actions"] == list(
        signup.RequestDetail.model_fields
    )
    assert list(quick.AUDIT_COLUMNS) == list(audit.AuditView.model_fields)
    assert quick.REQUEST_SORTS == {name: column.key for name, column in signup.SORTS.items()}
    assert quick.PROPOSAL_STATUS == customers._STATUS_OF_STATE
    assert set(quick.LightCustomerRow.__dataclass_fields__) == set(customers.CustomerRow.model_fields)


def _both(monkeypatch, capsys, url: str, args: tuple[str, ...], operator: str = "approver1"):
    monkeypatch.setenv("REGDESK_DATABASE_URL", url)
    monkeypatch.setenv("REGDESK_CONFIG", "/nonexistent")
    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)
    monkeypatch.delenv("REGDESK_REASON", raising=False)
    argv = ["--as", operator, *args]
    answers = []
    real = REAL_RUN

    def spy(a):
        answers.append(real(a))
        return answers[-1]

    results = []
    for path in (spy, lambda a: None):
        monkeypatch.setattr(light, "run", path)
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        results.append((code, captured.out, captured.err))
    return answers[0], results[0], results[1]


@pytest.mark.parametrize("args", ANSWERED, ids=" ".join)
def test_light_path_prints_what_typer_prints(loaded, monkeypatch, capsys, args):
    answered, mine, theirs = _both(monkeypatch, capsys, loaded.url, args)
    assert answered == 0, "the light path did not answer"
    assert mine == theirs
    assert mine[1].strip()


@pytest.mark.parametrize("args", DECLINED, ids=" ".join)
def test_anything_else_is_left_to_typer(loaded, monkeypatch, capsys, args):
    answered, mine, theirs = _both(monkeypatch, capsys, loaded.url, args)
    assert answered is None
    assert mine == theirs


@pytest.mark.parametrize("operator", ["nobody", "support1"])
def test_identity_refusals_and_other_operators_agree(loaded, monkeypatch, capsys, operator):
    answered, mine, theirs = _both(monkeypatch, capsys, loaded.url, ("requests", "list", "--json"), operator)
    assert mine == theirs
    if operator == "nobody":
        assert answered is None and mine[0] == 3


def test_an_outdated_schema_is_left_to_typer(store, db_path):
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert light.run(["--db", str(db_path), "--as", "approver1", "requests", "list"]) is None
