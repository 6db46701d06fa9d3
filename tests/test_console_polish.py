"""Issue 8's hands-on trial, the remaining defects: each driven through Pilot, each failed before its fix.

* a cell cut at the list pane's edge (the table wider than its pane) ends in "…";
"""

from __future__ import annotations

import pytest

from app.tui import make_app
from screens.textual_compat import screen_text
from services.permissions import PORTAL
from tests.helpers import notes, run_async, until
from tests.test_console_registration import load_requests, screen, settle, table
from tests.test_signup_services import GOOD


async def refused_at_once(app, pilot, key: str, dialog: type, words: str) -> None:
    """``key`` on the highlighted record says why in one notice containing ``words`` and opens no ``dialog``."""
    before = len(notes(app))
    await pilot.press(key)
    await settle(app, pilot)
    assert not isinstance(app.screen, dialog)
    said = notes(app)[before:]
    assert len(said) == 1 and words in said[0], said


def _table_lines(app) -> dict[str, str]:
    """The list's lines as drawn on screen, keyed by their first word (the record number, "Number")."""
    t = table(app)
    region = t.content_region
    lines = screen_text(app.screen).splitlines()[region.y : region.bottom]
    out = {}
    for line in lines:
        part = line[region.x : region.right]
        if part.split() and part.split()[0].startswith(("REG-", "Number")):
            out[part.split()[0]] = part
    return out


@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
@run_async
async def test_a_cell_cut_at_the_list_pane_edge_ends_in_an_ellipsis(store, actor, size):
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await until(app, pilot, lambda: table(app).row_count == 11 and screen(app).detail is not None, "list")
        await settle(app, pilot)
        t = table(app)
        assert t.virtual_size.width > t.content_region.width  # the table is wider than its pane
        lines = _table_lines(app)
        hostile = next(n for n, line in lines.items() if "[b]Bracket" in line)
        if size == (160, 45):
            # the contact "Eve [@click=app.quit]q[/]" is cut at the pane's edge
            assert lines[hostile].endswith("…"), lines[hostile]
            assert "Eve [@click=app.qu" in lines[hostile]
            # a contact that fits its visible part is not marked
            assert lines["REG-000001"].rstrip().endswith("Mia Nguyen"), lines["REG-000001"]
            assert not lines["REG-000001"].endswith("…")
        else:
            # the edge cuts every row's contact (and the header's label) after its first letter
            for number, line in lines.items():
                assert line.endswith("…"), (number, line)
        # scrolled to the right end, nothing is cut any more
        t.scroll_to(x=t.max_scroll_x, animate=False)
        await settle(app, pilot)
        assert not any(line.endswith("…") for line in _table_lines(app).values())


def _section_text(app, section: str) -> str:
    return str(screen(app).query_one(f"#detail-{section}").render())


@run_async
async def test_registration_detail_names_the_given_and_the_created_account_once_each(store, actor):
    numbers = load_requests(store, actor)
    created = numbers["Alpine Ski House"]  # the demo's Created request
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        await pilot.press("5")  # Created
        await until(
            app, pilot, lambda: screen(app).detail is not None and screen(app).detail.number == created, "created one"
        )
        d = screen(app).detail
        assert d.created_customer_account
        text = "\n".join(_section_text(app, s) for s in ("request", "decision"))
        assert text.count("Customer account") <= 1, text
        assert f"Customer created  {d.created_customer_account}" in text, text
        # a request that named an existing account shows it as given, once
    app = make_app(store, actor("approver1"))
    from services import signup

    store.call(signup.submit, PORTAL, {**GOOD, "customer_account": d.created_customer_account, "email": "x@y.example"})
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+end")
        await until(app, pilot, lambda: screen(app).detail is not None and screen(app).detail.customer_account, "given")
        text = "\n".join(_section_text(app, s) for s in ("request", "decision"))
        assert text.count(d.created_customer_account) == 1 and "Existing account" in text, text
        assert "Customer created  no" in text, text


# ----------------------------------------------------------------------------- actions that cannot apply


def _rejected_case(store) -> str:
    from services import cases
    from tests.conftest import actor_of
    from tests.test_cases import submitted

    number = submitted(store)
    store.call(cases.reject, actor_of(store)("approver1"), number, "not this quarter")
    return number


