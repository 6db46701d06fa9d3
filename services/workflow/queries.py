"""Reads: definitions and steps, instances and their items, My work's inbox, counts and history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Unpack

import sqlalchemy
from sqlalchemy import case, func, or_, union
from sqlmodel import Session, col, select

from models.base import table_of
from models.core import Operator
from models.customer import Customer
from models.workflow import WorkflowDefinition, WorkflowInstance, WorkflowStep, WorkItem
from services import audit, conditions, params
from services.errors import InvalidTransition, NotFound, RegdeskError, ValidationFailed
from services.keyed_search import found, key_shaped
from services.keyset import keyset_page
from services.permissions import STAFF, Actor, require
from services.search import dialect_of, search_term
from services.store import now
from services.text import clean
from services.workflow.doctypes import document_types, get_type, registered, title
from services.workflow.table import IS, ITS, LIVE, NOT_COUNTED
from services.workflow.views import (
    InstanceDetail,
    InstanceView,
    StepView,
    WorkflowHistory,
    WorkItemView,
    step_view,
)

SUMMARY_CHUNK = 500

# ------------------------------------------------------------------------ one-line summaries


def summary(session: Session, doc_type: str, key: str) -> str:
    dt = registered(doc_type)
    if dt is None or dt.describe is None:
        return ""
    try:
        return clean(dt.describe(session, key))
    except RegdeskError:
        return ""


def summaries(session: Session, docs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """{(doc type, key): one line} for many documents: one ``describe_many`` call per document type
    (per 500 keys); a type without it falls back to ``describe`` per document."""
    by_type: dict[str, list[str]] = {}
    for doc_type, key in docs:
        keys = by_type.setdefault(doc_type, [])
        if key not in keys:
            keys.append(key)
    out: dict[tuple[str, str], str] = {}
    for doc_type, keys in by_type.items():
        dt = registered(doc_type)
        if dt is not None and dt.describe_many is not None:
            for start in range(0, len(keys), SUMMARY_CHUNK):
                chunk = keys[start : start + SUMMARY_CHUNK]
                try:
                    lines = dt.describe_many(session, chunk)
                except RegdeskError:
                    lines = {}
                for key in chunk:
                    line = lines.get(key, "")
                    # clean() only when needed: most lines are printable already (cheap check)
                    out[(doc_type, key)] = line.strip() if line.isprintable() and "  " not in line else clean(line)
        else:
            for key in keys:
                out[(doc_type, key)] = summary(session, doc_type, key)
    return out


def display_names(session: Session, users: Iterable[str]) -> dict[str, str]:
    names = sorted(set(users))
    if not names:
        return {}
    rows = session.exec(select(Operator.user_name, Operator.display_name).where(col(Operator.user_name).in_(names)))
    return {user: name for user, name in rows.all()}


# ------------------------------------------------------------------------ definitions, instances, items


def definition(session: Session, definition_id: int) -> WorkflowDefinition:
    d = session.get(WorkflowDefinition, definition_id)
    if d is None:  # pragma: no cover - foreign key
        raise NotFound(f"no workflow definition {definition_id}")
    return d


def steps(session: Session, definition_id: int) -> list[WorkflowStep]:
    return list(
        session.exec(
            select(WorkflowStep)
            .where(col(WorkflowStep.definition_id) == definition_id)
            .order_by(col(WorkflowStep.sequence))
        ).all()
    )


def step(session: Session, definition_id: int, sequence: int | None) -> WorkflowStep | None:
    if sequence is None:
        return None
    return session.exec(
        select(WorkflowStep).where(
            col(WorkflowStep.definition_id) == definition_id, col(WorkflowStep.sequence) == sequence
        )
    ).first()


def current_step(session: Session, inst: WorkflowInstance) -> WorkflowStep | None:
    """The step a live instance is on (None once it ended)."""
    return step(session, inst.definition_id, inst.current_step) if inst.status in LIVE else None


def live_instance(session: Session, doc_type: str, key: str) -> WorkflowInstance | None:
    return session.exec(
        select(WorkflowInstance).where(
            col(WorkflowInstance.doc_type) == doc_type,
            col(WorkflowInstance.doc_key) == key,
            col(WorkflowInstance.status).in_(LIVE),
        )
    ).first()


def latest_instance(session: Session, doc_type: str, key: str) -> WorkflowInstance | None:
    return session.exec(
        select(WorkflowInstance)
        .where(col(WorkflowInstance.doc_type) == doc_type, col(WorkflowInstance.doc_key) == key)
        .order_by(col(WorkflowInstance.id).desc())
    ).first()


def live_items(session: Session, inst: WorkflowInstance) -> list[WorkItem]:
    """The items the current step activation's completion policy counts."""
    return list(
        session.exec(
            select(WorkItem)
            .where(
                col(WorkItem.instance_id) == inst.id,
                col(WorkItem.activation) == inst.activation,
                col(WorkItem.status).not_in(NOT_COUNTED),
            )
            .order_by(col(WorkItem.id))
        ).all()
    )


