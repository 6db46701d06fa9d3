"""Customer request cases (seed 002): create, submit, approve, reject, resolve, close; samples.

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

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from models.cases import (
    CLOSED_CASE_STATUSES, Case, CaseCategory, CaseIn, CasePriority, CaseStatus, SampleIn, SampleRequest, SampleStatus,
)
from models.core import Profile
from models.customer import Customer
from services import audit, counters, params, sequences, transitions
from services import workflow as _wf
from services.search import matching_ids, search_term
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.store import Replan, begin_write, now, writes
from services.text import clean
from services.validation import field_errors

S = CaseStatus
ENTITY = "case"
DOC_TYPE = "case"
SAMPLE_ENTITY = "sample"


# (action, from, to, permission, wording, other targets, offered to operators)
TRANSITIONS = transitions.table("case", [
    ("submit", {S.OPEN, S.REJECTED}, S.PENDING_APPROVAL, "cases.edit", "submit"),
    ("auto_approve", {S.OPEN}, S.APPROVED, None, "approve automatically", frozenset(), False),
    ("approve", {S.PENDING_APPROVAL}, S.APPROVED, "cases.decide", "approve"),
    ("reject", {S.PENDING_APPROVAL}, S.REJECTED, "cases.decide", "reject"),
    ("recall", {S.PENDING_APPROVAL}, S.OPEN, None, "recall"),
    ("resolve", {S.APPROVED}, S.RESOLVED, None, "resolve", frozenset(), False),
    ("unresolve", {S.RESOLVED}, S.APPROVED, None, "clear the resolution of", frozenset(), False),
    ("close_stopped", {S.OPEN, S.APPROVED, S.REJECTED, S.RESOLVED}, S.CLOSED_STOPPED, "cases.edit", "close (stopped)"),
    ("close_completed", {S.RESOLVED}, S.CLOSED_COMPLETED, "cases.edit", "close (completed)"),
])
# which sections may be changed in which status
INFO_FIELDS = ("title", "category", "priority", "contact_name", "contact_email", "contact_phone", "description")
RESOLUTION_FIELDS = ("resolution", "resolution_date")
INFO_EDITABLE = frozenset({S.OPEN, S.REJECTED})
RESOLUTION_EDITABLE = frozenset({S.APPROVED, S.RESOLVED})
FILTERS = ["All", *[s.value for s in CaseStatus]]
CLOSE_KINDS = {"stopped": "close_stopped", "completed": "close_completed"}

SAMPLE_TRANSITIONS = transitions.table("sample", [
    ("ship", {SampleStatus.REQUESTED}, SampleStatus.SHIPPED, "cases.edit", "ship"),
    ("cancel", {SampleStatus.REQUESTED}, SampleStatus.CANCELED, "cases.edit", "cancel"),
])
SAMPLE_PROCESS = transitions.register(transitions.Process(
    name="sample", title="Sample request", model=SampleRequest, states=tuple(SampleStatus),
    transitions=SAMPLE_TRANSITIONS, entity=SAMPLE_ENTITY, initial=(SampleStatus.REQUESTED,)))


# ------------------------------------------------------------------ workflow engine


def _workflow():
    """The workflow engine (document type ``case``)."""
    return _wf


def allowed_actions(actor: Actor, case: Case | str) -> list[str]:
    status = case.status if isinstance(case, Case) else case
    actions = [name for name, t in TRANSITIONS.items()
               if t.permission is not None and status in t.sources and actor.can(t.permission)]
    if status in RESOLUTION_EDITABLE and actor.can("cases.edit"):
        actions.append("resolve")
    if status not in CLOSED_CASE_STATUSES and actor.can("cases.edit"):
        actions.append("sample")
    if status in INFO_EDITABLE and actor.can("cases.edit"):
        actions.append("edit")
    return actions


# ------------------------------------------------------------------ the one state mover


def _at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def _explain(case: Case, action: str) -> str | None:
    """Why ``action`` is not possible on ``case`` in its current state, in the user's words
    (None: the mover's own sentence, services/transitions.py)."""
    n, st = case.number, case.status
    if st in CLOSED_CASE_STATUSES:
        return f"{n} was closed ({st}) by {case.closed_by} on {_at(case.closed_at)}: {case.closure_reason}"
    if action in ("approve", "reject"):
        if st == S.OPEN:
            return f"{n} has not been submitted for approval yet (status Open)"
        if st in (S.APPROVED, S.RESOLVED):
            return f"{n} was already approved by {case.approved_by} on {_at(case.approved_at)} (status {st})"
        if st == S.REJECTED:
            return f"{n} was already rejected by {case.rejected_by} on {_at(case.rejected_at)}: {case.reject_reason}"
    if action == "submit":
        if st == S.PENDING_APPROVAL:
            return f"{n} is already waiting for approval (submitted by {case.submitted_by} on {_at(case.submitted_at)})"
        if st in (S.APPROVED, S.RESOLVED):
            return f"{n} is approved already (status {st}): nothing to submit"
    if action in ("resolve", "unresolve"):
        if st in (S.OPEN, S.REJECTED):
            return (f"{n} must be approved before it is resolved (status {st}): "
                    "submit it for approval first")
        if st == S.PENDING_APPROVAL:
            return f"{n} is waiting for approval: it can be resolved once approved"
    if action == "close_completed" and st != S.RESOLVED:
        return (f"{n} cannot be closed as completed while it is {st}: fill Resolution and Resolution date "
                "(status Resolved) first, or close it as stopped")
    if action == "close_stopped" and st == S.PENDING_APPROVAL:
        return f"{n} is waiting for approval: recall it or have it approved or rejected before closing it"
    if action == "edit":
        if st == S.PENDING_APPROVAL:
            return f"{n} is waiting for approval: its case information is locked until it is decided"
        return f"{n} is {st}: its case information is locked once approved (open a new case for a new request)"
    if action == "recall":
        return f"{n} is not waiting for approval (status {st}): nothing to recall"
    return None


PROCESS = transitions.register(transitions.Process(
    name="case", title="Case", model=Case, states=tuple(CaseStatus), transitions=TRANSITIONS, entity=ENTITY,
    initial=(S.OPEN,), explain=lambda _session, case, action: _explain(case, action)))


def _transition(session: Session, case: Case, action: str, *, version: int | None = None, **values: Any) -> str:
    """Move ``case`` by ``action`` (services/transitions.py); returns the status it left."""
    return transitions.move(session, PROCESS, case, action, version=version, **values)


def _check(session: Session, case: Case, action: str) -> None:
    """The plan phase's check: refuse before the write lock."""
    transitions.check(session, PROCESS, case, action)


def _lost_race(session: Session, case: Case, action: str | None) -> None:
    session.expire(case)
    fresh = session.get(Case, case.id)
    if fresh is not None and action is not None and fresh.status not in TRANSITIONS[action].sources:
        raise transitions.refusal(session, PROCESS, fresh, action, lost_race=True)
    raise transitions.changed_meanwhile(session, PROCESS, case, fresh)


def _get(session: Session, number: str) -> Case:
    key = clean(number).upper()
    if key.isascii() and key.isdigit() and len(key) <= 19:  # "12" -> its number; never a 5000-digit int
        key = sequences.format_number("CASE-", 6, int(key))
    case = session.exec(select(Case).where(Case.number == key)).first()
    if case is None:
        raise NotFound(f"no case {number!r}")
    return case


# ------------------------------------------------------------------ input


def _choice(enum, value: str, field: str, errors: dict[str, str]) -> str:
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


# ------------------------------------------------------------------ views


class CaseResult(BaseModel):
    number: str
    status: str
    version: int
    message: str = ""


class CaseRow(BaseModel):
    id: int
    number: str
    status: str
    title: str
    category: str
    priority: str
    customer_account: str
    customer_name: str
    created_at: datetime
    created_by: str


class CasePage(BaseModel):
    rows: list[CaseRow]
    after: int | None  # keyset cursor (the last id) of the next page, None at the end


class SampleView(BaseModel):
    number: str
    product: str
    quantity: int
    ship_to: str
    notes: str
    status: str
    created_by: str
    created_at: datetime


class CaseDetail(BaseModel):
    number: str
    status: str
    # Case information
    title: str
    category: str
    priority: str
    customer_account: str
    customer_name: str
    profile: str | None
    created_by: str
    created_at: datetime
    # Customer contact information
    contact_name: str
    contact_email: str
    contact_phone: str
    # Description
    description: str
    # Resolution
    resolution: str
    resolution_date: date | None
    resolved_at: datetime | None
    # Closure
    closure_reason: str
    closed_by: str | None
    closed_at: datetime | None
    # approval
    submitted_by: str | None
    submitted_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    rejected_by: str | None
    rejected_at: datetime | None
    reject_reason: str | None
    workflow: str | None  # the engine's instance, when one runs it
    version: int
    samples: list[SampleView]
    history: list[audit.AuditView]
    actions: list[str]


SECTIONS: dict[str, tuple[str, ...]] = {
    "Case information": ("number", "status", "title", "category", "priority", "customer_account", "customer_name",
                         "created_by", "created_at"),
    "Customer contact information": ("contact_name", "contact_email", "contact_phone"),
    "Description": ("description",),
    "Resolution": ("resolution", "resolution_date"),
    "Closure": ("closure_reason", "closed_by", "closed_at"),
}


def _result(session: Session, case: Case, message: str = "") -> CaseResult:
    fresh = session.get(Case, case.id)
    assert fresh is not None
    return CaseResult(number=fresh.number, status=fresh.status, version=fresh.version, message=message)


# ------------------------------------------------------------------ create


@writes(phased=True)
def create_case(session: Session, actor: Actor, data: Any) -> CaseResult:
    """A new case, status Open; Approved at once when the creator is a sales rep."""
    require(actor, "cases.edit")
    parsed = validate_input(data)
    customer = session.exec(select(Customer).where(Customer.account == parsed.customer_account)).first()
    if customer is None:
        raise ValidationFailed({"customer_account": f"no customer {parsed.customer_account}"})
    begin_write(session)
    current = now(session)
    case = Case(
        number=sequences.next_number(session, "case"), status=S.OPEN.value, customer_id=customer.id or 0,
        profile=actor.profile, created_by=actor.user_name, created_at=current, updated_at=current,
        **parsed.model_dump(exclude={"customer_account"}),
    )
    session.add(case)
    session.flush()
    audit.record(session, actor, ENTITY, case.number, "created",
                 after={"status": S.OPEN.value, **parsed.model_dump()})
    message = ""
    # seed 002: "Approved ... when the user creating the Customer Request has a Salesrep profile":
    # the CRM profile (Operator.profile = Sales), which admins set and the audit trail records;
    # the separate sales_rep flag no longer approves anything (issue 11)
    if actor.profile == Profile.SALES.value:
        _transition(session, case, "auto_approve", approved_by=actor.user_name, approved_at=current)
        audit.record(session, actor, ENTITY, case.number, "approved automatically", before={"status": S.OPEN.value},
                     after={"status": S.APPROVED.value},
                     comment=f"created by {actor.user_name}, who has the Sales profile (the sales rep profile)")
        message = "approved at once: the creator has the Sales (sales rep) profile"
    return _result(session, case, message)


# ------------------------------------------------------------------ edit / resolve


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Dates as ISO text for the audit trail."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _coerce_changes(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    limits = {"title": 200, "contact_name": 160, "contact_email": 254, "contact_phone": 40, "description": 4000,
              "resolution": 4000}
    for name, raw in values.items():
        if name not in INFO_FIELDS and name not in RESOLUTION_FIELDS:
            errors[name] = "not a field that can be changed here" if name != "closure_reason" else \
                "the closure reason is given when closing the case"
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
def update_case(session: Session, actor: Actor, number: str, values: dict[str, Any],
                version: int | None = None) -> CaseResult:
    """Change fields of the sections; Resolved follows the Resolution section (see module doc)."""
    require(actor, "cases.edit")
    case = _get(session, number)
    if version is not None and version != case.version:
        raise Conflict(f"{case.number} was changed by someone else meanwhile (now version {case.version}): reread and try again")
    changes = _coerce_changes(values)
    changes = {k: v for k, v in changes.items() if getattr(case, k) != v}
    if not changes:
        return _result(session, case, "nothing changed")
    status = S(case.status)
    if status in CLOSED_CASE_STATUSES:
        raise InvalidTransition(_explain(case, "edit") or "")
    if any(k in INFO_FIELDS for k in changes) and status not in INFO_EDITABLE:
        raise InvalidTransition(_explain(case, "edit") or "")
    if any(k in RESOLUTION_FIELDS for k in changes) and status not in RESOLUTION_EDITABLE:
        raise InvalidTransition(_explain(case, "resolve") or "")
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
        .where(Case.id == case.id, Case.status == status.value, Case.version == expected)
        .values(status=target.value, version=expected + 1, updated_at=now(session), **changes, **extra)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        _lost_race(session, case, None)
    session.expire(case)
    audit.record(session, actor, ENTITY, case.number, "updated", before=_plain(before), after=_plain(changes))
    message = ""
    if target != status:
        if target == S.RESOLVED:
            message = "Resolved: Resolution and Resolution date are both filled"
            audit.record(session, actor, ENTITY, case.number, "resolved", before={"status": status.value},
                         after={"status": target.value}, comment="set automatically: Resolution and Resolution date filled")
        else:
            message = "back to Approved: Resolution or Resolution date was emptied"
            audit.record(session, actor, ENTITY, case.number, "resolution cleared", before={"status": status.value},
                         after={"status": target.value}, comment="set automatically: Resolution or Resolution date emptied")
    return _result(session, case, message)


