"""The private Textual internals regdesk relies on (screens/textual_compat.py) are there, in the
Textual version they were written for."""

from __future__ import annotations

import importlib
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from screens.textual_compat import INTERNALS, WRITTEN_FOR

ROOT = Path(__file__).absolute().parent.parent


def test_textual_is_the_version_the_internals_were_written_for():
    installed = version("textual")
    assert installed == WRITTEN_FOR, (
        f"textual {installed} is installed, but regdesk's use of private Textual internals was checked "
        f"against textual {WRITTEN_FOR}: re-check each entry of INTERNALS in screens/textual_compat.py "
        f"({len(INTERNALS)} of them: {', '.join(sorted({name for _, name, _ in INTERNALS}))}), run the snapshot "
        f"and RequestTable tests, then update WRITTEN_FOR and the textual pin in pyproject.toml together"
    )


def test_the_pin_names_the_same_version():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in deps if re.match(r"textual\s*==", d)]
    assert pins == [f"textual=={WRITTEN_FOR}"], (pins, WRITTEN_FOR)


def test_every_listed_internal_exists():
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import DataTable, Tab

    instances = {App: App(), Screen: Screen(), DataTable: DataTable(), Tab: Tab("x")}
    missing = []
    for owner, name, used in INTERNALS:
        module, _, cls_name = owner.partition(":")
        cls = getattr(importlib.import_module(module), cls_name)
        target = instances.get(cls, cls)
        if not hasattr(target, name):
            missing.append(f"{owner}.{name} (used by {used})")
    assert not missing, (
        f"textual {version('textual')} no longer has: " + "; ".join(missing) + ". See screens/textual_compat.py"
    )


def test_screens_use_only_what_the_typed_app_declares():
    """``self.app.X`` in a screen is an attribute of ``ConsoleApp`` (the Textual App plus what
    RegdeskApp adds), so a type checker sees every one; RegdeskApp implements it."""
    from app.tui import RegdeskApp
    from screens.console_app import ConsoleApp

    assert issubclass(RegdeskApp, ConsoleApp)
    declared = set(dir(ConsoleApp())) | set(ConsoleApp.__annotations__)
    used: dict[str, str] = {}
    for path in sorted((ROOT / "screens").rglob("*.py")):
        for name in re.findall(r"self\.app\.(\w+)", path.read_text()):
            used.setdefault(name, path.name)
    missing = {name: where for name, where in used.items() if name not in declared}
    assert not missing, f"screens use app attributes ConsoleApp does not declare: {missing}"


def test_compat_helpers_read_a_running_app():
    import asyncio

    from textual.app import App
    from textual.widgets import Static

    from screens.textual_compat import app_exiting, notifications, screen_text

    class Tiny(App):
        def compose(self):
            yield Static("hello compat")

    async def run():
        app = Tiny()
        async with app.run_test(size=(40, 5)) as pilot:
            app.notify("a note")
            await pilot.pause()
            assert [n.message for n in notifications(app)] == ["a note"]
            assert "hello compat" in screen_text(app.screen)
            assert not app_exiting(app)
            app.exit()
            assert app_exiting(app)

    asyncio.run(run())


def test_a_scroll_bar_kept_by_line_kind_draws_what_textual_draws():
    """screens/textual_compat.py scrollbar_lines_kept: a vertical scroll bar's lines, taken from the
    strips kept per kind of line, are Textual's own for every thumb position of a long list, for a
    thin and a thick bar, with the pointer over it, and after the theme changed; and once the kinds
    are known, a frame draws none of them the stock way."""
    import asyncio

    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.geometry import Region
    from textual.scrollbar import ScrollBar
    from textual.widgets import Static

    stock = ScrollBar.render_lines._regdesk_stock  # type: ignore[attr-defined]

    class Long(App):
        CSS = "#thick { scrollbar-size-vertical: 3; }"

        def compose(self):
            with VerticalScroll(id="thin"):
                yield Static("\n".join(f"line {i}" for i in range(300)))
            with VerticalScroll(id="thick"):
                yield Static("\n".join(f"line {i}" for i in range(77)))

    drawn_stock: list[int] = []

    async def run():
        app = Long()
        async with app.run_test(size=(40, 24)) as pilot:
            for scroller_id in ("thin", "thick"):
                scroller = app.query_one(f"#{scroller_id}", VerticalScroll)
                bar = scroller.vertical_scrollbar
                await pilot.pause()
                for theme, hover in (("textual-dark", False), ("textual-dark", True), ("textual-light", False)):
                    app.theme = theme
                    bar.mouse_over = hover
                    await pilot.pause()
                    for y in range(0, int(scroller.max_scroll_y) + 1):
                        scroller.scroll_to(y=y, animate=False, immediate=True)
                        full = Region(0, 0, *bar.size)
                        kept = [list(strip) for strip in bar.render_lines(full)]
                        assert kept == [list(strip) for strip in stock(bar, full)], (scroller_id, theme, hover, y)
                # the kinds are known: scrolling again draws no line the stock way
                original = ScrollBar._render_content
                scroller.scroll_to(y=0, animate=False, immediate=True)
                bar.render_lines(Region(0, 0, *bar.size))

                def counted(self):  # type: ignore[no-untyped-def]
                    drawn_stock.append(1)
                    return original(self)

                ScrollBar._render_content = counted  # type: ignore[method-assign]
                try:
                    for y in range(0, int(scroller.max_scroll_y) + 1):
                        scroller.scroll_to(y=y, animate=False, immediate=True)
                        bar.render_lines(Region(0, 0, *bar.size))
                finally:
                    ScrollBar._render_content = original  # type: ignore[method-assign]
                assert drawn_stock == [], scroller_id

    asyncio.run(run())
