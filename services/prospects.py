"""B2B business partner onboarding (seed 003): prospects, leads, opportunities.

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

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, update
from sqlmodel import Session, SQLModel, col, select

from models.customer import ContactPerson, Customer, PartyType
from models.prospects import (
    B2B_LEADS_VIEW, Lead, LeadStatus, Opportunity, OpportunityStatus, Prospect, ProspectIn, ProspectStatus,
)
from models.signup import RequestType, UserRequest
from services import audit, counters, customers, mail, sequences, transitions, user_requests
from services.search import matching_ids, search_term
from services.errors import Conflict, NotFound, ValidationFailed
from services.permissions import PORTAL, Actor, require
from services.store import begin_write, now, writes
from services.text import clean, normalize_company, normalize_email
from services.validation import field_errors

P, L, O = ProspectStatus, LeadStatus, OpportunityStatus  # noqa: E741  (short names for the transition tables)
ENTITY = "prospect"
LEAD_ENTITY = "lead"
OPP_ENTITY = "opportunity"
PARTNER_ROLE = "Customer administrator"
ORIGIN = "B2B onboarding form (commerce integration)"


# the lead's and the opportunity's tables; each decision also decides the prospect (PROSPECT_OUTCOME)
LEAD_TRANSITIONS = transitions.table("lead", [
    ("qualify", {L.OPEN}, L.QUALIFIED, "prospects.process", "qualify"),
    ("disqualify", {L.OPEN}, L.DISQUALIFIED, "prospects.process", "disqualify"),
])
OPPORTUNITY_TRANSITIONS = transitions.table("opportunity", [
    ("won", {O.OPEN}, O.WON, "prospects.process", "close as won"),
    ("lost", {O.OPEN}, O.LOST, "prospects.process", "close as lost"),
])
PROSPECT_TRANSITIONS = transitions.table("prospect", [
    ("approve", {P.PENDING}, P.APPROVED, None, "approve (its opportunity is won)", frozenset(), False),
    ("reject", {P.PENDING}, P.REJECTED, None, "reject (its lead is disqualified or opportunity lost)", frozenset(), False),
    ("change_email", {P.PENDING}, None, None, "change the e-mail of", frozenset(), False),
])
TRANSITIONS = {**LEAD_TRANSITIONS, **OPPORTUNITY_TRANSITIONS}
PROSPECT_OUTCOME: dict[str, str] = {"disqualify": "reject", "won": "approve", "lost": "reject"}
PROSPECT_FILTERS = ["All", *[s.value for s in ProspectStatus]]
LEAD_FILTERS = ["All", *[s.value for s in LeadStatus]]
OPPORTUNITY_FILTERS = ["All", *[s.value for s in OpportunityStatus]]
APPROVAL_FIELDS = ("first_name", "last_name", "company", "email", "zip", "comments", "store_name", "store_url")
DECLINE_FIELDS = ("first_name", "last_name", "company")
_USER_NAME_BAD = re.compile(r"[^A-Za-z0-9._@-]")


class DuplicateEmail(Conflict):
    """Qualification stopped: the requester's e-mail belongs to another customer contact."""

    def __init__(self, message: str, owners: list["EmailOwner"], options: list[str]) -> None:
        super().__init__(message)
        self.owners = owners
        self.options = options


# ------------------------------------------------------------------ helpers


def _at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def _by_number(session: Session, model: type[SQLModel], number: str, prefix: str, what: str):
    key = clean(number).upper()
    if key.isascii() and key.isdigit() and len(key) <= 19:  # "12" -> its number; never a 5000-digit int
        key = sequences.format_number(prefix, 6, int(key))
    row = session.exec(select(model).where(model.number == key)).first()  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"no {what} {number!r}")
    return row


def _get_prospect(session: Session, number: str) -> Prospect:
    return _by_number(session, Prospect, number, "PRO-", "prospect")


def _get_lead(session: Session, number: str) -> Lead:
    key = clean(number).upper()
    if key.startswith("PRO-"):  # the prospect's number finds its lead too
        prospect = _get_prospect(session, key)
        lead = session.exec(select(Lead).where(Lead.prospect_id == prospect.id)).first()
        if lead is None:
            raise NotFound(f"prospect {prospect.number} has no lead")
        return lead
    return _by_number(session, Lead, number, "LEAD-", "lead")


