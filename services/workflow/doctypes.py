"""Document types: what a process tells the engine about its documents (``register(DocumentType(...))``).

Each module listed in ``services.documents.DOCUMENT_MODULES`` registers its type at import;
``document_types`` and ``get_type`` import them all first, so every entry point finds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sqlmodel import Session

from models.workflow import WorkflowInstance
from services.errors import NotFound
from services.permissions import Actor


@dataclass(frozen=True)
class DocumentType:
    name: str  # "user_request", "customer_change", "case"
    title: str  # "User request"
    attributes: Callable[[Session, str], dict[str, Any]]  # fields conditions can test, by document key
    submitter: Callable[[Session, str], str]  # user_name of the originator
    on_approved: Callable[[Session, Actor, str], None]  # final approval: apply it
    on_rejected: Callable[[Session, Actor, str, str], None]  # (key, reason)
    on_change_requested: Callable[[Session, Actor, str, str], None] | None = None
    on_recalled: Callable[[Session, Actor, str], None] | None = None
    on_started: Callable[[Session, Actor, str], None] | None = None  # e.g. status -> Pending approval
    automated: dict[str, Callable[[Session, Actor, str], None]] = field(default_factory=dict)
    # optional extras (additive to the contract)
    describe: Callable[[Session, str], str] | None = None  # one line for the inbox ("Fabrikam: credit limit")
    # the same lines for many documents at once ({key: line}; keys it does not know are left out):
    # ``list_work`` asks each document type once per page instead of once per item
    describe_many: Callable[[Session, list[str]], dict[str, str]] | None = None
    fields: tuple[str, ...] | None = None  # attribute names conditions may use (checked at import)
    # My work's search: the keys (numbers) of this type's documents that a search term finds, as
    # one subquery with the term's values bound, through the document's indexes (its number, its
    # list's search); ``list_work(search=...)`` embeds it: no document is read one by one. Its
    # third argument: the ids of the customers the term finds (one subquery for every type)
    matching: Callable[[Session, str, Any], Any] | None = None


_TYPES: dict[str, DocumentType] = {}


def register(doc_type: DocumentType) -> DocumentType:
    """Make a document type known (at import of its service module; registering again replaces)."""
    _TYPES[doc_type.name] = doc_type
    return doc_type


def unregister(name: str) -> None:
    _TYPES.pop(name, None)


def registered(name: str) -> DocumentType | None:
    """The document type of that name as registered so far (no import of the document modules)."""
    return _TYPES.get(name)


def document_types() -> list[DocumentType]:
    from services.documents import ensure_registered

    ensure_registered()
    return sorted(_TYPES.values(), key=lambda t: t.name)


def get_type(name: str) -> DocumentType:
    from services.documents import ensure_registered

    ensure_registered()
    try:
        return _TYPES[name]
    except KeyError:
        known = ", ".join(sorted(_TYPES)) or "none registered"
        raise NotFound(f"unknown document type {name!r} (known: {known})") from None


def title(doc_type: str) -> str:
    dt = _TYPES.get(doc_type)
    return dt.title if dt else doc_type


def doc_label(inst: WorkflowInstance) -> str:
    return f"{title(inst.doc_type)} {inst.doc_key}"
