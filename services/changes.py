"""Proposed customer changes (issue 4; seed 004, D365 "Customer workflow").

Admins choose which customer fields need approval (``customer_approval.*`` parameters).
Saving a customer with approvals on saves the other fields at once; each changed enabled
field becomes a line of the customer's one open proposal (Not submitted), its original
value kept. Submit hands the proposal to the ``customer_change`` workflow (or, with no
active definition, to any approver: "a single approver step"); while it is Submitted the
enabled fields are locked. The approver approves every line, or some lines (the others
rejected, each with a comment), or rejects the proposal with a reason. A line whose
original value no longer equals the customer's current value is a *conflict*: flagged,
never applied. Nobody decides a proposal they submitted or proposed a line of.

The proposal's states, in one table (``TRANSITIONS``)::

    Not submitted --submit--> Submitted --approve--> Approved | Partially approved
         |    ^                  |   \\--reject--> Rejected
         |    \\----return-------/  (recalled by the submitter, or change requested)
         \\--discard--> Discarded  (every line discarded)

"Partially approved" is ours: D365 approves a proposal only as a whole; here the approver
may approve some lines and reject others. Every transition is a conditional UPDATE
(``WHERE id AND state IN (...) AND version``); the customer row is locked first
(``SELECT ... FOR UPDATE``; SQLite's write lock), so operations on one customer queue.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from pydantic import BaseModel
from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.changes import OPEN_STATES, ChangeLine, ChangeProposal, LineDecision, ProposalState
from models.core import AuditEvent, NumberSequence
from models.customer import Customer
from services import audit, customers, params, sequences, transitions
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.store import Replan, begin_write, now, writes
from services.text import clean, normalize_company, normalize_email

P = ProposalState
ENTITY = "change_proposal"
DOC_TYPE = "customer_change"
SEQUENCE = ("CHG-", 6, "Proposed customer changes")

APPROVAL_FIELDS: tuple[str, ...] = tuple(name for name, _ in params.CUSTOMER_APPROVAL_FIELDS)
FIELD_LABELS: dict[str, str] = dict(params.CUSTOMER_APPROVAL_FIELDS)
BEHAVIORS: dict[str, str] = {
    "allow": "Allow changes without approval",
    "reject": "Reject changes",
    "propose": "Create change proposals",
}
PENDING_STATUS = customers.PENDING_STATUS
UNSUBMITTED_STATUS = customers.UNSUBMITTED_STATUS


# (action, from, to, permission, wording, other targets, offered to operators)
TRANSITIONS = transitions.table("change_proposal", [
    ("submit", {P.NOT_SUBMITTED}, P.SUBMITTED, "changes.submit", "submit"),
    ("discard", {P.NOT_SUBMITTED}, P.DISCARDED, "changes.submit", "discard"),
    ("approve", {P.SUBMITTED}, P.APPROVED, "changes.decide", "approve", frozenset({P.PARTIALLY_APPROVED})),
    ("reject", {P.SUBMITTED}, P.REJECTED, "changes.decide", "reject"),
    # recalled by the submitter, or a change requested in the workflow
    ("return", {P.SUBMITTED}, P.NOT_SUBMITTED, None, "return to the proposer"),
])
LINE_EDIT_STATES = frozenset({P.NOT_SUBMITTED})  # lines are added, replaced, discarded only here


# ---------------------------------------------------------------------------- the engine


def _engine():
    """services.workflow (imported on first use: reading proposals never needs it)."""
    from services import workflow

    return workflow


# ---------------------------------------------------------------------------- values


def plain_value(field: str, value: Any) -> Any:
    """A customer field's value as JSON data of one canonical form (for lines and comparisons)."""
    kind = customers.FIELDS[field].kind
    if kind == "decimal":
        return str(Decimal(str(value if value is not None else "0")).quantize(Decimal("0.01")))
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value or 0)
    return "" if value is None else str(value)


def encode(field: str, value: Any) -> str:
    return json.dumps(plain_value(field, value), ensure_ascii=False)


def decode(field: str, raw: str) -> Any:
    """A stored line value back to the customer's column type."""
    return customers._coerce(customers.FIELDS[field], json.loads(raw))


def display(field: str, value: Any) -> str:
    """A value as people read it (text; the UI renders it as data)."""
    plain = plain_value(field, value)
    if isinstance(plain, bool):
        return "Yes" if plain else "No"
    return str(plain)


def _display_raw(field: str, raw: str | None) -> str:
    return "" if raw is None else display(field, json.loads(raw))


def field_error(field: str, raw: Any) -> str | None:
    """Why ``raw`` is not a valid value of ``field`` (no database checks), or None: for inline form validation."""
    spec = customers.FIELDS.get(field)
    if spec is None:
        return "unknown customer field"
    try:
        customers._coerce(spec, raw)
    except ValueError as exc:
        return str(exc)
    return None


def parse_field(name: str) -> str:
    """A field given as credit_limit, credit-limit or "Credit limit" to its name."""
    key = clean(name).lower().replace("-", "_").replace(" ", "_")
    if key in customers.FIELDS:
        return key
    for field, spec in customers.FIELDS.items():
        if spec.label.lower().replace(" ", "_") == key:
            return field
    raise ValidationFailed({"field": f"no customer field {name!r} (fields: {', '.join(customers.FIELDS)})"})


# ---------------------------------------------------------------------------- parameters


class ApprovalField(BaseModel):
    name: str
    label: str
    enabled: bool


class ApprovalSettings(BaseModel):
    enabled: bool
    entity_behavior: str
    entity_behavior_label: str
    fields: list[ApprovalField]


def enabled_fields(session: Session) -> frozenset[str]:
    """The fields whose changes need approval now (none while approvals are off)."""
    values = params.get_many(session, "customer_approval.")
    if not values["customer_approval.enabled"]:
        return frozenset()
    return frozenset(f for f in APPROVAL_FIELDS if values[f"customer_approval.field.{f}"])


