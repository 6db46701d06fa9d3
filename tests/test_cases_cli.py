"""The ``cases``, ``prospects``, ``leads`` and ``opportunities`` commands, with --json and refusals."""

from __future__ import annotations

import json

import pytest

from tests.conftest import HOSTILE

CASE = {
    "title": "Special price",
    "customer_account": "C-000001",
    "category": "Special condition",
    "description": "5% on Q1",
}
FORM = {
    "company": "Tailwind Traders",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@tailwind.example",
    "zip": "98052",
    "store_name": "Tailwind",
    "store_url": "https://tailwind.example",
}


@pytest.fixture
def case_file(tmp_path):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(CASE))
    return str(path)


def test_case_lifecycle(cli, case_file, tmp_path):
    r = cli("cases", "create", case_file, "--json", as_="support1")
    assert r.code == 0, r
    number = r.json()["number"]
    assert r.json()["status"] == "Open"
    assert cli("cases", "submit", number, as_="support1").code == 0
    r = cli("cases", "approve", number, "--json", as_="support1")
    assert r.code == 3 and "approve or reject" in r.err
    r = cli("cases", "approve", number, "--json", as_="approver1")
    assert r.code == 0 and r.json()["status"] == "Approved"
    r = cli("cases", "close", number, "--completed", "--reason", "done", as_="support1")
    assert r.code == 5 and "cannot be closed as completed" in r.err and "Traceback" not in r.err
    r = cli("cases", "resolve", number, "--resolution", "Granted", "--date", "2026-11-03", "--json", as_="support1")
    assert r.code == 0 and r.json()["status"] == "Resolved"
    r = cli("cases", "update", number, "--set", "resolution=", "--json", as_="support1")
    assert r.json()["status"] == "Approved"
    cli("cases", "resolve", number, "--resolution", "Granted", "--date", "2026-11-03", as_="support1")
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"product": "Widget", "quantity": 2}))
    r = cli("cases", "sample", number, str(sample), "--json", as_="support1")
    assert r.code == 0 and r.json()["number"] == "SMP-000001"
    r = cli("cases", "close", number, "--completed", "--reason", "Customer informed", "--json", as_="support1")
    assert r.json()["status"] == "Closed/Completed"
    r = cli("cases", "show", number, "--json", as_="support1")
    d = r.json()
    assert d["closure_reason"] == "Customer informed" and d["samples"][0]["product"] == "Widget"
    r = cli("cases", "show", number, as_="support1")
    for section in ("Case information", "Customer contact information", "Description", "Resolution", "Closure"):
        assert section in r.out
    r = cli("cases", "list", "--status", "Closed/Completed", "--json", as_="support1")
    assert [x["number"] for x in r.json()] == [number]


def test_case_sales_rep_and_reject(cli, case_file):
    r = cli("cases", "create", case_file, "--json", as_="sales1")
    assert r.json()["status"] == "Approved"
    number = cli("cases", "create", case_file, "--json", as_="support1").json()["number"]
    cli("cases", "submit", number, as_="support1")
    r = cli("cases", "reject", number, "--reason", "", as_="approver1")
    assert r.code == 2 and "reason" in r.err
    r = cli("cases", "reject", number, "--reason", "No", "--json", as_="approver1")
    assert r.json()["status"] == "Rejected"
    r = cli("cases", "close", number, "--stopped", "--reason", "gone", "--json", as_="support1")
    assert r.json()["status"] == "Closed/Stopped"
    r = cli("cases", "close", number, "--stopped", "--completed", "--reason", "x", as_="support1")
    assert r.code == 2


def test_case_create_bad_input(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "", "customer_account": "C-000001", "colour": "red"}))
    r = cli("cases", "create", str(bad), "--json", as_="support1")
    assert r.code == 2 and set(r.json()["fields"]) == {"title", "colour"}
    r = cli("cases", "create", "-", as_="support1", stdin="{not json")
    assert r.code == 2 and "not valid JSON" in r.err
    r = cli("cases", "show", "CASE-999999", as_="support1")
    assert r.code == 4


def test_hostile_case_text_prints_as_data(cli, tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({**CASE, "title": HOSTILE[1] + HOSTILE[3], "description": HOSTILE[0]}))
    number = cli("cases", "create", str(path), "--json", as_="support1").json()["number"]
    r = cli("cases", "show", number, as_="support1")
    assert r.code == 0 and "[b]bold[/b]" in r.out and "\x1b" not in r.out


def test_prospect_onboarding_won(cli):
    r = cli("prospects", "submit", "-", "--json", stdin=json.dumps(FORM))
    assert r.code == 0, r
    number, lead = r.json()["number"], r.json()["lead"]
    r = cli("leads", "list", "--json", as_="support1")
    assert [x["number"] for x in r.json()] == [lead] and r.json()[0]["view"] == "All commerce B2B leads"
    r = cli("leads", "qualify", lead, as_="support1")
    assert r.code == 3
    r = cli("leads", "qualify", lead, "--json", as_="approver1")
    assert r.code == 0, r
    opp = r.json()["opportunity"]
    r = cli("opportunities", "list", "--status", "Open", "--json", as_="approver1")
    assert [x["number"] for x in r.json()] == [opp]
    r = cli("opportunities", "won", opp, "--json", as_="approver1")
    assert r.code == 0, r
    w = r.json()
    assert w["prospect_status"] == "Approved" and w["admins"] == 1 and w["user_request"].startswith("UR-")
    r = cli("prospects", "show", number, "--json", as_="approver1")
    assert r.json()["status"] == "Approved"
    r = cli("prospects", "list", "--status", "Approved", "--json", as_="approver1")
    assert [x["number"] for x in r.json()] == [number]


def test_prospect_decline_paths_and_duplicate_email(cli):
    lead = cli("prospects", "submit", "-", "--json", stdin=json.dumps(FORM)).json()["lead"]
    r = cli("leads", "disqualify", lead, "--reason", "spam", "--json", as_="approver1")
    assert r.json()["prospect_status"] == "Rejected"
    r = cli("leads", "disqualify", lead, "--reason", "again", as_="approver1")
    assert r.code == 6 and "disqualified by approver1" in r.err
    # a second request by the same person after a first was qualified: the shared e-mail is caught
    lead2 = cli("prospects", "submit", "-", "--json", stdin=json.dumps(FORM)).json()["lead"]
    q = cli("leads", "qualify", lead2, "--json", as_="approver1").json()
    r = cli("opportunities", "lost", q["opportunity"], "--reason", "price", "--json", as_="approver1")
    assert r.json()["prospect_status"] == "Rejected"
    lead3 = cli("prospects", "submit", "-", "--json", stdin=json.dumps(FORM)).json()["lead"]
    r = cli("leads", "qualify", lead3, "--json", as_="approver1")
    assert r.code == 6 and "already used by" in r.json()["error"] and "link_existing=" in r.json()["error"]
    r = cli("leads", "qualify", lead3, "--link-existing", q["contact_account"], "--json", as_="approver1")
    assert r.code == 0 and r.json()["email_decision"] == "linked"
    r = cli("prospects", "submit", "-", stdin=json.dumps({**FORM, "email": "x"}))
    assert r.code == 2 and "email" in r.err
