"""The user-requests, portal, mail and outbox commands: JSON output, refusals as messages and exit codes."""

from __future__ import annotations

import pytest

from services.store import Store
from tests.portal_helpers import BASE, created_request, logon_token


@pytest.fixture
def cli_store(db_path):
    s = Store(f"sqlite:///{db_path}")
    yield s
    s.dispose()


def test_user_requests_by_hand_with_conflict(cli, cli_store):
    first = created_request(cli_store)
    r = cli("user-requests", "list", "--status", "Submitted", "--json", as_="support1")
    assert r.code == 0 and [x["number"] for x in r.json()] == [first]
    r = cli("user-requests", "approve", first, as_="approver1")
    assert r.code == 3 and "may not approve it as well" in r.err and "Traceback" not in r.err
    r = cli("user-requests", "process", first, "--json", as_="approver2")
    assert r.code == 0 and r.json()["status"] == "Pending completion"
    second = created_request(cli_store, email="x@other.example", company="Other Co")
    r = cli("user-requests", "approve", second, as_="approver2")
    assert r.code == 0 and "problem: user name 'alee' is taken by portal user alee" in r.out
    r = cli("user-requests", "provision", second, as_="approver2")
    assert r.code == 6 and "taken by portal user alee" in r.err
    assert cli("user-requests", "set-user-name", second, "alee2", as_="approver2").code == 0
    r = cli("user-requests", "provision", second, "--json", as_="approver2")
    assert r.json()["portal_user"] == "alee2"
    r = cli("user-requests", "show", second, as_="support1")
    assert r.code == 0 and "Portal user" in r.out and "History" in r.out
    r = cli("user-requests", "history", second, as_="support1")
    assert r.code == 0 and "has not been in a workflow" in r.out


def test_portal_commands(cli, cli_store):
    number = created_request(cli_store)
    cli("user-requests", "approve", number, as_="approver2")
    raw = logon_token(cli_store, "alee")
    r = cli("portal", "activate", raw, "--password-stdin", stdin="short\n")
    assert r.code == 2 and "password: at least 12 characters" in r.err
    r = cli("portal", "activate", raw)  # no password on the command line, no terminal: refused clearly
    assert r.code == 2 and "--password-stdin" in r.err
    assert cli("portal", "activate", raw, "--password-stdin", stdin="Long-Enough-Pass-1\n").code == 0
    r = cli("portal", "users", "list", "--json", as_="support1")
    assert [(u["user_name"], u["status"]) for u in r.json()] == [("alee", "Active")]
    assert "password_hash" not in r.out
    r = cli("portal", "disable", "alee", "--reason", "left", as_="approver1")
    assert r.code == 3 and "needs role admin" in r.err
    assert cli("portal", "disable", "alee", "--json", as_="admin1").json()["status"] == "Disabled"
    assert cli("portal", "enable", "alee", as_="admin1").code == 0
    r = cli("portal", "disable", "nobody", as_="admin1")
    assert r.code == 4 and "no portal user 'nobody'" in r.err


def test_mail_templates(cli, tmp_path):
    r = cli("mail", "templates", "list", "--json", as_="support1")
    assert "portal_logon" in [t["key"] for t in r.json()]
    body = tmp_path / "body.txt"
    body.write_text("Hello $first_name,\nyour logon is $user_name: $link\n", encoding="utf-8")
    r = cli(
        "mail",
        "templates",
        "set",
        "portal_logon",
        "--subject",
        "Welcome, $first_name",
        "--body-file",
        str(body),
        as_="support1",
    )
    assert r.code == 3
    assert (
        cli(
            "mail",
            "templates",
            "set",
            "portal_logon",
            "--subject",
            "Welcome, $first_name",
            "--body-file",
            str(body),
            as_="admin1",
        ).code
        == 0
    )
    r = cli("mail", "templates", "show", "portal_logon", "--json", as_="support1")
    assert r.json()["subject"] == "Welcome, $first_name" and r.json()["changed"]
    r = cli("mail", "templates", "set", "portal_logon", "--subject", "bad ${", as_="admin1")
    assert r.code == 2 and "bad placeholder" in r.err


def test_outbox_commands(cli, cli_store, monkeypatch):
    created_request(cli_store)  # its verification mail went out (tests read links from sent mail)
    from services import signup
    from services.permissions import PORTAL

    cli_store.call(signup.submit, PORTAL, {**BASE, "email": "bo@tailwind.example", "company": "Bo Co"})
    r = cli("outbox", "status", "--json", as_="support1")
    assert r.json()["pending"] == 1 and r.json()["smtp"].startswith("no SMTP server")
    r = cli("outbox", "send", as_="support1")
    assert r.code == 3  # permission first
    r = cli("outbox", "send", as_="admin1")
    assert r.code == 9 and "no SMTP server is configured" in r.err
    # a server that is down: nothing lost, exit code says so
    from tests.smtp_helpers import free_port

    monkeypatch.setenv("REGDESK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REGDESK_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("REGDESK_SMTP_SECURITY", "none")
    r = cli("outbox", "send", as_="admin1")
    assert r.code == 10 and "nothing is lost" in r.err and "1 to retry" in r.out
    r = cli("outbox", "retry", "2", as_="admin1")
    assert r.code == 0 and "pending again" in r.out
    r = cli("outbox", "retry", "99", as_="admin1")
    assert r.code == 4
    monkeypatch.setenv("REGDESK_SMTP_SECURITY", "carrier-pigeon")
    r = cli("outbox", "send", as_="admin1")
    assert r.code == 2 and "smtp.security" in r.err


def test_outbox_watch_stops_cleanly_on_ctrl_c(cli, cli_store, monkeypatch):
    from services import signup
    from services.permissions import PORTAL
    from tests.smtp_helpers import SmtpServer

    cli_store.call(signup.submit, PORTAL, BASE)  # one verification mail waits
    server = SmtpServer().start()
    try:
        monkeypatch.setenv("REGDESK_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("REGDESK_SMTP_PORT", str(server.port))
        monkeypatch.setenv("REGDESK_SMTP_SECURITY", "none")

        def interrupt(_seconds):
            raise KeyboardInterrupt

        monkeypatch.setattr("app.cli.portal_cmds._sleep", interrupt)
        r = cli("outbox", "send", "--watch", "--interval", "1", as_="admin1")
    finally:
        server.stop()
    assert r.code == 0 and "sent 1" in r.out and r.out.rstrip().endswith("stopped")
    assert len(server.recorder.messages) == 1