def open_items(session: Session, instance_id: int | None) -> list[WorkItem]:
    return list(
        session.exec(
            select(WorkItem)
            .where(col(WorkItem.instance_id) == instance_id, col(WorkItem.status) == ITS.OPEN)
            .order_by(col(WorkItem.id))
            .execution_options(populate_existing=True)
        ).all()
    )


def get_item(session: Session, item_id: int | str) -> WorkItem:
    from services.validation import record_id

    ident = record_id(item_id)
    if ident is None:  # not a number, or beyond any id the store holds
        raise NotFound(f"no work item {str(item_id)[:40]!r} (work items are numbers)")
    item = session.get(WorkItem, ident)
    if item is None:
        raise NotFound(f"no work item {ident}")
    return item


def matching_definition(session: Session, doc_type: str, key: str) -> WorkflowDefinition | None:
    """The active definition (by priority, then name) whose condition the document meets."""
    dt = get_type(doc_type)
    defs = session.exec(
        select(WorkflowDefinition)
        .where(col(WorkflowDefinition.doc_type) == doc_type, col(WorkflowDefinition.active) == True)  # noqa: E712
        .order_by(col(WorkflowDefinition.priority), col(WorkflowDefinition.name))
    ).all()
    attrs: dict[str, Any] | None = None
    for d in defs:
        if not d.condition.strip():
            return d
        if attrs is None:
            attrs = dt.attributes(session, key)
        try:
            if conditions.evaluate(conditions.parse(d.condition), attrs):
                return d
        except conditions.ConditionError as exc:
            raise InvalidTransition(f"workflow '{d.name}' v{d.version} has a bad condition: {exc}") from None
    return None


# ------------------------------------------------------------------------ views of them


