"""The sign-up commands as a script or a person would run them: output, JSON, exit codes."""

from __future__ import annotations

import json
import os

import pytest

from services import tokens
from tests.conftest import HOSTILE
from tests.test_signup_services import GOOD, link_token


def token_for(cli, number: str) -> str:
    """The link the customer got by mail (staff views mask it, so read the stored body)."""
    from services.store import Store

    store = Store(os.environ["REGDESK_DATABASE_URL"])
    try:
        return link_token(store, number)
    finally:
        store.dispose()


def submit(cli, **changes) -> str:
    result = cli("signup", "submit", "-", "--json", stdin=json.dumps({**GOOD, **changes}))
    assert result.code == 0, result
    return result.json()["number"]


def test_full_process_from_the_cli(cli, tmp_path):
    path = tmp_path / "signup.json"
    path.write_text(json.dumps(GOOD))
    result = cli("signup", "submit", str(path))
    assert result.code == 0 and "REG-000001 submitted" in result.out
    assert cli("signup", "verify", token_for(cli, "REG-000001")).code == 0
    approve = cli("requests", "approve", "REG-000001", "--json", as_="approver1")
    assert approve.code == 0 and approve.json()["status"] == "Approved"
    create = cli(
        "requests",
        "create",
        "REG-000001",
        "--new",
        "--template",
        "DOMESTIC",
        "--role",
        "Customer self-service user",
        "--set",
        "credit_limit=500",
        "--json",
        as_="approver1",
    )
    assert create.code == 0, create
    data = create.json()
    assert data["status"] == "Created" and data["user_request_status"] == "Submitted"
    shown = cli("customers", "show", data["customer_account"], "--json", as_="support1").json()
    assert shown["customer"]["credit_limit"] == "500.00" and shown["contacts"][0]["last_name"] == "Lee"
    audit = cli("audit", "list", "--entity", "REG-000001", "--json", as_="approver1").json()
    assert [e["action"] for e in reversed(audit)] == ["submitted", "verified", "approved", "created"]


def test_bad_submission_names_each_field_and_stores_nothing(cli):
    bad = {**GOOD, "email": "nope", "user_name": "", "shoe_size": 44}
    result = cli("signup", "submit", "-", stdin=json.dumps(bad))
    assert result.code == 2
    for text in ("email:", "user_name: required", "shoe_size: unknown field"):
        assert text in result.err
    assert "Traceback" not in result.err + result.out
    assert cli("requests", "list", "--json", as_="approver1").json() == []
    as_json = cli("signup", "submit", "-", "--json", stdin=json.dumps(bad))
    assert as_json.code == 2 and set(as_json.json()["fields"]) == {"email", "user_name", "shoe_size"}


