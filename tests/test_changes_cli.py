"""The CLI of proposed customer changes: params, customers edit/import/export, changes ..."""

from __future__ import annotations

import json

from tests.conftest import HOSTILE

ACC = "C-000001"


def turn_on(cli, *fields, behavior="propose"):
    assert cli("params", "set", "approvals", "on", as_="admin1").code == 0
    assert cli("params", "set", "entity-behavior", behavior, as_="admin1").code == 0
    for f in fields:
        assert cli("params", "field", f, "on", as_="admin1").code == 0


def test_params_show_and_set(cli):
    r = cli("params", "set", "approvals", "on", as_="support1")
    assert r.code == 3 and "admin" in r.err and "Traceback" not in r.err
    turn_on(cli, "credit_limit", behavior="reject")
    data = cli("params", "show", "--json", as_="support1").json()
    assert data["enabled"] is True and data["entity_behavior"] == "reject"
    assert [f["name"] for f in data["fields"] if f["enabled"]] == ["credit_limit"]
    out = cli("params", "show", as_="support1").out
    assert "Reject changes" in out and "Credit limit" in out
    r = cli("params", "field", "shoe", "on", as_="admin1")
    assert r.code == 2 and "no customer field" in r.err
    r = cli("params", "set", "entity-behavior", "sometimes", "--json", as_="admin1")
    assert r.code == 2 and "fields" in r.json()


def test_edit_submit_approve_flow(cli):
    turn_on(cli, "credit_limit")
    r = cli("customers", "edit", ACC, "credit_limit=2500", "city=Tacoma", "--json", as_="support1")
    assert r.code == 0, r
    data = r.json()
    assert data["saved"] == {"city": "Tacoma"} and data["proposed"] == {"credit_limit": "2500.00"}
    r = cli("customers", "edit", ACC, "credit_limit=3000", as_="support1")
    assert "not submitted" in r.out
    show = cli("changes", "show", ACC, "--json", as_="approver1").json()
    assert show["state"] == "Not submitted" and show["lines"][0]["proposed"] == "3000.00"
    assert cli("changes", "submit", ACC, as_="support1").code == 0
    r = cli("customers", "edit", ACC, "credit_limit=1", as_="support1")
    assert r.code == 2 and "locked" in r.err
    assert [x["number"] for x in cli("changes", "list", "--mine", "--json", as_="approver1").json()] == ["CHG-000001"]
    r = cli("changes", "approve", ACC, as_="support1")
    assert r.code == 3
    r = cli("changes", "approve", ACC, "--json", as_="approver1")
    assert r.code == 0 and r.json()["state"] == "Approved"
    cust = cli("customers", "show", ACC, "--json", as_="support1").json()
    assert cust["customer"]["credit_limit"] == "3000.00"
    assert any(
        h["action"] == "change approved" and "proposed by support1, approved by approver1" in h["comment"]
        for h in cust["history"]
    )


def test_discard_reject_and_only(cli):
    turn_on(cli, "credit_limit", "name")
    cli("customers", "edit", ACC, "credit_limit=10", "name=Fab X", as_="support1")
    r = cli("changes", "discard", ACC, "name", as_="support1")
    assert r.code == 0 and "name discarded" in r.out
    assert cli("changes", "discard", ACC, as_="support1").code == 0
    assert cli("changes", "list", "--status", "Discarded", "--json", as_="support1").json()[0]["state"] == "Discarded"
    cli("customers", "edit", ACC, "credit_limit=10", "name=Fab X", as_="support1")
    cli("changes", "submit", ACC, as_="support1")
    r = cli("changes", "reject", ACC, as_="approver1")
    assert r.code == 2  # --reason missing: typer usage error
    r = cli(
        "changes",
        "approve",
        ACC,
        "--only",
        "name",
        "--line-comment",
        "credit_limit=too high",
        "--json",
        as_="approver1",
    )
    assert r.code == 0 and r.json()["state"] == "Partially approved" and r.json()["rejected"] == ["credit_limit"]
    r = cli("changes", "reject", ACC, "--reason", "late", as_="approver2")
    assert r.code == 6 and "approver1" in r.err


def test_import_and_export(cli, tmp_path):
    turn_on(cli, "credit_limit", behavior="propose")
    src = tmp_path / "in.csv"
    src.write_text(f'account,credit_limit,name\nC-000001,99,"{HOSTILE[2]}"\nC-000002,oops,X\n')
    r = cli("customers", "import", str(src), "--dry-run", "--json", as_="admin1")
    assert r.code == 2  # a row is invalid
    data = r.json()
    assert data["dry_run"] and data["counts"]["proposed"] == 1 and data["counts"]["invalid"] == 1
    assert cli("changes", "list", "--json", as_="admin1").json() == []
    r = cli("customers", "import", str(src), as_="admin1")  # all or nothing: the bad row stops the file
    assert r.code == 2 and "1 invalid" in r.out and "nothing changed" in r.err
    assert cli("changes", "list", "--json", as_="admin1").json() == []
    r = cli("customers", "import", str(src), "--partial", as_="admin1")
    assert r.code == 2 and "1 proposed" in r.out and "1 invalid" in r.out and "good rows" in r.out
    assert cli("changes", "show", ACC, "--json", as_="admin1").json()["state"] == "Submitted"
    out = tmp_path / "out.json"
    r = cli("customers", "export", str(out), as_="admin1")
    assert r.code == 0 and "4 customers" in r.out
    rows = json.loads(out.read_text())
    assert rows[0]["name"] == HOSTILE[2] and rows[0]["credit_limit"] == "0.00"
    r = cli("customers", "import", str(out), "--json", as_="admin1")
    assert r.code == 0 and r.json()["counts"]["unchanged"] == 4
    r = cli("customers", "import", str(tmp_path / "missing.csv"), as_="admin1")
    assert r.code == 2 and "cannot read" in r.err
