"""Proposed customer changes (issue 4; seed 004, D365 "Customer workflow").

Admins choose which customer fields need approval (``customer_approval.*`` parameters).
Saving a customer with approvals on saves the other fields at once; each changed enabled
field becomes a line of the customer's one open proposal (Not submitted), its original
value kept. Submit hands the proposal to the ``customer_change`` workflow (or, with no
active definition, to any approver: "a single approver step"); while it is Submitted the
enabled fields are locked. The approver approves every line, or some lines (the others
rejected, each with a comment), or rejects the proposal with a reason. A line whose
original value no longer equals the customer's current value is a *conflict*: flagged,
never applied. Nobody decides a proposal they submitted or proposed a line of.

The proposal's states, in one table (``TRANSITIONS``)::

    Not submitted --submit--> Submitted --approve--> Approved | Partially approved
         |    ^                  |   \\--reject--> Rejected
         |    \\----return-------/  (recalled by the submitter, or change requested)
         \\--discard--> Discarded  (every line discarded)

"Partially approved" is ours: D365 approves a proposal only as a whole; here the approver
may approve some lines and reject others. Every transition is a conditional UPDATE
(``WHERE id AND state IN (...) AND version``); the customer row is locked first
(``SELECT ... FOR UPDATE``; SQLite's write lock), so operations on one customer queue.

The package, by what each module holds: ``values`` (field values as lines hold them),
``settings`` (which fields need approval), ``table`` (the process table and its wording),
``views`` (pydantic views), ``queries`` (reads), ``commands`` (edit, discard, submit, recall),
``decisions`` (approve, reject), ``documents`` (the workflow document type, registered here).
This module re-exports what callers use.
"""

from __future__ import annotations

from types import ModuleType

from models.changes import ProposalState
from services import transitions
from services.changes.commands import (
    discard,
    edit_customer,
    ensure_sequence,
    put_lines,
    recall,
    submit,
    submit_proposal,
    update_customer,
)
from services.changes.decisions import approve, refusal, reject
from services.changes.documents import ATTRIBUTES, register_document_type
from services.changes.queries import (
    count_open,
    customer_status,
    edit_context,
    list_proposals,
    proposers,
    show_proposal,
    workflow_possible,
)
from services.changes.settings import (
    BEHAVIORS,
    ApprovalField,
    ApprovalSettings,
    approval_settings,
    enabled_fields,
    entity_behavior,
    parse_behavior,
    set_approvals,
    set_entity_behavior,
    set_field_approval,
)
from services.changes.table import (
    DOC_TYPE,
    ENTITY,
    LINE_EDIT_STATES,
    PENDING_STATUS,
    PROCESS,
    SEQUENCE,
    TRANSITIONS,
    UNSUBMITTED_STATUS,
    P,
)
from services.changes.values import (
    APPROVAL_FIELDS,
    FIELD_LABELS,
    decode,
    display,
    encode,
    field_error,
    parse_field,
    plain_value,
)
from services.changes.views import (
    DecisionResult,
    EditContext,
    EditResult,
    FieldState,
    LineView,
    ProposalRow,
    ProposalView,
)

# filed here, not in table.py: ``regdesk processes`` orders the tables by the module that files
# them (services.transitions.PROCESS_MODULES names this package)
transitions.register(PROCESS)
register_document_type()  # the customer_change document type (services.documents lists this package)

# the names services/customer_import.py used before the split (another branch owns that file this
# round); remove once it calls put_lines / ensure_sequence and imports services.workflow itself
_put_lines = put_lines
_ensure_sequence = ensure_sequence


def _engine() -> ModuleType:
    from services import workflow

    return workflow


__all__ = [
    # the process
    "P",
    "ProposalState",
    "ENTITY",
    "DOC_TYPE",
    "SEQUENCE",
    "TRANSITIONS",
    "PROCESS",
    "LINE_EDIT_STATES",
    "PENDING_STATUS",
    "UNSUBMITTED_STATUS",
    "ATTRIBUTES",
    # values
    "APPROVAL_FIELDS",
    "FIELD_LABELS",
    "plain_value",
    "encode",
    "decode",
    "display",
    "field_error",
    "parse_field",
    # approval settings
    "BEHAVIORS",
    "ApprovalField",
    "ApprovalSettings",
    "enabled_fields",
    "entity_behavior",
    "approval_settings",
    "parse_behavior",
    "set_approvals",
    "set_entity_behavior",
    "set_field_approval",
    # views
    "LineView",
    "ProposalView",
    "ProposalRow",
    "EditResult",
    "DecisionResult",
    "FieldState",
    "EditContext",
    # commands
    "edit_customer",
    "discard",
    "submit",
    "recall",
    "approve",
    "refusal",
    "reject",
    "submit_proposal",
    "put_lines",
    "ensure_sequence",
    "update_customer",
    # reads
    "show_proposal",
    "list_proposals",
    "edit_context",
    "customer_status",
    "count_open",
    "proposers",
    "workflow_possible",
]
