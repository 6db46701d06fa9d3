"""Defects found by trying the console by hand (tmux, the demo set, two operators side by side),
each written as the keys an operator sent. See the trial's findings for what was seen."""

from __future__ import annotations

import pytest
from textual import events
from textual.content import Content

from app.tui import make_app
from screens.dialogs import CreateCustomerDialog
from tests.helpers import notes, run_async, until
from tests.test_console_browser import reg, wait_for
from tests.test_console_registration import SIZE, load_requests, set_create_defaults, settle, status_of, table


async def verified_tab(app, pilot, rows: int = 4) -> list[str]:
    await settle(app, pilot)
    await pilot.press("3")  # Verified by user
    await until(
        app,
        pilot,
        lambda: (
            reg(app).query_state.status == "Verified by user"
            and table(app).row_count == rows
            and reg(app).detail is not None
        ),
        "verified filter",
    )
    return [str(k.value) for k in table(app).rows]


def burst(app, *keys: str) -> None:
    """Keys sent in one ``tmux send-keys``: all queued before the first is handled."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


@run_async
async def test_a_then_c_at_once_opens_the_create_dialog_for_the_approved_request(store, actor):
    """`a` then `c` (the issue's "approve + create is a, c, confirm"): `c` came while the approve
    was still running, read the detail loaded before it (Verified: nothing to create) and was
    refused "REG-…: nothing to create"; the dialog never opened."""
    load_requests(store, actor)
    set_create_defaults(store)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        first = keys[0]
        assert reg(app).selected == first
        burst(app, "a", "c")
        await until(app, pilot, lambda: isinstance(app.screen, CreateCustomerDialog), "the Create dialog")
        assert app.screen.number == first
        assert status_of(store, first) == "Approved"
        assert not [n for n in notes(app) if "nothing to create" in n or "must be approved" in n], notes(app)
        await until(app, pilot, lambda: app.screen.preview is not None and app.screen._ready, "dialog ready")
        await pilot.press("ctrl+s")
        await until(app, pilot, lambda: status_of(store, first) == "Created", "created")


@run_async
async def test_a_create_preview_queued_while_the_dialog_is_taken_down_does_nothing(store, actor):
    """Seen in a clean-clone CI run: at the end of the test above a queued preview ran while the
    closing app was removing the dialog's fields one by one (#f-template still there,
    #f-existing-account gone) and failed the app with NoMatches."""
    load_requests(store, actor)
    set_create_defaults(store)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await verified_tab(app, pilot)
        burst(app, "a", "c")
        await until(app, pilot, lambda: isinstance(app.screen, CreateCustomerDialog), "the Create dialog")
        dialog = app.screen
        await until(app, pilot, lambda: dialog.preview is not None and dialog._ready, "dialog ready")
        await dialog.query_one("#f-existing-account").remove()  # taken down part way
        assert dialog.query("#f-template")
        dialog._preview()  # the queued preview: nothing to read, nothing done
        await pilot.pause()


@run_async
async def test_a_then_c_when_the_approve_is_refused_opens_nothing(store, actor):
    """The deferred `c` of the test above must not open a dialog when the approve is refused."""
    load_requests(store, actor)
    set_create_defaults(store)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        from services import signup

        store.call(signup.reject, actor("approver2"), keys[0], "not a business")  # someone else, meanwhile
        burst(app, "a", "c")
        # refusals fail their workers: wait without workers_done (it re-raises them)
        await wait_for(app, pilot, lambda: any("rejected by approver2" in n for n in notes(app)), "the refusal")
        await wait_for(app, pilot, lambda: not reg(app)._approving, "the approval returned")
        await wait_for(app, pilot, lambda: all(w.is_finished for w in app.workers), "idle")
        await pilot.pause()
        assert not isinstance(app.screen, CreateCustomerDialog)
        assert status_of(store, keys[0]) == "Rejected"


@run_async
async def test_one_refusal_is_one_notification(store, actor):
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        await pilot.press("c")  # Verified, not approved: refused
        await until(app, pilot, lambda: any("must be approved" in n for n in notes(app)), "the refusal")
        await settle(app, pilot)
        refusals = [n for n in notes(app) if keys[0] in n and "must be approved" in n]
        assert len(refusals) == 1, refusals


@run_async
async def test_rows_approved_in_a_burst_all_show_approved(store, actor):
    """`a Down a Down a` on Verified by user: all three are approved, the header says so, but the
    first two rows still read "Verified by user" (only the row under the cursor got its detail)."""
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        burst(app, "a", "down", "a", "down", "a")
        await until(app, pilot, lambda: all(status_of(store, k) == "Approved" for k in keys[:3]), "three approved")
        await until(app, pilot, lambda: reg(app).counts.get("Verified by user") == 1, "counts follow")
        await settle(app, pilot)
        # rows the cursor left may leave the list at the next reread (by design: moving away lets go);
        # every one still shown must show its new state
        shown = {k: table(app).get_cell(k, "status").plain for k in keys[:3] if k in reg(app).records}
        assert shown and shown == {k: "Approved" for k in shown}, shown


@pytest.mark.parametrize("area", ["f2", "f3", "f4", "f6", "f7", "f10", "f11"])
@run_async
async def test_footer_keeps_every_key_at_80x24(store, actor, area):
    from screens.footer import KeyFooter
    from screens.textual_compat import FooterKey

    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press(area)
        await until(app, pilot, lambda: bool(app.screen.query(KeyFooter)), "the footer")
        await settle(app, pilot)
        footer = app.screen.query_one(KeyFooter)
        keys = list(footer.query(FooterKey))
        palette = [k for k in keys if k.has_class("-command-palette")]
        right = palette[0].region.x if palette else footer.region.right
        cut = [f"{k.key} {k.description}" for k in keys if k not in palette and k.region.right > right]
        assert not cut, f"keys hidden or cut at 80 columns: {cut}"


@run_async
async def test_keys_typed_right_after_e_land_in_the_edit_dialog(store, actor):
    """tmux `Down e`, then Tab and text (a loaded machine: the dialog came 1.2 s after `e`): the Tabs
    and the text were lost, the name field got what came after the dialog appeared. Here: `Down e x y`
    while the detail is read: "xy" belongs in the first field (Name)."""
    import threading

    from screens.customers import CustomersScreen, EditCustomerDialog

    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await until(
            app, pilot, lambda: isinstance(app.screen, CustomersScreen) and app.screen.detail is not None, "customers"
        )
        screen = app.screen
        second = str(list(screen.table.rows)[1].value)
        gate = threading.Event()
        fetch = screen.fetch_detail

        def slow_fetch(key):  # the store answers late, as on a busy machine
            if key == second:
                gate.wait(10)
            return fetch(key)

        screen.fetch_detail = slow_fetch
        burst(app, "down", "e", "x", "y")
        for _ in range(5):
            await pilot.pause()
        gate.set()
        await until(app, pilot, lambda: isinstance(app.screen, EditCustomerDialog), "edit dialog")
        await settle(app, pilot)
        dialog = app.screen
        assert dialog.context.customer.account == second
        typed = {i.id: i.value for i in dialog.query("Input") if i.value.endswith("xy")}
        assert typed, "the keys typed after `e` were lost"


@run_async
async def test_keys_typed_right_after_e_land_in_the_edit_dialog_when_the_detail_is_loaded(store, actor):
    from screens.customers import CustomersScreen, EditCustomerDialog

    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await until(
            app, pilot, lambda: isinstance(app.screen, CustomersScreen) and app.screen.detail is not None, "customers"
        )
        burst(app, "e", "x", "y")
        await until(app, pilot, lambda: isinstance(app.screen, EditCustomerDialog), "edit dialog")
        await settle(app, pilot)
        assert app.screen.query_one("#f-name").value.endswith("xy"), app.screen.query_one("#f-name").value


@run_async
async def test_create_refused_because_someone_else_created_it_says_so_in_the_dialog(store, actor):
    """Two approvers with the Create dialog open on one request (PostgreSQL, side by side): the second
    ctrl+s was refused "done already: customer C-… was created by approver2" in a toast only; the
    dialog stayed open saying "Ready: OK creates it." with no error on it."""
    load_requests(store, actor)
    set_create_defaults(store)
    from services import signup

    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        first = keys[0]
        await pilot.press("a")
        await until(app, pilot, lambda: status_of(store, first) == "Approved", "approved")
        await until(app, pilot, lambda: reg(app).detail is not None and reg(app).detail.status == "Approved", "detail")
        await pilot.press("c")
        await until(app, pilot, lambda: isinstance(app.screen, CreateCustomerDialog), "the Create dialog")
        dialog = app.screen
        await until(app, pilot, lambda: dialog.preview is not None and dialog._ready, "dialog ready")
        store.call(signup.create_customer, actor("approver2"), first, mode="new", role="Customer self-service user")
        await pilot.press("ctrl+s")
        await wait_for(app, pilot, lambda: any("done already" in n for n in notes(app)), "the refusal")
        await wait_for(app, pilot, lambda: dialog.query_one("#e-status").has_class("-visible"), "inline error")
        assert app.screen is dialog  # kept open, nothing typed lost
        assert "Ready: OK creates it." not in str(dialog.query_one("#preview-body").render())


@pytest.mark.parametrize("size", [SIZE, (80, 24)])
@run_async
async def test_changes_row_approved_in_place_shows_its_new_state(store, actor, size):
    """Changes, "Waiting for me", `a` (approve all) on a submitted proposal: "Done … approved",
    the counts moved, but the row kept in place still read "Submitted" (seen at 80x24, also wide)."""
    from screens.changes import ChangesScreen
    from services import changes

    admin = actor("admin1")
    store.call(changes.set_approvals, admin, True)
    store.call(changes.set_field_approval, admin, "credit_limit", True)
    store.call(changes.edit_customer, actor("support1"), "C-000002", {"credit_limit": "900"})
    view = store.call(changes.submit, actor("support1"), "C-000002")
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=size) as pilot:
        await pilot.press("f10")
        await until(
            app,
            pilot,
            lambda: isinstance(app.screen, ChangesScreen) and app.screen.detail is not None,
            "changes",
        )
        screen = app.screen
        assert screen.table.key_at_cursor() == view.number
        await pilot.press("a")
        await until(
            app,
            pilot,
            lambda: store.call(changes.show_proposal, actor("approver1"), "C-000002").state == "Approved",
            "approved",
        )
        await until(app, pilot, lambda: screen.detail is not None and screen.detail.state == "Approved", "detail")
        await settle(app, pilot)
        assert view.number in screen.table.rows
        assert screen.table.get_cell(view.number, "state").plain == "Approved"


