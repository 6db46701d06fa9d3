"""Reading cases: one case by its number, the keyset-paged list, counts per status, the detail."""

from __future__ import annotations

from sqlalchemy import func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from models.cases import Case, CaseCategory, CasePriority, CaseStatus, SampleRequest
from models.customer import Customer
from services import audit, counters, sequences
from services import workflow as wf
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.keyed_search import found
from services.permissions import Actor, require
from services.search import dialect_of, search_term
from services.text import clean

from .table import ACTION_PERMISSIONS, DOC_TYPE, ENTITY, FILTERS, allowed_actions, state_refusal
from .views import CaseDetail, CasePage, CaseRow, sample_view


def get_case(session: Session, number: str) -> Case:
    """The case numbered ``number`` ("CASE-000012", or "12"), or NotFound."""
    key = clean(number).upper()
    if key.isascii() and key.isdigit() and len(key) <= 19:  # "12" -> its number; never a 5000-digit int
        key = sequences.format_number("CASE-", 6, int(key))
    case = session.exec(select(Case).where(col(Case.number) == key)).first()
    if case is None:
        raise NotFound(f"no case {number!r}")
    return case


def _conditions(session: Session, status: str | None, search: str | None) -> list[ColumnElement[bool]]:
    """The list's filter: a status (or "All"), and a search through the indexes."""
    conds: list[ColumnElement[bool]] = []
    if status and status != "All":
        try:
            conds.append(col(Case.status) == CaseStatus.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    term = search_term(search)
    if term is not None:
        # the case's number, title or contact; or its customer's account or name (both through
        # indexes), in the list's one statement (``services.keyed_search``)
        dialect = dialect_of(session)
        cases = found(dialect, Case, term, [("number", term.upper())])
        customers = found(dialect, Customer, term, [("account", term.upper())])
        conds.append(or_(col(Case.id).in_(cases), col(Case.customer_id).in_(customers)))
    return conds


def list_cases(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    search: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> CasePage:
    """Newest first, one page (keyset on id), filtered in SQL."""
    require(actor, "cases.view")
    limit = max(1, min(int(limit), 5000))
    query = (
        select(Case, Customer.account, Customer.name)
        .join(Customer, col(Case.customer_id) == col(Customer.id))
        .where(*_conditions(session, status, search))
    )
    if after is not None:
        query = query.where(col(Case.id) < after)
    raw = session.exec(query.order_by(col(Case.id).desc()).limit(limit + 1)).all()
    rows = [
        CaseRow(
            id=c.id or 0,
            number=c.number,
            status=c.status,
            title=c.title,
            category=c.category,
            priority=c.priority,
            customer_account=account,
            customer_name=name,
            created_at=c.created_at,
            created_by=c.created_by,
        )
        for c, account, name in raw[:limit]
    ]
    return CasePage(rows=rows, after=rows[-1].id if len(raw) > limit else None)


def count_by_status(session: Session, actor: Actor, *, search: str | None = None) -> dict[str, int]:
    """Rows per status: the kept counters; with a search, counted over the search's indexes."""
    require(actor, "cases.view")
    if search_term(search) is None:
        return counters.by_status(session, "case", CaseStatus)
    query = select(Case.status, func.count()).where(*_conditions(session, None, search)).group_by(col(Case.status))
    counts = {s.value: 0 for s in CaseStatus}
    for st, n in session.exec(query).all():
        counts[st] = n
    return {"All": sum(counts.values()), **counts}


def show_case(session: Session, actor: Actor, number: str) -> CaseDetail:
    require(actor, "cases.view")
    case = get_case(session, number)
    customer = session.get(Customer, case.customer_id)
    samples = session.exec(
        select(SampleRequest).where(col(SampleRequest.case_id) == case.id).order_by(col(SampleRequest.id))
    ).all()
    workflow_label = None
    instance = wf.active_instance(session, DOC_TYPE, case.number)
    if instance is not None:
        waiting = ", ".join(instance.assignees) or "nobody"
        workflow_label = (
            f"instance {instance.id} ({instance.definition}, {instance.status}): "
            f"step {instance.current_step or '-'}, waiting for {waiting}"
        )
    data = {name: getattr(case, name) for name in CaseDetail.model_fields if hasattr(case, name)}
    return CaseDetail(
        **data,
        customer_account=customer.account if customer else "",
        customer_name=customer.name if customer else "",
        workflow=workflow_label,
        samples=[sample_view(s) for s in samples],
        history=audit.history(session, ENTITY, case.number),
        actions=allowed_actions(actor, case),
    )


def refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """Why ``actor`` cannot ``action`` case ``number`` as it is now, in the words its command would
    refuse with; None: nothing stands against it (the command checks again when it runs). Asked by
    the console before it opens the action's form, so a form is never filled only to be refused.
    ``action``: edit, resolve, sample, close, submit, recall, approve, reject."""
    require(actor, "cases.view")
    case = get_case(session, number)
    try:
        require(actor, ACTION_PERMISSIONS[action])
    except PermissionDenied as exc:
        return exc.message
    return state_refusal(session, actor, case, action)


def choices() -> dict[str, list[str]]:
    return {"category": [c.value for c in CaseCategory], "priority": [p.value for p in CasePriority], "status": FILTERS}
