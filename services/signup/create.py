"""Creating the customer from an approved sign-up request: what the Create new customer dialog
offers and previews, and the create command (customer or contact, user request, numbers last)."""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import Session

from models.base import table_of
from models.customer import PortalRole
from models.signup import RequestType, SignupRequest
from services import audit, customers, params, sequences, transitions
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require
from services.signup.commands import four_eyes
from services.signup.table import ENTITY, PROCESS, S, get_request, precheck, transition
from services.signup.views import CreateChoices, CreatePreview, CreateResult
from services.store import begin_write, writes


def _contact_fields(req: SignupRequest) -> dict[str, str]:
    return {"first_name": req.first_name, "last_name": req.last_name, "email": req.email, "phone": req.phone}


def _new_customer_values(
    session: Session, req: SignupRequest, template: str | None, overrides: dict[str, Any] | None
) -> dict[str, Any]:
    base: dict[str, Any] = {}
    if template:
        base.update(customers.template_values(session, template))
    base.update(
        {
            "name": req.company,
            "email": req.email,
            "phone": req.phone,
            "street": req.street,
            "city": req.city,
            "zip": req.zip,
            "state": req.state,
            "county": req.county,
            "country": req.country,
            "language": req.language,
            "party_type": base.get("party_type") or "Organization",
        }
    )
    base.update(overrides or {})
    return base


def preview_create(
    session: Session,
    actor: Actor,
    number: str,
    *,
    mode: Literal["new", "existing"] = "new",
    template: str | None = None,
    role: str | None = None,
    values: dict[str, Any] | None = None,
    existing_account: str | None = None,
) -> CreatePreview:
    """What OK in the Create new customer dialog would create, with every problem named (no writes)."""
    require(actor, "signup.view")
    req = get_request(session, number)
    return _preview(
        session, req, mode=mode, template=template, role=role, values=values, existing_account=existing_account
    )[0]


def _preview(
    session: Session,
    req: SignupRequest,
    *,
    mode: Literal["new", "existing"],
    template: str | None,
    role: str | None,
    values: dict[str, Any] | None,
    existing_account: str | None,
) -> tuple[CreatePreview, PortalRole | None]:
    """``preview_create`` of a request already read, and the portal role it found (create reuses both)."""
    errors: dict[str, str] = {}
    portal_role = None
    if req.status != S.APPROVED:
        errors["status"] = transitions.refusal(session, PROCESS, req, "create").message
    if role:
        try:
            portal_role = customers.get_role(session, role)
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
    preview = CreatePreview(
        mode=mode, account=account, values=result, contact=_contact_fields(req), role=role, errors=errors
    )
    return preview, portal_role


def create_choices(session: Session, actor: Actor) -> CreateChoices:
    """Templates, roles and the defaults to preselect (a default no longer active is left out)."""
    templates = customers.list_templates(session, actor)
    roles = customers.list_roles(session, actor)
    template = params.get(session, "signup.default_template")
    role = params.get(session, "signup.default_role")
    return CreateChoices(
        templates=templates,
        roles=roles,
        default_template=next((t.name for t in templates if t.name == template), None) if template else None,
        default_role=next((r.name for r in roles if r.name.lower() == role.lower()), None) if role else None,
    )


@writes(phased=True)
def create_customer(
    session: Session,
    actor: Actor,
    number: str,
    *,
    mode: Literal["new", "existing"] = "new",
    template: str | None = None,
    role: str,
    values: dict[str, Any] | None = None,
    existing_account: str | None = None,
) -> CreateResult:
    """Approved -> Created: the customer (or a contact on an existing one) and a user request, at once."""
    require(actor, "signup.create")
    if mode not in ("new", "existing"):
        raise ValidationFailed({"mode": "new or existing"})
    req = get_request(session, number)
    precheck(session, req, "create")
    four_eyes(session, actor, req, "create")
    require(actor, "signup.view")  # what preview_create asks
    preview, portal_role = _preview(
        session, req, mode=mode, template=template, role=role, values=values, existing_account=existing_account
    )
    if preview.errors or portal_role is None:
        raise ValidationFailed(preview.errors or {"role": "choose the user role the portal user gets"})
    from services.documents import ensure_registered

    ensure_registered()  # the workflow's first-use imports: here, not while the number rows are locked
    begin_write(session)
    # the gap-free account and user-request numbers are taken last (sequences.settle), so their
    # sequence rows are locked from there to the commit only, not through contact, workflow, audit
    sequences.defer_numbers(session)
    if mode == "new":
        account = sequences.next_number(session, "customer")  # a provisional key: no number taken yet
    else:
        existing = customers.get_customer(session, preview.account or "")
        account = existing.account
    # take the request first: of two approvers only one gets past this line. The request names its
    # customer in the same UPDATE (a provisional key for a new one, swapped in by the settle's one step)
    transition(
        session,
        req,
        "create",
        customer_created=True,
        created_by=actor.user_name,
        created_customer_account=account,
    )
    if mode == "new":
        sequences.carry(session, table_of(SignupRequest), req.id, "created_customer_account")
        customer = customers.new_customer(session, actor, preview.values, account=account)
    else:
        customer = existing
    contact = customers.add_contact(
        session,
        actor,
        customer,
        first_name=req.first_name,
        last_name=req.last_name,
        email=req.email,
        phone=req.phone,
        signup_request_id=req.id,
    )
    from services import user_requests  # here: it brings the workflow engine, which reading requests never needs

    ur = user_requests.create_for_contact(
        session,
        actor,
        customer=customer,
        contact=contact,
        role=portal_role,
        user_name=req.user_name,
        email=req.email,
        signup_request_id=req.id,
        request_type=RequestType.CUSTOMER,
    )
    audit.record(
        session,
        actor,
        ENTITY,
        req.number,
        "created",
        before={"status": S.APPROVED.value},
        after={
            "status": S.CREATED.value,
            "customer": customer.account,
            "new_customer": mode == "new",
            "template": template if mode == "new" else None,
            "role": portal_role.name,
            "user_request": ur.number,
        },
    )
    sequences.settle(session, commit=True)  # the last step, sent with the COMMIT: nothing follows
    return CreateResult(
        number=req.number,
        status=S.CREATED.value,
        customer_account=customer.account,
        new_customer=mode == "new",
        contact_id=contact.id or 0,
        user_request=ur.number,
        user_request_status=ur.status,
    )
