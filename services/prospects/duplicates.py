"""Who else the prospect might be: other open prospects with its e-mail, customer contacts using the
e-mail (person customers and contact persons), organizations with its company name; and the
refusal that stops a qualification on a shared primary e-mail (``DuplicateEmail``)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.customer import ContactPerson, Customer, PartyType
from models.prospects import Lead, Opportunity, Prospect, ProspectStatus
from services.errors import Conflict
from services.text import normalize_email

from .views import DuplicateHint, EmailOwner


class DuplicateEmail(Conflict):
    """Qualification stopped: the requester's e-mail belongs to another customer contact."""

    def __init__(self, message: str, owners: list[EmailOwner], options: list[str]) -> None:
        super().__init__(message)
        self.owners = owners
        self.options = options


def email_owners(
    session: Session,
    email: str,
    *,
    limit: int = 20,
    skip_customers: frozenset[int] = frozenset(),
    skip_contacts: frozenset[int] = frozenset(),
) -> list[EmailOwner]:
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
    contacts = (
        select(ContactPerson, Customer.account, Customer.name)
        .join(Customer, col(ContactPerson.customer_id) == col(Customer.id))
        .where(ContactPerson.email_normalized == key)
    )
    if skip_contacts:
        contacts = contacts.where(col(ContactPerson.id).not_in(skip_contacts))
    for contact, account, cname in session.exec(contacts.limit(limit)).all():
        owners.append(
            EmailOwner(
                kind="contact", account=account, name=f"{contact.first_name} {contact.last_name}", customer_name=cname
            )
        )
    return owners


def _own_records(session: Session, prospect: Prospect) -> tuple[frozenset[int], frozenset[int]]:
    """(customer ids, contact person ids) the prospect itself led to: its opportunity's account and
    contact (person customer), and the admin contact made when it was won."""
    row = session.exec(
        select(Opportunity.account_id, Opportunity.contact_customer_id, Opportunity.contact_person_id)
        .join(Lead, col(Lead.id) == col(Opportunity.lead_id))
        .where(Lead.prospect_id == prospect.id)
    ).first()
    if row is None:
        return frozenset(), frozenset()
    account_id, person_id, contact_id = row
    return frozenset({account_id, person_id}), frozenset({contact_id} if contact_id else ())


def find_duplicates(session: Session, prospect: Prospect, limit: int = 20) -> list[DuplicateHint]:
    """Other open prospects with the same e-mail, contacts with it, customers with the same name;
    never the customers and contacts created from (or linked to) this prospect itself."""
    hints: list[DuplicateHint] = []
    own_customers, own_contacts = _own_records(session, prospect)
    for other in session.exec(
        select(Prospect)
        .where(
            Prospect.email_normalized == prospect.email_normalized,
            Prospect.id != prospect.id,
            Prospect.status == ProspectStatus.PENDING.value,
        )
        .limit(limit)
    ).all():
        hints.append(DuplicateHint(kind="prospect", key=other.number, label=other.company, reason="same e-mail"))
    for owner in email_owners(
        session, prospect.email, limit=limit, skip_customers=own_customers, skip_contacts=own_contacts
    ):
        label = owner.name if owner.kind == "person customer" else f"{owner.name} at {owner.customer_name}"
        hints.append(DuplicateHint(kind=owner.kind, key=owner.account, label=label, reason="same e-mail"))
    if prospect.company_normalized:
        same_name = select(Customer).where(
            Customer.name_normalized == prospect.company_normalized, Customer.party_type == PartyType.ORGANIZATION.value
        )
        if own_customers:
            same_name = same_name.where(col(Customer.id).not_in(own_customers))
        for c in session.exec(same_name.limit(limit)).all():
            hints.append(DuplicateHint(kind="customer", key=c.account, label=c.name, reason="same company name"))
    return hints


def duplicate_email(prospect: Prospect, email: str, owners: list[EmailOwner]) -> DuplicateEmail:
    who = "; ".join(
        f"{o.name} (person customer {o.account})"
        if o.kind == "person customer"
        else f"{o.name}, contact of {o.customer_name} ({o.account})"
        for o in owners
    )
    persons = [o.account for o in owners if o.kind == "person customer"]
    options = []
    if persons:
        options.append(f"link_existing={persons[0]}: the requester is that person; use that contact for this partner")
    options.append(
        "allow_shared_email: create a new contact with the same e-mail anyway (both cannot sign in "
        "with it unless the portal tells them apart)"
    )
    options.append("email=NEW: qualify with another e-mail address of the requester")
    message = (
        f"{prospect.number}: the e-mail {email} is already used by {who}. Two customer contacts with one "
        "primary e-mail break sign-in. Choose: " + "; or ".join(options)
    )
    return DuplicateEmail(message, owners, options)