def item_view(
    session: Session,
    item: WorkItem,
    inst: WorkflowInstance,
    current: datetime,
    cache: dict[tuple[str, str], str] | None = None,
    *,
    viewer: str | None = None,
    names: dict[str, str] | None = None,
) -> WorkItemView:
    lines = cache if cache is not None else {}
    k = (inst.doc_type, inst.doc_key)
    if k not in lines:
        lines[k] = summary(session, *k)
    is_open = item.status == ITS.OPEN
    return WorkItemView(
        assignee_name=(names or {}).get(item.assignee, ""),
        own_submission=viewer is not None and inst.submitter == viewer,
        id=item.id or 0,
        instance_id=inst.id or 0,
        doc_type=inst.doc_type,
        doc_title=title(inst.doc_type),
        doc_key=inst.doc_key,
        summary=lines[k],
        step=item.step_name,
        assignee=item.assignee,
        assigned_via=item.assigned_via,
        status=item.status,
        assigned_at=item.created_at,
        due_at=item.due_at,
        overdue=bool(is_open and item.due_at is not None and item.due_at <= current),
        age_minutes=max(0, int((current - item.created_at).total_seconds() // 60)),
        escalation_level=item.escalation_level,
        delegated_from=item.delegated_from,
        decided_by=item.decided_by,
        decided_at=item.decided_at,
        comment=item.comment,
        submitter=inst.submitter,
    )


def _instance_fields(session: Session, inst: WorkflowInstance) -> dict[str, Any]:
    d = definition(session, inst.definition_id)
    on = current_step(session, inst)
    assignees = session.exec(
        select(WorkItem.assignee)
        .where(col(WorkItem.instance_id) == inst.id, col(WorkItem.status) == ITS.OPEN)
        .order_by(col(WorkItem.id))
    ).all()
    return dict(
        id=inst.id or 0,
        doc_type=inst.doc_type,
        doc_key=inst.doc_key,
        definition_id=d.id or 0,
        definition=f"{d.name} v{d.version}",
        status=inst.status,
        current_step=on.name if on else None,
        submitter=inst.submitter,
        started_at=inst.started_at,
        ended_at=inst.ended_at,
        assignees=list(assignees),
    )


def instance_view(session: Session, inst: WorkflowInstance) -> InstanceView:
    return InstanceView(**_instance_fields(session, inst))


def instance_detail(session: Session, inst: WorkflowInstance) -> InstanceDetail:
    current = now(session)
    items = session.exec(select(WorkItem).where(col(WorkItem.instance_id) == inst.id).order_by(col(WorkItem.id))).all()
    cache = summaries(session, [(inst.doc_type, inst.doc_key)])
    names = display_names(session, (i.assignee for i in items))
    step_views: list[StepView] = [step_view(s) for s in steps(session, inst.definition_id)]
    return InstanceDetail(
        **_instance_fields(session, inst),
        steps=step_views,
        items=[item_view(session, i, inst, current, cache, names=names) for i in items],
    )


def active_instance(session: Session, doc_type: str, key: str) -> InstanceView | None:
    inst = live_instance(session, doc_type, key)
    return instance_view(session, inst) if inst is not None else None


# ------------------------------------------------------------------------ My work


def inbox_query(actor: Actor, mine: bool, doc_type: str | None) -> sqlalchemy.Select[Unpack[tuple[Any, ...]]]:
    """The open items of running instances (the actor's, or everyone's) as plain columns, unordered."""
    query: sqlalchemy.Select[Unpack[tuple[Any, ...]]] = (
        sqlalchemy.select(
            col(WorkItem.id),
            col(WorkItem.step_name),
            col(WorkItem.assignee),
            col(WorkItem.assigned_via),
            col(WorkItem.created_at),
            col(WorkItem.due_at),
            col(WorkItem.escalation_level),
            col(WorkItem.delegated_from),
            col(WorkItem.comment),
            col(WorkflowInstance.id).label("inst_id"),
            col(WorkflowInstance.doc_type),
            col(WorkflowInstance.doc_key),
            col(WorkflowInstance.submitter),
        )
        .join(WorkflowInstance, col(WorkItem.instance_id) == col(WorkflowInstance.id))
        .where(col(WorkItem.status) == ITS.OPEN, col(WorkflowInstance.status) == IS.RUNNING)
    )
    if mine:
        query = query.where(col(WorkItem.assignee) == actor.user_name)
    if doc_type:
        query = query.where(col(WorkflowInstance.doc_type) == doc_type)
    return query


# My work's tabs (``list_work(view=...)``, ``work_counts``)
WORK_VIEWS = ("All", "Overdue", "Waiting for me", "My submissions")


def running_doc_keys(doc_type: str) -> Any:
    """The keys of ``doc_type``'s documents in a running workflow, as a subquery read through
    ``uq_workflowinstance_open`` (the partial index of live instances: its own condition is part
    of the WHERE, as the stores use a partial index only for a query whose WHERE implies it)."""
    live = next(i for i in table_of(WorkflowInstance).indexes if i.name == "uq_workflowinstance_open")
    return select(col(WorkflowInstance.doc_key)).where(
        col(WorkflowInstance.doc_type) == doc_type,
        live.dialect_options["postgresql"]["where"],
        col(WorkflowInstance.status) == IS.RUNNING,
    )


def found_customers(session: Session, term: str) -> Any:
    """Ids of the customers a search term finds (the Customers list's search: account, name,
    e-mail, city), one subquery that every document type's ``matching`` is given."""
    return found(dialect_of(session), Customer, term, [("account", term.upper())])


def _document_tests(session: Session, term: str, doc_type: Any, doc_key: Any, *, per_row: bool) -> list[Any]:
    """The conditions on a document (its type and key columns) under which a search term finds
    it: its type's title (My work's Document column: "case" finds every case), its number, or its
    type's own search (``DocumentType.matching``: the document's indexes), as ``doc_key IN
    (<keys>)`` or, ``per_row``, as an EXISTS on the row's key (``_found_items``, ``_found_row``)."""
    customers = found_customers(session, term)
    tests: list[Any] = []
    for dt in document_types():
        if term.casefold() in dt.title.casefold():  # "case", "user request": every document of the type
            tests.append(doc_type == dt.name)
            continue
        tests.append(sqlalchemy.and_(doc_type == dt.name, doc_key == term.upper()))
        if dt.matching is not None:
            keys = dt.matching(session, term, customers)
            if per_row:
                first = list(keys.subquery().c)[0]
                hit = sqlalchemy.exists(select(first).where(first == doc_key))
            else:
                hit = doc_key.in_(keys)
            tests.append(sqlalchemy.and_(doc_type == dt.name, hit))
    return tests


def _found_items(session: Session, term: str) -> Any:
    """Ids of the open work items a search term finds: their document (``_document_tests``), or
    their submitter's or assignee's user name. A union of index lookups (the instance's (doc_type,
    doc_key), its submitter, the item's instance and assignee): nothing is read item by item."""
    running = col(WorkflowInstance.status) == IS.RUNNING
    inst_id = col(WorkflowInstance.id)
    names = sorted({term, term.lower()})
    documents = _document_tests(
        session, term, col(WorkflowInstance.doc_type), col(WorkflowInstance.doc_key), per_row=False
    )
    instances = [select(inst_id).where(col(WorkflowInstance.submitter) == name, running) for name in names]
    instances += [select(inst_id).where(test, running) for test in documents]
    is_open = col(WorkItem.status) == ITS.OPEN
    return union(
        select(col(WorkItem.id)).where(col(WorkItem.instance_id).in_(union(*instances)), is_open),
        *[select(col(WorkItem.id)).where(col(WorkItem.assignee) == name, is_open) for name in names],
    )


def _found_row(session: Session, term: str, row: Any) -> Any:
    """Whether an inbox row (``row``: a subquery of ``inbox_query``'s columns) is one ``_found_items``
    finds, tested on the row itself (the same tests), so a walk of the inbox order reads about a
    page for a term most items match (``list_work``)."""
    names = sorted({term, term.lower()})
    documents = _document_tests(session, term, row.c.doc_type, row.c.doc_key, per_row=True)
    return or_(row.c.submitter.in_(names), row.c.assignee.in_(names), *documents)


# Rows of the inbox order a My work search walks, testing each (``_found_row``), before it collects
# what the indexes find instead (``_found_items``). A term most items match (a customer every
# document belongs to) fills its page within a few rows of the walk: 12.6 ms -> 3 ms at 10k open
# items on SQLite, where collecting its 10k matches first was O(matches); a rare term costs the
# walk (a few ms at 2000 rows) and then the indexes' few matches; a key-shaped term (a number, an
# e-mail: ``keyed_search.key_shaped``) does not walk.
WORK_WALK_BUDGET = 2_000


def _walked_work(
    session: Session,
    term: str,
    halves: list[tuple[Any, list[Any], list[Any] | None, list[Any]]],
    limit: int,
) -> list[Any] | None:
    """The page of a search by walking the inbox order (each half: its query without the search,
    its order columns, its cursor, its ``keyset_page`` extras), at most ``WORK_WALK_BUDGET`` rows
    in all: the rows found, or None when the budget ran out before the page filled (the caller
    asks the indexes: ``_found_items``)."""
    dialect = session.get_bind().dialect.name
    budget = WORK_WALK_BUDGET
    rows: list[Any] = []
    for query, columns, after, fixed in halves:
        walk = keyset_page(dialect, query, columns, after, limit=budget, fixed=fixed).subquery("walk")
        # the found rows up to the page as the walk yields them, in its order (no ORDER BY here:
        # it would sort every walked row, reading the whole budget); the page's ORDER BY sorts the few
        found = select(*walk.c).where(_found_row(session, term, walk)).limit(limit - len(rows)).subquery("found")
        rows += session.execute(select(*found.c).order_by(*[found.c[c.key] for c in (*fixed, *columns)])).all()
        if len(rows) >= limit:
            return rows
        read = keyset_page(dialect, query.with_only_columns(*columns), columns, after, limit=budget, fixed=fixed)
        walked = int(session.execute(select(func.count()).select_from(read.subquery())).scalar_one())
        if walked >= budget:
            return None
        budget -= walked
    return rows


def _narrowed(
    session: Session, actor: Actor, query: Any, search: str | None, view: str | None, current: datetime
) -> tuple[Any, bool]:
    """``query`` (``inbox_query``'s) with a search and a tab applied, and whether only items with a
    time limit can be in it (the Overdue tab)."""
    term = search_term(search)
    if term is not None:
        query = query.where(col(WorkItem.id).in_(_found_items(session, term)))
    if view in (None, "", "All"):
        return query, False
    tabs = _tab_conditions(actor, current)
    if view not in tabs:
        raise ValidationFailed({"view": f"one of {', '.join(WORK_VIEWS)}"})
    return query.where(tabs[view]), view == "Overdue"


def _tab_conditions(actor: Actor, current: datetime) -> dict[str, Any]:
    """The condition of each My work tab but All, over ``inbox_query``'s rows (a list's filter,
    ``work_counts``'s counts: one definition)."""
    me = actor.user_name
    submitter = col(WorkflowInstance.submitter)
    return {
        "Overdue": col(WorkItem.due_at) <= current,
        "Waiting for me": sqlalchemy.and_(col(WorkItem.assignee) == me, or_(submitter.is_(None), submitter != me)),
        "My submissions": submitter == me,
    }


def work_cursor(item: WorkItemView) -> tuple[datetime | None, datetime, int]:
    """The keyset position of an item in My work's order: pass it as ``after`` for the next page."""
    return (item.due_at, item.assigned_at, item.id)


def list_work(
    session: Session,
    actor: Actor,
    mine: bool = True,
    doc_type: str | None = None,
    *,
    limit: int = 500,
    after: tuple[datetime | None, datetime, int] | list[Any] | None = None,
    search: str | None = None,
    view: str | None = None,
) -> list[WorkItemView]:
    """Open work items (mine, or everyone's): overdue first, then by due time, then those without
    a time limit, oldest first; at most ``limit``. Each item carries its document's one-line
    summary (one query per document type, not per item), its assignee's name and whether the
    viewing operator submitted the document (``own_submission``). Plain column reads, no ORM
    objects: a page costs the same whatever the number of open items. ``after`` (``work_cursor``
    of the last item shown) continues with the next page, by keyset. ``search``: only the items
    a term finds (``_found_items``: index lookups, whatever the number of open items); ``view``:
    one of My work's tabs (``WORK_VIEWS``)."""
    require(actor, "work.view")
    current = now(session)
    limit = max(1, min(int(limit), 10_000))
    term = search_term(search)
    # the tab's items; a search is applied below (walked, or through the indexes)
    query, dated_only = _narrowed(session, actor, inbox_query(actor, mine, doc_type), None, view, current)
    # due time ascending puts the overdue ones first; the index (assignee,) status, due_at,
    # created_at, id serves both halves in order (no sort of every open item)
    dated: sqlalchemy.Select[Unpack[tuple[Any, ...]]] | None = query.where(col(WorkItem.due_at).is_not(None))
    undated = query.where(col(WorkItem.due_at).is_(None))
    rows: list[Any] = []
    dated_after: list[Any] | None = None
    undated_after: list[Any] | None = None
    if after is not None:
        due, created, last_id = after
        if isinstance(due, str):
            due = datetime.fromisoformat(due)
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if due is None:  # already among those without a time limit
            dated = None
            undated_after = [created, int(last_id)]
        else:
            dated_after = [due, created, int(last_id)]
    # keyset pages seek every column of the inbox index, on SQLite too (``services.keyset``)
    dialect = session.get_bind().dialect.name
    item_id, created_at, due_at = col(WorkItem.id), col(WorkItem.created_at), col(WorkItem.due_at)
    walked = None
    if term is not None and not key_shaped(term):
        # a search walks the inbox order first (``_walked_work``); a number or an e-mail finds a
        # few documents: the indexes at once
        halves: list[tuple[Any, list[Any], list[Any] | None, list[Any]]] = []
        if dated is not None:
            halves.append((dated, [due_at, created_at, item_id], dated_after, []))
        if not dated_only:
            halves.append((undated, [created_at, item_id], undated_after, [due_at]))
        walked = _walked_work(session, term, halves, limit)
    if walked is not None:
        rows = walked
    else:
        if term is not None:  # the items the indexes find (``_found_items``)
            found = col(WorkItem.id).in_(_found_items(session, term))
            dated = dated.where(found) if dated is not None else None
            undated = undated.where(found)
        if dated is not None:
            rows += session.execute(
                keyset_page(dialect, dated, [due_at, created_at, item_id], dated_after, limit=limit)
            ).all()
        if len(rows) < limit and not dated_only:
            page = keyset_page(
                dialect, undated, [created_at, item_id], undated_after, limit=limit - len(rows), fixed=[due_at]
            )
            rows += session.execute(page).all()
    document_types()  # every title known
    lines = summaries(session, ((r[10], r[11]) for r in rows))
    names = display_names(session, (r[2] for r in rows))
    me = actor.user_name
    open_status = ITS.OPEN.value
    titles = {t: title(t) for t in {r[10] for r in rows}}
    views = []
    # the values are the store's own, typed by the columns: built without re-validating each
    # field (a page of 60 cost more in pydantic validation than in SQL)
    make = WorkItemView.model_construct
    for (
        item_id,
        step_name,
        assignee,
        via,
        created,
        due,
        level,
        delegated_from,
        comment,
        inst_id,
        doc_type_,
        doc_key,
        submitter,
    ) in rows:
        views.append(
            make(
                id=item_id,
                instance_id=inst_id,
                doc_type=doc_type_,
                doc_title=titles[doc_type_],
                doc_key=doc_key,
                summary=lines.get((doc_type_, doc_key), ""),
                step=step_name,
                assignee=assignee,
                assigned_via=via,
                status=open_status,
                assigned_at=created,
                due_at=due,
                overdue=due is not None and due <= current,
                age_minutes=max(0, int((current - created).total_seconds() // 60)),
                escalation_level=level,
                delegated_from=delegated_from,
                decided_by=None,
                decided_at=None,
                comment=comment,
                submitter=submitter,
                assignee_name=names.get(assignee, ""),
                own_submission=submitter == me,
            )
        )
    return views


def work_counts(
    session: Session, actor: Actor, mine: bool = True, *, search: str | None = None, doc_type: str | None = None
) -> dict[str, int]:
    """Open work items per My work tab (``WORK_VIEWS``), with a search the items it finds: one
    statement over the inbox index (the operator's open items, or everyone's), so the tabs count
    every open item, not the page the screen holds."""
    require(actor, "work.view")
    current = now(session)
    if search_term(search) is None and not doc_type:
        return _tab_counts(session, actor, mine, current)
    query, _ = _narrowed(session, actor, inbox_query(actor, mine, doc_type), search, None, current)
    tabs = _tab_conditions(actor, current)
    one = sqlalchemy.literal(1)
    counted = query.with_only_columns(func.count(), *[func.count(case((tabs[view], one))) for view in WORK_VIEWS[1:]])
    row = session.execute(counted).one()
    return dict(zip(WORK_VIEWS, (int(n) for n in row)))


def _tab_counts(session: Session, actor: Actor, mine: bool, current: datetime) -> dict[str, int]:
    """``work_counts`` with no search and no document type, as index ranges, not a join of every
    open item to its instance (4.1 ms SQLite / 5.3 ms PostgreSQL at 10k open items, 4.7x / 3.4x
    the same at 10): open items belong to running instances only (every end of an instance
    cancels its open items), so All and Overdue are counts of the item indexes alone (the
    operator's: ``ix_workitem_assignee_status`` and the inbox index up to now; everyone's:
    ``ix_workitem_status_due``), and the tabs that depend on the submitter start from the
    operator's own running instances (``ix_workflowinstance_submitter``), whose open items are
    few. Waiting for me is the operator's open items less those on their own submissions (the
    tab's condition in ``_tab_conditions``). One statement of scalar subqueries."""
    me = actor.user_name
    item, inst = table_of(WorkItem), table_of(WorkflowInstance)
    is_open = item.c.status == ITS.OPEN.value

    def count(*where: Any) -> Any:
        return select(func.count()).select_from(item).where(is_open, *where).scalar_subquery()

    def on_my_submissions(*where: Any) -> Any:
        own = select(inst.c.id).where(inst.c.submitter == me, inst.c.status == IS.RUNNING.value)
        return count(item.c.instance_id.in_(own), *where)

    scope = [item.c.assignee == me] if mine else []
    figures = [
        count(item.c.assignee == me),
        on_my_submissions(item.c.assignee == me),
        count(*scope, item.c.due_at <= current),
    ]
    if not mine:  # every open item; every open item on the operator's submissions
        figures += [count(), on_my_submissions()]
    assigned, assigned_own, overdue, *everyone = (int(n) for n in session.connection().execute(select(*figures)).one())
    every, own = everyone or (assigned, assigned_own)
    return dict(zip(WORK_VIEWS, (every, overdue, assigned - assigned_own, own)))


def count_waiting(session: Session, actor: Actor, doc_type: str | None = None) -> int:
    """Open work items waiting for this operator: assigned to them, and (while 'Disallow approval
    by submitter' is on) not on documents they submitted (header counts, ``work count``).

    Open items belong to running instances only (every end of an instance cancels its open
    items), so the count is read from the (assignee, status) index alone, less the few on the
    operator's own submissions (ix_workflowinstance_submitter, then ix_workitem_assignee_instance)."""
    require(actor, "work.view")
    me = actor.user_name
    mine = (
        select(func.count()).select_from(WorkItem).where(col(WorkItem.assignee) == me, col(WorkItem.status) == ITS.OPEN)
    )
    if doc_type:
        mine = mine.join(WorkflowInstance, col(WorkItem.instance_id) == col(WorkflowInstance.id)).where(
            col(WorkflowInstance.doc_type) == doc_type
        )
    total = int(session.exec(mine).one())
    if total and params.get(session, "workflow.disallow_submitter_approval"):
        submitted = select(WorkflowInstance.id).where(
            col(WorkflowInstance.submitter) == me, col(WorkflowInstance.status) == IS.RUNNING
        )
        if doc_type:
            submitted = submitted.where(col(WorkflowInstance.doc_type) == doc_type)
        # probes (assignee, status, instance_id) once per own instance: no walk over my items
        own = (
            select(func.count())
            .select_from(WorkItem)
            .where(
                col(WorkItem.assignee) == me, col(WorkItem.status) == ITS.OPEN, col(WorkItem.instance_id).in_(submitted)
            )
        )
        total -= int(session.exec(own).one())
    return total


def show_item(session: Session, actor: Actor, item_id: int | str) -> InstanceDetail:
    """A work item's workflow: the steps, every item and decision of the instance."""
    require(actor, "work.view")
    item = get_item(session, item_id)
    inst = session.get(WorkflowInstance, item.instance_id)
    assert inst is not None
    document_types()
    return instance_detail(session, inst)


def history(session: Session, actor: Actor, doc_type: str, key: str) -> WorkflowHistory:
    """Every workflow a document went through, with its items and the document's audit events."""
    require(actor, "work.view")
    get_type(doc_type)
    instances = session.exec(
        select(WorkflowInstance)
        .where(col(WorkflowInstance.doc_type) == doc_type, col(WorkflowInstance.doc_key) == key)
        .order_by(col(WorkflowInstance.id))
    ).all()
    return WorkflowHistory(
        doc_type=doc_type,
        doc_key=key,
        instances=[instance_detail(session, i) for i in instances],
        events=audit.history(session, doc_type, key),
    )


def operators_for_delegation(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """(user name, display name) of the active operators who may take a work item."""
    require(actor, "work.act")
    ops = session.exec(
        select(Operator)
        .where(col(Operator.active) == True)  # noqa: E712
        .order_by(col(Operator.user_name))
    ).all()
    return [
        (o.user_name, o.display_name) for o in ops if set(o.roles.split()) & STAFF and o.user_name != actor.user_name
    ]