@pytest.mark.parametrize("size", [SIZE, (80, 24)])
@run_async
async def test_cases_row_approved_in_place_shows_its_new_status(store, actor, size):
    """Cases, "Pending Approval", `a`: "Done … Approved", the tab count went to 0, but the row kept in
    place still read "Pending Approval" (seen at 80x24 as approver2)."""
    from screens.cases import CasesScreen
    from tests.test_cases import status_of as case_status
    from tests.test_cases import submitted

    number = submitted(store)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=size) as pilot:
        await pilot.press("f7")
        await until(app, pilot, lambda: isinstance(app.screen, CasesScreen), "cases")
        screen = app.screen
        await pilot.press("3")  # Pending Approval
        await until(
            app,
            pilot,
            lambda: (
                screen.query_state.status == "Pending Approval"
                and screen.detail is not None
                and screen.table.key_at_cursor() == number
            ),
            "pending filter",
        )
        await pilot.press("a")
        await until(app, pilot, lambda: case_status(store, number) == "Approved", "approved")
        await until(app, pilot, lambda: screen.detail is not None and screen.detail.status == "Approved", "detail")
        await settle(app, pilot)
        assert number in screen.table.rows
        assert screen.table.get_cell(number, "status").plain == "Approved"


async def deactivate_first_active_workflow(app, pilot):
    """Workflows, "Active", `d` on the highlighted definition, confirmed: (the screen, the row's key)."""
    from screens.dialogs import ConfirmDialog
    from screens.workflows import WorkflowsScreen

    await pilot.press("f9")
    await until(app, pilot, lambda: isinstance(app.screen, WorkflowsScreen), "workflows")
    screen = app.screen
    await pilot.press("2")  # Active
    await until(
        app,
        pilot,
        lambda: screen.query_state.status == "Active" and screen.detail is not None and screen.table.row_count,
        "active filter",
    )
    key = screen.table.key_at_cursor()
    await pilot.press("d")
    await until(app, pilot, lambda: isinstance(app.screen, ConfirmDialog), "confirm")
    await pilot.press("ctrl+s")
    return screen, key