@writes(phased=True)
def resolve(session: Session, actor: Actor, number: str, resolution: str, resolution_date: Any,
            version: int | None = None) -> CaseResult:
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
    case = _get(session, number)
    _check(session, case, "submit")
    comment = clean(comment, multiline=True) or None
    begin_write(session)
    wf = _workflow()
    # the engine asks who submitted before it calls on_started: stamp the submitter first
    # (a compare-and-set on the version the plan read)
    _stamp_submitter(session, actor, case)
    live = wf.active_instance(session, DOC_TYPE, case.number)
    if live is not None and live.status == "change_requested":
        instance = wf.resubmit(session, actor, DOC_TYPE, case.number, comment=comment)
    else:
        instance = wf.submit(session, actor, DOC_TYPE, case.number, comment=comment)
    session.expire(case)
    case = _get(session, case.number)
    if instance is None:
        # no active definition: the single approver step (an operator with cases.decide decides)
        _started(session, actor, case, comment)
        return _result(session, case, "waiting for an approver (single approval step)")
    return _result(session, case, f"handed to the workflow (instance {instance})")


def _stamp_submitter(session: Session, actor: Actor, case: Case) -> None:
    result = session.execute(
        update(Case).where(Case.id == case.id, Case.version == case.version,
                           col(Case.status).in_(sorted(TRANSITIONS["submit"].sources)))
        .values(submitted_by=actor.user_name, submitted_at=now(session), version=case.version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        _lost_race(session, case, "submit")
    session.expire(case)


def _started(session: Session, actor: Actor, case: Case, comment: str | None = None) -> None:
    if case.status == S.PENDING_APPROVAL:
        return
    before = _transition(session, case, "submit", submitted_by=actor.user_name, submitted_at=now(session),
                         rejected_by=None, rejected_at=None, reject_reason=None)
    audit.record(session, actor, ENTITY, case.number, "submitted", before={"status": before},
                 after={"status": S.PENDING_APPROVAL.value}, comment=comment)


def _approved(session: Session, actor: Actor, case: Case, comment: str | None = None) -> None:
    _transition(session, case, "approve", approved_by=actor.user_name, approved_at=now(session))
    audit.record(session, actor, ENTITY, case.number, "approved", before={"status": S.PENDING_APPROVAL.value},
                 after={"status": S.APPROVED.value}, comment=comment)


def _rejected(session: Session, actor: Actor, case: Case, reason: str) -> None:
    _transition(session, case, "reject", rejected_by=actor.user_name, rejected_at=now(session), reject_reason=reason)
    audit.record(session, actor, ENTITY, case.number, "rejected", before={"status": S.PENDING_APPROVAL.value},
                 after={"status": S.REJECTED.value}, comment=reason)


def _returned(session: Session, actor: Actor, case: Case, what: str, comment: str | None) -> None:
    _transition(session, case, "recall")
    audit.record(session, actor, ENTITY, case.number, what, before={"status": S.PENDING_APPROVAL.value},
                 after={"status": S.OPEN.value}, comment=comment)


def _engine_instance(session: Session, case: Case):
    wf = _workflow()
    return wf, wf.active_instance(session, DOC_TYPE, case.number)


def _my_work_item(wf, session: Session, actor: Actor, case: Case) -> int:
    for item in wf.list_work(session, actor, mine=True, doc_type=DOC_TYPE):
        if item.doc_key == case.number:
            return item.id
    raise PermissionDenied(f"{case.number} is in an approval workflow and no work item of it is assigned to "
                           f"{actor.user_name}: see 'regdesk work list'")


def _check_not_submitter(session: Session, actor: Actor, case: Case) -> None:
    if case.submitted_by == actor.user_name and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(f"{case.number} was submitted by {actor.user_name}: the submitter may not approve "
                               "their own case; another approver must decide it")


@writes(phased=True)
def approve(session: Session, actor: Actor, number: str, comment: str | None = None) -> CaseResult:
    require(actor, "cases.decide")
    case = _get(session, number)
    _check(session, case, "approve")
    comment = clean(comment, multiline=True) or None
    wf, instance = _engine_instance(session, case)
    if instance is not None:
        wf.approve(session, actor, _my_work_item(wf, session, actor, case), comment=comment)
        return _result(session, case, "approved in the workflow")
    _check_not_submitter(session, actor, case)
    _approved(session, actor, case, comment)
    return _result(session, case)


@writes(phased=True)
def reject(session: Session, actor: Actor, number: str, reason: str) -> CaseResult:
    require(actor, "cases.decide")
    reason = _require_reason(reason, "reason", "reject a case")
    case = _get(session, number)
    _check(session, case, "reject")
    wf, instance = _engine_instance(session, case)
    if instance is not None:
        wf.reject(session, actor, _my_work_item(wf, session, actor, case), reason)
        return _result(session, case, "rejected in the workflow")
    _rejected(session, actor, case, reason)
    return _result(session, case)


@writes(phased=True)
def recall(session: Session, actor: Actor, number: str, comment: str | None = None) -> CaseResult:
    """Pending Approval -> Open, by the submitter (to change it before an approver decides)."""
    require(actor, "cases.edit")
    case = _get(session, number)
    _check(session, case, "recall")
    if case.submitted_by != actor.user_name:
        raise PermissionDenied(f"{case.number} was submitted by {case.submitted_by}: only the submitter may recall it")
    comment = clean(comment, multiline=True) or None
    wf, instance = _engine_instance(session, case)
    if instance is not None:
        wf.recall(session, actor, DOC_TYPE, case.number, comment=comment)
        return _result(session, case, "recalled from the workflow")
    _returned(session, actor, case, "recalled", comment)
    return _result(session, case)


# ------------------------------------------------------------------ close


@writes(phased=True)
def close(session: Session, actor: Actor, number: str, kind: str, reason: str) -> CaseResult:
    """By hand only: Closed/Stopped or Closed/Completed, with a closure reason."""
    require(actor, "cases.edit")
    key = clean(kind).lower()
    if key not in CLOSE_KINDS:
        raise ValidationFailed({"kind": "stopped (the request was not completed) or completed"})
    reason = _require_reason(reason, "closure_reason", "close a case")
    case = _get(session, number)
    action = CLOSE_KINDS[key]
    before = _transition(session, case, action, closure_reason=reason, closed_by=actor.user_name, closed_at=now(session))
    audit.record(session, actor, ENTITY, case.number, "closed", before={"status": before},
                 after={"status": TRANSITIONS[action].target}, comment=reason)
    return _result(session, case)


# ------------------------------------------------------------------ samples


def _sample_view(s: SampleRequest) -> SampleView:
    return SampleView(number=s.number, product=s.product, quantity=s.quantity, ship_to=s.ship_to, notes=s.notes,
                      status=s.status, created_by=s.created_by, created_at=s.created_at)


@writes(phased=True)
def add_sample(session: Session, actor: Actor, number: str, data: Any) -> SampleView:
    """A sample request on a case: its own record; no case and no customer request is created."""
    require(actor, "cases.edit")
    case = _get(session, number)
    if case.status in CLOSED_CASE_STATUSES:
        raise InvalidTransition(f"{case.number} is closed ({case.status}): no sample can be requested on it")
    if not isinstance(data, dict):
        raise ValidationFailed({"sample": "expected a JSON object with product, quantity, ship_to, notes"})
    try:
        parsed = SampleIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None
    planned = case.version
    begin_write(session)
    if session.exec(select(Case.version).where(Case.id == case.id)).first() != planned:
        raise Replan(f"{case.number} changed while the sample was planned")  # e.g. closed meanwhile
    current = now(session)
    sample = SampleRequest(number=sequences.next_number(session, "sample"), case_id=case.id or 0,
                           status=SampleStatus.REQUESTED.value, created_by=actor.user_name, created_at=current,
                           updated_at=current, **parsed.model_dump())
    session.add(sample)
    session.flush()
    audit.record(session, actor, SAMPLE_ENTITY, sample.number, "requested",
                 after={"case": case.number, "status": sample.status, **parsed.model_dump()})
    audit.record(session, actor, ENTITY, case.number, "sample requested",
                 after={"sample": sample.number, "product": parsed.product, "quantity": parsed.quantity})
    return _sample_view(sample)


@writes(phased=True)
def sample_action(session: Session, actor: Actor, sample_number: str, action: str) -> SampleView:
    """Requested -> Shipped (ship) or Canceled (cancel)."""
    require(actor, "cases.edit")
    if action not in SAMPLE_TRANSITIONS:
        raise ValidationFailed({"action": "ship or cancel"})
    sample = session.exec(select(SampleRequest).where(SampleRequest.number == clean(sample_number).upper())).first()
    if sample is None:
        raise NotFound(f"no sample request {sample_number!r}")
    before = transitions.move(session, SAMPLE_PROCESS, sample, action)
    audit.record(session, actor, SAMPLE_ENTITY, sample.number, action, before={"status": before},
                 after={"status": sample.status})
    session.expire(sample)
    return _sample_view(session.get(SampleRequest, sample.id))  # type: ignore[arg-type]


# ------------------------------------------------------------------ list / show


def _filtered(session: Session, query, status: str | None, search: str | None):
    if status and status != "All":
        try:
            query = query.where(Case.status == CaseStatus.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    term = search_term(search)
    if term is not None:
        # the case's number, title or contact; or its customer's account or name (both through indexes)
        customers = matching_ids(session, Customer, term, [Customer.account == term.upper()])
        query = query.where(or_(col(Case.id).in_(matching_ids(session, Case, term, [Case.number == term.upper()])),
                                col(Case.customer_id).in_(customers)))
    return query


def list_cases(session: Session, actor: Actor, *, status: str | None = None, search: str | None = None,
               after: int | None = None, limit: int = 50) -> CasePage:
    """Newest first, one page (keyset on id), filtered in SQL."""
    require(actor, "cases.view")
    limit = max(1, min(int(limit), 5000))
    query = _filtered(session, select(Case, Customer.account, Customer.name).join(Customer, Case.customer_id == Customer.id),
                      status, search)
    if after is not None:
        query = query.where(Case.id < after)
    raw = session.exec(query.order_by(col(Case.id).desc()).limit(limit + 1)).all()
    rows = [CaseRow(id=c.id or 0, number=c.number, status=c.status, title=c.title, category=c.category,
                    priority=c.priority, customer_account=account, customer_name=name, created_at=c.created_at,
                    created_by=c.created_by) for c, account, name in raw[:limit]]
    return CasePage(rows=rows, after=rows[-1].id if len(raw) > limit else None)


def count_by_status(session: Session, actor: Actor, *, search: str | None = None) -> dict[str, int]:
    """Rows per status: the kept counters; with a search, counted over the search's indexes."""
    require(actor, "cases.view")
    if search_term(search) is None:
        return counters.by_status(session, "case", CaseStatus)
    query = _filtered(session, select(Case.status, func.count()).group_by(Case.status), None, search)
    counts = {s.value: 0 for s in CaseStatus}
    for st, n in session.execute(query).all():
        counts[st] = n
    return {"All": sum(counts.values()), **counts}


def show_case(session: Session, actor: Actor, number: str) -> CaseDetail:
    require(actor, "cases.view")
    case = _get(session, number)
    customer = session.get(Customer, case.customer_id)
    samples = session.exec(select(SampleRequest).where(SampleRequest.case_id == case.id)
                           .order_by(col(SampleRequest.id))).all()
    workflow_label = None
    instance = _workflow().active_instance(session, DOC_TYPE, case.number)
    if instance is not None:
        waiting = ", ".join(instance.assignees) or "nobody"
        workflow_label = (f"instance {instance.id} ({instance.definition}, {instance.status}): "
                          f"step {instance.current_step or '-'}, waiting for {waiting}")
    data = {name: getattr(case, name) for name in CaseDetail.model_fields if hasattr(case, name)}
    return CaseDetail(
        **data, customer_account=customer.account if customer else "", customer_name=customer.name if customer else "",
        workflow=workflow_label, samples=[_sample_view(s) for s in samples],
        history=audit.history(session, ENTITY, case.number), actions=allowed_actions(actor, case),
    )


def choices() -> dict[str, list[str]]:
    return {"category": [c.value for c in CaseCategory], "priority": [p.value for p in CasePriority],
            "status": FILTERS}


# ------------------------------------------------------------------ the workflow document type


def _attributes(session: Session, key: str) -> dict[str, Any]:
    case = _get(session, key)
    customer = session.get(Customer, case.customer_id)
    return {"number": case.number, "status": case.status, "category": case.category, "priority": case.priority,
            "customer_account": customer.account if customer else "", "profile": case.profile or "",
            "created_by": case.created_by}


def _submitter(session: Session, key: str) -> str:
    case = _get(session, key)
    return case.submitted_by or case.created_by


def _describe_many(session: Session, keys: list[str]) -> dict[str, str]:
    """My work's Summary of cases: "Fabrikam, Inc.: Damaged delivery (Complaint, High)"; one query."""
    rows = session.exec(select(Case.number, Case.title, Case.category, Case.priority, Customer.name)
                        .join(Customer, Customer.id == Case.customer_id).where(col(Case.number).in_(keys))).all()
    return {number: f"{name}: {title} ({category}, {priority})" for number, title, category, priority, name in rows}


def _describe(session: Session, key: str) -> str:
    return _describe_many(session, [key]).get(key, "")


def _on_started(session: Session, actor: Actor, key: str) -> None:
    _started(session, actor, _get(session, key))


def _on_approved(session: Session, actor: Actor, key: str) -> None:
    _approved(session, actor, _get(session, key))


def _on_rejected(session: Session, actor: Actor, key: str, reason: str) -> None:
    _rejected(session, actor, _get(session, key), clean(reason, multiline=True) or "rejected in the workflow")


def _on_change_requested(session: Session, actor: Actor, key: str, comment: str) -> None:
    _returned(session, actor, _get(session, key), "change requested", clean(comment, multiline=True) or None)


def _on_recalled(session: Session, actor: Actor, key: str) -> None:
    _returned(session, actor, _get(session, key), "recalled", None)


def _register() -> None:
    wf = _workflow()
    wf.register(wf.DocumentType(
        name=DOC_TYPE, title="Customer request case", attributes=_attributes, submitter=_submitter,
        on_approved=_on_approved, on_rejected=_on_rejected, on_change_requested=_on_change_requested,
        on_recalled=_on_recalled, on_started=_on_started, describe=_describe, describe_many=_describe_many,
    ))


_register()