def _get_opportunity(session: Session, number: str) -> Opportunity:
    return _by_number(session, Opportunity, number, "OPP-", "opportunity")


def _explain(session: Session, row: Lead | Opportunity, action: str) -> str | None:
    """The process's own words for a refusal (None: the mover's sentence, services/transitions.py)."""
    n, st = row.number, row.status
    if isinstance(row, Lead):
        if st == L.QUALIFIED:
            opp = session.exec(select(Opportunity.number, Opportunity.status).where(Opportunity.lead_id == row.id)).first()
            where = f"; act on opportunity {opp[0]} ({opp[1]})" if opp else ""
            return f"{n} was qualified by {row.qualified_by} on {_at(row.qualified_at)}{where}"
        if st == L.DISQUALIFIED:
            return f"{n} was disqualified by {row.disqualified_by} on {_at(row.disqualified_at)}: {row.disqualify_reason}"
    else:
        if st in (O.WON, O.LOST):
            return f"{n} was closed as {st} by {row.closed_by} on {_at(row.closed_at)}"
    return None


def _explain_prospect(_session: Session, p: Prospect, action: str) -> str | None:
    return f"prospect {p.number} is {p.status} already ({p.decided_by}, {_at(p.decided_at)})"


LEAD_PROCESS = transitions.register(transitions.Process(
    name="lead", title="Lead", model=Lead, states=tuple(LeadStatus), transitions=LEAD_TRANSITIONS,
    entity=LEAD_ENTITY, initial=(L.OPEN,), explain=_explain))
OPPORTUNITY_PROCESS = transitions.register(transitions.Process(
    name="opportunity", title="Opportunity", model=Opportunity, states=tuple(OpportunityStatus),
    transitions=OPPORTUNITY_TRANSITIONS, entity=OPP_ENTITY, initial=(O.OPEN,), explain=_explain))
PROSPECT_PROCESS = transitions.register(transitions.Process(
    name="prospect", title="Prospect", model=Prospect, states=tuple(ProspectStatus),
    transitions=PROSPECT_TRANSITIONS, entity=ENTITY, initial=(P.PENDING,), explain=_explain_prospect,
    label=lambda p: f"prospect {p.number}"))


def _process_of(row: Lead | Opportunity) -> transitions.Process:
    return LEAD_PROCESS if isinstance(row, Lead) else OPPORTUNITY_PROCESS


def _check(session: Session, row: Lead | Opportunity, action: str) -> None:
    """The plan phase's check: refuse before the write lock."""
    transitions.check(session, _process_of(row), row, action)


def _step(session: Session, actor: Actor, action: str, row: Lead | Opportunity, prospect: Prospect,
          reason: str | None = None, **values: Any) -> None:
    """Move the lead/opportunity and the prospect together (the mover takes the write lock)."""
    transitions.move(session, _process_of(row), row, action, **values)
    outcome = PROSPECT_OUTCOME.get(action)
    if outcome is not None:
        target = PROSPECT_TRANSITIONS[outcome].target or ""
        transitions.move(session, PROSPECT_PROCESS, prospect, outcome,
                         decided_by=actor.user_name, decided_at=now(session), decision_reason=reason)
        audit.record(session, actor, ENTITY, prospect.number, target.lower(),
                     before={"status": P.PENDING.value}, after={"status": target},
                     comment=f"{row.number} {TRANSITIONS[action].target.lower()}" + (f": {reason}" if reason else ""))


def _reason(text: str | None, what: str) -> str:
    value = clean(text, multiline=True)
    if not value:
        raise ValidationFailed({"reason": f"a reason is required to {what}"})
    if len(value) > 1000:
        raise ValidationFailed({"reason": "at most 1000 characters"})
    return value


def _decline(session: Session, prospect: Prospect) -> None:
    mail.enqueue(session, prospect.email, "prospect_declined", {k: getattr(prospect, k) for k in DECLINE_FIELDS},
                 entity_type=ENTITY, entity_key=prospect.number)


# ------------------------------------------------------------------ submit (the onboarding form)


class SubmitResult(BaseModel):
    number: str
    status: str
    lead: str
    email: str
    duplicates: int


def _validate_email(value: str) -> str:
    from services.validation import email_address

    try:
        return email_address(clean(value))
    except ValueError as exc:
        raise ValidationFailed({"email": str(exc)}) from None