def entity_behavior(session: Session) -> str:
    return params.get(session, "customer_approval.entity_behavior")


def _settings(session: Session) -> ApprovalSettings:
    values = params.get_many(session, "customer_approval.")
    behavior = values["customer_approval.entity_behavior"]
    return ApprovalSettings(
        enabled=values["customer_approval.enabled"], entity_behavior=behavior,
        entity_behavior_label=BEHAVIORS.get(behavior, behavior),
        fields=[ApprovalField(name=f, label=FIELD_LABELS[f], enabled=values[f"customer_approval.field.{f}"])
                for f in APPROVAL_FIELDS],
    )


def approval_settings(session: Session, actor: Actor) -> ApprovalSettings:
    require(actor, "changes.view")
    return _settings(session)


def parse_behavior(value: str) -> str:
    text = clean(value).lower()
    for key, label in BEHAVIORS.items():
        if text in (key, label.lower()) or (key == "propose" and text in ("proposals", "create")):
            return key
    raise ValidationFailed({"entity_behavior": "one of: allow (Allow changes without approval), reject (Reject changes), "
                                               "propose (Create change proposals)"})


@writes
def set_approvals(session: Session, actor: Actor, enabled: Any) -> ApprovalSettings:
    """Enable customer approvals: on / off (admins)."""
    params.set_value(session, actor, "customer_approval.enabled", enabled)
    return _settings(session)


@writes
def set_entity_behavior(session: Session, actor: Actor, behavior: str) -> ApprovalSettings:
    """Data entity behavior of imports: allow / reject / propose (admins)."""
    require(actor, "admin.parameters")
    params.set_value(session, actor, "customer_approval.entity_behavior", parse_behavior(behavior))
    return _settings(session)


@writes
def set_field_approval(session: Session, actor: Actor, field: str, enabled: Any) -> ApprovalSettings:
    """The Enable check box of one customer field (admins)."""
    require(actor, "admin.parameters")
    name = parse_field(field)
    if name not in APPROVAL_FIELDS:
        raise ValidationFailed({"field": f"{name} cannot need approval (fields: {', '.join(APPROVAL_FIELDS)})"})
    params.set_value(session, actor, f"customer_approval.field.{name}", enabled)
    return _settings(session)


# ---------------------------------------------------------------------------- views


class LineView(BaseModel):
    field: str
    label: str
    original: str
    proposed: str
    current: str
    conflict: bool  # the customer's value is no longer the original one
    decision: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    comment: str | None


class ProposalView(BaseModel):
    number: str
    account: str
    customer_name: str
    state: str
    status: str  # what the customer shows: "Changes pending approval", "Changes not submitted" or ""
    source: str
    created_by: str
    created_at: datetime
    submitted_by: str | None
    submitted_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    workflow_instance_id: int | None
    version: int
    lines: list[LineView]
    conflicts: int
    message: str


class ProposalRow(BaseModel):
    number: str
    account: str
    customer_name: str
    state: str
    lines: int
    fields: str
    created_by: str
    submitted_by: str | None
    submitted_at: datetime | None
    decided_by: str | None
    source: str


def _status(state: str) -> str:
    if state == P.SUBMITTED:
        return PENDING_STATUS
    if state == P.NOT_SUBMITTED:
        return UNSUBMITTED_STATUS
    return ""


def _message(p: ChangeProposal, lines: list[ChangeLine]) -> str:
    n = len(lines)
    what = f"{n} proposed change{'s' if n != 1 else ''}"
    if p.state == P.NOT_SUBMITTED:
        return f"{what} not submitted: submit them for approval (or discard them)"
    if p.state == P.SUBMITTED:
        return f"{what} pending approval since {p.submitted_at:%Y-%m-%d %H:%M} (submitted by {p.submitted_by})"
    if p.state == P.REJECTED:
        return f"rejected by {p.decided_by}: {p.reason}"
    if p.state in (P.APPROVED, P.PARTIALLY_APPROVED):
        applied = sum(1 for x in lines if x.decision == LineDecision.APPROVED)
        return f"{p.state.lower()} by {p.decided_by}: {applied} of {n} applied"
    return f"{p.state.lower()}"


def _proposal_view(session: Session, p: ChangeProposal, customer: Customer | None = None) -> ProposalView:
    c = customer or session.get(Customer, p.customer_id)
    lines = _lines(session, p)
    current = customers.customer_values(c) if c else {}
    views = []
    for x in lines:
        cur = encode(x.field, current[x.field]) if c else x.original_value
        views.append(LineView(
            field=x.field, label=customers.FIELDS[x.field].label, original=_display_raw(x.field, x.original_value),
            proposed=_display_raw(x.field, x.proposed_value),
            current=_display_raw(x.field, x.current_at_decision) if x.decision == LineDecision.CONFLICT else _display_raw(x.field, cur),
            conflict=(x.decision == LineDecision.CONFLICT) or (p.state in OPEN_STATES and cur != x.original_value),
            decision=x.decision, proposed_by=x.proposed_by, proposed_at=x.proposed_at, decided_by=x.decided_by,
            comment=x.comment,
        ))
    return ProposalView(
        number=p.number, account=p.account, customer_name=c.name if c else "", state=p.state, status=_status(p.state),
        source=p.source, created_by=p.created_by, created_at=p.created_at, submitted_by=p.submitted_by,
        submitted_at=p.submitted_at, decided_by=p.decided_by, decided_at=p.decided_at, reason=p.reason,
        workflow_instance_id=p.workflow_instance_id, version=p.version, lines=views,
        conflicts=sum(1 for v in views if v.conflict), message=_message(p, lines),
    )


# ---------------------------------------------------------------------------- lookups