async def _cases_on(app, pilot, number: str):
    from screens.cases import CasesScreen

    await pilot.press("f7")
    await until(app, pilot, lambda: isinstance(app.screen, CasesScreen), "cases")
    s = app.screen
    await until(app, pilot, lambda: s.detail is not None and s.table.key_at_cursor() == number, f"{number} shown")
    return s


@run_async
async def test_resolution_on_a_rejected_case_says_why_and_opens_no_dialog(store, actor):
    """Cases, a Rejected case, `s`: the Resolution dialog opened, and only its OK said the case must be
    approved first (seen in the trial). Now one notice at once, no dialog; the same while the case's
    detail is still loading; an Approved case still opens it."""
    from screens.dialogs import FormDialog
    from tests.test_cases import approved

    number = _rejected_case(store)
    app = make_app(store, actor("support1"))
    async with app.run_test(size=(160, 45)) as pilot:
        cases_screen = await _cases_on(app, pilot, number)
        await refused_at_once(app, pilot, "s", FormDialog, "must be approved before it is resolved")
        # close, sample and edit are possible on a Rejected case: their forms open
        await pilot.press("c")
        await until(app, pilot, lambda: isinstance(app.screen, FormDialog), "close dialog")
        await pilot.press("escape")
        await until(app, pilot, lambda: app.screen is cases_screen, "closed")
        # the detail not loaded yet: asked of the service, same answer
        cases_screen.detail = None
        before = len(notes(app))
        cases_screen.action_resolve()
        await settle(app, pilot)
        assert not isinstance(app.screen, FormDialog)
        said = notes(app)[before:]
        assert len(said) == 1 and "must be approved before it is resolved" in said[0], said
    ok = approved(store)
    app = make_app(store, actor("support1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await _cases_on(app, pilot, ok)
        await pilot.press("s")
        await until(app, pilot, lambda: isinstance(app.screen, FormDialog), "resolution dialog")


def test_case_refusal_says_what_the_command_would_say(any_store):
    """``cases.refusal`` answers from the service's rules: where it refuses, the command refuses with
    the same words (tried after the question, in the same state). Both stores."""
    from services import cases
    from services.errors import RegdeskError
    from tests.conftest import actor_of
    from tests.test_cases import approved, create

    store, actor = any_store, actor_of(any_store)

    support, approver = actor("support1"), actor("approver1")
    commands = {
        "resolve": lambda a, n: store.call(
            cases.update_case, a, n, {"resolution": "done", "resolution_date": "2026-11-03"}
        ),
        "approve": lambda a, n: store.call(cases.approve, a, n),
        "reject": lambda a, n: store.call(cases.reject, a, n, "no"),
        "recall": lambda a, n: store.call(cases.recall, a, n),
        "submit": lambda a, n: store.call(cases.submit, a, n),
        "edit": lambda a, n: store.call(cases.update_case, a, n, {"title": "Another title"}),
        "close": lambda a, n: store.call(cases.close, a, n, "stopped", "no longer needed"),
    }
    rejected, ok, opened = _rejected_case(store), approved(store), create(store).number
    assert store.call(cases.refusal, support, ok, "resolve") is None
    assert "must be approved" in (store.call(cases.refusal, support, rejected, "resolve") or "")
    assert store.call(cases.refusal, support, opened, "approve")  # support1 may not decide cases
    refused = 0
    for number in (rejected, ok, opened):
        for action, command in commands.items():
            who = approver if action in ("approve", "reject") else support
            said = store.call(cases.refusal, who, number, action)
            if said is None:
                continue
            refused += 1
            try:
                command(who, number)
            except RegdeskError as exc:
                assert said == exc.message, (number, action, said, exc.message)
            else:
                raise AssertionError(f"{action} {number}: refusal said {said!r}, the command did it")
    assert refused >= 8


@run_async
async def test_prospects_decisions_that_cannot_apply_say_why_and_open_nothing(store, actor):
    """Prospects: Won on an opportunity already won opened the confirmation (its OK then refused);
    Disqualify on a qualified lead opened the reason form. Now one notice each, no dialog."""
    from screens.dialogs import ConfirmDialog, FormDialog
    from services import prospects
    from tests.test_console_prospects import open_prospects
    from tests.test_prospects import FORM

    approver = actor("approver1")
    sub = store.call(prospects.submit, PORTAL, FORM)
    q = store.call(prospects.qualify, approver, sub.lead)
    store.call(prospects.won, approver, q.opportunity)
    app = make_app(store, approver)
    async with app.run_test(size=(160, 45)) as pilot:
        pr = await open_prospects(app, pilot)
        await until(app, pilot, lambda: pr.detail is not None and pr.detail.opportunity == q.opportunity, "won one")
        for key, words in (("w", "closed as Won"), ("l", "closed as Won"), ("d", "was qualified by")):
            before = len(notes(app))
            await pilot.press(key)
            await settle(app, pilot)
            assert not isinstance(app.screen, (ConfirmDialog, FormDialog)), key
            said = notes(app)[before:]
            assert len(said) == 1 and words in said[0], (key, said)


@run_async
async def test_user_request_actions_that_cannot_apply_open_no_dialog(store, actor):
    """User requests: `A` (approve with a comment) opened its dialog on a request nothing can approve,
    and `r` opened its reason dialog while the detail was still loading. Now one notice, no dialog."""
    from screens.dialogs import CommentDialog
    from screens.user_requests import UserRequestsScreen
    from services import user_requests
    from tests.portal_helpers import created_request

    number = created_request(store)
    store.call(user_requests.approve, actor("approver2"), number)  # provisioned: Pending completion
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("f4")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, UserRequestsScreen)
                and app.screen.detail is not None
                and app.screen.detail.number == number
            ),
            "detail",
        )
        ur = app.screen
        for i, key in enumerate(("A", "r", "r")):
            before = len(notes(app))
            if i == 2:
                ur.detail = None  # still loading: asked of the service
            await pilot.press(key)
            await settle(app, pilot)
            assert not isinstance(app.screen, CommentDialog), key
            said = notes(app)[before:]
            assert len(said) == 1 and number in said[0] and "provisioned already" in said[0], (key, said)