def validate_input(data: Any) -> ProspectIn:
    if not isinstance(data, dict):
        raise ValidationFailed({"request": "expected a JSON object with the onboarding form's fields"})
    try:
        parsed = ProspectIn.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc, {"store_url": "an http:// or https:// address",
                                    "zip": "letters, digits, spaces and - only",
                                    "phone": "digits, spaces and + ( ) . / - only"})
        raise ValidationFailed(errors) from None
    parsed.email = _validate_email(parsed.email)
    return parsed


@writes(phased=True)
def submit(session: Session, actor: Actor, data: Any) -> SubmitResult:
    """What the B2B site's onboarding form sends: a prospect (Pending) and its lead (Open)."""
    if actor is not PORTAL:
        require(actor, "prospects.process")
    parsed = validate_input(data)  # a refusal before the write lock
    begin_write(session)
    current = now(session)
    prospect = Prospect(number=sequences.next_number(session, "prospect"), status=P.PENDING.value,
                        company_normalized=normalize_company(parsed.company),
                        email_normalized=normalize_email(parsed.email), submitted_by=actor.user_name,
                        created_at=current, updated_at=current, **parsed.model_dump())
    session.add(prospect)
    session.flush()
    lead = Lead(number=sequences.next_number(session, "lead"), prospect_id=prospect.id or 0, status=L.OPEN.value,
                view=B2B_LEADS_VIEW, topic=f"B2B partner onboarding: {parsed.company}"[:250], origin=ORIGIN,
                created_at=current, updated_at=current)
    session.add(lead)
    session.flush()
    audit.record(session, actor, ENTITY, prospect.number, "submitted", after={"status": P.PENDING.value, **parsed.model_dump()},
                 comment=None if actor is PORTAL else "entered on behalf of the partner")
    audit.record(session, actor, LEAD_ENTITY, lead.number, "created",
                 after={"status": L.OPEN.value, "prospect": prospect.number, "view": B2B_LEADS_VIEW},
                 comment="generated by the B2B onboarding integration")
    return SubmitResult(number=prospect.number, status=prospect.status, lead=lead.number, email=prospect.email,
                        duplicates=len(find_duplicates(session, prospect)))


# ------------------------------------------------------------------ duplicates


class EmailOwner(BaseModel):
    kind: Literal["person customer", "contact"]
    account: str
    name: str
    customer_name: str


class DuplicateHint(BaseModel):
    kind: str
    key: str
    label: str
    reason: str


def email_owners(session: Session, email: str, *, limit: int = 20, skip_customers: frozenset[int] = frozenset(),
                 skip_contacts: frozenset[int] = frozenset()) -> list[EmailOwner]:
    """Customer contacts whose primary e-mail is ``email``: contact persons and person customers
    (but the customers / contact persons whose ids are in ``skip_*``)."""
    key = normalize_email(email)
    persons = select(Customer).where(Customer.email_normalized == key, Customer.party_type == PartyType.PERSON.value)
    if skip_customers:
        persons = persons.where(col(Customer.id).not_in(skip_customers))
    owners = [
        EmailOwner(kind="person customer", account=c.account, name=c.name, customer_name=c.name)
        for c in session.exec(persons.limit(limit)).all()
    ]
    contacts = (select(ContactPerson, Customer.account, Customer.name)
                .join(Customer, ContactPerson.customer_id == Customer.id).where(ContactPerson.email_normalized == key))
    if skip_contacts:
        contacts = contacts.where(col(ContactPerson.id).not_in(skip_contacts))
    for contact, account, cname in session.exec(contacts.limit(limit)).all():
        owners.append(EmailOwner(kind="contact", account=account, name=f"{contact.first_name} {contact.last_name}",
                                 customer_name=cname))
    return owners


def _own_records(session: Session, prospect: Prospect) -> tuple[frozenset[int], frozenset[int]]:
    """(customer ids, contact person ids) the prospect itself led to: its opportunity's account and
    contact (person customer), and the admin contact made when it was won."""
    row = session.exec(select(Opportunity.account_id, Opportunity.contact_customer_id, Opportunity.contact_person_id)
                       .join(Lead, Lead.id == Opportunity.lead_id).where(Lead.prospect_id == prospect.id)).first()
    if row is None:
        return frozenset(), frozenset()
    account_id, person_id, contact_id = row
    return frozenset({account_id, person_id}), frozenset({contact_id} if contact_id else ())


