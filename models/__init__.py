"""SQLModel tables and schemas, one module per process.

Modules load on first use, so a command pays only for the tables it touches: importing
``models.signup`` loads it and the modules its foreign keys point to (each module imports
those itself). ``models.metadata`` (and any table name read from the package, e.g.
``models.Customer``) loads every module first, so the metadata is complete wherever a
whole-schema view is needed (migrations, schema comparison, fixtures that empty tables).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

MODULES = ("core", "customer", "signup", "cases", "prospects", "portal", "changes", "workflow", "web")


def load_all() -> None:
    """Register every table on the metadata (naming convention first: ``models.base``)."""
    importlib.import_module("models.base")
    for name in MODULES:
        importlib.import_module(f"models.{name}")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    load_all()
    if name == "metadata":
        from models.base import metadata

        return metadata
    for module in MODULES:
        found = getattr(sys.modules[f"models.{module}"], name, None)
        if found is not None:
            return found
    raise AttributeError(f"module 'models' has no attribute {name!r}")