def _lock_customer(session: Session, account: str) -> Customer:
    key = clean(account)
    c = None
    for candidate in dict.fromkeys((key, key.upper())):
        c = session.exec(
            select(Customer).where(Customer.account == candidate).with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if c is not None:
            break
    if c is None:
        raise NotFound(f"no customer {account!r}")
    return c


def _find_customer(session: Session, account: str) -> Customer:
    """As ``_lock_customer`` without the lock (the plan phase of a phased write)."""
    key = clean(account)
    for candidate in dict.fromkeys((key, key.upper())):
        c = session.exec(select(Customer).where(Customer.account == candidate)).first()
        if c is not None:
            return c
    raise NotFound(f"no customer {account!r}")


def _proposal_key(p: ChangeProposal | None) -> tuple | None:
    return None if p is None else (p.id, p.state, p.version)


def _open_proposal(session: Session, customer_id: int) -> ChangeProposal | None:
    return session.exec(
        select(ChangeProposal).where(ChangeProposal.customer_id == customer_id, col(ChangeProposal.state).in_(OPEN_STATES))
        .execution_options(populate_existing=True)
    ).first()


def _lines(session: Session, p: ChangeProposal) -> list[ChangeLine]:
    rows = session.exec(select(ChangeLine).where(ChangeLine.proposal_id == p.id).execution_options(populate_existing=True)).all()
    order = {f: i for i, f in enumerate(customers.FIELDS)}
    return sorted(rows, key=lambda x: order.get(x.field, 99))


def _by_number(session: Session, number: str) -> ChangeProposal:
    p = session.exec(select(ChangeProposal).where(ChangeProposal.number == clean(number).upper())
                     .execution_options(populate_existing=True)).first()
    if p is None:
        raise NotFound(f"no change proposal {number!r}")
    return p


def _find(session: Session, key: str) -> ChangeProposal:
    """By proposal number (CHG-...) or customer account: its open proposal, else its latest."""
    key = clean(key).upper()
    if key.startswith(SEQUENCE[0]):
        return _by_number(session, key)
    c = session.exec(select(Customer).where(Customer.account == key)).first()
    if c is None:
        raise NotFound(f"no customer {key!r} and no change proposal with that number")
    p = _open_proposal(session, c.id) or session.exec(
        select(ChangeProposal).where(ChangeProposal.customer_id == c.id).order_by(col(ChangeProposal.id).desc())).first()
    if p is None:
        raise NotFound(f"customer {c.account} has no proposed changes")
    return p


def _last_saver(session: Session, account: str) -> str:
    e = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "customer", AuditEvent.entity_key == account)
                     .order_by(col(AuditEvent.id).desc())).first()
    return f"{e.operator} at {e.at:%Y-%m-%d %H:%M}" if e else "someone else"


def proposers(session: Session, p: ChangeProposal) -> set[str]:
    """Who may not decide ``p``: its submitter and everyone who proposed one of its lines."""
    names = {x.proposed_by for x in _lines(session, p)}
    if p.submitted_by:
        names.add(p.submitted_by)
    return names


# ---------------------------------------------------------------------------- state changes


def _explain(p: ChangeProposal, action: str) -> str | None:
    """The process's own words for a refusal (None: the mover's sentence, services/transitions.py)."""
    n, st = f"{p.number} ({p.account})", p.state
    at = lambda t: f"{t:%Y-%m-%d %H:%M}" if t else "?"  # noqa: E731
    if st == P.SUBMITTED and action in ("submit", "discard"):
        return (f"{n} was submitted by {p.submitted_by} on {at(p.submitted_at)} and is pending approval: "
                "it cannot be changed until it is decided (the submitter may recall it)")
    if st == P.NOT_SUBMITTED and action == "return":
        return f"{n} is not submitted (recalled or sent back already?): nothing to recall"
    if st == P.NOT_SUBMITTED and action in ("approve", "reject"):
        return f"{n} has not been submitted yet: nothing to decide"
    if st in (P.APPROVED, P.PARTIALLY_APPROVED):
        return f"{n} was {st.lower()} by {p.decided_by} on {at(p.decided_at)}"
    if st == P.REJECTED:
        return f"{n} was rejected by {p.decided_by} on {at(p.decided_at)}: {p.reason}"
    if st == P.DISCARDED:
        return f"{n} was discarded"
    return None


PROCESS = transitions.register(transitions.Process(
    name="change_proposal", title="Proposed customer change", model=ChangeProposal, states=tuple(ProposalState),
    transitions=TRANSITIONS, entity=ENTITY, initial=(P.NOT_SUBMITTED,), field="state",
    explain=lambda _session, p, action: _explain(p, action), label=lambda p: f"{p.number} ({p.account})"))


def _transition(session: Session, p: ChangeProposal, action: str, target: ProposalState, **values: Any) -> None:
    """Move ``p`` by ``action`` (services/transitions.py: check, write lock, compare-and-set)."""
    transitions.move(session, PROCESS, p, action, to=target, **values)


def _lock_planned(session: Session, c: Customer, p: ChangeProposal | None, what: str) -> tuple[Customer, ChangeProposal | None]:
    """The end of a plan: take the write lock, lock the customer, and replan (services.store.Replan)
    when the customer or its open proposal changed since the plan read them."""
    planned = (c.version, _proposal_key(p))
    begin_write(session)
    c = _lock_customer(session, c.account)
    fresh = _open_proposal(session, c.id)
    if (c.version, _proposal_key(fresh)) != planned:
        raise Replan(f"customer {c.account} changed while the {what} was planned")
    return c, fresh


def _ensure_sequence(session: Session) -> None:
    if session.get(NumberSequence, "change") is not None:
        return
    try:
        with session.begin_nested():
            sequences.ensure_defaults(session, {"change": SEQUENCE})
    except IntegrityError:  # another transaction created it first
        pass


