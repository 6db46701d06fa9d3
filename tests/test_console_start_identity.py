"""The console's fast start establishes the operator by the same rule as every command.

``Settings.operator`` falls back to the OS login when nobody is named; handing that to the
fast path made the OS login look *named*: on PostgreSQL an owner login (who acts as an admin
named after its database login) whose OS login happens to be an operator's name was shown the
console as that operator. The fast path must get exactly what ``CliContext.actor`` gets:
``operator_named``."""

from __future__ import annotations

from types import SimpleNamespace

import app.console as console
from app.cli.context import CliContext


def _run_with(monkeypatch, operator: str | None) -> list[str | None]:
    seen: list[str | None] = []

    def light_start(url, operator, *, limit):
        seen.append(operator)
        return None  # the normal path then opens the store; stubbed below

    import app.tui
    import services.quick

    monkeypatch.setattr(services.quick, "light_start", light_start)
    fake = SimpleNamespace(run=lambda: None, startup_error=None, return_code=0)
    monkeypatch.setattr(app.tui, "make_app", lambda *a, **k: fake)
    ctx = CliContext(db="sqlite:///unused.db", operator=operator)
    monkeypatch.setattr(CliContext, "store", property(lambda self: object()))
    monkeypatch.setattr(CliContext, "actor", property(lambda self: object()))
    assert console.run_console(ctx) == 0
    return seen


def test_nobody_named_reaches_the_fast_path_as_nobody_named(monkeypatch):
    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)
    monkeypatch.setenv("REGDESK_CONFIG", "/nonexistent/regdesk.toml")
    assert _run_with(monkeypatch, None) == [None]


def test_a_named_operator_reaches_the_fast_path_by_name(monkeypatch):
    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)
    monkeypatch.setenv("REGDESK_CONFIG", "/nonexistent/regdesk.toml")
    assert _run_with(monkeypatch, "approver2") == ["approver2"]
