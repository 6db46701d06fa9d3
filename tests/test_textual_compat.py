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