@run_async
async def test_registration_reject_and_approve_with_comment_on_a_decided_request_open_nothing(store, actor):
    """Registration: `r` on a Rejected request opened the reason dialog (its OK then refused), `A` on a
    Requested one the comment dialog. Now one notice each, in the service's words, and no dialog."""
    from screens.dialogs import CommentDialog, RejectDialog

    numbers = load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        for tab, number, key, words in (
            ("6", numbers["Margie's Travel"], "r", "was rejected by approver1"),
            ("2", numbers["Tailspin Toys"], "A", "has not verified"),
        ):
            await pilot.press(tab)
            await until(
                app, pilot, lambda n=number: screen(app).detail is not None and screen(app).detail.number == n, number
            )
            before = len(notes(app))
            await pilot.press(key)
            await settle(app, pilot)
            assert not isinstance(app.screen, (RejectDialog, CommentDialog)), key
            said = notes(app)[before:]
            assert len(said) == 1 and words in said[0], (key, said)


@run_async
async def test_changes_reject_on_a_decided_proposal_opens_nothing_and_leaves_the_open_one(store, actor):
    """Changes, All, an Approved proposal of a customer who has a newer Submitted one: `r` opened the
    reason dialog, and its OK would have rejected the newer proposal (the decision acts on the
    customer's open proposal). Now it says why and opens nothing."""
    from screens.changes import ChangesScreen
    from screens.dialogs import CommentDialog, ConfirmDialog
    from services import changes

    admin, support = actor("admin1"), actor("support1")
    store.call(changes.set_approvals, admin, True)
    store.call(changes.set_field_approval, admin, "credit_limit", True)
    store.call(changes.edit_customer, support, "C-000002", {"credit_limit": "900"})
    old = store.call(changes.submit, support, "C-000002").number
    store.call(changes.approve, actor("approver2"), "C-000002")
    store.call(changes.edit_customer, support, "C-000002", {"credit_limit": "950"})
    new = store.call(changes.submit, support, "C-000002").number
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("f10")
        await until(app, pilot, lambda: isinstance(app.screen, ChangesScreen), "changes")
        ch = app.screen
        await pilot.press("7")  # All
        await until(app, pilot, lambda: ch.query_state.status == "All" and old in ch.table.rows, "all")
        ch.table.move_cursor(row=ch.table.get_row_index(old))
        await until(app, pilot, lambda: ch.detail is not None and ch.detail.number == old, "old one")
        for key in ("r", "A"):
            before = len(notes(app))
            await pilot.press(key)
            await settle(app, pilot)
            assert not isinstance(app.screen, (CommentDialog, ConfirmDialog)), key
            said = notes(app)[before:]
            assert len(said) == 1 and old in said[0], (key, said)
        assert store.call(changes.show_proposal, actor("approver1"), new).state == "Submitted"
        # the open one still opens its dialog
        ch.table.move_cursor(row=ch.table.get_row_index(new))
        await until(app, pilot, lambda: ch.detail is not None and ch.detail.number == new, "new one")
        await pilot.press("r")
        await until(app, pilot, lambda: isinstance(app.screen, CommentDialog), "reject dialog")