def find_duplicates(session: Session, prospect: Prospect, limit: int = 20) -> list[DuplicateHint]:
    """Other open prospects with the same e-mail, contacts with it, customers with the same name;
    never the customers and contacts created from (or linked to) this prospect itself."""
    hints: list[DuplicateHint] = []
    own_customers, own_contacts = _own_records(session, prospect)
    for other in session.exec(select(Prospect).where(Prospect.email_normalized == prospect.email_normalized,
                                                     Prospect.id != prospect.id,
                                                     Prospect.status == P.PENDING.value).limit(limit)).all():
        hints.append(DuplicateHint(kind="prospect", key=other.number, label=other.company, reason="same e-mail"))
    for owner in email_owners(session, prospect.email, limit=limit, skip_customers=own_customers,
                              skip_contacts=own_contacts):
        label = owner.name if owner.kind == "person customer" else f"{owner.name} at {owner.customer_name}"
        hints.append(DuplicateHint(kind=owner.kind, key=owner.account, label=label, reason="same e-mail"))
    if prospect.company_normalized:
        same_name = select(Customer).where(Customer.name_normalized == prospect.company_normalized,
                                           Customer.party_type == PartyType.ORGANIZATION.value)
        if own_customers:
            same_name = same_name.where(col(Customer.id).not_in(own_customers))
        for c in session.exec(same_name.limit(limit)).all():
            hints.append(DuplicateHint(kind="customer", key=c.account, label=c.name, reason="same company name"))
    return hints


def _duplicate_email(prospect: Prospect, email: str, owners: list[EmailOwner]) -> DuplicateEmail:
    who = "; ".join(
        f"{o.name} (person customer {o.account})" if o.kind == "person customer"
        else f"{o.name}, contact of {o.customer_name} ({o.account})" for o in owners)
    persons = [o.account for o in owners if o.kind == "person customer"]
    options = []
    if persons:
        options.append(f"link_existing={persons[0]}: the requester is that person; use that contact for this partner")
    options.append("allow_shared_email: create a new contact with the same e-mail anyway (both cannot sign in "
                   "with it unless the portal tells them apart)")
    options.append("email=NEW: qualify with another e-mail address of the requester")
    message = (f"{prospect.number}: the e-mail {email} is already used by {who}. Two customer contacts with one "
               "primary e-mail break sign-in. Choose: " + "; or ".join(options))
    return DuplicateEmail(message, owners, options)


# ------------------------------------------------------------------ qualify / disqualify


class QualifyResult(BaseModel):
    lead: str
    status: str
    prospect: str
    opportunity: str
    account: str  # organization customer
    contact_account: str  # person customer
    new_account: bool
    email_decision: str


