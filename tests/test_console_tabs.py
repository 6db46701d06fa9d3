"""The filter bar of every list area: a tab label the bar cannot show whole ends in "…" (the bar
cut "Closed/Complet" at 160 columns and "Rejecte" elsewhere, with nothing to say it was cut); so
does the search field's placeholder ("/ search number," at 80 columns)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Tab, Tabs

from app.tui import make_app
from screens.browser import BrowserScreen
from screens.browser.parts import MORE_LEFT, MORE_RIGHT, tab_id
from screens.textual_compat import screen_text
from tests.helpers import run_async, until
from tests.test_console_registration import settle

AREAS = ["f2", "f3", "f4", "f8", "f7", "f11", "f9", "f10"]


def shown_tab_labels(screen: BrowserScreen) -> list[tuple[str, str]]:
    """(the tab's whole label, what the screen shows of it) for every tab with a cell on screen."""
    lines = screen_text(screen).splitlines()
    tabs = screen.query_one("#filters", Tabs)
    bar = tabs.query_one("#tabs-scroll").content_region
    out = []
    for name in screen.FILTERS:
        tab = tabs.query_one(f"#{tab_id(name)}", Tab)
        region = tab.region.intersection(bar)
        if not tab.display or region.width <= 0 or region.height <= 0:
            continue
        out.append((screen._tab_label(name), lines[region.y][region.x : region.right].strip()))
    return out


def whole_or_marked(label: str, text: str) -> bool:
    """Shown whole, or cut with "…" at its end, or its name shortened with "…" and its count kept;
    with the "‹ " / " ›" marker of hidden tabs on that side."""
    text = text.removeprefix(MORE_LEFT).removesuffix(MORE_RIGHT)
    if text == label:
        return True
    name, count = (label.rsplit(" (", 1) + [""])[:2]
    suffix = f" ({count}" if count else ""
    if suffix and text.endswith(suffix):
        text = text[: -len(suffix)]
    return len(text) > 1 and text.endswith("…") and label.startswith(text[:-1])


@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
@run_async
async def test_every_tab_label_is_whole_or_ends_in_an_ellipsis(store, actor, size):
    app = make_app(store, actor("admin1"))
    async with app.run_test(size=size) as pilot:
        for key in AREAS:
            await pilot.press(key)
            await until(
                app,
                pilot,
                lambda: isinstance(app.screen, BrowserScreen) and app.screen.query("#filters Tab"),
                f"area {key}",
            )
            screen = app.screen
            await until(app, pilot, lambda: screen.counts and not screen.counts_stale, f"counts of {key}")
            await settle(app, pilot)
            for index in range(len(screen.FILTERS)):  # every tab active in turn (the bar follows it)
                await pilot.press(str(index + 1))
                await until(app, pilot, lambda: not screen.counts_stale, "counts")
                await settle(app, pilot)
                shown = shown_tab_labels(screen)
                status = screen.query_state.status
                assert status in [n for n in screen.FILTERS if screen.query_one(f"#{tab_id(n)}").display]
                for label, text in shown:
                    assert whole_or_marked(label, text), f"{key} at {size}, {status}: tab {label!r} shown as {text!r}"
            search = screen.query_one("#search", Input)
            region = search.content_region
            text = screen_text(screen).splitlines()[region.y][region.x : region.right].strip()
            assert text == screen.SEARCH_PLACEHOLDER or (text.endswith("…") and len(text) > 1), (
                f"{key} at {size}: search placeholder {screen.SEARCH_PLACEHOLDER!r} shown as {text!r}"
            )


def test_whole_or_marked():
    assert whole_or_marked("Closed/Completed (3)", "Closed/Completed (3)")
    assert whole_or_marked("Closed/Completed (3)", "Closed/Comp… (3)")
    assert whole_or_marked("Closed/Completed (3)", "Closed/C…")
    assert not whole_or_marked("Closed/Completed (3)", "Closed/Complet")
    assert not whole_or_marked("Rejected (0)", "Rejecte")


def test_fit_tabs_shortens_the_longest_keeps_them_apart_then_shows_fewer():
    from screens.browser.parts import fit_tabs

    names = ["All", "Draft", "Submitted", "Pending approval", "Approved", "Pending completion", "Completed"]
    tabs = [(n, " (3)") for n in names]
    whole = [n + " (3)" for n in names]
    assert fit_tabs(tabs, 200, 0) == whole
    fitted = fit_tabs(tabs, 90, 0)
    assert sum(len(t) + 2 for t in fitted) <= 90
    assert all(t == w or (t.endswith("… (3)") and w.startswith(t[:-5])) for t, w in zip(fitted, whole))
    assert len({t.split("…")[0] for t in fitted}) == len(fitted)  # still tells every tab apart
    narrow = fit_tabs(tabs, 40, 5)
    assert narrow[5] is not None and sum(len(t) + 2 for t in narrow if t) <= 40
    shown = [i for i, t in enumerate(narrow) if t is not None]
    assert shown == list(range(shown[0], shown[-1] + 1)) and len(shown) < len(names)
    # hidden tabs are never silent: the outermost shown tab on each side that hides some says so
    assert (narrow[shown[0]] or "").startswith(MORE_LEFT) == (shown[0] > 0)
    assert (narrow[shown[-1]] or "").endswith(MORE_RIGHT) == (shown[-1] < len(names) - 1)
    assert fit_tabs(tabs, 40, 0)[0] == "All (3)"  # nothing hidden on the left: no marker there