def _new_proposal(session: Session, actor: Actor, c: Customer, source: str = "edit") -> ChangeProposal:
    _ensure_sequence(session)
    current = now(session)
    p = ChangeProposal(number=sequences.next_number(session, "change"), customer_id=c.id, account=c.account,
                       state=P.NOT_SUBMITTED.value, created_at=current, created_by=actor.user_name, updated_at=current,
                       source=source)
    session.add(p)
    session.flush()
    audit.record(session, actor, ENTITY, p.number, "created", after={"customer": c.account, "state": p.state, "source": source})
    return p


def _put_lines(session: Session, actor: Actor, p: ChangeProposal, c: Customer, values: dict[str, Any]) -> list[str]:
    """Add or replace the lines of ``values`` (typed, each differing from the customer); returns the fields changed."""
    existing = {x.field: x for x in _lines(session, p)}
    current = customers.customer_values(c)
    changed, before, after = [], {}, {}
    for field, value in values.items():
        proposed = encode(field, value)
        line = existing.get(field)
        if line is not None and line.proposed_value == proposed:
            continue
        before[field] = None if line is None else json.loads(line.proposed_value)
        after[field] = json.loads(proposed)
        if line is None:
            line = ChangeLine(proposal_id=p.id, field=field, original_value=encode(field, current[field]),
                              proposed_value=proposed, proposed_by=actor.user_name, proposed_at=now(session))
        else:  # a later edit of the same field replaces its line (the original stays the customer's value now)
            line.original_value = encode(field, current[field])
            line.proposed_value = proposed
            line.proposed_by = actor.user_name
            line.proposed_at = now(session)
        session.add(line)
        changed.append(field)
    if changed:
        session.flush()
        audit.record(session, actor, ENTITY, p.number, "lines proposed", before=before, after=after,
                     comment=f"customer {c.account}")
    return changed


def _update_customer(session: Session, actor: Actor, c: Customer, values: dict[str, Any], *, action: str = "updated",
                     comment: str | None = None) -> None:
    """Write typed ``values`` to the customer (conditional on its version) with one audit event."""
    if not values:
        return
    before = {k: getattr(c, k) for k in values}
    extra: dict[str, Any] = {}
    if "name" in values:
        extra["name_normalized"] = normalize_company(values["name"])
    if "email" in values:
        extra["email_normalized"] = normalize_email(values["email"])
    result = session.execute(
        update(Customer).where(Customer.id == c.id, Customer.version == c.version)
        .values(**values, **extra, version=c.version + 1).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"customer {c.account} was changed by {_last_saver(session, c.account)} meanwhile: reload and try again")
    session.refresh(c)
    audit.record(session, actor, "customer", c.account, action, before=before, after=dict(values), comment=comment)


def workflow_possible(session: Session) -> bool:
    """Whether a customer change workflow could start (an active definition exists): lets bulk imports
    skip asking the engine for each of thousands of proposals when none is active."""
    from models.workflow import WorkflowDefinition

    return session.exec(select(WorkflowDefinition.id).where(WorkflowDefinition.doc_type == DOC_TYPE,
                                                           WorkflowDefinition.active == True)).first() is not None  # noqa: E712


def _start_workflow(session: Session, actor: Actor, p: ChangeProposal, comment: str | None = None) -> int | None:
    engine = _engine()
    if engine.active_instance(session, DOC_TYPE, p.number) is not None:  # sent back for changes: same step again
        instance = engine.resubmit(session, actor, DOC_TYPE, p.number, comment)
    else:
        instance = engine.submit(session, actor, DOC_TYPE, p.number, comment)
    if instance is not None and instance != p.workflow_instance_id:
        session.execute(update(ChangeProposal).where(ChangeProposal.id == p.id)
                        .values(workflow_instance_id=instance).execution_options(synchronize_session=False))
        session.refresh(p)
    return instance


def submit_proposal(session: Session, actor: Actor, p: ChangeProposal, comment: str | None = None) -> int | None:
    """Not submitted -> Submitted, then start the workflow (no-op workflow: any approver decides)."""
    lines = _lines(session, p)
    if not lines:
        raise InvalidTransition(f"{p.number} ({p.account}) has no lines to submit")
    _transition(session, p, "submit", P.SUBMITTED, submitted_by=actor.user_name, submitted_at=now(session))
    audit.record(session, actor, ENTITY, p.number, "submitted", before={"state": P.NOT_SUBMITTED.value},
                 after={"state": P.SUBMITTED.value, "fields": [x.field for x in lines]}, comment=comment)
    audit.record(session, actor, "customer", p.account, "changes submitted",
                 after={"proposal": p.number, "fields": [x.field for x in lines]}, comment=PENDING_STATUS)
    return _start_workflow(session, actor, p, comment)


# ---------------------------------------------------------------------------- edit


class EditResult(BaseModel):
    account: str
    saved: dict[str, str]  # field -> new value, saved at once
    proposed: dict[str, str]  # field -> proposed value, now a line of the proposal
    unchanged: list[str]
    version: int
    proposal: ProposalView | None
    message: str