@writes(phased=True)
def qualify(session: Session, actor: Actor, lead_number: str, *, link_existing: str | None = None,
            allow_shared_email: bool = False, email: str | None = None,
            existing_account: str | None = None) -> QualifyResult:
    """Lead Open -> Qualified: an opportunity, a contact (person customer) and an account."""
    require(actor, "prospects.process")
    lead = _get_lead(session, lead_number)
    prospect = session.get(Prospect, lead.prospect_id)
    assert prospect is not None
    _check(session, lead, "qualify")
    if link_existing and allow_shared_email:
        raise ValidationFailed({"link_existing": "choose one: link the existing contact or allow a shared e-mail"})
    new_email = None
    if email and clean(email) and normalize_email(clean(email)) != prospect.email_normalized:
        new_email = _validate_email(email)
    checked_email = new_email or prospect.email
    owners = email_owners(session, checked_email)
    decision = ""
    contact_customer: Customer | None = None
    if link_existing:
        account = clean(link_existing).upper()
        match = [o for o in owners if o.kind == "person customer" and o.account == account]
        if not match:
            persons = ", ".join(o.account for o in owners if o.kind == "person customer") or "none"
            raise ValidationFailed({"link_existing": f"{account} is not a person customer with the e-mail "
                                                     f"{checked_email} (candidates: {persons})"})
        contact_customer = customers.get_customer(session, account)
        decision = "linked"
    elif owners:
        if not allow_shared_email:
            raise _duplicate_email(prospect, checked_email, owners)
        decision = "shared"
    # the account: an existing organization, or a new one
    new_account = not existing_account
    if existing_account:
        try:
            org = customers.get_customer(session, clean(existing_account).upper())
        except NotFound as exc:
            raise ValidationFailed({"existing_account": exc.message}) from None
        if org.party_type != PartyType.ORGANIZATION:
            raise ValidationFailed({"existing_account": f"{org.account} is a customer of type {org.party_type}, "
                                                        "not an organization"})
        if org.blocked:
            raise ValidationFailed({"existing_account": f"customer {org.account} is blocked"})
    # everything above only read: from here on, one short write transaction
    begin_write(session)
    if new_email is not None:
        transitions.move(session, PROSPECT_PROCESS, prospect, "change_email", email=new_email,
                         email_normalized=normalize_email(new_email))
        audit.record(session, actor, ENTITY, prospect.number, "e-mail changed", before={"email": prospect.email},
                     after={"email": new_email}, comment=f"at qualification of {lead.number}")
        session.refresh(prospect)
    if not existing_account:
        org = customers.new_customer(session, actor, customers.validate_values(session, {
            "name": prospect.company, "party_type": PartyType.ORGANIZATION.value, "phone": prospect.phone,
            "zip": prospect.zip}))
    if contact_customer is None:
        contact_customer = customers.new_customer(session, actor, customers.validate_values(session, {
            "name": f"{prospect.first_name} {prospect.last_name}"[:200], "party_type": PartyType.PERSON.value,
            "email": prospect.email, "phone": prospect.phone, "zip": prospect.zip}))
    current = now(session)
    _step(session, actor, "qualify", lead, prospect, qualified_by=actor.user_name, qualified_at=current)
    opp = Opportunity(number=sequences.next_number(session, "opportunity"), lead_id=lead.id or 0,
                      status=O.OPEN.value, topic=lead.topic, account_id=org.id or 0,
                      contact_customer_id=contact_customer.id or 0, email_decision=decision,
                      created_at=current, updated_at=current)
    session.add(opp)
    session.flush()
    audit.record(session, actor, LEAD_ENTITY, lead.number, "qualified", before={"status": L.OPEN.value},
                 after={"status": L.QUALIFIED.value, "opportunity": opp.number, "account": org.account,
                        "contact": contact_customer.account, "new_account": new_account},
                 comment={"linked": f"e-mail {prospect.email} already used: linked existing contact {contact_customer.account}",
                          "shared": f"e-mail {prospect.email} already used: new contact allowed to share it",
                          }.get(decision))
    audit.record(session, actor, OPP_ENTITY, opp.number, "created",
                 after={"status": O.OPEN.value, "lead": lead.number, "account": org.account,
                        "contact": contact_customer.account, "email_decision": decision})
    audit.record(session, actor, ENTITY, prospect.number, "lead qualified",
                 after={"lead": lead.number, "opportunity": opp.number})
    return QualifyResult(lead=lead.number, status=L.QUALIFIED.value, prospect=prospect.number, opportunity=opp.number,
                         account=org.account, contact_account=contact_customer.account, new_account=new_account,
                         email_decision=decision)


class DecisionResult(BaseModel):
    number: str  # the lead or opportunity
    status: str
    prospect: str
    prospect_status: str
    email_sent_to: str | None = None


@writes(phased=True)
def disqualify(session: Session, actor: Actor, lead_number: str, reason: str) -> DecisionResult:
    """Lead Open -> Disqualified; the prospect is Rejected and the decline e-mail is queued."""
    require(actor, "prospects.process")
    reason = _reason(reason, "disqualify a lead")
    lead = _get_lead(session, lead_number)
    prospect = session.get(Prospect, lead.prospect_id)
    assert prospect is not None
    _check(session, lead, "disqualify")
    _step(session, actor, "disqualify", lead, prospect, reason, disqualified_by=actor.user_name,
          disqualified_at=now(session), disqualify_reason=reason)
    audit.record(session, actor, LEAD_ENTITY, lead.number, "disqualified", before={"status": L.OPEN.value},
                 after={"status": L.DISQUALIFIED.value}, comment=reason)
    session.refresh(prospect)
    _decline(session, prospect)
    return DecisionResult(number=lead.number, status=L.DISQUALIFIED.value, prospect=prospect.number,
                          prospect_status=P.REJECTED.value, email_sent_to=prospect.email)


# ------------------------------------------------------------------ won / lost


class WonResult(BaseModel):
    number: str
    status: str
    prospect: str
    prospect_status: str
    account: str
    contact_account: str
    parent_account: str
    admin_contact_id: int
    admins: int
    user_request: str
    user_request_status: str
    email_sent_to: str


