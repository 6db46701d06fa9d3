"""Workflow definitions shipped with the demo set (TOML files next to this module).

``load_default_workflows(store)`` imports each file whose document type is registered and
activates it, unless a definition of that (doc type, name) exists already (loading twice
adds nothing twice). A file whose document type is not registered (its module is not
installed) is skipped and reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from models.workflow import WorkflowDefinition
from services import workflow, workflow_defs
from services.errors import NotFound
from services.permissions import SYSTEM

FILES_DIR = Path(__file__).resolve().parent


def default_files() -> list[Path]:
    return sorted(FILES_DIR.glob("*.toml"))


def load_default_workflows(store: Any) -> dict[str, str]:
    """{file name: what happened} for each shipped definition file."""
    import tomllib

    done: dict[str, str] = {}
    for path in default_files():
        source = path.read_text(encoding="utf-8")
        head = tomllib.loads(source)
        doc_type, name = head.get("doc_type", ""), head.get("name", "")
        try:
            workflow.get_type(doc_type)
        except NotFound:
            done[path.name] = f"skipped: document type {doc_type!r} is not registered"
            continue
        with store.read() as s:
            exists = s.exec(
                select(WorkflowDefinition.id).where(
                    WorkflowDefinition.doc_type == doc_type, WorkflowDefinition.name == name
                )
            ).first()
        if exists is not None:
            done[path.name] = "present already"
            continue
        d = store.call(workflow_defs.import_definition, SYSTEM, source, filename=path.name, activate=True)
        done[path.name] = f"imported as version {d.version} and activated"
    return done