@pytest.mark.parametrize("payload, needle", [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object")])
def test_not_json_is_refused(cli, payload, needle):
    result = cli("signup", "submit", "-", stdin=payload)
    assert result.code == 2 and needle in result.err


def test_missing_file_is_a_message(cli):
    result = cli("signup", "submit", "/nonexistent/signup.json")
    assert result.code == 2 and "cannot read" in result.err and "Traceback" not in result.err


def test_schema_lists_every_key(cli):
    schema = json.loads(cli("signup", "schema").out)
    assert set(schema["properties"]) == set(GOOD) | {"customer_account"}
    assert schema["additionalProperties"] is False


def test_refusals_have_messages_and_exit_codes(cli):
    number = submit(cli)
    r = cli("requests", "approve", number, as_="approver1")
    assert r.code == 5 and "not verified" in r.err
    r = cli("requests", "approve", number, as_="support1")
    assert r.code == 3 and "needs role approver" in r.err
    r = cli("requests", "reject", number, "--reason", "  ", as_="approver1")
    assert r.code == 2 and "reason" in r.err
    r = cli("requests", "reject", number, as_="approver1")
    assert r.code == 2 and "--reason" in r.err  # typer's usage error for the missing option
    r = cli("requests", "show", "REG-999999", as_="approver1")
    assert r.code == 4 and "no sign-up request" in r.err
    r = cli("requests", "create", number, "--new", "--existing", "C-000001", "--role", "x", as_="approver1")
    assert r.code == 2 and "exactly one of --new" in r.err
    r = cli("signup", "verify", "rdk_bogusbogusbogusbogusbogus")
    assert r.code == 4 and "not known" in r.err


def test_operator_resolution(cli, monkeypatch):
    r = cli("requests", "list", as_="nobody")
    assert r.code == 3 and "unknown operator 'nobody'" in r.err
    monkeypatch.setenv("REGDESK_OPERATOR", "support1")
    assert cli("requests", "list").code == 0
    r = cli("operators", "disable", "support1", as_="approver1")
    assert r.code == 3 and "needs role admin" in r.err
    assert cli("operators", "disable", "support1", as_="admin1").code == 0
    r = cli("requests", "list", as_="support1")
    assert r.code == 3 and "disabled" in r.err
    assert cli("operators", "enable", "support1", as_="admin1").code == 0
    added = cli("operators", "add", "carol", "--name", "Carol", "--roles", "approver,support", "--json", as_="admin1")
    assert added.code == 0 and added.json()["roles"] == "approver support"
    r = cli("operators", "add", "bad name!", "--name", "X", "--roles", "wizard", as_="admin1")
    assert r.code == 2 and "user_name" in r.err and "roles" in r.err


def test_list_filters_and_search(cli):
    first = submit(cli)
    second = submit(cli, email="z@z.example", company="Zeta Zoo", user_name="zeta")
    cli("signup", "verify", token_for(cli, second))
    rows = cli("requests", "list", "--status", "verified by user", "--json", as_="approver1").json()
    assert [r["number"] for r in rows] == [second]
    rows = cli("requests", "list", "--search", "tailwind", "--json", as_="approver1").json()
    assert [r["number"] for r in rows] == [first]
    r = cli("requests", "list", "--status", "Bogus", as_="approver1")
    assert r.code == 2 and "one of" in r.err


def test_resend_and_outbox(cli):
    number = submit(cli)
    old = token_for(cli, number)
    assert cli("requests", "resend", number, as_="support1").code == 0
    mails = cli("outbox", "list", "--entity", number, "--json", as_="support1").json()
    assert [m["status"] for m in mails] == ["pending", "sent"]  # newest first; the old link went out
    # staff see the mail, never a working link (support could otherwise verify for the customer)
    assert all(not tokens.TOKEN_PATTERN.search(m["body"]) for m in mails)
    assert tokens.TOKEN_PATTERN.search(json.dumps(mails)) is None
    r = cli("signup", "verify", old)
    assert r.code == 5 and "replaced" in r.err


def test_hostile_text_is_printed_literally(cli):
    number = submit(cli, company=HOSTILE[2], first_name=HOSTILE[0], last_name=HOSTILE[1], street=HOSTILE[3])
    out = cli("requests", "show", number, as_="approver1").out
    assert "[@click=app.quit]q[/]" in out and "[/x]" in out and "[b]bold[/b]" in out
    assert "\x1b" not in out


def test_every_command_has_help(cli):
    from typer.main import get_command

    from app.cli.root import app

    assert cli("--help").code == 0  # registers every command module
    root = get_command(app)
    paths = [[]]
    for name, cmd in root.commands.items():
        paths.append([name])
        for sub in getattr(cmd, "commands", {}):
            paths.append([name, sub])
    for path in paths:
        r = cli(*path, "--help")
        assert r.code == 0 and "Usage:" in r.out, path
        assert len(r.out.strip().splitlines()) > 3, path


def test_unreachable_database_is_a_message(cli, monkeypatch):
    monkeypatch.setenv("REGDESK_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    r = cli("requests", "list", as_="approver1")
    assert r.code == 8 and "cannot use the database" in r.err and "Traceback" not in r.err


def test_demo_loads_once_and_adds_synthetic_requests(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("REGDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    first = cli("demo", "--requests", "500", "--json")
    assert first.code == 0 and first.json()["loaded"] is True
    again = cli("demo", "--json")
    assert again.json()["loaded"] is False
    counts = {}
    for status in ("Requested", "Verified by user", "Approved", "Created", "Rejected"):
        counts[status] = len(
            cli("requests", "list", "--status", status, "--limit", "5000", "--json", as_="approver1").json()
        )
    assert all(counts.values()) and sum(counts.values()) == 511


def test_sequence_prefix_and_width_are_configurable(cli):
    r = cli("sequences", "set", "signup", "--prefix", "WEB-", "--width", "4", as_="approver1")
    assert r.code == 3 and "needs role admin" in r.err
    r = cli("sequences", "set", "signup", "--width", "40", as_="admin1")
    assert r.code == 2 and "width" in r.err
    assert cli("sequences", "set", "signup", "--prefix", "WEB-", "--width", "4", as_="admin1").code == 0
    assert submit(cli) == "WEB-0001"
    rows = {r["code"]: r for r in cli("sequences", "list", "--json", as_="support1").json()}
    assert rows["signup"]["next"] == "WEB-0002"
    assert cli("audit", "list", "--entity", "signup", "--json", as_="admin1").json()[0]["after"] == {
        "prefix": "WEB-",
        "width": 4,
        "continuous": False,
    }


def test_any_parameter_is_listed_and_set_by_admins_only(cli):
    rows = {r["key"]: r for r in cli("params", "list", "--json", as_="support1").json()}
    assert rows["workflow.disallow_submitter_approval"]["value"] is True
    assert rows["signup.verification_ttl_hours"]["default"] == 72
    r = cli("params", "set", "signup.verification_ttl_hours", "5", as_="approver1")
    assert r.code == 3 and "needs role admin" in r.err
    r = cli("params", "set", "signup.verification_ttl_hours", "lots", as_="admin1")
    assert r.code == 2 and "signup.verification_ttl_hours" in r.err
    assert cli("params", "set", "workflow.disallow_submitter_approval", "off", as_="admin1").code == 0
    assert cli("params", "set", "signup.verification_ttl_hours", "5", "--json", as_="admin1").json()["value"] == 5
    rows = {r["key"]: r for r in cli("params", "list", "--json", as_="support1").json()}
    assert (
        rows["workflow.disallow_submitter_approval"]["value"] is False
        and rows["signup.verification_ttl_hours"]["value"] == 5
    )
    events = cli("audit", "list", "--entity", "signup.verification_ttl_hours", "--json", as_="admin1").json()
    assert events[0]["before"] == {"value": 72} and events[0]["after"] == {"value": 5}
