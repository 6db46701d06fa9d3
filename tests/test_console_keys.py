"""Editing keys in a text field act in order with the text around them. Sent in one burst (a
``tmux send-keys``, a fast typist), Home, End, ctrl+u, Backspace, ←/→ ... are Input *bindings*:
Textual ran them only once the key came back up from the field to the app, after the characters
queued behind them had been typed ("abc", Home, "X" gave "abcX", not "Xabc")."""

from __future__ import annotations

import pytest
from textual.content import Content
from textual.widgets import Input

from app.tui import make_app
from tests.helpers import run_async, until
from tests.test_console_registration import SIZE, settle
from tests.test_console_trial import burst

BURSTS = [
    (["a", "b", "c", "home", "X"], "Xabc"),
    (["a", "b", "c", "home", "X", "end", "Y"], "XabcY"),
    (["a", "b", "c", "ctrl+u", "X"], "X"),
    (["a", "b", "c", "ctrl+a", "X", "ctrl+e", "Y"], "XabcY"),
    (["a", "b", "c", "backspace", "X"], "abX"),
    (["a", "b", "c", "left", "X", "right", "Y"], "abXcY"),
    (["a", "b", "c", "home", "delete", "X"], "Xbc"),
    (["a", "b", " ", "c", "d", "ctrl+w", "X"], "ab X"),
]


@pytest.mark.parametrize("keys, value", BURSTS)
@run_async
async def test_editing_keys_in_the_search_field_act_in_order(store, actor, keys, value):
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await until(app, pilot, lambda: app.screen.query("#search"), "the search field")
        await pilot.press("slash")
        search = app.screen.query_one("#search", Input)
        await until(app, pilot, lambda: app.screen.focused is search, "focus in the search")
        burst(app, *keys)
        await settle(app, pilot)
        assert search.value == value


@run_async
async def test_editing_keys_in_a_dialog_field_act_in_order(store, actor):
    from screens.dialogs import FieldSpec, FormDialog

    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.push_screen(FormDialog(Content("User name"), [FieldSpec("user_name", "User name")]))
        await until(app, pilot, lambda: isinstance(app.screen, FormDialog) and app.screen.focused is not None, "focus")
        burst(app, "b", "c", "home", "a", "end", "d", "ctrl+u", "x", "y", "home", "w")
        await settle(app, pilot)
        assert app.screen.query_one("#fd-user_name", Input).value == "wxy"


@pytest.mark.parametrize("keys, value", [(["slash", "a", "b", "c"], "abc"), (["slash", "a", "b", "home", "X"], "Xab")])
@run_async
async def test_text_typed_right_after_slash_goes_into_the_search(store, actor, keys, value):
    """`/` then text in one burst (seen in tmux: "/ REG Home X End Y"): the text was sent to the list
    before `/` came back up from it and moved the focus to the search; the list did not use it and
    it was lost (or ran a list binding: `R`, `a`)."""
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await until(app, pilot, lambda: app.screen.query("#search"), "the search field")
        search = app.screen.query_one("#search", Input)
        burst(app, *keys)
        await settle(app, pilot)
        assert app.screen.focused is search
        assert search.value == value