@writes(phased=True)
def edit_customer(session: Session, actor: Actor, account: str, values: dict[str, Any],
                  expected_version: int | None = None) -> EditResult:
    """Save a customer's fields: the ones needing approval become proposal lines, the rest are saved.

    Phased: everything is read, validated and compared without a lock; the write phase locks
    the customer and replans (services.store.Replan) if it or its proposal changed meanwhile."""
    require(actor, "customer.edit")
    c = _find_customer(session, account)
    if expected_version is not None and c.version != expected_version:
        raise Conflict(f"customer {c.account} was changed by {_last_saver(session, c.account)} since you opened it: "
                       "reload and try again")
    if not values:
        raise ValidationFailed({"values": "nothing to save: give FIELD=VALUE"})
    typed = customers.validate_values(session, values, self_account=c.account)
    current = customers.customer_values(c)
    changed = {k: v for k, v in typed.items() if encode(k, v) != encode(k, current[k])}
    unchanged = [k for k in typed if k not in changed]
    enabled = enabled_fields(session)
    p = _open_proposal(session, c.id)
    if p is not None and p.state == P.SUBMITTED:
        locked = enabled | {x.field for x in _lines(session, p)}
        refused = {k: f"locked: {PENDING_STATUS.lower()} ({p.number})" for k in changed if k in locked}
        if refused:
            raise ValidationFailed(refused, message=(
                f"customer {c.account}: {PENDING_STATUS.lower()} ({p.number}, submitted by {p.submitted_by} on "
                f"{p.submitted_at:%Y-%m-%d %H:%M}); {', '.join(refused)} "
                f"{'is' if len(refused) == 1 else 'are'} locked until it is decided"))
    planned = (c.version, _proposal_key(p))
    begin_write(session)
    c = _lock_customer(session, c.account)
    p = _open_proposal(session, c.id)
    if (c.version, _proposal_key(p)) != planned:
        raise Replan(f"customer {c.account} changed while the edit was planned")
    direct = {k: v for k, v in changed.items() if k not in enabled}
    propose = {k: v for k, v in changed.items() if k in enabled}
    _update_customer(session, actor, c, direct)
    proposed: dict[str, str] = {}
    if propose:
        p = p or _new_proposal(session, actor, c)
        _put_lines(session, actor, p, c, propose)
        proposed = {k: display(k, v) for k, v in propose.items()}
    parts = []
    if direct:
        parts.append(f"{len(direct)} change{'s' if len(direct) != 1 else ''} saved")
    if proposed:
        parts.append(f"{len(proposed)} change{'s' if len(proposed) != 1 else ''} proposed for approval "
                     f"({', '.join(proposed)}): not submitted")
    if not parts:
        parts.append("nothing changed")
    view = _proposal_view(session, p, c) if p is not None else None
    return EditResult(account=c.account, saved={k: display(k, v) for k, v in direct.items()}, proposed=proposed,
                      unchanged=unchanged, version=c.version, proposal=view, message="; ".join(parts))


# ---------------------------------------------------------------------------- discard / submit / recall


@writes(phased=True)
def discard(session: Session, actor: Actor, account: str, field: str | None = None) -> ProposalView | None:
    """Discard one line (``field``) or all lines of the customer's unsubmitted proposal."""
    require(actor, "changes.submit")
    c = _find_customer(session, account)
    p = _open_proposal(session, c.id)
    if p is None:
        raise NotFound(f"customer {c.account} has no proposed changes")
    transitions.check(session, PROCESS, p, "discard")
    lines = _lines(session, p)
    if field is not None:
        name = parse_field(field)
        gone = [x for x in lines if x.field == name]
        if not gone:
            raise NotFound(f"{p.number} has no proposed change of {name} (lines: {', '.join(x.field for x in lines)})")
    else:
        gone = lines
    c, p = _lock_planned(session, c, p, "discard")
    assert p is not None
    session.execute(delete(ChangeLine).where(col(ChangeLine.id).in_([x.id for x in gone])))
    audit.record(session, actor, ENTITY, p.number, "discarded" if field is None else "line discarded",
                 before={x.field: json.loads(x.proposed_value) for x in gone}, comment=f"customer {c.account}")
    if len(gone) == len(lines):
        _transition(session, p, "discard", P.DISCARDED)
        return None
    return _proposal_view(session, p, c)


@writes(phased=True)
def submit(session: Session, actor: Actor, account: str, comment: str | None = None) -> ProposalView:
    """Workflow > Submit: the proposal goes to approval; the customer shows "Changes pending approval"."""
    require(actor, "changes.submit")
    c = _find_customer(session, account)
    p = _open_proposal(session, c.id)
    if p is None:
        raise NotFound(f"customer {c.account} has no proposed changes to submit")
    transitions.check(session, PROCESS, p, "submit")
    if not _lines(session, p):
        raise InvalidTransition(f"{p.number} ({p.account}) has no lines to submit")
    _engine()  # the workflow's first-use imports: before the write lock
    c, p = _lock_planned(session, c, p, "submit")
    assert p is not None
    submit_proposal(session, actor, p, clean(comment, multiline=True) or None)
    return _proposal_view(session, p, c)


@writes(phased=True)
def recall(session: Session, actor: Actor, account: str, comment: str | None = None) -> ProposalView:
    """The submitter takes a submitted proposal back (Submitted -> Not submitted)."""
    require(actor, "changes.submit")
    c = _find_customer(session, account)
    p = _open_proposal(session, c.id)
    if p is None:
        raise NotFound(f"customer {c.account} has no proposed changes")
    transitions.check(session, PROCESS, p, "return")
    if p.submitted_by != actor.user_name:
        raise PermissionDenied(f"only the submitter ({p.submitted_by}) may recall {p.number}")
    engine = _engine()
    in_workflow = p.workflow_instance_id is not None and engine.active_instance(session, DOC_TYPE, p.number)
    c, p = _lock_planned(session, c, p, "recall")
    assert p is not None
    if in_workflow:
        engine.recall(session, actor, DOC_TYPE, p.number, comment)  # calls _on_recalled
        session.refresh(p)
    else:
        _return(session, actor, p, "recalled", comment)
    return _proposal_view(session, p, c)


def _return(session: Session, actor: Actor, p: ChangeProposal, what: str, comment: str | None) -> None:
    session.execute(update(ChangeLine).where(ChangeLine.proposal_id == p.id)
                    .values(decision=LineDecision.PENDING.value, decided_by=None, decided_at=None, comment=None)
                    .execution_options(synchronize_session=False))
    _transition(session, p, "return", P.NOT_SUBMITTED)
    audit.record(session, actor, ENTITY, p.number, what, before={"state": P.SUBMITTED.value},
                 after={"state": P.NOT_SUBMITTED.value}, comment=clean(comment, multiline=True) or None)


# ---------------------------------------------------------------------------- decide


class DecisionResult(BaseModel):
    number: str
    account: str
    state: str
    applied: dict[str, str]
    rejected: list[str]
    conflicts: list[str]
    message: str
    proposal: ProposalView


