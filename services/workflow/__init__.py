"""The workflow engine: one engine for every approval (user requests, customer changes, cases).

A document type registers its callbacks (``register(DocumentType(...))``, see DESIGN.md); the
engine owns definitions, instances, steps, work items, completion policies, escalation,
delegation, recall and history. Definitions are imported from TOML (``services.workflow_defs``).

How an instance moves (``INSTANCE_TRANSITIONS``)::

    submit --> running --(last step done)--> approved
                 |  \\--(reject / automatic reject)--> rejected
                 |  \\--(request change)--> change_requested --(resubmit)--> running (same step again)
                 \\-----------(recall by the submitter, from running or change_requested)--> recalled

and a work item (``ITEM_TRANSITIONS``): open --> approved | rejected | change_requested |
delegated (a new open item for the delegate takes its place) | escalated (time limit passed:
new items for the escalation role take its place) | canceled (the step was decided without it).

Rules:
- A step starts by expanding its assignee to operators *at that moment* (a role becomes one
  item per active operator holding it): later changes of roles or definitions move no work.
  An instance follows the definition version it started with, whatever is activated later.
- Completion policies count the live items of the current step activation (not delegated,
  escalated or canceled): ``any`` - the first decision decides; ``all`` - every item approved,
  one rejection rejects; ``majority`` - more than half approve, rejected as soon as a majority
  can no longer be reached. A request for change sends the document back at once.
- Step conditions are checked when the step would start; a step whose condition is false is
  skipped. Automated steps call the document type's ``automated[action]`` handler (as SYSTEM)
  in the same transaction, then the next step starts.
- Every change first claims the instance with a conditional UPDATE (``WHERE id AND version AND
  status IN (...)``), so of two approvers deciding at once exactly one wins; the loser is told
  who decided. Work items move by conditional UPDATEs too.
- ``tick`` (cron, and the console every minute) applies time limits: an overdue step is
  escalated to the next entry of its escalation list; after the last one the final action
  (approve / reject) is taken by the system; with none, the assignee gets an overdue reminder.
  Steps with ``reminder_hours`` remind their assignees by e-mail every that many hours. tick
  decides only from stored state, so running it again (or twice at once) changes nothing more.
- Every change is in the document's history: audit events with entity_type = doc type and
  entity_key = document key.

The package, by what each module holds: ``doctypes`` (DocumentType and its registry), ``table``
(the two process tables, their wording and movers), ``views`` (pydantic views), ``queries``
(reads: instances, items, My work, counts, history), ``steps`` (assignment, starting steps,
completion policies), ``commands`` (submit, resubmit, recall), ``decisions`` (approve, reject,
request change, delegate, bulk), ``deadlines`` (tick). This module re-exports what callers use.
"""

from __future__ import annotations

from services import transitions
from services.workflow.commands import (
    recall,
    recall_document,
    resubmit,
    resubmit_document,
    submit,
    submit_document,
)
from services.workflow.deadlines import tick
from services.workflow.decisions import BULK_LIMIT, approve, bulk_decide, delegate, refusal, reject, request_change
from services.workflow.doctypes import DocumentType, document_types, get_type, register, unregister
from services.workflow.queries import (
    WORK_VIEWS,
    active_instance,
    count_waiting,
    history,
    list_work,
    matching_definition,
    operators_for_delegation,
    running_doc_keys,
    show_item,
    summaries,
    work_counts,
    work_cursor,
)
from services.workflow.steps import next_check, parse_assignee
from services.workflow.table import INSTANCE_PROCESS, INSTANCE_TRANSITIONS, ITEM_PROCESS, ITEM_TRANSITIONS
from services.workflow.views import (
    ActionResult,
    InstanceDetail,
    InstanceView,
    StepView,
    TickReport,
    WorkflowHistory,
    WorkItemView,
    step_view,
)

# filed here, not in table.py: ``regdesk processes`` orders the tables by the module that files
# them (services.transitions.PROCESS_MODULES names this package)
transitions.register(INSTANCE_PROCESS)
transitions.register(ITEM_PROCESS)

__all__ = [
    # document types
    "DocumentType",
    "register",
    "unregister",
    "document_types",
    "get_type",
    # the process tables
    "INSTANCE_TRANSITIONS",
    "ITEM_TRANSITIONS",
    "INSTANCE_PROCESS",
    "ITEM_PROCESS",
    # views
    "StepView",
    "WorkItemView",
    "InstanceView",
    "InstanceDetail",
    "WorkflowHistory",
    "ActionResult",
    "TickReport",
    "step_view",
    # documents in and out of workflow (in the caller's transaction, and as service calls)
    "submit",
    "resubmit",
    "recall",
    "submit_document",
    "resubmit_document",
    "recall_document",
    "matching_definition",
    "active_instance",
    "parse_assignee",
    # work items
    "approve",
    "refusal",
    "reject",
    "request_change",
    "delegate",
    "bulk_decide",
    "BULK_LIMIT",
    # reads
    "list_work",
    "running_doc_keys",
    "work_counts",
    "WORK_VIEWS",
    "work_cursor",
    "count_waiting",
    "show_item",
    "history",
    "operators_for_delegation",
    "summaries",
    # time limits
    "tick",
    "next_check",
]
