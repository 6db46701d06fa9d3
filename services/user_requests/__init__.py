"""User requests (AX UserRequest): the request to provision a portal user for a contact.

The package: ``table`` (the process, its wording and the audited mover), ``views`` (what the
services return), ``queries`` (lookup, list, counts, detail), ``commands`` (creation, provisioning,
hand actions) and ``documents`` (the workflow document type ``user_request``, registered at import).

Created by the sign-up Create step (type Customer, status Submitted) and handed to the
active user request workflow (``submit_to_workflow``); with no active workflow it waits in
Submitted for manual processing, as in the seeds.

The process, in one table (``TRANSITIONS``)::

    Draft --submit--> Submitted --start--> Pending approval --approve--> Approved
    Submitted --approve (by hand)--> Approved --provision--> Pending completion --complete--> Completed
    Pending approval --return (change requested / recalled)--> Draft
    Submitted | Pending approval | Approved --reject--> Rejected
    Draft | Submitted | Approved | Pending completion --cancel--> Canceled

How the workflow engine's callbacks map onto it (document type ``user_request``):

* ``on_started`` -> start: Submitted (or Draft, on resubmit) -> Pending approval
* automated step ``provision`` -> approve (if still Pending approval), then provision: the
  portal user is created (Pending activation) and the logon e-mail queued -> Pending completion
* ``on_approved`` (the instance is done) -> approve and provision, unless a ``provision``
  step did it already
* ``on_rejected`` -> Rejected; ``on_change_requested`` / ``on_recalled`` -> Draft
* the user activates the portal user with the link -> complete: Completed

Provisioning never renames: when the preferred user name is taken, provisioning is refused
with a Conflict naming the existing user; the request stays Approved with the problem shown
(``problem`` in the detail, the audit trail) until an approver sets another name
(``set_user_name``) and provisions again (``provision``).
"""

from __future__ import annotations

from services import transitions

from . import table

# registered here, not in table.py: `regdesk processes` ranks a process by the module that
# registers it (services.transitions.PROCESS_MODULES names this package)
transitions.register(table.PROCESS)

from . import commands, documents  # noqa: E402  (documents registers the workflow document type)
from .commands import (  # noqa: E402
    approve,
    cancel,
    complete_on_activation,
    create_for_contact,
    provision,
    reject,
    set_user_name,
    submit,
    submit_to_workflow,
)
from .documents import ATTRIBUTE_FIELDS  # noqa: E402
from .queries import (  # noqa: E402
    allowed_actions,
    count_by_status,
    get_user_request,
    list_user_requests,
    problem_of,
    refusal,
    show_user_request,
    workflow_history,
)
from .table import (  # noqa: E402
    DOC_TYPE,
    ENTITY,
    FILTERS,
    OPEN_STATUSES,
    PROCESS,
    TRANSITIONS,
    USER_NAME_EDITABLE,
)
from .views import ActionResult, MailView, UserRequestDetail, UserRequestView, WorkflowStatus  # noqa: E402

__all__ = [
    "ATTRIBUTE_FIELDS",
    "DOC_TYPE",
    "ENTITY",
    "FILTERS",
    "OPEN_STATUSES",
    "PROCESS",
    "TRANSITIONS",
    "USER_NAME_EDITABLE",
    "ActionResult",
    "MailView",
    "UserRequestDetail",
    "UserRequestView",
    "WorkflowStatus",
    "allowed_actions",
    "approve",
    "cancel",
    "commands",
    "complete_on_activation",
    "count_by_status",
    "create_for_contact",
    "documents",
    "get_user_request",
    "list_user_requests",
    "problem_of",
    "refusal",
    "provision",
    "reject",
    "set_user_name",
    "show_user_request",
    "submit",
    "submit_to_workflow",
    "workflow_history",
]