def _to_decide(session: Session, c: Customer, verb: str) -> ChangeProposal:
    """The customer's open proposal; when there is none, say who decided the last one."""
    p = _open_proposal(session, c.id)
    if p is not None:
        return p
    last = session.exec(select(ChangeProposal).where(ChangeProposal.customer_id == c.id)
                        .order_by(col(ChangeProposal.id).desc())).first()
    if last is not None and last.state in (P.APPROVED, P.PARTIALLY_APPROVED, P.REJECTED):
        raise Conflict(f"customer {c.account} has no proposed changes to {verb}: " + (_explain(last, verb) or last.state))
    raise NotFound(f"customer {c.account} has no proposed changes")


def _check_decider(session: Session, actor: Actor, p: ChangeProposal, verb: str) -> None:
    transitions.check(session, PROCESS, p, verb)
    who = proposers(session, p)
    if actor.user_name in who:
        role = "submitted" if actor.user_name == p.submitted_by else "proposed changes in"
        raise PermissionDenied(f"{actor.user_name} cannot {verb} {p.number}: they {role} it; "
                               "another approver must decide (self-approval is not allowed)")


def _work_item(session: Session, actor: Actor, p: ChangeProposal) -> Any | None:
    """The actor's open work item on ``p`` when a workflow runs it; PermissionDenied when it is someone else's."""
    engine = _engine()
    if p.workflow_instance_id is None or engine.active_instance(session, DOC_TYPE, p.number) is None:
        return None
    for item in engine.list_work(session, actor, mine=True, doc_type=DOC_TYPE):
        if item.doc_key == p.number:
            return item
    raise PermissionDenied(f"{p.number} is in the customer change workflow and has no work item assigned to "
                           f"{actor.user_name}: see 'regdesk work list'")


def _conflicting(session: Session, c: Customer, lines: Iterable[ChangeLine]) -> list[ChangeLine]:
    current = customers.customer_values(c)
    return [x for x in lines if encode(x.field, current[x.field]) != x.original_value]


@writes(phased=True)
def approve(session: Session, actor: Actor, account: str, only: list[str] | None = None,
            comments: dict[str, str] | None = None, comment: str | None = None) -> DecisionResult:
    """Approve every line, or only the fields in ``only`` (the other lines are rejected, with ``comments``)."""
    require(actor, "changes.decide")
    c = _find_customer(session, account)
    p = _to_decide(session, c, "approve")
    _check_decider(session, actor, p, "approve")
    lines = _lines(session, p)
    fields = [x.field for x in lines]
    comment = clean(comment, multiline=True) or None
    comments = {parse_field(k): clean(v, multiline=True) for k, v in (comments or {}).items() if clean(v)}
    if only is not None:
        chosen = [parse_field(f) for f in only]
        missing = [f for f in chosen if f not in fields]
        if missing:
            raise ValidationFailed({f: f"not a line of {p.number} (lines: {', '.join(fields)})" for f in missing})
        if not chosen:
            raise ValidationFailed({"only": "approve at least one line, or reject the proposal"})
    else:
        chosen = fields
    approved = [x for x in lines if x.field in chosen]
    stale = _conflicting(session, c, approved)
    if len(stale) == len(approved):
        detail = "; ".join(f"{x.field} was {_display_raw(x.field, x.original_value)} when proposed, "
                           f"now {display(x.field, getattr(c, x.field))}" for x in stale)
        raise Conflict(f"nothing of {p.number} can be applied: the customer changed since the proposal ({detail}); "
                       "reject it and propose again")
    item = _work_item(session, actor, p)
    c, fresh = _lock_planned(session, c, p, "approval")
    assert fresh is not None
    p = fresh
    lines = _lines(session, p)
    current = now(session)
    for x in lines:
        x.decided_by, x.decided_at = actor.user_name, current
        x.comment = comments.get(x.field) or comment
        x.decision = (LineDecision.PENDING if x.field in chosen else LineDecision.REJECTED).value
        session.add(x)
    session.flush()
    if item is not None:
        _engine().approve(session, actor, item.id, comment)  # the final step calls _on_approved
        session.refresh(p)
    else:
        _apply(session, actor, p, c)
    return _decision_result(session, p, c)


def _decision_result(session: Session, p: ChangeProposal, c: Customer) -> DecisionResult:
    view = _proposal_view(session, p, c)
    applied = {x.field: x.proposed for x in view.lines if x.decision == LineDecision.APPROVED}
    rejected = [x.field for x in view.lines if x.decision == LineDecision.REJECTED]
    conflicts = [x.field for x in view.lines if x.decision == LineDecision.CONFLICT]
    if p.state == P.SUBMITTED:
        msg = f"{p.number}: your approval is recorded; the workflow waits for its next step"
    elif p.state == P.REJECTED:
        msg = f"{p.number} rejected: {p.reason}"
    else:
        msg = f"{p.number} {p.state.lower()}: {len(applied)} change{'s' if len(applied) != 1 else ''} applied to {p.account}"
        if rejected:
            msg += f"; rejected: {', '.join(rejected)}"
        if conflicts:
            msg += (f"; NOT applied (conflict: the customer's value changed since it was proposed): "
                    f"{', '.join(conflicts)}")
    return DecisionResult(number=p.number, account=p.account, state=p.state, applied=applied, rejected=rejected,
                          conflicts=conflicts, message=msg, proposal=view)


