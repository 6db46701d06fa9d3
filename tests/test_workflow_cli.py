"""``regdesk workflow ...`` and ``regdesk work ...``: output, --json, exit codes, refusals."""

from __future__ import annotations

import pytest

from tests.test_workflow_engine import REVIEW, STAMP, T, define, flow, item_for, registered, status, submit  # noqa: F401

ESCALATING = REVIEW + '\ntime_limit_hours = 24\nescalation = ["role:admin"]\nfinal_action = "reject"'


@pytest.fixture
def definition_file(tmp_path):
    path = tmp_path / "flow.toml"
    path.write_text("# kept comment\n" + flow(ESCALATING, STAMP), encoding="utf-8")
    return path


def test_import_list_show_export_activate(cli, definition_file, tmp_path):
    r = cli("workflow", "import", str(definition_file), as_="admin1")
    assert r.code == 0, r
    assert "version 1" in r.out and "inactive" in r.out
    r = cli("workflow", "list", "--json", as_="support1")
    rows = r.json()
    assert [(d["doc_type"], d["version"], d["active"]) for d in rows] == [(T, 1, False)]
    ident = str(rows[0]["id"])
    assert cli("workflow", "activate", ident, as_="approver1").code == 3  # admin only
    r = cli("workflow", "activate", ident, as_="admin1")
    assert r.code == 0 and "is active" in r.out
    r = cli("workflow", "show", T, "--json", as_="admin1")
    assert [s["name"] for s in r.json()["step_list"]] == ["Review", "Stamp"]
    r = cli("workflow", "show", ident, as_="admin1")
    assert r.code == 0 and "Workflow Test flow v1" in r.out
    r = cli("workflow", "export", T, as_="admin1")
    assert r.code == 0 and r.out.startswith("# kept comment") and 'action = "stamp"' in r.out
    out = tmp_path / "out.toml"
    assert cli("workflow", "export", T, "-o", str(out), as_="admin1").code == 0
    r = cli("workflow", "import", str(out), "--activate", "--json", as_="admin1")
    assert r.code == 0 and r.json()["version"] == 2 and r.json()["active"]
    r = cli("workflow", "deactivate", str(r.json()["id"]), as_="admin1")
    assert r.code == 0 and "inactive" in r.out


def test_bad_file_is_refused_with_line_numbers(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(flow(REVIEW + '\npolicy = "most"'), encoding="utf-8")
    r = cli("workflow", "import", str(bad), as_="admin1")
    assert r.code == 2
    assert "bad.toml: not imported" in r.err and "line 8" in r.err and "policy 'most'" in r.err
    r = cli("workflow", "import", str(bad), "--json", as_="admin1")
    assert r.code == 2 and "line 8" in r.json()["fields"]
    r = cli("workflow", "import", str(tmp_path / "missing.toml"), as_="admin1")
    assert r.code == 2 and "cannot read" in r.err
    assert cli("workflow", "list", "--json", as_="admin1").json() == []


def test_work_list_and_bulk_approve_reports_each_item(cli, store):
    define(store, flow(REVIEW, STAMP))
    for key in ("D1", "D2"):
        submit(store, key)
    ids = [str(item_for(store, k, "approver1")) for k in ("D1", "D2")]
    r = cli("work", "list", "--mine", "--json", as_="approver1")
    assert [w["doc_key"] for w in r.json()] == ["D1", "D2"]
    r = cli("work", "list", "--json", as_="admin1")
    assert sorted(w["assignee"] for w in r.json()) == ["approver1", "approver1", "approver2", "approver2"]
    assert cli("work", "list", as_="admin1").code == 0
    r = cli("work", "approve", ids[0], "999", ids[1], "--comment", "fine", as_="approver1")
    assert r.code == 4  # the failures' own exit code (README's table): not found
    assert f"ok    {ids[0]}" in r.out and f"ok    {ids[1]}" in r.out and "2 done, 1 failed" in r.out
    assert "999: no work item 999" in r.err
    assert status(store, "D1") == "approved" and status(store, "D2") == "approved"
    r = cli("work", "approve", ids[0], "--json", as_="approver1")
    assert r.code == 6 and r.json()[0]["error"] == "Conflict"


def test_work_reject_request_change_delegate_recall_resubmit(cli, store):
    define(store, flow(REVIEW))
    for key in ("D1", "D2", "D3"):
        submit(store, key, submitter="support1")
    r = cli("work", "reject", str(item_for(store, "D1", "approver1")), as_="approver1")
    assert r.code == 2  # --reason is required by the command line
    r = cli("work", "reject", str(item_for(store, "D1", "approver1")), "--reason", "duplicate", as_="approver1")
    assert r.code == 0 and status(store, "D1") == "rejected"
    r = cli("work", "request-change", str(item_for(store, "D2", "approver2")), "--comment", "VAT?", as_="approver2")
    assert r.code == 0 and status(store, "D2") == "change_requested"
    r = cli("work", "resubmit", T, "D2", as_="approver1")
    assert r.code == 3 and "only the submitter" in r.err
    r = cli("work", "resubmit", T, "D2", "--comment", "added", as_="support1")
    assert r.code == 0 and status(store, "D2") == "running"
    r = cli("work", "delegate", str(item_for(store, "D3", "approver1")), "--to", "admin1", as_="approver1")
    assert r.code == 0 and "delegated to admin1" in r.out
    r = cli("work", "delegate", str(item_for(store, "D3", "approver2")), "--to", "nobody", as_="approver2")
    assert r.code == 4 and "no operator 'nobody'" in r.err
    r = cli("work", "recall", T, "D3", as_="support1")
    assert r.code == 0 and status(store, "D3") == "recalled"
    r = cli("workflow", "history", T, "D3", as_="support1")
    assert r.code == 0 and "workflow recalled" in r.out


def test_tick_json(cli, store, clock):
    define(store, flow(ESCALATING))
    submit(store, "D1")
    r = cli("workflow", "tick", "--json", as_="support1")
    assert r.code == 0
    report = r.json()
    # the CLI runs on the real clock, far from the test clock's 2026: the items are overdue
    assert report["escalations"] == 1
    r = cli("workflow", "tick", as_="support1")
    assert r.code == 0 and "0 escalation(s)" in r.out


def test_hostile_comment_is_printed_as_data(cli, store):
    define(store, flow(REVIEW))
    submit(store, "D1")
    item = str(item_for(store, "D1", "approver1"))
    r = cli("work", "reject", item, "--reason", "[b]bad[/b] \x1b[31mred", as_="approver1")
    assert r.code == 0
    r = cli("workflow", "history", T, "D1", as_="approver1")
    assert "[b]bad[/b]" in r.out and "\x1b[31m" not in r.out
