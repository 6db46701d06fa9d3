"""Writing cases: create, change the sections (Resolved follows the Resolution section), submit,
approve, reject, recall, close; sample requests on a case. The rules are in the package's doc
(services/cases/__init__.py); every state change goes through the one mover (``table.move``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlmodel import Session, col, select

from models.base import LabeledEnum
from models.cases import (
    CLOSED_CASE_STATUSES,
    Case,
    CaseCategory,
    CaseIn,
    CasePriority,
    SampleIn,
    SampleRequest,
    SampleStatus,
)
from models.core import Profile
from models.customer import Customer
from services import audit, params, sequences, transitions
from services import workflow as wf
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.store import Replan, begin_write, now, writes
from services.text import clean
from services.validation import field_errors

from .queries import get_case
from .table import (
    CLOSE_KINDS,
    DOC_TYPE,
    ENTITY,
    INFO_EDITABLE,
    INFO_FIELDS,
    RESOLUTION_EDITABLE,
    RESOLUTION_FIELDS,
    SAMPLE_ENTITY,
    SAMPLE_PROCESS,
    SAMPLE_TRANSITIONS,
    TRANSITIONS,
    S,
    check,
    explain,
    lost_race,
    move,
    sample_refused,
)
from .views import CaseResult, SampleView, case_result, sample_view

# ------------------------------------------------------------------ input


def _choice(enum: type[LabeledEnum], value: str, field: str, errors: dict[str, str]) -> str:
    try:
        return enum.parse(value).value
    except ValueError:
        errors[field] = "one of: " + ", ".join(m.value for m in enum)
        return value


def _email(value: str, field: str, errors: dict[str, str]) -> str:
    if not value:
        return ""
    from services.validation import email_address

    try:
        return email_address(value)
    except ValueError as exc:
        errors[field] = str(exc)
        return value


def validate_input(data: Any) -> CaseIn:
    """A new case's JSON to a clean CaseIn, or ValidationFailed naming each bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed({"case": "expected a JSON object with the case fields"})
    try:
        parsed = CaseIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None
    errors: dict[str, str] = {}
    parsed.category = _choice(CaseCategory, parsed.category or "Other", "category", errors)
    parsed.priority = _choice(CasePriority, parsed.priority or "Normal", "priority", errors)
    parsed.contact_email = _email(parsed.contact_email, "contact_email", errors)
    parsed.customer_account = parsed.customer_account.upper()
    if errors:
        raise ValidationFailed(errors)
    return parsed


def _parse_date(raw: Any) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = clean(raw)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("a date as YYYY-MM-DD") from None


# ------------------------------------------------------------------ create


@writes(phased=True)
def create_case(session: Session, actor: Actor, data: Any) -> CaseResult:
    """A new case, status Open; Approved at once when the creator is a sales rep."""
    require(actor, "cases.edit")
    parsed = validate_input(data)
    customer = session.exec(select(Customer).where(col(Customer.account) == parsed.customer_account)).first()
    if customer is None:
        raise ValidationFailed({"customer_account": f"no customer {parsed.customer_account}"})
    begin_write(session)
    current = now(session)
    case = Case(
        number=sequences.next_number(session, "case"),
        status=S.OPEN.value,
        customer_id=customer.id or 0,
        profile=actor.profile,
        created_by=actor.user_name,
        created_at=current,
        updated_at=current,
        **parsed.model_dump(exclude={"customer_account"}),
    )
    session.add(case)
    session.flush()
    audit.record(session, actor, ENTITY, case.number, "created", after={"status": S.OPEN.value, **parsed.model_dump()})
    message = ""
    # seed 002: "Approved ... when the user creating the Customer Request has a Salesrep profile":
    # the CRM profile (Operator.profile = Sales), which admins set and the audit trail records;
    # the separate sales_rep flag no longer approves anything (issue 11)
    if actor.profile == Profile.SALES.value:
        move(session, case, "auto_approve", approved_by=actor.user_name, approved_at=current)
        audit.record(
            session,
            actor,
            ENTITY,
            case.number,
            "approved automatically",
            before={"status": S.OPEN.value},
            after={"status": S.APPROVED.value},
            comment=f"created by {actor.user_name}, who has the Sales profile (the sales rep profile)",
        )
        message = "approved at once: the creator has the Sales (sales rep) profile"
    return case_result(session, case, message)


