"""Customers, account templates and portal roles.

``FIELDS`` is the one catalogue of editable customer fields: its labels, types and limits
drive validation here, the template and create dialogs, the edit form, and imports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import bindparam, func
from sqlalchemy import column as sa_column
from sqlalchemy import select as sa_select
from sqlalchemy import table as sa_table
from sqlmodel import Session, col, select

from models.base import table_of
from models.customer import ContactPerson, Customer, CustomerTemplate, PartyType, PortalRole
from services import audit, counters, sequences
from services.errors import Conflict, NotFound, ValidationFailed
from services.keyed_search import (
    KEYS_OR_WORDS,
    NOWHERE,
    RARE,
    first_shape,
    list_rows,
    matches,
    search_params,
    walk_page,
    walk_params,
)
from services.permissions import Actor, require
from services.search import dialect_of, search_term
from services.store import begin_write, now, writes
from services.text import clean, normalize_company, normalize_email
from services.validation import email_address, parse_decimal


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str  # text | decimal | int | bool | choice | account | currency | country
    max_length: int = 0
    choices: tuple[str, ...] = ()
    required: bool = False


FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in [
        FieldSpec("name", "Name", "text", 200, required=True),
        FieldSpec("party_type", "Party type", "choice", choices=tuple(p.value for p in PartyType)),
        FieldSpec("customer_group", "Customer group", "text", 20),
        FieldSpec("currency", "Currency", "currency", 3),
        FieldSpec("terms_of_payment", "Terms of payment", "text", 20),
        FieldSpec("method_of_payment", "Method of payment", "text", 20),
        FieldSpec("payment_specification", "Payment specification", "text", 20),
        FieldSpec("credit_limit", "Credit limit", "decimal"),
        FieldSpec("mandatory_credit_limit", "Mandatory credit limit", "bool"),
        FieldSpec("tax_group", "Tax group", "text", 20),
        FieldSpec("tax_exempt_number", "Tax exempt number", "text", 40),
        FieldSpec("bank_account", "Bank account", "text", 40),
        FieldSpec("cash_discount", "Cash discount", "text", 20),
        FieldSpec("cash_discount_base_days", "Cash discount base days", "int"),
        FieldSpec("credit_rating", "Credit rating", "text", 20),
        FieldSpec("exclude_interest_charges", "Exclude interest charges", "bool"),
        FieldSpec("exclude_collection_fees", "Exclude collection fees", "bool"),
        FieldSpec("invoice_account", "Invoice account", "account", 20),
        FieldSpec("parent_account", "Parent account", "account", 20),
        FieldSpec("email", "E-mail", "email", 254),
        FieldSpec("phone", "Phone", "text", 40),
        FieldSpec("street", "Street", "text", 200),
        FieldSpec("city", "City", "text", 80),
        FieldSpec("zip", "ZIP/postal code", "text", 20),
        FieldSpec("state", "State", "text", 40),
        FieldSpec("county", "County", "text", 40),
        FieldSpec("country", "Country/region", "country", 3),
        FieldSpec("language", "Language", "text", 10),
        FieldSpec("blocked", "Blocked", "bool"),
    ]
}

TEMPLATE_FIELDS = [f for f in FIELDS if f not in {"name", "email", "phone", "street", "city", "zip", "state", "county"}]
CREDIT_LIMIT_MAX = Decimal("9999999999999999.99")


def _coerce(spec: FieldSpec, raw: Any) -> Any:
    """One field's raw value (text from a form or file, or a typed value) to its stored type."""
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = clean(raw).lower()
        if text in {"1", "true", "yes", "y", "on", "x"}:
            return True
        if text in {"0", "false", "no", "n", "off", ""}:
            return False
        raise ValueError("yes or no")
    if spec.kind == "decimal":
        return parse_decimal(raw)
    if spec.kind == "int":
        if isinstance(raw, bool):
            raise ValueError("a whole number")
        text = str(raw).strip() if isinstance(raw, int) else clean(raw)
        if not re.fullmatch(r"[0-9]+", text or "0"):
            raise ValueError("a whole number")
        if len(text.lstrip("0")) > 3:
            raise ValueError("between 0 and 999")
        return int(text or "0")
    text = clean(raw)
    if spec.max_length and len(text) > spec.max_length:
        raise ValueError(f"at most {spec.max_length} characters")
    if spec.required and not text:
        raise ValueError("required")
    if spec.kind == "choice" and text:
        for choice in spec.choices:
            if text.lower() == choice.lower():
                return choice
        raise ValueError("one of: " + ", ".join(spec.choices))
    if spec.kind == "currency" and text and not re.fullmatch(r"[A-Za-z]{3}", text):
        raise ValueError("a 3-letter ISO currency code, e.g. USD")
    if spec.kind == "country" and text and not re.fullmatch(r"[A-Za-z]{2,3}", text):
        raise ValueError("an ISO country code, e.g. US or USA")
    if spec.kind in {"currency", "country"}:
        return text.upper()
    if spec.kind == "email" and text:
        return email_address(text)
    return text


