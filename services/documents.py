"""The document types the workflow engine serves, and where they register.

Each module named in ``DOCUMENT_MODULES`` calls ``services.workflow.register(DocumentType(...))``
when it is imported. The engine imports them all on first use (``ensure_registered``), so a
definition file, a work item or ``regdesk workflow tick`` finds every document type whatever
the entry point (CLI, console, tests). A module that does not exist (yet) is skipped; any
other import error in it is a real error and surfaces.

To add a document type: register it at import of its service module and add the module
here (one line).
"""

from __future__ import annotations

import importlib

DOCUMENT_MODULES: list[str] = [
    "services.user_requests",  # user_request (issue 3): review, then provision the portal user
    "services.changes",  # customer_change (issue 4): proposed customer changes
    "services.cases",  # case (issue 5): customer request cases
]

_done = False


def ensure_registered() -> None:
    """Import every document module once (cheap after the first call)."""
    global _done
    if _done:
        return
    for name in DOCUMENT_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside the module: a real error
                raise
    _done = True