# ------------------------------------------------------------------ edit / resolve


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Dates as ISO text for the audit trail."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _coerce_changes(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    limits = {
        "title": 200,
        "contact_name": 160,
        "contact_email": 254,
        "contact_phone": 40,
        "description": 4000,
        "resolution": 4000,
    }
    for name, raw in values.items():
        if name not in INFO_FIELDS and name not in RESOLUTION_FIELDS:
            errors[name] = (
                "not a field that can be changed here"
                if name != "closure_reason"
                else "the closure reason is given when closing the case"
            )
            continue
        if name == "resolution_date":
            try:
                out[name] = _parse_date(raw)
            except ValueError as exc:
                errors[name] = str(exc)
            continue
        text = clean(raw, multiline=name in ("description", "resolution"))
        if name == "title" and not text:
            errors[name] = "required"
        elif len(text) > limits.get(name, 200):
            errors[name] = f"at most {limits.get(name, 200)} characters"
        elif name == "category":
            text = _choice(CaseCategory, text or "Other", name, errors)
        elif name == "priority":
            text = _choice(CasePriority, text or "Normal", name, errors)
        elif name == "contact_email":
            text = _email(text, name, errors)
        elif name == "contact_phone" and text and not all(ch in "0123456789 +()./xX-" for ch in text):
            errors[name] = "digits, spaces and + ( ) . / - only"
        out[name] = text
    if errors:
        raise ValidationFailed(errors)
    return out