def validate_values(session: Session, values: dict[str, Any], *, self_account: str | None = None) -> dict[str, Any]:
    """Coerce and check customer field values; raise ValidationFailed naming every bad field."""
    errors: dict[str, str] = {}
    result: dict[str, Any] = {}
    for name, raw in values.items():
        spec = FIELDS.get(name)
        if spec is None:
            errors[name] = "unknown customer field"
            continue
        try:
            result[name] = _coerce(spec, raw)
        except ValueError as exc:
            errors[name] = str(exc)
    for name in ("invoice_account", "parent_account"):
        account = result.get(name)
        if account and name not in errors:
            if account == self_account and name == "parent_account":
                errors[name] = "a customer cannot be its own parent"
            elif (
                account != self_account
                and session.exec(select(Customer.id).where(Customer.account == account)).first() is None
            ):
                errors[name] = f"no customer {account}"
    if errors:
        raise ValidationFailed(errors)
    return result


# ---------------------------------------------------------------- plain views for the UI/CLI


class CustomerView(BaseModel):
    account: str
    name: str
    party_type: str
    customer_group: str
    currency: str
    terms_of_payment: str
    method_of_payment: str
    payment_specification: str
    credit_limit: Decimal
    mandatory_credit_limit: bool
    tax_group: str
    tax_exempt_number: str
    bank_account: str
    cash_discount: str
    cash_discount_base_days: int
    credit_rating: str
    exclude_interest_charges: bool
    exclude_collection_fees: bool
    invoice_account: str
    parent_account: str
    email: str
    phone: str
    street: str
    city: str
    zip: str
    state: str
    county: str
    country: str
    language: str
    blocked: bool
    version: int
    # seed 004: "Changes pending approval" while a change proposal is submitted, "Changes not
    # submitted" while one is being prepared, "" otherwise (after it is decided)
    approval_status: str = ""


class ContactView(BaseModel):
    id: int
    customer_account: str
    first_name: str
    last_name: str
    email: str
    phone: str
    is_admin: bool


class CustomerRow(BaseModel):
    account: str
    name: str
    party_type: str
    customer_group: str
    city: str
    country: str
    email: str
    blocked: bool
    approval_status: str = ""  # as CustomerView.approval_status


class CustomerDetail(BaseModel):
    customer: CustomerView
    contacts: list[ContactView]
    history: list[audit.AuditView]


class TemplateView(BaseModel):
    name: str
    description: str
    values: dict[str, Any]


class RoleView(BaseModel):
    name: str
    description: str


def customer_view(c: Customer, approval_status: str = "") -> CustomerView:
    view = CustomerView.model_validate(c, from_attributes=True)
    view.approval_status = approval_status
    return view


PENDING_STATUS = "Changes pending approval"
UNSUBMITTED_STATUS = "Changes not submitted"
# The proposal table as the query needs it: the customer list reads approval statuses without
# loading the change-proposal model and service (the CLI's start stays proportional to its command).
_PROPOSALS = sa_table("changeproposal", sa_column("customer_id"), sa_column("state"))
_STATUS_OF_STATE = {"Submitted": PENDING_STATUS, "Not submitted": UNSUBMITTED_STATUS}  # models.changes.ProposalState