@run_async
async def test_workflow_deactivated_in_place_shows_inactive(store, actor):
    """Workflows, "Active", `d`, confirm: the counts moved (Active 2, Inactive 1) and the detail said
    "Active no", but the row kept in place still read "active"."""
    from tests.test_cases import with_case_workflow

    with_case_workflow(store)
    app = make_app(store, actor("admin1"))
    async with app.run_test(size=SIZE) as pilot:
        screen, key = await deactivate_first_active_workflow(app, pilot)
        try:
            await until(app, pilot, lambda: screen.detail is not None and not screen.detail.active, "detail")
        except AssertionError as exc:
            rows = {str(k.value): screen.table.get_cell(k, "active").plain for k in screen.table.rows}
            raise AssertionError(f"{exc}; acted on {key!r}; detail {screen.detail!r}; rows {rows}") from None
        await settle(app, pilot)
        assert key in screen.table.rows
        assert screen.table.get_cell(key, "active").plain != "active"


@run_async
async def test_workflow_deactivated_stays_when_a_reread_lands_before_the_action_is_done(store, actor, monkeypatch):
    """The interleaving behind the intermittent failure of the test above (1 run in 3 of the four
    console files at -n 2): the confirm dialog's closing rereads the list (screen resume) while the
    deactivation runs; that read came after the commit and its page landed before the action's
    ActionDone, when the record was not yet kept: the row left the Active list, the table was empty,
    the cursor on nothing, and the action's own reread had no row left to keep. Forced here by
    holding the action's worker between its commit and its ActionDone while a reread lands."""
    import threading

    from textual.worker import get_current_worker

    from services import changefeed
    from tests.test_cases import with_case_workflow

    committed, release = threading.Event(), threading.Event()
    latest_change = changefeed.latest_change

    def held_latest_change(session, actor=None):
        try:
            group = get_current_worker().group
        except Exception:
            group = None
        if group == "browser.action":  # the action's worker, after its commit: ActionDone waits
            committed.set()
            release.wait(20)
        return latest_change(session, actor)

    monkeypatch.setattr(changefeed, "latest_change", held_latest_change)
    with_case_workflow(store)
    app = make_app(store, actor("admin1"))
    async with app.run_test(size=SIZE) as pilot:
        screen, key = await deactivate_first_active_workflow(app, pilot)
        try:
            await wait_for(app, pilot, lambda: app.screen is screen and committed.is_set(), "the commit")
            # a reread after the commit (the resume's, read late) lands while ActionDone is held
            screen.reload(keep=screen.selected, quiet=True)
            await wait_for(app, pilot, lambda: not screen._fetching, "the reread landed")
            assert key in screen.table.rows, "the acted row left while its action was running"
            assert screen.table.key_at_cursor() == key
        finally:
            release.set()
        await until(app, pilot, lambda: screen.detail is not None and not screen.detail.active, "detail")
        await settle(app, pilot)
        assert key in screen.table.rows
        assert screen.table.key_at_cursor() == key
        assert screen.table.get_cell(key, "active").plain != "active"


