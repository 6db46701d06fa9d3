"""Customer self-service sign-up (seeds 000/001): submit, verify, approve, reject, create.

The process, in one table (``TRANSITIONS``)::

    Requested --verify--> Verified by user --approve--> Approved --create--> Created
        \\________________________\\______________________\\--reject--> Rejected

Every transition is a conditional UPDATE (``WHERE id = :id AND status IN (...)``) whose row
count is checked, so when two approvers act on one request exactly one wins and the other
is told who was first; nothing else in the transaction (customer, contact, user request)
survives for the loser.

Every writing command is phased (``@writes(phased=True)``, services/store.py): permissions,
validation, the request lookup, the state check and the duplicate search run first without
any lock; ``begin_write`` then opens a short write transaction whose conditional UPDATEs
(version and status) re-check what the plan read. A registration number is taken just before
the rows that carry it are written.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, tuple_, update
from sqlmodel import Session, col, select

from models.customer import ContactPerson, Customer
from models.schemas import SignupIn
from models.signup import RequestType, SignupRequest, SignupStatus, UserRequest
from services import audit, counters, customers, mail, params, sequences, tokens, transitions
from services.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import APPROVER, PORTAL, Actor, require
from services.search import matching_ids, search_term
from services.store import begin_write, now, writes
from services.text import clean, normalize_company, normalize_email
from services.validation import field_errors

S = SignupStatus


TRANSITIONS = transitions.table("signup", [
    ("verify", {S.REQUESTED}, S.VERIFIED, None, "verify"),
    ("resend", {S.REQUESTED}, None, "signup.resend", "resend the verification link of"),
    ("approve", {S.VERIFIED}, S.APPROVED, "signup.approve", "approve"),
    ("reject", {S.REQUESTED, S.VERIFIED, S.APPROVED}, S.REJECTED, "signup.reject", "reject"),
    ("create", {S.APPROVED}, S.CREATED, "signup.create", "create a customer from"),
])
OPEN_STATUSES = (S.REQUESTED.value, S.VERIFIED.value, S.APPROVED.value)
FILTERS = ["All", *[s.value for s in SignupStatus]]
ENTITY = "signup"


def allowed_actions(actor: Actor, status: str) -> list[str]:
    return [
        name
        for name, t in TRANSITIONS.items()
        if t.permission is not None and status in t.sources and actor.can(t.permission)
    ]


def _explain(_session: Session, req: SignupRequest, action: str) -> str | None:
    """Why ``action`` is not possible on ``req`` in its current state, in the user's words
    (None: the mover's own sentence, services/transitions.py)."""
    n, st = req.number, req.status
    at = lambda t: f"{t:%Y-%m-%d %H:%M}" if t else "?"  # noqa: E731
    if st == S.REJECTED:
        return f"{n} was rejected by {req.rejected_by} on {at(req.rejected_at)}: {req.reject_reason}"
    if st == S.CREATED:
        return f"{n} is done already: customer {req.created_customer_account} was created by {req.created_by}"
    if action == "approve":
        if st == S.REQUESTED:
            return (f"{n} cannot be approved: the customer has not verified the request yet "
                    "(status Requested); send the activation URL again if the link was lost")
        if st == S.APPROVED:
            return f"{n} was already approved by {req.approved_by} on {at(req.approved_at)}"
    if action == "create" and st in (S.REQUESTED, S.VERIFIED):
        return f"{n} must be approved before a customer is created (status {st})"
    if action == "resend":
        return f"{n} is verified already (status {st}): no new link is needed"
    if action == "verify":
        return f"{n} is verified already (status {st})"
    return None


PROCESS = transitions.register(transitions.Process(
    name="signup", title="Sign-up request", model=SignupRequest, states=tuple(SignupStatus),
    transitions=TRANSITIONS, entity="signup", initial=(S.REQUESTED,), explain=_explain))


def _precheck(session: Session, req: SignupRequest, action: str) -> None:
    """The plan phase's check: refuse at once (no lock) when the state does not allow ``action``."""
    transitions.check(session, PROCESS, req, action)


def _transition(session: Session, req: SignupRequest, action: str, **values: Any) -> None:
    """Move ``req`` by ``action`` (services/transitions.py: check, write lock, compare-and-set)."""
    transitions.move(session, PROCESS, req, action, **values)


def _get(session: Session, number: str) -> SignupRequest:
    key = clean(number).upper()
    req = session.exec(select(SignupRequest).where(SignupRequest.number == key)).first()
    if req is None:
        raise NotFound(f"no sign-up request {number!r}")
    return req


def _snapshot(req: SignupRequest) -> dict[str, Any]:
    return {"status": req.status}


# ------------------------------------------------------------------------- submit / verify


class SubmitResult(BaseModel):
    number: str
    status: str
    email: str
    duplicates: int


def validate_input(data: Any) -> SignupIn:
    """The sign-up JSON to a clean SignupIn, or ValidationFailed naming each bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed({"request": "expected a JSON object with the sign-up fields"})
    errors: dict[str, str] = {}
    try:
        parsed = SignupIn.model_validate(data)
    except ValidationError as exc:
        errors.update(field_errors(exc, _PATTERN_HINTS, unknown="unknown field (see 'regdesk signup schema')"))
        parsed = None
    email = data.get("email") if isinstance(data.get("email"), str) else None
    if "email" not in errors and email is not None:
        from services.validation import email_address

        try:
            normalized = email_address(clean(email))
            if parsed is not None:
                parsed.email = normalized
        except ValueError as exc:
            errors["email"] = str(exc)
    if errors or parsed is None:
        raise ValidationFailed(errors)
    parsed.country = parsed.country.upper()
    parsed.language = parsed.language.lower()
    parsed.customer_account = parsed.customer_account.upper()
    return parsed


_PATTERN_HINTS = {
    "user_name": "letters, digits and . _ @ - only, starting with a letter or digit",
    "phone": "digits, spaces and + ( ) . / - only",
    "fax": "digits, spaces and + ( ) . / - only",
    "zip": "letters, digits, spaces and - only",
    "country": "an ISO country/region code, e.g. US or DEU",
    "language": "a language code, e.g. en-us",
}


@writes(phased=True)
def submit(session: Session, actor: Actor, data: Any) -> SubmitResult:
    """Store a sign-up request (status Requested) and queue its verification e-mail."""
    if actor is not PORTAL:
        require(actor, "signup.submit")
    parsed = validate_input(data)
    current = now(session)
    req = SignupRequest(
        number="",
        created_at=current,
        updated_at=current,
        status=S.REQUESTED,
        email_normalized=normalize_email(parsed.email),
        company_normalized=normalize_company(parsed.company),
        submitted_by=actor.user_name,
        **parsed.model_dump(),
    )
    hints = len(find_duplicates(session, req))  # reads only: before the write transaction
    begin_write(session)
    number = req.number = sequences.next_number(session, "signup")
    session.add(req)
    session.flush()
    audit.record(session, actor, ENTITY, number, "submitted", after={"status": S.REQUESTED.value, **parsed.model_dump()},
                 comment=None if actor is PORTAL else "taken on behalf of the customer")
    _send_verification(session, req)
    return SubmitResult(number=number, status=req.status, email=req.email, duplicates=hints)


def _send_verification(session: Session, req: SignupRequest) -> None:
    """Queue the verification mail; the earlier link stops working now, the new one is minted when
    the mail is sent (``mint_verification_link``), so no working token is ever stored."""
    tokens.void(session, "signup-verify", ENTITY, req.number)
    mail.enqueue(
        session, req.email, "signup_verify",
        {"number": req.number, "first_name": req.first_name, "last_name": req.last_name, "company": req.company},
        entity_type=ENTITY, entity_key=req.number,
    )


def mint_verification_link(session: Session, number: str) -> dict[str, str]:
    """Called by the sender when it renders a verification mail: a new token replaces the
    request's earlier one (only its hash is stored), valid ``signup.verification_ttl_hours``
    from now. Refused when the request no longer waits for verification."""
    req = session.exec(select(SignupRequest).where(SignupRequest.number == number)).first()
    if req is None or req.status != S.REQUESTED:
        raise InvalidTransition(f"{number} is {req.status if req else 'gone'}: a verification link would not work")
    ttl = params.get(session, "signup.verification_ttl_hours")
    raw = tokens.issue(session, "signup-verify", ENTITY, req.number, ttl)
    portal = params.get(session, "portal.url").rstrip("/")
    expires = now(session) + timedelta(hours=ttl)
    return {"link": f"{portal}/signup/verify?token={raw}", "token": raw, "expires": f"{expires:%Y-%m-%d %H:%M} UTC"}


class VerifyResult(BaseModel):
    number: str
    status: str


@writes(phased=True)
def verify(session: Session, raw_token: str) -> VerifyResult:
    """What the link in the verification e-mail calls: Requested -> Verified by user."""
    _plan_verify(session, raw_token)
    begin_write(session)
    token = tokens.consume(session, "signup-verify", raw_token, what="verification link")
    req = _get(session, token.entity_key)
    _transition(session, req, "verify", verified_at=now(session))
    audit.record(session, PORTAL, ENTITY, req.number, "verified", before={"status": S.REQUESTED.value},
                 after={"status": S.VERIFIED.value})
    return VerifyResult(number=req.number, status=S.VERIFIED.value)


def _plan_verify(session: Session, raw_token: str) -> None:
    """Refuse a link that cannot work (unknown, used, of a request no longer Requested) without a lock."""
    from models.core import Token

    token = session.exec(select(Token).where(Token.token_hash == tokens.hash_token(raw_token or ""),
                                             Token.purpose == "signup-verify")).first()
    if token is None or token.used_at is not None or token.voided_at is not None or token.expires_at <= now(session):
        tokens.consume(session, "signup-verify", raw_token, what="verification link")  # raises its own refusal
        return
    _precheck(session, _get(session, token.entity_key), "verify")


@writes(phased=True)
def resend(session: Session, actor: Actor, number: str) -> VerifyResult:
    """Activation URL: a new verification link; the old one stops working."""
    require(actor, "signup.resend")
    req = _get(session, number)
    _precheck(session, req, "resend")
    begin_write(session)
    _transition(session, req, "resend")
    _send_verification(session, req)
    audit.record(session, actor, ENTITY, req.number, "activation URL sent", comment=f"new link sent to {req.email}")
    return VerifyResult(number=req.number, status=req.status)


# ------------------------------------------------------------------------- approve / reject


def _others(session: Session, role: str, barred: set[str]) -> str:
    from models.core import Operator

    names = [o.user_name for o in session.exec(select(Operator).where(Operator.active == True)  # noqa: E712
                                               .order_by(Operator.user_name)).all()
             if role in o.roles.split() and o.user_name not in barred]
    return ", ".join(names) if names else f"nobody yet (ask an admin to add another {role})"


def _four_eyes(session: Session, actor: Actor, req: SignupRequest, action: str) -> None:
    """Separation of duties (issue 11): whoever took the request on the customer's behalf
    neither approves nor creates it; the approver creates it only when
    ``signup.create_needs_second_person`` is off (the seeds' single approver)."""
    me = actor.user_name
    staff_submitter = req.submitted_by if req.submitted_by and req.submitted_by != PORTAL.user_name else None
    if staff_submitter == me:
        raise PermissionDenied(
            f"four eyes: {me} took {req.number} on the customer's behalf and so may not {TRANSITIONS[action].label} it; "
            f"another approver may: {_others(session, APPROVER, {me})}")
    if action == "create" and req.approved_by == me and params.get(session, "signup.create_needs_second_person"):
        barred = {me} | ({staff_submitter} if staff_submitter else set())
        raise PermissionDenied(
            f"four eyes: {me} approved {req.number}, and parameter signup.create_needs_second_person requires "
            f"a second person to create the customer; another approver may: {_others(session, APPROVER, barred)}")


@writes(phased=True)
def approve(session: Session, actor: Actor, number: str, comment: str | None = None) -> VerifyResult:
    require(actor, "signup.approve")
    comment = clean(comment, multiline=True) or None
    req = _get(session, number)
    _precheck(session, req, "approve")
    _four_eyes(session, actor, req, "approve")
    begin_write(session)
    current = now(session)
    _transition(session, req, "approve", approved_by=actor.user_name, approved_at=current)
    audit.record(session, actor, ENTITY, req.number, "approved", before={"status": S.VERIFIED.value},
                 after={"status": S.APPROVED.value}, comment=comment)
    return VerifyResult(number=req.number, status=S.APPROVED.value)


@writes(phased=True)
def reject(session: Session, actor: Actor, number: str, reason: str) -> VerifyResult:
    require(actor, "signup.reject")
    reason = clean(reason, multiline=True)
    if not reason:
        raise ValidationFailed({"reason": "a reason is required to reject a request"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "at most 1000 characters"})
    req = _get(session, number)
    _precheck(session, req, "reject")
    begin_write(session)
    before = req.status
    _transition(session, req, "reject", rejected_by=actor.user_name, rejected_at=now(session), reject_reason=reason)
    tokens.void(session, "signup-verify", ENTITY, req.number)
    mail.enqueue(session, req.email, "signup_declined",
                 {"number": req.number, "first_name": req.first_name, "last_name": req.last_name,
                  "company": req.company, "reason": reason}, entity_type=ENTITY, entity_key=req.number)
    audit.record(session, actor, ENTITY, req.number, "rejected", before={"status": before},
                 after={"status": S.REJECTED.value}, comment=reason)
    return VerifyResult(number=req.number, status=S.REJECTED.value)


# ------------------------------------------------------------------------- duplicates


class DuplicateHint(BaseModel):
    kind: Literal["request", "contact", "customer"]
    key: str  # registration number or customer account
    label: str
    reason: str


def find_duplicates(session: Session, req: SignupRequest, limit: int = 20) -> list[DuplicateHint]:
    """Open requests, contacts and customers with the same e-mail; customers with the same name.
    Never what the request itself led to: the contact created from it, and the customer it was
    created as (or added to)."""
    hints: list[DuplicateHint] = []
    email = req.email_normalized
    for other in session.exec(
        select(SignupRequest).where(SignupRequest.email_normalized == email, SignupRequest.id != req.id,
                                    col(SignupRequest.status).in_(OPEN_STATUSES)).limit(limit)
    ).all():
        hints.append(DuplicateHint(kind="request", key=other.number, label=f"{other.company} ({other.status})", reason="same e-mail"))
    for contact, account, cname in session.exec(
        select(ContactPerson, Customer.account, Customer.name).join(Customer, ContactPerson.customer_id == Customer.id)
        .where(ContactPerson.email_normalized == email,
               or_(col(ContactPerson.signup_request_id).is_(None), ContactPerson.signup_request_id != req.id))
        .limit(limit)
    ).all():
        hints.append(DuplicateHint(kind="contact", key=account, label=f"{contact.first_name} {contact.last_name} at {cname}", reason="same e-mail"))
    own = req.created_customer_account or ""
    seen: set[str] = {own} if own else set()
    same = select(Customer).where(or_(Customer.email_normalized == email, Customer.name_normalized == req.company_normalized))
    if own:
        same = same.where(Customer.account != own)
    for c in session.exec(same.limit(limit)).all():
        reasons = []
        if c.name_normalized == req.company_normalized and req.company_normalized:
            reasons.append("same company name")
        if c.email_normalized == email:
            reasons.append("same e-mail")
        seen.add(c.account)
        hints.append(DuplicateHint(kind="customer", key=c.account, label=c.name, reason=" and ".join(reasons)))
    if req.customer_account and req.customer_account not in seen:
        c = session.exec(select(Customer).where(Customer.account == req.customer_account)).first()
        if c is None:
            hints.append(DuplicateHint(kind="customer", key=req.customer_account, label="(no such customer)", reason="account given by the requester does not exist"))
        else:
            hints.append(DuplicateHint(kind="customer", key=c.account, label=c.name, reason="account given by the requester"))
    return hints


# ------------------------------------------------------------------------- list / show


SORTS = {
    "number": SignupRequest.id,  # numbers come from a gap-free sequence: same order as id
    "created": SignupRequest.created_at,
    "company": SignupRequest.company,
    "status": SignupRequest.status,
    "email": SignupRequest.email_normalized,
    "name": SignupRequest.last_name,
}


class RequestRow(BaseModel):
    id: int
    number: str
    created_at: datetime
    status: str
    company: str
    contact: str
    email: str
    user_name: str
    country: str


class RequestPage(BaseModel):
    rows: list[RequestRow]
    after: tuple[Any, int] | None  # keyset cursor of the next page, None at the end


def _exact_keys(term: str) -> list:
    """The keys a search term may equal exactly, each with its own index."""
    return [SignupRequest.number == term.upper(), SignupRequest.email_normalized == normalize_email(term),
            SignupRequest.user_name == term]


def _filtered(session: Session, query, status: str | None, search: str | None):
    """``status`` through the (status, sort key, id) indexes; ``search`` through exact keys and the text index."""
    if status and status != "All":
        try:
            query = query.where(SignupRequest.status == SignupStatus.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    term = search_term(search)
    if term is not None:
        ids = matching_ids(session, SignupRequest, term, _exact_keys(term))
        query = query.where(col(SignupRequest.id).in_(ids))
    return query


def list_requests(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    search: str | None = None,
    sort: str = "number",
    descending: bool = False,
    after: tuple[Any, int] | list | None = None,
    limit: int = 50,
) -> RequestPage:
    """One page of the Registration list, filtered, sorted and paged in SQL (keyset)."""
    require(actor, "signup.view")
    if sort not in SORTS:
        raise ValidationFailed({"sort": "one of: " + ", ".join(SORTS)})
    limit = max(1, min(int(limit), 5000))
    key = SORTS[sort]
    columns = [SignupRequest.id, SignupRequest.number, SignupRequest.created_at, SignupRequest.status,
               SignupRequest.company, SignupRequest.first_name, SignupRequest.last_name, SignupRequest.email,
               SignupRequest.user_name, SignupRequest.country]
    sort_col = key if key is not SignupRequest.id else None
    if sort == "status" and status and status != "All":
        sort_col = None  # one status: its rows in id order, the (status, id) index walked from the cursor
    query = _filtered(session, select(*columns, *([sort_col] if sort_col is not None else [])), status, search)
    if after is not None:
        value, last_id = after
        if sort_col is None:
            query = query.where(SignupRequest.id < last_id if descending else SignupRequest.id > last_id)
        else:
            if sort == "created" and isinstance(value, str):
                value = datetime.fromisoformat(value)
            pair = tuple_(sort_col, SignupRequest.id)
            query = query.where(pair < (value, last_id) if descending else pair > (value, last_id))
    order = [sort_col, SignupRequest.id] if sort_col is not None else [SignupRequest.id]
    query = query.order_by(*[c.desc() if descending else c.asc() for c in order]).limit(limit + 1)
    raw = session.execute(query).all()
    rows = [
        RequestRow(id=r[0], number=r[1], created_at=r[2], status=r[3], company=r[4], contact=f"{r[5]} {r[6]}",
                   email=r[7], user_name=r[8], country=r[9])
        for r in raw[:limit]
    ]
    cursor = None
    if len(raw) > limit:
        last = raw[limit - 1]
        cursor = ((last[10] if sort_col is not None else last[0]), last[0])
    return RequestPage(rows=rows, after=cursor)


def count_by_status(session: Session, actor: Actor, *, search: str | None = None) -> dict[str, int]:
    """Rows per status: the kept counters (O(1)); with a search, counted over the search's own index."""
    require(actor, "signup.view")
    if search_term(search) is None:
        return counters.by_status(session, "signup", SignupStatus)
    term = search_term(search)
    matches = matching_ids(session, SignupRequest, term, _exact_keys(term), extra=[SignupRequest.status]).subquery()
    query = select(matches.c.status, func.count()).group_by(matches.c.status)
    counts = {s.value: 0 for s in SignupStatus}
    for status, n in session.execute(query).all():
        counts[status] = n
    return {"All": sum(counts.values()), **counts}


class RequestDetail(BaseModel):
    number: str
    created_at: datetime
    status: str
    user_name: str
    email: str
    company: str
    first_name: str
    last_name: str
    phone: str
    fax: str
    street: str
    city: str
    zip: str
    state: str
    county: str
    country: str
    language: str
    customer_account: str
    customer_created: bool
    created_customer_account: str
    submitted_by: str
    verified_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    rejected_by: str | None
    rejected_at: datetime | None
    reject_reason: str | None
    user_request: str | None
    version: int
    duplicates: list[DuplicateHint]
    history: list[audit.AuditView]
    actions: list[str]


def show_request(session: Session, actor: Actor, number: str) -> RequestDetail:
    require(actor, "signup.view")
    req = _get(session, number)
    ur = session.exec(select(UserRequest.number).where(UserRequest.signup_request_id == req.id)).first()
    data = {name: getattr(req, name) for name in RequestDetail.model_fields if hasattr(req, name)}
    return RequestDetail(
        **data,
        user_request=ur,
        duplicates=find_duplicates(session, req),
        history=audit.history(session, ENTITY, req.number),
        actions=allowed_actions(actor, req.status),
    )


# ------------------------------------------------------------------------- create


class CreatePreview(BaseModel):
    mode: Literal["new", "existing"]
    account: str | None  # the existing account, or None: a new number is taken on OK
    values: dict[str, Any]  # the customer that will be created (or the existing one)
    contact: dict[str, str]
    role: str | None
    errors: dict[str, str]


def _contact_fields(req: SignupRequest) -> dict[str, str]:
    return {"first_name": req.first_name, "last_name": req.last_name, "email": req.email, "phone": req.phone}


def _new_customer_values(session: Session, req: SignupRequest, template: str | None, overrides: dict[str, Any] | None) -> dict[str, Any]:
    base: dict[str, Any] = {}
    if template:
        base.update(customers.template_values(session, template))
    base.update({
        "name": req.company, "email": req.email, "phone": req.phone, "street": req.street, "city": req.city,
        "zip": req.zip, "state": req.state, "county": req.county, "country": req.country, "language": req.language,
        "party_type": base.get("party_type") or "Organization",
    })
    base.update(overrides or {})
    return base


def preview_create(
    session: Session, actor: Actor, number: str, *, mode: Literal["new", "existing"] = "new",
    template: str | None = None, role: str | None = None, values: dict[str, Any] | None = None,
    existing_account: str | None = None,
) -> CreatePreview:
    """What OK in the Create new customer dialog would create, with every problem named (no writes)."""
    require(actor, "signup.view")
    req = _get(session, number)
    errors: dict[str, str] = {}
    if req.status != S.APPROVED:
        errors["status"] = transitions.refusal(session, PROCESS, req, "create").message
    if role:
        try:
            customers.get_role(session, role)
        except NotFound as exc:
            errors["role"] = exc.message
    else:
        errors["role"] = "choose the user role the portal user gets"
    result: dict[str, Any] = {}
    account = None
    if mode == "existing":
        try:
            c = customers.get_customer(session, existing_account or "")
            account = c.account
            result = customers.customer_values(c)
            if c.blocked:
                errors["existing_account"] = f"customer {c.account} is blocked"
        except NotFound as exc:
            errors["existing_account"] = exc.message if existing_account else "choose the existing customer account"
    else:
        try:
            raw = _new_customer_values(session, req, template, values)
        except NotFound as exc:
            errors["template"] = exc.message
            raw = _new_customer_values(session, req, None, values)
        try:
            result = customers.validate_values(session, raw)
        except ValidationFailed as exc:
            errors.update(exc.errors)
            result = raw
    return CreatePreview(mode=mode, account=account, values=result, contact=_contact_fields(req), role=role, errors=errors)


class CreateChoices(BaseModel):
    """What the Create new customer dialog offers, and what it preselects (admin-set parameters)."""
    templates: list[customers.TemplateView]
    roles: list[customers.RoleView]
    default_template: str | None  # ``signup.default_template`` when it names an active template
    default_role: str | None  # ``signup.default_role`` when it names an active role


def create_choices(session: Session, actor: Actor) -> CreateChoices:
    """Templates, roles and the defaults to preselect (a default no longer active is left out)."""
    templates = customers.list_templates(session, actor)
    roles = customers.list_roles(session, actor)
    template = params.get(session, "signup.default_template")
    role = params.get(session, "signup.default_role")
    return CreateChoices(
        templates=templates, roles=roles,
        default_template=next((t.name for t in templates if t.name == template), None) if template else None,
        default_role=next((r.name for r in roles if r.name.lower() == role.lower()), None) if role else None,
    )


class CreateResult(BaseModel):
    number: str
    status: str
    customer_account: str
    new_customer: bool
    contact_id: int
    user_request: str
    user_request_status: str


@writes(phased=True)
def create_customer(
    session: Session, actor: Actor, number: str, *, mode: Literal["new", "existing"] = "new",
    template: str | None = None, role: str, values: dict[str, Any] | None = None,
    existing_account: str | None = None,
) -> CreateResult:
    """Approved -> Created: the customer (or a contact on an existing one) and a user request, at once."""
    require(actor, "signup.create")
    if mode not in ("new", "existing"):
        raise ValidationFailed({"mode": "new or existing"})
    req = _get(session, number)
    _precheck(session, req, "create")
    _four_eyes(session, actor, req, "create")
    preview = preview_create(session, actor, number, mode=mode, template=template, role=role, values=values,
                             existing_account=existing_account)
    if preview.errors:
        raise ValidationFailed(preview.errors)
    portal_role = customers.get_role(session, role)
    from services.documents import ensure_registered

    ensure_registered()  # the workflow's first-use imports: here, not while the number rows are locked
    begin_write(session)
    # take the request first: of two approvers only one gets past this line
    _transition(session, req, "create", customer_created=True, created_by=actor.user_name)
    # the gap-free account and user-request numbers are taken last (sequences.settle), so their
    # sequence rows are locked from there to the commit only, not through contact, workflow, audit
    sequences.defer_numbers(session)
    if mode == "new":
        customer = customers.new_customer(session, actor, preview.values)
    else:
        customer = customers.get_customer(session, preview.account or "")
    contact = customers.add_contact(session, actor, customer, first_name=req.first_name, last_name=req.last_name,
                                    email=req.email, phone=req.phone, signup_request_id=req.id)
    from services import user_requests  # here: it brings the workflow engine, which reading requests never needs

    ur = user_requests.create_for_contact(
        session, actor, customer=customer, contact=contact, role=portal_role, user_name=req.user_name,
        email=req.email, signup_request_id=req.id, request_type=RequestType.CUSTOMER,
    )
    audit.record(session, actor, ENTITY, req.number, "created", before={"status": S.APPROVED.value},
                 after={"status": S.CREATED.value, "customer": customer.account, "new_customer": mode == "new",
                        "template": template if mode == "new" else None, "role": portal_role.name,
                        "user_request": ur.number})
    provisional = {"account": customer.account, "ur": ur.number}
    numbers = sequences.settle(session)  # the last step: nothing that can refuse follows
    account = numbers.get(provisional["account"], provisional["account"])
    session.execute(update(SignupRequest).where(SignupRequest.id == req.id)
                    .values(created_customer_account=account).execution_options(synchronize_session=False))
    return CreateResult(number=req.number, status=S.CREATED.value, customer_account=customer.account,
                        new_customer=mode == "new", contact_id=contact.id or 0, user_request=ur.number,
                        user_request_status=ur.status)
