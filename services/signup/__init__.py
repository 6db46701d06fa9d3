"""Customer self-service sign-up (seeds 000/001): submit, verify, approve, reject, create.

The package, by what it holds:

* ``table``    - the process: states, ``TRANSITIONS``, refusals in words, ``get_request``,
  ``precheck`` / ``transition`` (services/transitions.py moves it);
* ``views``    - the pydantic rows and results handed to callers;
* ``queries``  - duplicate search, the Registration list (keyset), counts, one request's detail;
* ``commands`` - submit, verify, resend, approve, reject (phased writers), the four-eyes rule;
* ``create``   - the Create new customer dialog's choices and preview, and ``create_customer``.

``from services import signup; signup.submit(...)`` and ``from services.signup import X`` keep
working for every name in ``__all__``; patch a function where it is looked up (its submodule).
"""

from __future__ import annotations

from services import transitions
from services.signup.commands import (
    approve,
    four_eyes,
    mint_verification_link,
    reject,
    resend,
    send_verification,
    submit,
    validate_input,
    verify,
)
from services.signup.create import create_choices, create_customer, preview_create
from services.signup.queries import SORTS, count_by_status, find_duplicates, list_requests, show_request
from services.signup.table import (
    ENTITY,
    FILTERS,
    OPEN_STATUSES,
    PROCESS,
    TRANSITIONS,
    allowed_actions,
    get_request,
    precheck,
    refusal,
    transition,
)
from services.signup.views import (
    CreateChoices,
    CreatePreview,
    CreateResult,
    DuplicateHint,
    RequestDetail,
    RequestPage,
    RequestRow,
    SubmitResult,
    VerifyResult,
)

transitions.register(PROCESS)  # here: `regdesk processes` lists it in PROCESS_MODULES order, as services.signup

__all__ = [
    "ENTITY",
    "FILTERS",
    "OPEN_STATUSES",
    "PROCESS",
    "SORTS",
    "TRANSITIONS",
    "CreateChoices",
    "CreatePreview",
    "CreateResult",
    "DuplicateHint",
    "RequestDetail",
    "RequestPage",
    "RequestRow",
    "SubmitResult",
    "VerifyResult",
    "allowed_actions",
    "approve",
    "count_by_status",
    "create_choices",
    "create_customer",
    "find_duplicates",
    "four_eyes",
    "get_request",
    "list_requests",
    "mint_verification_link",
    "precheck",
    "refusal",
    "preview_create",
    "reject",
    "resend",
    "send_verification",
    "show_request",
    "submit",
    "transition",
    "validate_input",
    "verify",
]