# built once (the customer list reads it with every page): the ids are an expanding parameter
_APPROVALS = select(_PROPOSALS.c.customer_id, _PROPOSALS.c.state).where(
    _PROPOSALS.c.customer_id.in_(bindparam("ids", expanding=True)),
    _PROPOSALS.c.state.in_(tuple(_STATUS_OF_STATE)),
)


def approval_statuses(session: Session, customer_ids: list[int]) -> dict[int, str]:
    """{customer id: approval status} of the customers with an open change proposal (one query)."""
    if not customer_ids:
        return {}
    rows = session.connection().execute(_APPROVALS, {"ids": customer_ids})
    return {cid: _STATUS_OF_STATE[state] for cid, state in rows}


def customer_values(c: Customer) -> dict[str, Any]:
    return {name: getattr(c, name) for name in FIELDS}


# ---------------------------------------------------------------- templates and roles


def _template_view(t: CustomerTemplate) -> TemplateView:
    return TemplateView(name=t.name, description=t.description, values=json.loads(t.values_json))


def list_templates(session: Session, actor: Actor) -> list[TemplateView]:
    require(actor, "signup.view")
    rows = session.exec(
        select(CustomerTemplate).where(CustomerTemplate.active == True).order_by(col(CustomerTemplate.name))  # noqa: E712
    ).all()
    return [_template_view(t) for t in rows]


def get_template(session: Session, name: str) -> CustomerTemplate:
    t = session.exec(select(CustomerTemplate).where(CustomerTemplate.name == clean(name))).first()
    if t is None or not t.active:
        known = (
            ", ".join(session.exec(select(CustomerTemplate.name).where(CustomerTemplate.active == True)).all())  # noqa: E712
            or "none"
        )
        raise NotFound(f"no customer account template {name!r} (templates: {known})")
    return t


def template_values(session: Session, name: str) -> dict[str, Any]:
    values = json.loads(get_template(session, name).values_json)
    return {k: v for k, v in values.items() if k in FIELDS}


@writes(phased=True)
def save_template(
    session: Session, actor: Actor, name: str, values: dict[str, Any], description: str = ""
) -> TemplateView:
    require(actor, "admin.templates")
    name = clean(name)
    errors = {}
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}", name):
        errors["name"] = "1-40 characters: letters, digits, space . _ -"
    bad = [k for k in values if k not in TEMPLATE_FIELDS]
    if bad:
        errors.update({k: "not a template field" for k in bad})
    if errors:
        raise ValidationFailed(errors)
    coerced = validate_values(session, values)
    stored = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in coerced.items()}
    begin_write(session)  # everything above read only: a refusal never waits for the write lock
    t = session.exec(select(CustomerTemplate).where(CustomerTemplate.name == name)).first()
    before = json.loads(t.values_json) if t else None
    if t is None:
        t = CustomerTemplate(name=name, values_json="{}")
    t.values_json = json.dumps(stored, sort_keys=True)
    t.description = clean(description)[:200]
    t.active = True
    session.add(t)
    audit.record(session, actor, "template", name, "saved", before=before, after=stored)
    return _template_view(t)


def list_roles(session: Session, actor: Actor) -> list[RoleView]:
    require(actor, "signup.view")
    rows = session.exec(select(PortalRole).where(PortalRole.active == True).order_by(col(PortalRole.name))).all()  # noqa: E712
    return [RoleView(name=r.name, description=r.description) for r in rows]


def get_role(session: Session, name: str) -> PortalRole:
    r = session.exec(select(PortalRole).where(func.lower(PortalRole.name) == clean(name).lower())).first()
    if r is None or not r.active:
        known = ", ".join(session.exec(select(PortalRole.name).where(PortalRole.active == True)).all()) or "none"  # noqa: E712
        raise NotFound(f"no portal user role {name!r} (roles: {known})")
    return r


