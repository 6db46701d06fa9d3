"""Issue 8's hands-on trial, the remaining defects: each driven through Pilot, each failed before its fix.

* a cell cut at the list pane's edge (the table wider than its pane) ends in "…";
"""

from __future__ import annotations

import pytest

from app.tui import make_app
from screens.textual_compat import screen_text
from tests.helpers import run_async, until
from tests.test_console_registration import load_requests, screen, settle, table


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