@run_async
async def test_my_work_approve_with_comment_on_an_own_submission_opens_nothing(store, actor):
    """My work: ctrl+a (approve with a comment) on the operator's own submission (marked, 'Disallow approval by submitter' on)
    opened the comment dialog, whose OK was then refused; `r` on someone else's item (everyone's
    view) opened the reason dialog. Now one notice each, in the workflow's words, and no dialog."""
    from screens.dialogs import CommentDialog
    from screens.my_work import MyWorkScreen
    from tests.test_work_inbox import case_flow, submitted_case

    case_flow(store)
    mine = submitted_case(store, "approver1")
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("f3")
        await until(app, pilot, lambda: isinstance(app.screen, MyWorkScreen) and app.screen.detail is not None, "mine")
        mw = app.screen
        own = next(k for k, w in mw.records.items() if w.doc_key == mine and w.assignee == "approver1")
        mw.table.move_cursor(row=mw.table.get_row_index(own))
        await settle(app, pilot)
        await refused_at_once(app, pilot, "ctrl+a", CommentDialog, "may not approve it")
        # everyone's view: approver2's item of the same case
        await pilot.press("m")
        await until(app, pilot, lambda: any(w.assignee == "approver2" for w in mw.records.values()), "everyone")
        theirs = next(k for k, w in mw.records.items() if w.assignee == "approver2")
        mw.table.move_cursor(row=mw.table.get_row_index(theirs))
        await settle(app, pilot)
        await refused_at_once(app, pilot, "r", CommentDialog, "only its assignee may reject it")


@run_async
async def test_tab_in_a_burst_moves_to_the_next_field_before_the_text_after_it(store, actor):
    """New request dialog, open and ready; `tmux send-keys -l Acme; send-keys Tab; send-keys -l Ann`
    in one burst: "AcmeAnn" landed in Company (Tab, a binding, is acted on only when the key comes
    back up from the field, after the text queued behind it was typed). Tab must act in order."""
    from textual import events

    from screens.dialogs import NewRequestDialog

    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await until(app, pilot, lambda: isinstance(app.screen, NewRequestDialog) and app.screen.keys_ready, "dialog")
        dialog = app.screen
        for key in ["A", "c", "tab", "B", "o", "tab", "tab", "shift+tab", "L"]:
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await settle(app, pilot)
        assert dialog.query_one("#f-company").value == "Ac"
        assert dialog.query_one("#f-first-name").value == "Bo"
        assert dialog.query_one("#f-last-name").value == "L"


@pytest.mark.parametrize("who, words", [("admin1", "inactive already"), ("approver1", "may not")])
@run_async
async def test_deactivate_on_an_inactive_definition_asks_nothing(store, actor, who, words):
    """Workflows: `d` on an inactive definition asked "Deactivate …?" and then reported it
    deactivated (a no-op); for an operator who may not change workflows the confirmation came
    before the refusal. Now one notice, no confirmation."""
    from screens.dialogs import ConfirmDialog
    from screens.workflows import WorkflowsScreen
    from services import workflow_defs
    from tests.test_cases import with_case_workflow

    with_case_workflow(store)
    if who == "admin1":
        store.call(workflow_defs.deactivate, actor("admin1"), 1)
    app = make_app(store, actor(who))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("f9")
        await until(
            app, pilot, lambda: isinstance(app.screen, WorkflowsScreen) and app.screen.detail is not None, "workflows"
        )
        before = len(notes(app))
        await pilot.press("d")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        said = notes(app)[before:]
        assert len(said) == 1 and words in said[0], said