def _user_name_for(email: str) -> str:
    name = _USER_NAME_BAD.sub(".", email)[:64]
    return name if name[:1].isalnum() else ("u" + name)[:64]


@writes(phased=True)
def won(session: Session, actor: Actor, opportunity_number: str, *, role: str | None = None,
        user_name: str | None = None, comment: str | None = None) -> WonResult:
    """Opportunity Open -> Won: prospect Approved, hierarchy, admin contact, user request, e-mail."""
    require(actor, "prospects.process")
    opp = _get_opportunity(session, opportunity_number)
    lead = session.get(Lead, opp.lead_id)
    assert lead is not None
    prospect = session.get(Prospect, lead.prospect_id)
    assert prospect is not None
    _check(session, opp, "won")
    try:
        portal_role = customers.get_role(session, role or PARTNER_ROLE)
    except NotFound as exc:
        raise ValidationFailed({"role": exc.message}) from None
    portal_name = clean(user_name) if user_name and clean(user_name) else _user_name_for(prospect.email)
    comment = clean(comment, multiline=True) or None
    current = now(session)
    _step(session, actor, "won", opp, prospect, comment, closed_by=actor.user_name, closed_at=current,
          close_reason=comment)
    org = session.get(Customer, opp.account_id)
    person = session.get(Customer, opp.contact_customer_id)
    assert org is not None and person is not None
    # the hierarchy: organization on top, the requester (person customer) under it
    if not person.parent_account:
        result = session.execute(
            update(Customer).where(Customer.id == person.id, Customer.version == person.version)
            .values(parent_account=org.account, version=person.version + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"customer {person.account} was changed by someone else meanwhile: try again")
        audit.record(session, actor, "customer", person.account, "changed", before={"parent_account": ""},
                     after={"parent_account": org.account}, comment=f"B2B partner hierarchy ({opp.number} won)")
        session.refresh(person)
    elif person.parent_account != org.account:
        audit.record(session, actor, "customer", person.account, "hierarchy kept",
                     after={"parent_account": person.parent_account},
                     comment=f"already under {person.parent_account}; also admin of {org.account} ({opp.number})")
    # the requester as an admin user of the organization (another admin is fine)
    contact = session.exec(select(ContactPerson).where(ContactPerson.customer_id == org.id,
                                                       ContactPerson.email_normalized == prospect.email_normalized)).first()
    if contact is None:
        contact = customers.add_contact(session, actor, org, first_name=prospect.first_name,
                                        last_name=prospect.last_name, email=prospect.email, phone=prospect.phone,
                                        is_admin=True)
    elif not contact.is_admin:
        contact.is_admin = True
        session.add(contact)
        session.flush()
        audit.record(session, actor, "customer", org.account, "contact made admin",
                     after={"contact": f"{contact.first_name} {contact.last_name}", "admin": True})
    admins = session.exec(select(func.count()).select_from(ContactPerson)
                          .where(ContactPerson.customer_id == org.id, ContactPerson.is_admin == True)).one()  # noqa: E712
    ur = user_requests.create_for_contact(session, actor, customer=org, contact=contact, role=portal_role,
                                          user_name=portal_name, email=prospect.email,
                                          request_type=RequestType.CUSTOMER)
    session.execute(update(Opportunity).where(Opportunity.id == opp.id)
                    .values(contact_person_id=contact.id, user_request_id=ur.id)
                    .execution_options(synchronize_session=False))
    audit.record(session, actor, OPP_ENTITY, opp.number, "won", before={"status": O.OPEN.value},
                 after={"status": O.WON.value, "account": org.account, "contact": person.account,
                        "admin_contact": f"{contact.first_name} {contact.last_name}", "admins": admins,
                        "user_request": ur.number, "role": portal_role.name}, comment=comment)
    session.refresh(prospect)
    mail.enqueue(session, prospect.email, "prospect_approved", {k: getattr(prospect, k) for k in APPROVAL_FIELDS},
                 entity_type=ENTITY, entity_key=prospect.number)
    ur_status = session.exec(select(UserRequest.status).where(UserRequest.id == ur.id)).one()
    return WonResult(number=opp.number, status=O.WON.value, prospect=prospect.number,
                     prospect_status=P.APPROVED.value, account=org.account, contact_account=person.account,
                     parent_account=person.parent_account, admin_contact_id=contact.id or 0, admins=admins,
                     user_request=ur.number, user_request_status=ur_status, email_sent_to=prospect.email)


@writes(phased=True)
def lost(session: Session, actor: Actor, opportunity_number: str, reason: str) -> DecisionResult:
    """Opportunity Open -> Lost; the prospect is Rejected and the decline e-mail is queued."""
    require(actor, "prospects.process")
    reason = _reason(reason, "close an opportunity as lost")
    opp = _get_opportunity(session, opportunity_number)
    lead = session.get(Lead, opp.lead_id)
    assert lead is not None
    prospect = session.get(Prospect, lead.prospect_id)
    assert prospect is not None
    _check(session, opp, "lost")
    _step(session, actor, "lost", opp, prospect, reason, closed_by=actor.user_name, closed_at=now(session),
          close_reason=reason)
    audit.record(session, actor, OPP_ENTITY, opp.number, "lost", before={"status": O.OPEN.value},
                 after={"status": O.LOST.value}, comment=reason)
    session.refresh(prospect)
    _decline(session, prospect)
    return DecisionResult(number=opp.number, status=O.LOST.value, prospect=prospect.number,
                          prospect_status=P.REJECTED.value, email_sent_to=prospect.email)


# ------------------------------------------------------------------ lists and details


class ProspectRow(BaseModel):
    number: str
    status: str
    company: str
    contact: str
    email: str
    zip: str
    store_name: str
    created_at: datetime
    lead: str | None
    lead_status: str | None


class LeadRow(BaseModel):
    number: str
    status: str
    view: str
    topic: str
    prospect: str
    company: str
    contact: str
    email: str
    created_at: datetime


class OpportunityRow(BaseModel):
    number: str
    status: str
    topic: str
    lead: str
    prospect: str
    account: str
    account_name: str
    contact_account: str
    email_decision: str
    created_at: datetime


def _status_filter(enum, column, status: str | None):
    if not status or status == "All":
        return None
    try:
        return column == enum.parse(status).value
    except ValueError as exc:
        raise ValidationFailed({"status": str(exc)}) from None


def list_prospects(session: Session, actor: Actor, *, status: str | None = None, search: str | None = None,
                   limit: int = 200) -> list[ProspectRow]:
    require(actor, "prospects.view")
    query = select(Prospect, Lead.number, Lead.status).join(Lead, Lead.prospect_id == Prospect.id, isouter=True)
    cond = _status_filter(ProspectStatus, Prospect.status, status)
    if cond is not None:
        query = query.where(cond)
    term = search_term(search)
    if term is not None:  # an exact number or e-mail by index; company, names, e-mail text by the text index
        query = query.where(col(Prospect.id).in_(matching_ids(session, Prospect, term, [
            Prospect.number == term.upper(), Prospect.email_normalized == normalize_email(term)])))
    rows = session.exec(query.order_by(col(Prospect.id).desc()).limit(max(1, min(limit, 5000)))).all()
    return [ProspectRow(number=p.number, status=p.status, company=p.company, contact=f"{p.first_name} {p.last_name}",
                        email=p.email, zip=p.zip, store_name=p.store_name, created_at=p.created_at, lead=ln,
                        lead_status=ls) for p, ln, ls in rows]


def list_leads(session: Session, actor: Actor, *, status: str | None = None, view: str | None = B2B_LEADS_VIEW,
               limit: int = 200) -> list[LeadRow]:
    """The leads of a view (default "All commerce B2B leads"), newest first."""
    require(actor, "prospects.view")
    query = select(Lead, Prospect).join(Prospect, Lead.prospect_id == Prospect.id)
    cond = _status_filter(LeadStatus, Lead.status, status)
    if cond is not None:
        query = query.where(cond)
    if view:
        query = query.where(Lead.view == view)
    rows = session.exec(query.order_by(col(Lead.id).desc()).limit(max(1, min(limit, 5000)))).all()
    return [LeadRow(number=ld.number, status=ld.status, view=ld.view, topic=ld.topic, prospect=p.number,
                    company=p.company, contact=f"{p.first_name} {p.last_name}", email=p.email,
                    created_at=ld.created_at) for ld, p in rows]


def list_opportunities(session: Session, actor: Actor, *, status: str | None = None,
                       limit: int = 200) -> list[OpportunityRow]:
    require(actor, "prospects.view")
    person = Customer.__table__.alias("person")
    query = (select(Opportunity, Lead.number, Prospect.number, Customer.account, Customer.name, person.c.account)
             .join(Lead, Opportunity.lead_id == Lead.id).join(Prospect, Lead.prospect_id == Prospect.id)
             .join(Customer, Opportunity.account_id == Customer.id)
             .join(person, Opportunity.contact_customer_id == person.c.id))
    cond = _status_filter(OpportunityStatus, Opportunity.status, status)
    if cond is not None:
        query = query.where(cond)
    rows = session.exec(query.order_by(col(Opportunity.id).desc()).limit(max(1, min(limit, 5000)))).all()
    return [OpportunityRow(number=o.number, status=o.status, topic=o.topic, lead=ln, prospect=pn, account=acc,
                           account_name=name, contact_account=pacc, email_decision=o.email_decision,
                           created_at=o.created_at) for o, ln, pn, acc, name, pacc in rows]


def counts(session: Session, actor: Actor) -> dict[str, dict[str, int]]:
    """Rows per status of prospects, leads (B2B view) and opportunities, for the tabs: the kept counters."""
    require(actor, "prospects.view")
    return {name: counters.by_status(session, area, enum) for name, area, enum in (
        ("prospects", "prospect", ProspectStatus), ("leads", "lead", LeadStatus),
        ("opportunities", "opportunity", OpportunityStatus))}


class ProspectDetail(BaseModel):
    number: str
    status: str
    company: str
    first_name: str
    last_name: str
    email: str
    phone: str
    zip: str
    comments: str
    store_name: str
    store_url: str
    submitted_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    lead: str | None
    lead_status: str | None
    opportunity: str | None
    opportunity_status: str | None
    account: str | None
    contact_account: str | None
    user_request: str | None
    duplicates: list[DuplicateHint]
    history: list[audit.AuditView]
    actions: list[str]


def show_prospect(session: Session, actor: Actor, number: str) -> ProspectDetail:
    require(actor, "prospects.view")
    key = clean(number).upper()
    if key.startswith("LEAD-"):
        prospect = session.get(Prospect, _get_lead(session, key).prospect_id)
    elif key.startswith("OPP-"):
        lead = session.get(Lead, _get_opportunity(session, key).lead_id)
        prospect = session.get(Prospect, lead.prospect_id) if lead else None
    else:
        prospect = _get_prospect(session, key)
    if prospect is None:
        raise NotFound(f"no prospect {number!r}")
    lead = session.exec(select(Lead).where(Lead.prospect_id == prospect.id)).first()
    opp = session.exec(select(Opportunity).where(Opportunity.lead_id == lead.id)).first() if lead else None
    account = contact_account = ur_number = None
    if opp is not None:
        account = session.exec(select(Customer.account).where(Customer.id == opp.account_id)).first()
        contact_account = session.exec(select(Customer.account).where(Customer.id == opp.contact_customer_id)).first()
        if opp.user_request_id:
            ur_number = session.exec(select(UserRequest.number).where(UserRequest.id == opp.user_request_id)).first()
    actions: list[str] = []
    if actor.can("prospects.process"):
        if lead is not None and lead.status == L.OPEN:
            actions += ["qualify", "disqualify"]
        if opp is not None and opp.status == O.OPEN:
            actions += ["won", "lost"]
    history = audit.history(session, ENTITY, prospect.number)
    if lead is not None:
        history += audit.history(session, LEAD_ENTITY, lead.number)
    if opp is not None:
        history += audit.history(session, OPP_ENTITY, opp.number)
    history.sort(key=lambda e: e.id)
    data = {name: getattr(prospect, name) for name in ProspectDetail.model_fields if hasattr(prospect, name)}
    return ProspectDetail(**data, lead=lead.number if lead else None, lead_status=lead.status if lead else None,
                          opportunity=opp.number if opp else None, opportunity_status=opp.status if opp else None,
                          account=account, contact_account=contact_account, user_request=ur_number,
                          duplicates=find_duplicates(session, prospect), history=history, actions=actions)


def qualify_preview(session: Session, actor: Actor, lead_number: str) -> list[EmailOwner]:
    """Who already uses the requester's e-mail (empty: qualification needs no choice)."""
    require(actor, "prospects.view")
    lead = _get_lead(session, lead_number)
    prospect = session.get(Prospect, lead.prospect_id)
    assert prospect is not None
    return email_owners(session, prospect.email)