def _apply(session: Session, actor: Actor, p: ChangeProposal, c: Customer) -> None:
    """Final approval: apply the approved lines that do not conflict, in the caller's transaction."""
    lines = _lines(session, p)
    todo = [x for x in lines if x.decision in (LineDecision.PENDING, LineDecision.APPROVED)]
    stale = {x.id for x in _conflicting(session, c, todo)}
    current = now(session)
    values: dict[str, Any] = {}
    for x in todo:
        x.decided_by = x.decided_by or actor.user_name
        x.decided_at = x.decided_at or current
        if x.id in stale:
            x.decision = LineDecision.CONFLICT.value
            x.current_at_decision = encode(x.field, getattr(c, x.field))
        else:
            x.decision = LineDecision.APPROVED.value
            values[x.field] = decode(x.field, x.proposed_value)
        session.add(x)
    session.flush()
    if not values:  # every line rejected or in conflict (a multi-step workflow whose customer changed meanwhile)
        _close_rejected(session, actor, p, c, "no line could be applied: the customer changed since the proposal")
        return
    who = sorted({x.proposed_by for x in lines if x.field in values})
    _update_customer(session, actor, c, values, action="change approved",
                     comment=f"{p.number}: proposed by {', '.join(who)}, approved by {actor.user_name}")
    target = P.APPROVED if len(values) == len(lines) else P.PARTIALLY_APPROVED
    _transition(session, p, "approve", target, decided_by=actor.user_name, decided_at=current)
    audit.record(session, actor, ENTITY, p.number, target.value.lower(), before={"state": P.SUBMITTED.value},
                 after={"state": target.value, "applied": sorted(values),
                        "rejected": [x.field for x in lines if x.decision == LineDecision.REJECTED],
                        "conflicts": [x.field for x in lines if x.decision == LineDecision.CONFLICT]})


@writes(phased=True)
def reject(session: Session, actor: Actor, account: str, reason: str) -> DecisionResult:
    """Reject the whole proposal with a reason; the customer stays as it is."""
    require(actor, "changes.decide")
    reason = clean(reason, multiline=True)
    if not reason:
        raise ValidationFailed({"reason": "a reason is required to reject proposed changes"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "at most 1000 characters"})
    c = _find_customer(session, account)
    p = _to_decide(session, c, "reject")
    _check_decider(session, actor, p, "reject")
    item = _work_item(session, actor, p)
    c, fresh = _lock_planned(session, c, p, "rejection")
    assert fresh is not None
    p = fresh
    if item is not None:
        _engine().reject(session, actor, item.id, reason)  # calls _on_rejected
        session.refresh(p)
    else:
        _close_rejected(session, actor, p, c, reason)
    return _decision_result(session, p, c)


def _close_rejected(session: Session, actor: Actor, p: ChangeProposal, c: Customer, reason: str) -> None:
    current = now(session)
    session.execute(update(ChangeLine).where(ChangeLine.proposal_id == p.id, ChangeLine.decision == LineDecision.PENDING.value)
                    .values(decision=LineDecision.REJECTED.value, decided_by=actor.user_name, decided_at=current)
                    .execution_options(synchronize_session=False))
    _transition(session, p, "reject", P.REJECTED, decided_by=actor.user_name, decided_at=current, reason=reason)
    audit.record(session, actor, ENTITY, p.number, "rejected", before={"state": P.SUBMITTED.value},
                 after={"state": P.REJECTED.value}, comment=reason)
    audit.record(session, actor, "customer", c.account, "changes rejected",
                 after={"proposal": p.number, "fields": [x.field for x in _lines(session, p)]}, comment=reason)


# ---------------------------------------------------------------------------- reading


def show_proposal(session: Session, actor: Actor, key: str) -> ProposalView:
    """A customer's open proposal (else its latest), or a proposal by number: lines with original/proposed/current."""
    require(actor, "changes.view")
    return _proposal_view(session, _find(session, key))


def customer_status(session: Session, customer_id: int) -> str:
    p = _open_proposal(session, customer_id)
    return _status(p.state) if p else ""


def _waiting_numbers(session: Session, actor: Actor) -> set[str]:
    return {item.doc_key for item in _engine().list_work(session, actor, mine=True, doc_type=DOC_TYPE)}