@writes(phased=True)
def update_case(
    session: Session, actor: Actor, number: str, values: dict[str, Any], version: int | None = None
) -> CaseResult:
    """Change fields of the sections; Resolved follows the Resolution section (see module doc)."""
    require(actor, "cases.edit")
    case = get_case(session, number)
    if version is not None and version != case.version:
        raise Conflict(
            f"{case.number} was changed by someone else meanwhile (now version {case.version}): reread and try again"
        )
    changes = _coerce_changes(values)
    changes = {k: v for k, v in changes.items() if getattr(case, k) != v}
    if not changes:
        return case_result(session, case, "nothing changed")
    status = S(case.status)
    if status in CLOSED_CASE_STATUSES:
        raise InvalidTransition(explain(case, "edit") or "")
    if any(k in INFO_FIELDS for k in changes) and status not in INFO_EDITABLE:
        raise InvalidTransition(explain(case, "edit") or "")
    if any(k in RESOLUTION_FIELDS for k in changes) and status not in RESOLUTION_EDITABLE:
        raise InvalidTransition(explain(case, "resolve") or "")
    before = {k: getattr(case, k) for k in changes}
    target = status
    if status in RESOLUTION_EDITABLE:
        resolution = changes.get("resolution", case.resolution)
        resolution_date = changes.get("resolution_date", case.resolution_date)
        target = S.RESOLVED if (resolution and resolution_date) else S.APPROVED
    extra: dict[str, Any] = {}
    if target != status:
        extra["resolved_at"] = now(session) if target == S.RESOLVED else None
    expected = case.version
    begin_write(session)  # everything above only read: the compare-and-set re-checks it
    result = session.execute(
        update(Case)
        .where(col(Case.id) == case.id, col(Case.status) == status.value, col(Case.version) == expected)
        .values(status=target.value, version=expected + 1, updated_at=now(session), **changes, **extra)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        lost_race(session, case, None)
    session.expire(case)
    audit.record(session, actor, ENTITY, case.number, "updated", before=_plain(before), after=_plain(changes))
    message = ""
    if target != status:
        if target == S.RESOLVED:
            message = "Resolved: Resolution and Resolution date are both filled"
            audit.record(
                session,
                actor,
                ENTITY,
                case.number,
                "resolved",
                before={"status": status.value},
                after={"status": target.value},
                comment="set automatically: Resolution and Resolution date filled",
            )
        else:
            message = "back to Approved: Resolution or Resolution date was emptied"
            audit.record(
                session,
                actor,
                ENTITY,
                case.number,
                "resolution cleared",
                before={"status": status.value},
                after={"status": target.value},
                comment="set automatically: Resolution or Resolution date emptied",
            )
    return case_result(session, case, message)


@writes(phased=True)
def resolve(
    session: Session, actor: Actor, number: str, resolution: str, resolution_date: Any, version: int | None = None
) -> CaseResult:
    """Fill the Resolution section (both fields): the case becomes Resolved."""
    errors = {}
    if not clean(resolution, multiline=True):
        errors["resolution"] = "required to resolve a case"
    if resolution_date in (None, ""):
        errors["resolution_date"] = "required to resolve a case"
    if errors:
        raise ValidationFailed(errors)
    return update_case(session, actor, number, {"resolution": resolution, "resolution_date": resolution_date}, version)


# ------------------------------------------------------------------ submit / approve / reject


def _require_reason(reason: str | None, field: str, what: str) -> str:
    text = clean(reason, multiline=True)
    if not text:
        raise ValidationFailed({field: f"a reason is required to {what}"})
    if len(text) > 1000:
        raise ValidationFailed({field: "at most 1000 characters"})
    return text


@writes(phased=True)
def submit(session: Session, actor: Actor, number: str, comment: str | None = None) -> CaseResult:
    """Open (or Rejected) -> Pending Approval, through the workflow engine when one is active."""
    require(actor, "cases.edit")
    case = get_case(session, number)
    check(session, case, "submit")
    comment = clean(comment, multiline=True) or None
    begin_write(session)
    # the engine asks who submitted before it calls on_started: stamp the submitter first
    # (a compare-and-set on the version the plan read)
    _stamp_submitter(session, actor, case)
    live = wf.active_instance(session, DOC_TYPE, case.number)
    if live is not None and live.status == "change_requested":
        instance = wf.resubmit(session, actor, DOC_TYPE, case.number, comment=comment)
    else:
        instance = wf.submit(session, actor, DOC_TYPE, case.number, comment=comment)
    session.expire(case)
    case = get_case(session, case.number)
    if instance is None:
        # no active definition: the single approver step (an operator with cases.decide decides)
        mark_submitted(session, actor, case, comment)
        return case_result(session, case, "waiting for an approver (single approval step)")
    return case_result(session, case, f"handed to the workflow (instance {instance})")


def _stamp_submitter(session: Session, actor: Actor, case: Case) -> None:
    result = session.execute(
        update(Case)
        .where(
            col(Case.id) == case.id,
            col(Case.version) == case.version,
            col(Case.status).in_(sorted(TRANSITIONS["submit"].sources)),
        )
        .values(submitted_by=actor.user_name, submitted_at=now(session), version=case.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        lost_race(session, case, "submit")
    session.expire(case)


def mark_submitted(session: Session, actor: Actor, case: Case, comment: str | None = None) -> None:
    if case.status == S.PENDING_APPROVAL:
        return
    before = move(
        session,
        case,
        "submit",
        submitted_by=actor.user_name,
        submitted_at=now(session),
        rejected_by=None,
        rejected_at=None,
        reject_reason=None,
    )
    audit.record(
        session,
        actor,
        ENTITY,
        case.number,
        "submitted",
        before={"status": before},
        after={"status": S.PENDING_APPROVAL.value},
        comment=comment,
    )


def mark_approved(session: Session, actor: Actor, case: Case, comment: str | None = None) -> None:
    move(session, case, "approve", approved_by=actor.user_name, approved_at=now(session))
    audit.record(
        session,
        actor,
        ENTITY,
        case.number,
        "approved",
        before={"status": S.PENDING_APPROVAL.value},
        after={"status": S.APPROVED.value},
        comment=comment,
    )


def mark_rejected(session: Session, actor: Actor, case: Case, reason: str) -> None:
    move(session, case, "reject", rejected_by=actor.user_name, rejected_at=now(session), reject_reason=reason)
    audit.record(
        session,
        actor,
        ENTITY,
        case.number,
        "rejected",
        before={"status": S.PENDING_APPROVAL.value},
        after={"status": S.REJECTED.value},
        comment=reason,
    )


def mark_returned(session: Session, actor: Actor, case: Case, what: str, comment: str | None) -> None:
    move(session, case, "recall")
    audit.record(
        session,
        actor,
        ENTITY,
        case.number,
        what,
        before={"status": S.PENDING_APPROVAL.value},
        after={"status": S.OPEN.value},
        comment=comment,
    )


def _my_work_item(session: Session, actor: Actor, case: Case) -> int:
    for item in wf.list_work(session, actor, mine=True, doc_type=DOC_TYPE):
        if item.doc_key == case.number:
            return item.id
    raise PermissionDenied(
        f"{case.number} is in an approval workflow and no work item of it is assigned to "
        f"{actor.user_name}: see 'regdesk work list'"
    )


def _check_not_submitter(session: Session, actor: Actor, case: Case) -> None:
    if case.submitted_by == actor.user_name and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(
            f"{case.number} was submitted by {actor.user_name}: the submitter may not approve "
            "their own case; another approver must decide it"
        )


@writes(phased=True)
def approve(session: Session, actor: Actor, number: str, comment: str | None = None) -> CaseResult:
    require(actor, "cases.decide")
    case = get_case(session, number)
    check(session, case, "approve")
    comment = clean(comment, multiline=True) or None
    instance = wf.active_instance(session, DOC_TYPE, case.number)
    if instance is not None:
        wf.approve(session, actor, _my_work_item(session, actor, case), comment=comment)
        return case_result(session, case, "approved in the workflow")
    _check_not_submitter(session, actor, case)
    mark_approved(session, actor, case, comment)
    return case_result(session, case)


@writes(phased=True)
def reject(session: Session, actor: Actor, number: str, reason: str) -> CaseResult:
    require(actor, "cases.decide")
    reason = _require_reason(reason, "reason", "reject a case")
    case = get_case(session, number)
    check(session, case, "reject")
    instance = wf.active_instance(session, DOC_TYPE, case.number)
    if instance is not None:
        wf.reject(session, actor, _my_work_item(session, actor, case), reason)
        return case_result(session, case, "rejected in the workflow")
    mark_rejected(session, actor, case, reason)
    return case_result(session, case)


@writes(phased=True)
def recall(session: Session, actor: Actor, number: str, comment: str | None = None) -> CaseResult:
    """Pending Approval -> Open, by the submitter (to change it before an approver decides)."""
    require(actor, "cases.edit")
    case = get_case(session, number)
    check(session, case, "recall")
    if case.submitted_by != actor.user_name:
        raise PermissionDenied(f"{case.number} was submitted by {case.submitted_by}: only the submitter may recall it")
    comment = clean(comment, multiline=True) or None
    instance = wf.active_instance(session, DOC_TYPE, case.number)
    if instance is not None:
        wf.recall(session, actor, DOC_TYPE, case.number, comment=comment)
        return case_result(session, case, "recalled from the workflow")
    mark_returned(session, actor, case, "recalled", comment)
    return case_result(session, case)


# ------------------------------------------------------------------ close


@writes(phased=True)
def close(session: Session, actor: Actor, number: str, kind: str, reason: str) -> CaseResult:
    """By hand only: Closed/Stopped or Closed/Completed, with a closure reason."""
    require(actor, "cases.edit")
    key = clean(kind).lower()
    if key not in CLOSE_KINDS:
        raise ValidationFailed({"kind": "stopped (the request was not completed) or completed"})
    reason = _require_reason(reason, "closure_reason", "close a case")
    case = get_case(session, number)
    action = CLOSE_KINDS[key]
    before = move(session, case, action, closure_reason=reason, closed_by=actor.user_name, closed_at=now(session))
    audit.record(
        session,
        actor,
        ENTITY,
        case.number,
        "closed",
        before={"status": before},
        after={"status": TRANSITIONS[action].target},
        comment=reason,
    )
    return case_result(session, case)


# ------------------------------------------------------------------ samples


@writes(phased=True)
def add_sample(session: Session, actor: Actor, number: str, data: Any) -> SampleView:
    """A sample request on a case: its own record; no case and no customer request is created."""
    require(actor, "cases.edit")
    case = get_case(session, number)
    if case.status in CLOSED_CASE_STATUSES:
        raise InvalidTransition(sample_refused(case))
    if not isinstance(data, dict):
        raise ValidationFailed({"sample": "expected a JSON object with product, quantity, ship_to, notes"})
    try:
        parsed = SampleIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None
    planned = case.version
    begin_write(session)
    if session.exec(select(Case.version).where(col(Case.id) == case.id)).first() != planned:
        raise Replan(f"{case.number} changed while the sample was planned")  # e.g. closed meanwhile
    current = now(session)
    sample = SampleRequest(
        number=sequences.next_number(session, "sample"),
        case_id=case.id or 0,
        status=SampleStatus.REQUESTED.value,
        created_by=actor.user_name,
        created_at=current,
        updated_at=current,
        **parsed.model_dump(),
    )
    session.add(sample)
    session.flush()
    audit.record(
        session,
        actor,
        SAMPLE_ENTITY,
        sample.number,
        "requested",
        after={"case": case.number, "status": sample.status, **parsed.model_dump()},
    )
    audit.record(
        session,
        actor,
        ENTITY,
        case.number,
        "sample requested",
        after={"sample": sample.number, "product": parsed.product, "quantity": parsed.quantity},
    )
    return sample_view(sample)


@writes(phased=True)
def sample_action(session: Session, actor: Actor, sample_number: str, action: str) -> SampleView:
    """Requested -> Shipped (ship) or Canceled (cancel)."""
    require(actor, "cases.edit")
    if action not in SAMPLE_TRANSITIONS:
        raise ValidationFailed({"action": "ship or cancel"})
    sample = session.exec(
        select(SampleRequest).where(col(SampleRequest.number) == clean(sample_number).upper())
    ).first()
    if sample is None:
        raise NotFound(f"no sample request {sample_number!r}")
    before = transitions.move(session, SAMPLE_PROCESS, sample, action)
    audit.record(
        session, actor, SAMPLE_ENTITY, sample.number, action, before={"status": before}, after={"status": sample.status}
    )
    session.expire(sample)
    return sample_view(session.get(SampleRequest, sample.id))  # type: ignore[arg-type]