@run_async
async def test_case_detail_names_the_possible_actions_with_their_keys(store, actor):
    """The case's Approval section listed the service's names ("submit, close_stopped, sample, edit"),
    not what the operator presses; now as Registration: "Possible now  submit (w), close as stopped (c)…"."""
    from tests.test_cases import create

    number = create(store).number
    app = make_app(store, actor("support1"))
    async with app.run_test(size=(160, 45)) as pilot:
        cases_screen = await _cases_on(app, pilot, number)
        text = str(cases_screen.query_one("#cs-approval").render())
        assert "close_stopped" not in text, text
        assert "Possible now" in text and "submit (w)" in text and "close as stopped (c)" in text, text


@run_async
async def test_delegate_someone_elses_item_says_why_and_the_dialog_shows_its_confirm_key(store, actor):
    """My work, everyone's view, `d` on approver2's item: the operator list opened and the pick was
    refused. Now one notice. On one's own item the dialog opens, its footer shows ctrl+s, which
    delegates to the highlighted operator (Enter only, before)."""
    from screens.my_work import DelegateDialog, MyWorkScreen
    from screens.textual_compat import screen_text
    from services import workflow
    from tests.test_work_inbox import case_flow, submitted_case

    case_flow(store)
    number = submitted_case(store, "support1")
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("f3")
        await until(app, pilot, lambda: isinstance(app.screen, MyWorkScreen) and app.screen.detail is not None, "mine")
        mw = app.screen
        await pilot.press("m")
        await until(app, pilot, lambda: any(w.assignee == "approver2" for w in mw.records.values()), "everyone")
        theirs = next(k for k, w in mw.records.items() if w.assignee == "approver2")
        mw.table.move_cursor(row=mw.table.get_row_index(theirs))
        await settle(app, pilot)
        await refused_at_once(app, pilot, "d", DelegateDialog, "only its assignee may delegate it")
        mine = next(k for k, w in mw.records.items() if w.assignee == "approver1" and w.doc_key == number)
        mw.table.move_cursor(row=mw.table.get_row_index(mine))
        await settle(app, pilot)
        await pilot.press("d")
        await until(app, pilot, lambda: isinstance(app.screen, DelegateDialog), "delegate dialog")
        await settle(app, pilot)
        assert "^s Delegate" in screen_text(app.screen)
        await pilot.press("down", "ctrl+s")
        await until(app, pilot, lambda: app.screen is mw, "closed")
        await settle(app, pilot)
    items = store.call(workflow.list_work, actor("approver1"), False)
    assert not any(i.doc_key == number and i.assignee == "approver1" and i.status == "open" for i in items)


def test_signup_refusal_says_what_the_command_would_say(any_store):
    """``signup.refusal`` (asked before Registration opens a dialog): where it refuses, the
    command refuses with the same words; where it does not, the action is in the detail's list."""
    from services import signup
    from services.errors import RegdeskError
    from tests.conftest import actor_of

    actor = actor_of(any_store)
    numbers = load_requests(any_store, actor)
    approver, support = actor("approver1"), actor("support1")
    commands = {
        "approve": lambda a, n: any_store.call(signup.approve, a, n),
        "reject": lambda a, n: any_store.call(signup.reject, a, n, "no"),
        "resend": lambda a, n: any_store.call(signup.resend, a, n),
    }
    refused = 0
    for number in numbers.values():
        for who in (approver, support):
            for action, command in commands.items():
                said = any_store.call(signup.refusal, who, number, action)
                if said is None:
                    assert action in any_store.call(signup.show_request, who, number).actions, (number, action)
                    continue
                refused += 1
                try:
                    command(who, number)
                except RegdeskError as exc:
                    assert said == exc.message, (number, action, said, exc.message)
                else:
                    raise AssertionError(f"{action} {number}: refusal said {said!r}, the command did it")
    assert refused >= 20