def list_proposals(session: Session, actor: Actor, *, state: str | None = None, waiting_for_me: bool = False,
                   limit: int = 500) -> list[ProposalRow]:
    """Proposals, newest first; ``waiting_for_me``: submitted ones this operator may decide now."""
    require(actor, "changes.view")
    query = select(ChangeProposal, Customer.name).join(Customer, Customer.id == ChangeProposal.customer_id)
    if state and state.lower() != "all":
        try:
            st = ProposalState.parse(state)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
        query = query.where(ChangeProposal.state == st.value)
    if waiting_for_me:
        query = query.where(ChangeProposal.state == P.SUBMITTED.value)
    rows = session.exec(query.order_by(col(ChangeProposal.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    ids = [p.id for p, _ in rows]
    lines: dict[int, list[ChangeLine]] = {}
    if ids:
        for x in session.exec(select(ChangeLine).where(col(ChangeLine.proposal_id).in_(ids))).all():
            lines.setdefault(x.proposal_id, []).append(x)
    work = _waiting_numbers(session, actor) if waiting_for_me else set()
    out = []
    for p, name in rows:
        mine = lines.get(p.id, [])
        if waiting_for_me:
            if p.workflow_instance_id is not None and p.number not in work:
                if _engine().active_instance(session, DOC_TYPE, p.number) is not None:
                    continue
            if p.workflow_instance_id is None and not actor.can("changes.decide"):
                continue
            if actor.user_name in ({x.proposed_by for x in mine} | {p.submitted_by}):
                continue
        out.append(ProposalRow(number=p.number, account=p.account, customer_name=name, state=p.state, lines=len(mine),
                               fields=", ".join(sorted(x.field for x in mine)), created_by=p.created_by,
                               submitted_by=p.submitted_by, submitted_at=p.submitted_at, decided_by=p.decided_by,
                               source=p.source))
    return out


class FieldState(BaseModel):
    name: str
    label: str
    kind: str
    max_length: int
    choices: list[str]
    value: str  # the customer's value now, as text for the form
    needs_approval: bool
    locked: bool
    proposed: str | None  # the value of this field's proposal line


class EditContext(BaseModel):
    customer: customers.CustomerView
    status: str
    fields: list[FieldState]
    proposal: ProposalView | None
    history: list[audit.AuditView]
    can_edit: bool
    can_submit: bool
    waiting_for_me: bool


def edit_context(session: Session, actor: Actor, account: str) -> EditContext:
    """Everything the customer detail / edit form shows: values, which need approval, locks, the proposal."""
    require(actor, "customer.view")
    c = customers.get_customer(session, account)
    enabled = enabled_fields(session)
    p = _open_proposal(session, c.id)
    view = _proposal_view(session, p, c) if p else None
    lines = {x.field: x.proposed for x in view.lines} if view else {}
    locked = (enabled | set(lines)) if p is not None and p.state == P.SUBMITTED else frozenset()
    values = customers.customer_values(c)
    fields = [FieldState(name=n, label=s.label, kind=s.kind, max_length=s.max_length, choices=list(s.choices),
                         value=("yes" if values[n] else "no") if s.kind == "bool" else str(plain_value(n, values[n])),
                         needs_approval=n in enabled, locked=n in locked, proposed=lines.get(n))
              for n, s in customers.FIELDS.items()]
    waiting = False
    if p is not None and p.state == P.SUBMITTED and actor.user_name not in proposers(session, p):
        waiting = p.number in _waiting_numbers(session, actor) if p.workflow_instance_id else actor.can("changes.decide")
    status = _status(p.state) if p else ""
    return EditContext(customer=customers.customer_view(c, status), status=status, fields=fields,
                       proposal=view, history=audit.history(session, "customer", c.account),
                       can_edit=actor.can("customer.edit"), can_submit=actor.can("changes.submit"),
                       waiting_for_me=waiting)


def count_open(session: Session) -> dict[str, int]:
    rows = session.exec(select(ChangeProposal.state, func.count()).where(col(ChangeProposal.state).in_(OPEN_STATES))
                        .group_by(ChangeProposal.state)).all()
    return {s: n for s, n in rows}


# ---------------------------------------------------------------------------- workflow document type


def _doc(session: Session, key: str) -> tuple[ChangeProposal, Customer]:
    p = _by_number(session, key)
    c = session.exec(select(Customer).where(Customer.id == p.customer_id).with_for_update()
                     .execution_options(populate_existing=True)).one()
    return p, c


def _attributes(session: Session, key: str) -> dict[str, Any]:
    p, c = _doc(session, key)
    lines = _lines(session, p)
    proposed = {x.field: json.loads(x.proposed_value) for x in lines}
    credit = proposed.get("credit_limit")
    return {
        "number": p.number, "account": c.account, "customer_group": c.customer_group, "source": p.source,
        "fields": sorted(proposed), "line_count": len(lines), "proposer": p.created_by,
        "credit_limit": float(credit) if credit is not None else float(c.credit_limit),
        "credit_limit_increase": float(Decimal(credit) - c.credit_limit) if credit is not None else 0.0,
    }


ATTRIBUTES = ("number", "account", "customer_group", "source", "fields", "line_count", "proposer", "credit_limit",
              "credit_limit_increase")


def _describe(session: Session, key: str) -> str:
    p = _by_number(session, key)
    name = session.exec(select(Customer.name).where(Customer.id == p.customer_id)).one()
    labels = [customers.FIELDS[x.field].label.lower() for x in _lines(session, p)]
    return f"{p.account} {name}: {', '.join(labels)}"


def _describe_many(session: Session, keys: list[str]) -> dict[str, str]:
    """``_describe`` for many proposals: two queries (proposals with their customers, then lines)."""
    rows = session.exec(select(ChangeProposal.id, ChangeProposal.number, ChangeProposal.account, Customer.name)
                        .join(Customer, Customer.id == ChangeProposal.customer_id)
                        .where(col(ChangeProposal.number).in_(keys))).all()
    fields: dict[int, list[str]] = {}
    if rows:
        for pid, field in session.exec(select(ChangeLine.proposal_id, ChangeLine.field)
                                       .where(col(ChangeLine.proposal_id).in_([r[0] for r in rows]))).all():
            fields.setdefault(pid, []).append(field)
    order = {f: i for i, f in enumerate(customers.FIELDS)}
    out = {}
    for pid, number, account, name in rows:
        labels = [customers.FIELDS[f].label.lower() for f in sorted(fields.get(pid, []), key=lambda f: order.get(f, 99))
                  if f in customers.FIELDS]
        out[number] = f"{account} {name}: {', '.join(labels)}"
    return out


def _submitter(session: Session, key: str) -> str:
    p = _by_number(session, key)
    return p.submitted_by or p.created_by


def _on_approved(session: Session, actor: Actor, key: str) -> None:
    p, c = _doc(session, key)
    if p.state == P.SUBMITTED:
        _apply(session, actor, p, c)


def _on_rejected(session: Session, actor: Actor, key: str, reason: str) -> None:
    p, c = _doc(session, key)
    if p.state == P.SUBMITTED:
        _close_rejected(session, actor, p, c, clean(reason, multiline=True) or "rejected in the workflow")


def _on_change_requested(session: Session, actor: Actor, key: str, comment: str) -> None:
    p, _ = _doc(session, key)
    if p.state == P.SUBMITTED:
        _return(session, actor, p, "change requested", comment)


def _on_recalled(session: Session, actor: Actor, key: str) -> None:
    p, _ = _doc(session, key)
    if p.state == P.SUBMITTED:
        _return(session, actor, p, "recalled", None)


def _register() -> None:
    engine = _engine()
    engine.register(engine.DocumentType(
        name=DOC_TYPE, title="Proposed customer change", attributes=_attributes, submitter=_submitter,
        on_approved=_on_approved, on_rejected=_on_rejected, on_change_requested=_on_change_requested,
        on_recalled=_on_recalled, describe=_describe, describe_many=_describe_many, fields=ATTRIBUTES,
    ))


_register()
