"""One Transition type and one mover (services/transitions.py, issue 13): the process tables,
their printing (``regdesk processes``, DESIGN.md's diagrams), the one refusal rule, and every
writing command refusing before it takes the write lock (issue 9)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

import services.store as store_module
from models.signup import SignupRequest
from services import cases, changes, portal, prospects, signup, transitions, user_requests
from services.errors import Conflict, DatabaseUnavailable, InvalidTransition, NotFound, ValidationFailed
from services.permissions import PORTAL
from tests.conftest import actor_of
from tests.test_signup_services import GOOD

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_PROCESSES = {
    "signup",
    "user_request",
    "case",
    "sample",
    "change_proposal",
    "portal_user",
    "lead",
    "opportunity",
    "prospect",
    "workflow_instance",
    "work_item",
}


# ------------------------------------------------------------------ the tables


def test_every_process_has_one_table_of_one_transition_type():
    procs = transitions.processes()
    assert {p.name for p in procs} == EXPECTED_PROCESSES
    for p in procs:
        assert p.transitions, p.name
        for name, t in p.transitions.items():
            assert type(t) is transitions.Transition and t.process == p.name and t.action == name
            assert t.sources <= set(p.states) and t.targets <= set(p.states)
    # the old shapes are gone: each module's table is a table of the one type
    for table in (
        signup.TRANSITIONS,
        user_requests.TRANSITIONS,
        cases.TRANSITIONS,
        cases.SAMPLE_TRANSITIONS,
        changes.TRANSITIONS,
        portal.TRANSITIONS,
        prospects.TRANSITIONS,
    ):
        assert all(type(t) is transitions.Transition for t in table.values())


def test_design_md_diagrams_are_the_generated_ones():
    text = (ROOT / "DESIGN.md").read_text(encoding="utf-8")
    start, end = text.find(transitions.DESIGN_BEGIN), text.find(transitions.DESIGN_END)
    assert 0 <= start < end, "DESIGN.md lost its processes markers"
    current = text[start : end + len(transitions.DESIGN_END)]
    assert current == transitions.design_section(), (
        "DESIGN.md's state diagrams differ from the process tables in services/: "
        "run .venv/bin/python scripts/design-diagrams (it rewrites them from `regdesk processes --mermaid`) and commit DESIGN.md"
    )


def test_the_design_script_checks_and_writes(tmp_path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "design-diagrams"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr


def test_regdesk_processes_prints_tables_json_and_mermaid(cli):
    r = cli("processes")
    assert r.code == 0, r
    assert "signup: Sign-up request" in r.out and "approve          Verified by user -> Approved" in r.out
    r = cli("processes", "case", "--json")
    assert r.code == 0, r
    data = json.loads(r.out)
    assert [p["name"] for p in data] == ["case"]
    close = next(t for t in data[0]["transitions"] if t["action"] == "close_completed")
    assert close == {
        "action": "close_completed",
        "from": ["Resolved"],
        "to": ["Closed/Completed"],
        "permission": "cases.edit",
        "wording": "close (completed)",
        "manual": True,
    }
    r = cli("processes", "change_proposal", "--mermaid")
    assert r.code == 0 and "stateDiagram-v2" in r.out
    assert "Submitted --> Partially_approved: approve" in r.out  # a table row with two possible targets
    r = cli("processes", "nonsense")
    assert r.code == 4 and "one of: signup" in r.err


# ------------------------------------------------------------------ the one refusal rule


def _submitted(store) -> str:
    return store.call(signup.submit, PORTAL, GOOD).number


def test_not_yet_is_invalid_transition_saying_what_would_make_it_possible(store):
    number = _submitted(store)
    with pytest.raises(InvalidTransition) as exc:
        store.call(signup.approve, actor_of(store)("approver1"), number)
    assert "approve needs Verified by user (after 'verify')" in exc.value.message
    with pytest.raises(InvalidTransition, match="create needs Approved \\(after 'verify' then 'approve'\\)"):
        store.call(signup.create_customer, actor_of(store)("approver1"), number, role="Customer self-service user")


def test_taken_further_is_a_conflict_naming_who(store):
    number = _submitted(store)
    store.call(signup.reject, actor_of(store)("approver2"), number, "spam")
    for call in (
        lambda: store.call(signup.approve, actor_of(store)("approver1"), number),
        lambda: store.call(signup.resend, actor_of(store)("support1"), number),
        lambda: store.call(signup.reject, actor_of(store)("approver1"), number, "again"),
    ):
        with pytest.raises(Conflict, match="rejected by approver2"):
            call()


def test_a_lost_compare_and_set_is_a_conflict_naming_the_winner(store):
    """The row changed between the check (plan phase) and the write: the compare-and-set says who won."""
    number = _submitted(store)
    with store.phased() as s:
        req = s.exec(select(SignupRequest).where(SignupRequest.number == number)).one()  # the plan reads it
        store.call(signup.reject, actor_of(store)("approver2"), number, "duplicate")  # another connection wins
        with pytest.raises(Conflict, match="rejected by approver2"):
            transitions.move(s, signup.PROCESS, req, "resend")


def test_changed_meanwhile_in_the_same_state_names_who(store):
    number = _submitted(store)
    with store.phased() as s:
        req = s.exec(select(SignupRequest).where(SignupRequest.number == number)).one()
        store.call(signup.resend, actor_of(store)("support1"), number)  # same state, another version
        with pytest.raises(Conflict, match="changed by someone else meanwhile.*by support1"):
            transitions.move(s, signup.PROCESS, req, "resend")


def test_gone_is_not_found(store):
    with store.write() as s, pytest.raises(NotFound):
        transitions.check(s, signup.PROCESS, None, "approve")


# ------------------------------------------------------------------ refusals never wait for the lock


@pytest.fixture
def locked(store, monkeypatch):
    """Another connection holds SQLite's write lock. A command that took the lock before checking
    would fail with DatabaseUnavailable once the (shortened) retry budget is spent; a phased
    command refuses with its own answer, never having asked for the lock."""
    monkeypatch.setattr(store_module, "WRITE_RETRY_BUDGET_S", 0.3)
    holder = sqlite3.connect(store.engine.url.database, isolation_level=None, timeout=1, check_same_thread=False)

    def refused(error: type[Exception], fn, *args, **kwargs):
        if not holder.in_transaction:  # taken at the first refusal: the test may set up records before
            holder.execute("BEGIN IMMEDIATE")
            holder.execute("UPDATE operator SET display_name = display_name WHERE user_name = 'admin1'")
        with pytest.raises(Exception) as exc:
            store.call(fn, *args, **kwargs)
        assert not isinstance(exc.value, DatabaseUnavailable), (
            f"{fn.__module__}.{fn.__name__} waited for the write lock"
        )
        assert isinstance(exc.value, error), (fn.__name__, exc.value)
        return exc.value

    yield refused
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_the_lock_fixture_catches_a_command_that_locks_first(store, locked):
    """The check itself: a plain @writes command meets the held lock and fails as 'busy'."""
    from services.store import writes

    @writes
    def plain(session, number):
        session.exec(select(SignupRequest)).first()  # the lookup: its first statement asks for the lock
        raise NotFound(number)

    with pytest.raises(AssertionError, match="waited for the write lock"):
        locked(NotFound, plain, "X")


def test_signup_refusals_do_not_wait(store, locked):
    a = actor_of(store)
    for fn, args in (
        (signup.approve, (a("approver1"), "REG-999999")),
        (signup.resend, (a("support1"), "REG-999999")),
        (signup.reject, (a("approver1"), "REG-999999", "x")),
        (signup.create_customer, (a("approver1"), "REG-999999")),
    ):
        kwargs = {"role": "Customer self-service user"} if fn is signup.create_customer else {}
        locked(NotFound, fn, *args, **kwargs)


def test_user_request_refusals_do_not_wait(store, locked):
    a = actor_of(store)("approver1")
    for fn, args in (
        (user_requests.approve, ()),
        (user_requests.provision, ()),
        (user_requests.reject, ("x",)),
        (user_requests.cancel, ("x",)),
        (user_requests.submit, ()),
        (user_requests.set_user_name, ("bob1",)),
    ):
        locked(NotFound, fn, a, "UR-999999", *args)


def test_case_refusals_do_not_wait(store, locked):
    from tests.test_cases import NEW

    support, approver = actor_of(store)("support1"), actor_of(store)("approver1")
    locked(ValidationFailed, cases.create_case, support, {**NEW, "category": "Whatever"})
    locked(NotFound, cases.update_case, support, "CASE-999999", {"title": "x"})
    locked(NotFound, cases.resolve, support, "CASE-999999", "done", "2026-11-03")
    locked(NotFound, cases.submit, support, "CASE-999999")
    locked(NotFound, cases.approve, approver, "CASE-999999")
    locked(NotFound, cases.reject, approver, "CASE-999999", "no")
    locked(NotFound, cases.recall, support, "CASE-999999")
    locked(NotFound, cases.close, support, "CASE-999999", "stopped", "gone")
    locked(NotFound, cases.add_sample, support, "CASE-999999", {"product": "Widget"})
    locked(NotFound, cases.sample_action, support, "SMP-999999", "ship")


def test_case_wrong_state_refusals_do_not_wait(store, locked):
    from tests.test_cases import create

    number = create(store).number  # Open
    locked(InvalidTransition, cases.approve, actor_of(store)("approver1"), number)
    locked(InvalidTransition, cases.close, actor_of(store)("support1"), number, "completed", "done")
    locked(InvalidTransition, cases.recall, actor_of(store)("support1"), number)


def test_user_request_wrong_state_refusals_do_not_wait(store, locked):
    from tests.portal_helpers import created_request

    number = created_request(store)  # Submitted
    locked(InvalidTransition, user_requests.provision, actor_of(store)("approver1"), number)


def test_prospect_refusals_do_not_wait(store, locked):
    a = actor_of(store)("approver1")
    locked(ValidationFailed, prospects.submit, PORTAL, {"company": ""})
    locked(NotFound, prospects.qualify, a, "LEAD-999999")
    locked(NotFound, prospects.disqualify, a, "LEAD-999999", "spam")
    locked(NotFound, prospects.won, a, "OPP-999999")
    locked(NotFound, prospects.lost, a, "OPP-999999", "price")


def test_change_refusals_do_not_wait(store, locked):
    """C-000001 exists and has no proposal: each decision is refused while planning."""
    support, approver = actor_of(store)("support1"), actor_of(store)("approver1")
    locked(NotFound, changes.discard, support, "C-000001")
    locked(NotFound, changes.submit, support, "C-000001")
    locked(NotFound, changes.recall, support, "C-000001")
    locked(NotFound, changes.approve, approver, "C-000001")
    locked(NotFound, changes.reject, approver, "C-000001", "no")
    locked(NotFound, changes.approve, approver, "C-999999")


def test_portal_status_move_refusals_do_not_wait(store, locked):
    if not all(
        getattr(fn, "regdesk_phased", False) for fn in (portal.disable, portal.enable, portal.resend_activation)
    ):
        pytest.skip(
            "portal's @writes decorators belong to another branch: its bodies check before they write, "
            "the decorator turns phased there"
        )
    a = actor_of(store)("admin1")
    locked(NotFound, portal.disable, a, "nobody-here")
    locked(NotFound, portal.enable, a, "nobody-here")
    locked(NotFound, portal.resend_activation, actor_of(store)("approver1"), "nobody-here")


# ------------------------------------------------------------------ the cases limits bug


@pytest.mark.parametrize("field", ["category", "priority", "contact_name", "title"])
def test_a_case_field_over_its_limit_is_invalid_input_not_a_crash(cli, field):
    """services/cases.py checked ``limits.get(name, 200)`` and formatted ``limits[name]``: a category
    or priority over 200 characters ended in "unexpected KeyError", exit 70 (README: 2)."""
    from tests.test_cases import NEW

    r = cli("cases", "create", "-", as_="support1", stdin=json.dumps(NEW))
    assert r.code == 0, r
    number = r.out.split()[0]
    r = cli("cases", "update", number, "--set", f"{field}={'x' * 300}", as_="support1")
    assert r.code == 2, r
    assert "unexpected" not in r.err and field in r.err and "at most" in r.err