@run_async
async def test_keys_sent_while_a_dialog_mounts_land_in_its_first_field(store, actor):
    """Keys that reach a dialog before its first field has the focus (pushed, still mounting) went to
    the dialog screen itself and were dropped; seen as a flaky test that typed a user name into the
    user name dialog right after it was on top. They are given to the field once it has the focus;
    Escape still closes a dialog at once."""
    from screens.dialogs import FieldSpec, FormDialog

    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        results: list = []
        app.push_screen(FormDialog(Content("User name"), [FieldSpec("user_name", "User name")]), results.append)
        burst(app, "a", "b", "c")
        await until(app, pilot, lambda: isinstance(app.screen, FormDialog) and app.screen.focused is not None, "focus")
        await settle(app, pilot)
        assert app.screen.query_one("#fd-user_name").value == "abc"
        await pilot.press("escape")
        await until(app, pilot, lambda: not isinstance(app.screen, FormDialog), "closed")


def test_footer_lines_keep_each_key_whole_and_in_order():
    from screens.footer import split_lines

    keys = ["a Approve", "r Reject", "c Create", "/ Search", "^q Quit"]
    widths = [len(k) + 1 for k in keys]
    assert split_lines(keys, widths, 200, 3) == [keys]
    lines = split_lines(keys, widths, 22, 3)
    assert [k for line in lines for k in line] == keys
    assert all(sum(len(k) + 1 for k in line) <= 22 for line in lines)
    assert len(split_lines(keys, widths, 5, 3)) == 3  # never more lines than asked: the last takes the rest
