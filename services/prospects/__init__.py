"""B2B business partner onboarding (seed 003): prospects, leads, opportunities.

The package: ``table`` (the lead, opportunity and prospect processes and their wording), ``views``
(what the services return), ``duplicates`` (who else the requester might be), ``queries``
(lookups, the lists, counts per status, the detail), ``pages`` (the console's keyset pages of the
three lists and their counts) and ``commands`` (the form's submission and every decision).

The process, in one table (``TRANSITIONS``: the record each action moves and what it does
to the prospect)::

    onboarding form --> Prospect Pending + Lead Open (view "All commerce B2B leads")
    Lead Open --qualify--> Qualified: Opportunity Open + contact (Person customer)
                                      + account (Organization customer)
    Lead Open --disqualify--> Disqualified: Prospect Rejected + decline e-mail
    Opportunity Open --won--> Won: Prospect Approved + customer hierarchy + user request
                                   (to the workflow) + approval e-mail
    Opportunity Open --lost--> Lost: Prospect Rejected + decline e-mail

Rules chosen:

* Qualify, disqualify, won and lost need ``prospects.process``; a reason is required to
  disqualify or to close as lost (kept on the record and in the audit trail, never in the
  e-mail). The decline e-mail carries only first name, last name and company; the approval
  e-mail only first name, last name, company, e-mail, ZIP, comments, store name and URL
  (DOMAIN.md section 3): the services pass no other field to the templates.
* Better than D365, a shared primary e-mail is caught at qualification, not at sign-in:
  when the requester's e-mail is already the e-mail of a customer contact (a contact
  person of any customer, or a customer of person type) qualification stops with
  ``DuplicateEmail`` naming them and the choices: ``link_existing=ACCOUNT`` (that person
  customer is the same human: use it as the opportunity's contact, no new one is made),
  ``allow_shared_email=True`` (create a new contact anyway, recorded as a decision), or
  ``email=NEW`` (qualify with another address of the requester).
* The account is a new organization customer, or ``existing_account=ACCOUNT`` when the
  company is a customer already (a second user of a known partner). On Won the requester
  becomes an admin contact of the organization: a partner may have several admins (D365
  allows one).
* Won: the person customer's parent account becomes the organization (unless it already
  has a parent: a linked person keeps it, the audit says so); a contact person with
  ``is_admin`` is added to the organization; a user request of type Customer for the
  requester's portal user is created and handed to the workflow
  (``services.user_requests.create_for_contact``), with the portal role
  ``PARTNER_ROLE`` unless another is given; the approval e-mail is queued to the requester
  in the same transaction (the logon e-mail follows from the user request's provisioning).
* Disqualify / Lost leave the customers made at qualification as they are (as in D365, the
  contact and account exist once a lead is qualified); the prospect is Rejected.
* Every state change is a conditional UPDATE with the version, the row count checked; the
  loser of a race is told who won. Prospect, lead and opportunity move in one transaction.
"""

from __future__ import annotations

from services import transitions

from . import table

# registered here, not in table.py: `regdesk processes` ranks a process by the module that
# registers it (services.transitions.PROCESS_MODULES names this package); lead, opportunity, prospect
transitions.register(table.LEAD_PROCESS)
transitions.register(table.OPPORTUNITY_PROCESS)
transitions.register(table.PROSPECT_PROCESS)

from . import pages  # noqa: E402
from .commands import (  # noqa: E402
    APPROVAL_FIELDS,
    DECLINE_FIELDS,
    ORIGIN,
    PARTNER_ROLE,
    disqualify,
    lost,
    qualify,
    submit,
    validate_input,
    won,
)
from .duplicates import DuplicateEmail, email_owners, find_duplicates  # noqa: E402
from .pages import page_leads, page_opportunities, page_prospects  # noqa: E402
from .queries import (  # noqa: E402
    counts,
    get_lead,
    get_opportunity,
    get_prospect,
    list_leads,
    list_opportunities,
    list_prospects,
    qualify_preview,
    refusal,
    show_prospect,
)
from .table import (  # noqa: E402
    ENTITY,
    LEAD_ENTITY,
    LEAD_FILTERS,
    LEAD_PROCESS,
    LEAD_TRANSITIONS,
    OPP_ENTITY,
    OPPORTUNITY_FILTERS,
    OPPORTUNITY_PROCESS,
    OPPORTUNITY_TRANSITIONS,
    PROSPECT_FILTERS,
    PROSPECT_OUTCOME,
    PROSPECT_PROCESS,
    PROSPECT_TRANSITIONS,
    TRANSITIONS,
)
from .views import (  # noqa: E402
    DecisionResult,
    DuplicateHint,
    EmailOwner,
    LeadPage,
    LeadRow,
    OpportunityPage,
    OpportunityRow,
    ProspectDetail,
    ProspectPage,
    ProspectRow,
    QualifyResult,
    SubmitResult,
    WonResult,
)

__all__ = [
    "APPROVAL_FIELDS",
    "DECLINE_FIELDS",
    "ENTITY",
    "LEAD_ENTITY",
    "LEAD_FILTERS",
    "LEAD_PROCESS",
    "LEAD_TRANSITIONS",
    "OPP_ENTITY",
    "OPPORTUNITY_FILTERS",
    "OPPORTUNITY_PROCESS",
    "OPPORTUNITY_TRANSITIONS",
    "ORIGIN",
    "PARTNER_ROLE",
    "PROSPECT_FILTERS",
    "PROSPECT_OUTCOME",
    "PROSPECT_PROCESS",
    "PROSPECT_TRANSITIONS",
    "TRANSITIONS",
    "DecisionResult",
    "DuplicateEmail",
    "DuplicateHint",
    "EmailOwner",
    "LeadPage",
    "LeadRow",
    "OpportunityPage",
    "OpportunityRow",
    "ProspectDetail",
    "ProspectPage",
    "ProspectRow",
    "QualifyResult",
    "SubmitResult",
    "WonResult",
    "counts",
    "disqualify",
    "email_owners",
    "find_duplicates",
    "get_lead",
    "get_opportunity",
    "get_prospect",
    "list_leads",
    "list_opportunities",
    "list_prospects",
    "lost",
    "page_leads",
    "page_opportunities",
    "page_prospects",
    "pages",
    "qualify",
    "qualify_preview",
    "refusal",
    "show_prospect",
    "submit",
    "validate_input",
    "won",
]
