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
        f"and RequestTable tests, then update WRITTEN_FOR and the textual pin in pyproject.toml together")


def test_the_pin_names_the_same_version():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in deps if re.match(r"textual\s*==", d)]
    assert pins == [f"textual=={WRITTEN_FOR}"], (pins, WRITTEN_FOR)


def test_every_listed_internal_exists():
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import DataTable

    instances = {App: App(), Screen: Screen(), DataTable: DataTable()}
    missing = []
    for owner, name, used in INTERNALS:
        module, _, cls_name = owner.partition(":")
        cls = getattr(importlib.import_module(module), cls_name)
        target = instances.get(cls, cls)
        if not hasattr(target, name):
            missing.append(f"{owner}.{name} (used by {used})")
    assert not missing, (f"textual {version('textual')} no longer has: " + "; ".join(missing)
                         + ". See screens/textual_compat.py")