@writes(phased=True)
def save_role(session: Session, actor: Actor, name: str, description: str = "") -> RoleView:
    require(actor, "admin.roles")
    name = clean(name)
    if not 1 <= len(name) <= 60:
        raise ValidationFailed({"name": "1-60 characters"})
    begin_write(session)
    r = session.exec(select(PortalRole).where(PortalRole.name == name)).first() or PortalRole(name=name)
    r.description = clean(description)[:200]
    r.active = True
    session.add(r)
    audit.record(session, actor, "portal_role", name, "saved", after={"description": r.description})
    return RoleView(name=r.name, description=r.description)


# ---------------------------------------------------------------- customers


def get_customer(session: Session, account: str) -> Customer:
    c = session.exec(select(Customer).where(Customer.account == clean(account))).first()
    if c is None:
        raise NotFound(f"no customer {account!r}")
    return c


def new_customer(session: Session, actor: Actor, values: dict[str, Any], *, account: str | None = None) -> Customer:
    """Insert a customer with a new account number (values already validated); ``account``: the
    number (or provisional key, ``sequences.defer_numbers``) the caller took for it already."""
    account = account or sequences.next_number(session, "customer")
    fields = dict(values)
    fields["name"] = fields.get("name") or ""
    customer = Customer(
        account=account,
        name_normalized=normalize_company(fields["name"]),
        email_normalized=normalize_email(fields.get("email", "")),
        created_at=now(session),
        created_by=actor.user_name,
        **fields,
    )
    session.add(customer)
    session.flush()
    audit.record(session, actor, "customer", account, "created", after=customer_values(customer))
    return customer


def add_contact(
    session: Session,
    actor: Actor,
    customer: Customer,
    *,
    first_name: str,
    last_name: str,
    email: str,
    phone: str = "",
    is_admin: bool = False,
    signup_request_id: int | None = None,
) -> ContactPerson:
    assert customer.id is not None  # a stored customer: create_customer flushed it
    contact = ContactPerson(
        customer_id=customer.id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        email_normalized=normalize_email(email),
        phone=phone,
        is_admin=is_admin,
        signup_request_id=signup_request_id,
        created_at=now(session),
    )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor,
        "customer",
        customer.account,
        "contact added",
        after={"contact": f"{first_name} {last_name}", "email": email, "admin": is_admin},
    )
    return contact


def _contact_view(c: ContactPerson, account: str) -> ContactView:
    return ContactView(
        id=c.id or 0,
        customer_account=account,
        first_name=c.first_name,
        last_name=c.last_name,
        email=c.email,
        phone=c.phone,
        is_admin=c.is_admin,
    )


def show_customer(session: Session, actor: Actor, account: str) -> CustomerDetail:
    require(actor, "customer.view")
    c = get_customer(session, account)
    contacts = session.exec(
        select(ContactPerson).where(ContactPerson.customer_id == c.id).order_by(col(ContactPerson.id))
    ).all()
    return CustomerDetail(
        customer=customer_view(c, approval_statuses(session, [c.id or 0]).get(c.id or 0, "")),
        contacts=[_contact_view(x, c.account) for x in contacts],
        history=audit.history(session, "customer", c.account),
    )


_ROW_COLUMNS: tuple[Any, ...] = (
    col(Customer.id),
    col(Customer.account),
    col(Customer.name),
    col(Customer.party_type),
    col(Customer.customer_group),
    col(Customer.city),
    col(Customer.country),
    col(Customer.email),
    col(Customer.blocked),
)
_KEYS = ("account", "email_normalized")  # the exact keys a search term may equal (b-tree each)


def _key_values(term: str) -> list[tuple[str, Any]]:
    """The value ``term`` takes for each of ``_KEYS``."""
    return [("account", term.upper()), ("email_normalized", normalize_email(term))]


# the state of the customer's open proposal, if any (at most one: uq_changeproposal_open_customer),
# read with the page in the same statement (approval_statuses, as a column)
_APPROVAL_STATE = (
    select(_PROPOSALS.c.state)
    .where(_PROPOSALS.c.customer_id == col(Customer.id), _PROPOSALS.c.state.in_(tuple(_STATUS_OF_STATE)))
    .scalar_subquery()
)
_PAGE_COLUMNS: tuple[Any, ...] = (*_ROW_COLUMNS, _APPROVAL_STATE)


