"""Customer request cases (seed 002): create, submit, approve, reject, resolve, close; samples.

The package: ``table`` (the case and sample processes and their wording), ``views`` (what the
services return), ``queries`` (lookup, list, counts, detail), ``commands`` (every write) and
``documents`` (the workflow document type ``case``, registered at import).

The statuses and how they change, in one table (``TRANSITIONS``)::

    Open --submit--> Pending Approval --approve--> Approved <--(auto)--> Resolved
      ^  \\                 |  \\--reject--> Rejected --submit--> Pending Approval
      |   \\                |--recall / request change--> Open
      |    \\--(auto: creator is a sales rep)--> Approved
    Closed/Stopped   <--close stopped--   Open, Approved, Rejected, Resolved
    Closed/Completed <--close completed-- Resolved

Rules chosen (seed 002 and DOMAIN.md section 2, made exact):

* **Open** on creation. When the creating operator has the sales rep profile
  (``Operator.sales_rep``) the case is **Approved** at once, in the same transaction, with an
  audit event "approved automatically" (the seed's "OR when the user creating the Customer
  Request has a Salesrep profile").
* **submit** (Open or Rejected -> Pending Approval) goes through the workflow engine
  (document type ``case``); the engine's ``on_started`` sets Pending Approval. When no
  workflow definition is active (``workflow.submit`` returns None, or there is no engine)
  the fallback is a single approver step: an operator with ``cases.decide`` approves or
  rejects directly; the submitter may not approve their own case (parameter
  ``workflow.disallow_submitter_approval``, on by default). A rejected case can be changed
  and submitted again (the originator resubmits after Reject, as in D365).
* **reject** needs a reason.
* **Resolved** is derived on every save of the Resolution section: a case in Approved
  becomes Resolved when both Resolution and Resolution date are filled, and a Resolved case
  goes back to Approved when one of them is emptied (closure ends this). The Resolution
  section can be filled only once the case is approved (Approved or Resolved): the seed's
  order is Open -> Pending Approval -> Approved -> ...; resolving a request nobody approved
  would bypass the approval, so it is refused with that reason.
* **Closed/Stopped** and **Closed/Completed** are set by hand only, with a closure reason.
  Closed/Completed needs a Resolved case (the request was done); Closed/Stopped is allowed
  from Open, Approved, Rejected and Resolved. A case waiting for approval cannot be closed
  (recall it or have it decided first): the approver would otherwise act on a closed case.
  Closed cases are final.
* Case information, Customer contact information and Description can be changed while the
  case is Open or Rejected; they are locked while it waits for approval and once approved.
* A **sample request** is a separate record on a case (its own number and small process:
  Requested -> Shipped or Canceled) and never creates a case or a customer request.

Every change is a conditional UPDATE (``WHERE id = :id AND status IN (...) AND version =
:v``) whose row count is checked; the loser of a race is told who won.
"""

from __future__ import annotations

from services import transitions

from . import table

# registered here, not in table.py: `regdesk processes` ranks a process by the module that
# registers it (services.transitions.PROCESS_MODULES names this package); sample before case
transitions.register(table.SAMPLE_PROCESS)
transitions.register(table.PROCESS)

from . import documents  # noqa: E402  (registers the workflow document type "case")
from .commands import (  # noqa: E402
    add_sample,
    approve,
    close,
    create_case,
    recall,
    reject,
    resolve,
    sample_action,
    submit,
    update_case,
    validate_input,
)
from .queries import choices, count_by_status, get_case, list_cases, refusal, show_case  # noqa: E402
from .table import (  # noqa: E402
    CLOSE_KINDS,
    DOC_TYPE,
    ENTITY,
    FILTERS,
    INFO_EDITABLE,
    INFO_FIELDS,
    PROCESS,
    RESOLUTION_EDITABLE,
    RESOLUTION_FIELDS,
    SAMPLE_ENTITY,
    SAMPLE_PROCESS,
    SAMPLE_TRANSITIONS,
    TRANSITIONS,
    allowed_actions,
)
from .views import SECTIONS, CaseDetail, CasePage, CaseResult, CaseRow, SampleView  # noqa: E402

__all__ = [
    "CLOSE_KINDS",
    "DOC_TYPE",
    "ENTITY",
    "FILTERS",
    "INFO_EDITABLE",
    "INFO_FIELDS",
    "PROCESS",
    "RESOLUTION_EDITABLE",
    "RESOLUTION_FIELDS",
    "SAMPLE_ENTITY",
    "SAMPLE_PROCESS",
    "SAMPLE_TRANSITIONS",
    "SECTIONS",
    "TRANSITIONS",
    "CaseDetail",
    "CasePage",
    "CaseResult",
    "CaseRow",
    "SampleView",
    "add_sample",
    "allowed_actions",
    "approve",
    "choices",
    "close",
    "count_by_status",
    "create_case",
    "documents",
    "get_case",
    "list_cases",
    "recall",
    "refusal",
    "reject",
    "resolve",
    "sample_action",
    "show_case",
    "submit",
    "update_case",
    "validate_input",
]