@lru_cache(maxsize=32)
def _page_statement(dialect: str, search: str | None, keyed: bool) -> Any:
    """The page query of one shape of ``list_customers`` (the search's shape or none, first page
    or not), built once; values are parameters (``limit``, ``after``, the search's).

    A word walks the account index from the cursor first (``keyed_search.walk_page``: about a page
    for a common word, the text index for a rare one), and the page's approval states are read
    for its rows only, not for every walked row."""
    if search == KEYS_OR_WORDS:
        after = [bindparam("after", type_=table_of(Customer).c.account.type)] if keyed else None
        page = walk_page(
            dialect, Customer, _KEYS, sa_select(*_ROW_COLUMNS), [col(Customer.account)], after, descending=False
        ).subquery("page")
        state = (
            sa_select(_PROPOSALS.c.state)
            .where(_PROPOSALS.c.customer_id == page.c.id, _PROPOSALS.c.state.in_(tuple(_STATUS_OF_STATE)))
            .scalar_subquery()
        )
        return sa_select(*page.c, state).order_by(page.c.account)
    query = select(*_PAGE_COLUMNS)
    if search is not None:  # RARE (SQLite, ``sqlite_first``): the text index's few matches, no walk
        words = KEYS_OR_WORDS if search == RARE else search
        query = query.where(col(Customer.id).in_(matches(dialect, Customer, _KEYS, words)))
    if keyed:
        query = query.where(col(Customer.account) > bindparam("after"))
    return query.order_by(col(Customer.account)).limit(bindparam("limit"))


@lru_cache(maxsize=1)
def _rows_adapter() -> TypeAdapter[list[CustomerRow]]:
    return TypeAdapter(list[CustomerRow])


def list_customers(
    session: Session, actor: Actor, *, search: str | None = None, after: str | None = None, limit: int = 50
) -> list[CustomerRow]:
    """Customers by account, paged by keyset (``after`` = the last account of the previous page).

    A search finds an exact account or e-mail through their indexes, else text in the account,
    name, e-mail or city: a bounded walk of the account index, else the store's text index, in the
    page's one statement (``services.keyed_search``). Statements are built once per shape; the page is validated
    in one call."""
    require(actor, "customer.view")
    params: dict[str, Any] = {"limit": max(1, min(limit, 1000))}
    shape = None
    term = search_term(search)
    dialect = dialect_of(session)
    if term is not None:
        shape, values = search_params(dialect, Customer, term, _key_values(term))
        params.update(values)
        if shape == KEYS_OR_WORDS:
            shape = first_shape(session, term, ((Customer, _KEYS),), "customer", params, params["limit"])
            if shape == NOWHERE:  # no key, no row with the word: nothing to read
                return []
        if shape == KEYS_OR_WORDS:
            size = list_rows(session, "customer")  # the walk's budget sized to the list
            params.update(walk_params(dialect, Customer, term, rows=size, page=params["limit"]))
    if after:
        params["after"] = after
    rows = session.connection().execute(_page_statement(dialect, shape, bool(after)), params).all()
    return _rows_adapter().validate_python(
        [
            {
                "account": r[1],
                "name": r[2],
                "party_type": r[3],
                "customer_group": r[4],
                "city": r[5],
                "country": r[6],
                "email": r[7],
                "blocked": r[8],
                "approval_status": _STATUS_OF_STATE.get(r[9], "") if r[9] else "",
            }
            for r in rows
        ]
    )


def count_customers(session: Session, actor: Actor) -> int:
    """Every customer: the kept counter (O(1))."""
    require(actor, "customer.view")
    return counters.total(session, "customer")


def ensure_unique_account_free(session: Session, account: str) -> None:
    if session.exec(select(Customer.id).where(Customer.account == account)).first():
        raise Conflict(f"customer account {account} exists already")
