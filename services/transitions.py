"""One way to move a record: the ``Transition`` type, the process tables, and the mover.

Every process (sign-up, user request, case, sample, proposed change, portal user, lead,
opportunity, workflow) keeps only its table (a ``Process`` with its ``Transition`` rows) and
its wording (``Process.explain``); this module moves records and refuses with one rule:

* **gone** -> ``NotFound`` (exit 4);
* **wrong state, not yet** -> ``InvalidTransition`` (exit 5): the record is in a state from
  which the action's states can still be reached; the message says what the record is now
  and which action(s) would make this one possible ("approve it first");
* **done or taken further by someone else** -> ``Conflict`` (exit 6): the record is already
  where the action leads (somebody did it first; not a record still in its first state), or it has left the action's states for
  good (somebody approved, rejected, closed it), whether the command saw that when it
  planned or lost the race at the write; the message names who won (the record's own words,
  else its last audit event);
* **changed between the check and the write** (same state, other version) -> ``Conflict``
  naming who changed it.

The mover is phased (services/store.py): ``check`` runs in the plan phase and takes no lock;
``move`` checks, calls ``begin_write`` (a no-op when already writing) and then moves with a
compare-and-set ``UPDATE ... WHERE id AND state IN (from-states) AND version = :read``
(``claim``). On PostgreSQL the UPDATE waits for a concurrent writer's row lock and then
re-checks its WHERE clause; on SQLite writers are serialized by BEGIN IMMEDIATE.

The tables are printable: ``processes()`` lists them (``regdesk processes``), and
``mermaid(process)`` draws the state diagrams DESIGN.md shows (tests/test_transitions.py
checks DESIGN.md against it).
"""

from __future__ import annotations

import importlib
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, TypeVar

from sqlalchemy import bindparam, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col, select

from services.errors import Conflict, InvalidTransition, NotFound, RegdeskError
from services.store import begin_write, now

R = TypeVar("R", bound=SQLModel)

# the modules whose import registers a process table, in the order they are printed
PROCESS_MODULES = (
    "services.signup",
    "services.user_requests",
    "services.cases",
    "services.changes",
    "services.portal",
    "services.prospects",
    "services.workflow",
)


def _value(state: Any) -> str:
    return str(getattr(state, "value", state))


@dataclass(frozen=True)
class Transition:
    """One row of a process table: ``action`` moves a record of ``process`` from one of
    ``sources`` to ``target`` (or, where the outcome decides, to one of ``also``); ``target``
    None: the state stays (the action changes something else, e.g. resends a link)."""

    process: str
    action: str
    sources: frozenset[str]
    target: str | None
    permission: str | None  # None: the system, the portal or the workflow engine does it
    wording: str  # the verb phrase: "cannot <wording> it"
    also: frozenset[str] = frozenset()  # other possible targets (an approval that is partial)
    manual: bool = True  # offered to operators as an action

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", frozenset(_value(s) for s in self.sources))
        object.__setattr__(self, "also", frozenset(_value(s) for s in self.also))
        if self.target is not None:
            object.__setattr__(self, "target", _value(self.target))

    @property
    def label(self) -> str:  # the older name of ``wording``
        return self.wording

    @property
    def targets(self) -> frozenset[str]:
        """Every state the action can end in."""
        return (frozenset({self.target}) if self.target is not None else self.sources) | self.also


def table(process: str, rows: Iterable[tuple[Any, ...]]) -> dict[str, Transition]:
    """A process table from rows ``(action, sources, target, permission, wording[, also[, manual]])``."""
    out: dict[str, Transition] = {}
    for row in rows:
        action, sources, target, permission, wording, *rest = row
        out[action] = Transition(process, action, frozenset(sources), target, permission, wording, *rest)
    return out


@dataclass(frozen=True)
class Process:
    """A process: its record type, its states (in reading order) and its table.

    ``explain(session, record, action)`` is the process's own wording of why ``action`` is
    not possible on ``record`` as it is now (None: the mover's generic sentence);
    ``label(record)`` names the record ("REG-000001", "portal user jdoe")."""

    name: str
    title: str
    model: type
    states: tuple[str, ...]
    transitions: Mapping[str, Transition]
    entity: str  # the audit trail's entity_type
    initial: tuple[str, ...] = ()
    key: str = "number"
    field: str = "status"
    explain: Callable[[Session, Any, str], str | None] | None = None
    label: Callable[[Any], str] | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", tuple(_value(s) for s in self.states))
        object.__setattr__(self, "initial", tuple(_value(s) for s in self.initial))
        for name, t in self.transitions.items():
            if t.process != self.name or t.action != name:
                raise ValueError(f"transition {t.process}.{t.action} filed under {self.name}.{name}")
            unknown = (t.sources | t.targets) - set(self.states)
            if unknown:
                raise ValueError(f"{self.name}.{name}: unknown states {sorted(unknown)}")

    def name_of(self, record: Any) -> str:
        return self.label(record) if self.label else str(getattr(record, self.key))

    def state_of(self, record: Any) -> str:
        return _value(getattr(record, self.field))

    def __getitem__(self, action: str) -> Transition:
        return self.transitions[action]


_REGISTRY: dict[str, tuple[str, Process]] = {}


def register(process: Process) -> Process:
    """File a process table (called by the module that owns it, at import)."""
    import sys

    _REGISTRY[process.name] = (sys._getframe(1).f_globals.get("__name__", ""), process)
    return process


def processes() -> list[Process]:
    """Every process table, in PROCESS_MODULES order (importing the modules registers them)."""
    for module in PROCESS_MODULES:
        importlib.import_module(module)
    order = {m: i for i, m in enumerate(PROCESS_MODULES)}
    names = list(_REGISTRY)
    ranked = sorted(_REGISTRY.values(), key=lambda mp: (order.get(mp[0], 99), names.index(mp[1].name)))
    return [p for _, p in ranked]


def get_process(name: str) -> Process:
    by_name = {p.name: p for p in processes()}
    key = name.strip().lower().replace("-", "_")
    if key not in by_name:
        raise NotFound(f"no process {name!r} (one of: {', '.join(by_name)})")
    return by_name[key]


# ---------------------------------------------------------------------------- the rule


def _path(process: Process, start: str, goals: frozenset[str]) -> list[Transition] | None:
    """The shortest run of actions from ``start`` into ``goals`` (None: unreachable)."""
    if start in goals:
        return []
    seen = {start}
    queue: deque[tuple[str, list[Transition]]] = deque([(start, [])])
    while queue:
        state, path = queue.popleft()
        for t in process.transitions.values():
            if state not in t.sources:
                continue
            for nxt in sorted(t.targets - {state}):
                if nxt in goals:
                    return [*path, t]
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append((nxt, [*path, t]))
    return None


def _states(states: Iterable[str], order: tuple[str, ...] = ()) -> str:
    names = sorted(states, key=lambda s: (order.index(s) if s in order else len(order), s))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def last_change(session: Session, process: Process, record: Any) -> tuple[str, str, str] | None:
    """(operator, action, "YYYY-MM-DD HH:MM") of the record's last audit event."""
    from models.core import AuditEvent

    row = session.exec(
        select(AuditEvent)
        .where(AuditEvent.entity_type == process.entity, AuditEvent.entity_key == str(getattr(record, process.key)))
        .order_by(col(AuditEvent.id).desc())
    ).first()
    return (row.operator, row.action, f"{row.at:%Y-%m-%d %H:%M}") if row else None


def _who(session: Session, process: Process, record: Any, message: str) -> str:
    last = last_change(session, process, record)
    if last is None or last[0] in message:
        return message
    operator, action, at = last
    return f"{message} (last change: {action} by {operator} on {at})"


def refusal(session: Session, process: Process, record: Any, action: str, *, lost_race: bool = False) -> RegdeskError:
    """The one answer to "``action`` is not possible on ``record`` as it is now"."""
    t = process.transitions[action]
    name, state = process.name_of(record), process.state_of(record)
    own = process.explain(session, record, action) if process.explain else None
    # somebody did this very action (or its twin); a record still in its first state did nothing yet
    done = t.target is not None and state in t.targets and state not in process.initial
    path = None if lost_race or done else _path(process, state, t.sources)
    if path is not None:  # not yet: say what would make it possible
        message = own or f"{name} is {state}: cannot {t.wording} it yet"
        steps = " then ".join(f"'{p.action}'" for p in path)
        hint = f"{t.action} needs {_states(t.sources, process.states)}"
        return InvalidTransition(f"{message}; {hint}" + (f" (after {steps})" if steps and len(path) <= 3 else ""))
    message = own or f"{name} is {state} now: cannot {t.wording} it"
    return Conflict(_who(session, process, record, message))


def check(session: Session, process: Process, record: Any | None, action: str, *, missing: str | None = None) -> None:
    """The plan phase's check (no lock): NotFound, InvalidTransition or Conflict by the rule above."""
    if record is None:
        raise NotFound(missing or f"no such {process.title.lower()}")
    if process.state_of(record) not in process.transitions[action].sources:
        raise refusal(session, process, record, action)


def allows(process: Process, state: Any, action: str) -> bool:
    return _value(state) in process.transitions[action].sources


def move(session: Session, process: Process, record: Any, action: str, *, to: Any = None, **values: Any) -> str:
    """Check, take the write lock (``begin_write``), then compare-and-set; returns the state left.

    ``to``: the target where the table allows more than one (``Transition.also``)."""
    t = process.transitions[action]
    check(session, process, record, action)
    before = process.state_of(record)
    begin_write(session)
    target = _value(to) if to is not None else t.target
    if target is not None:
        if target not in t.targets:
            raise ValueError(f"{process.name}.{action} cannot end in {target}")
        values[process.field] = target
    won, fresh = claim(session, record, t.sources, field=process.field, **values)
    if not won:
        if fresh is not None and process.state_of(fresh) not in t.sources:
            raise refusal(session, process, fresh, action, lost_race=True)
        raise changed_meanwhile(session, process, record, fresh)
    return before  # ``record`` holds the row as the UPDATE left it (claim's RETURNING)


def changed_meanwhile(session: Session, process: Process, record: Any, fresh: Any = None) -> RegdeskError:
    """A compare-and-set that found another version: NotFound when the record is gone, else a
    Conflict naming who changed it (its last audit event)."""
    name = process.name_of(record)
    if fresh is None:
        session.expire(record)
        fresh = session.get(process.model, record.id)
    if fresh is None:
        return NotFound(f"{name} no longer exists")
    return Conflict(
        _who(session, process, fresh, f"{name} was changed by someone else meanwhile") + ": reread and try again"
    )


# ---------------------------------------------------------------------------- the primitive


def claim(
    session: Session,
    row: R,
    sources: Iterable[str],
    *,
    field: str = "status",
    version: int | None = None,
    **values: Any,
) -> tuple[bool, R | None]:
    """Apply ``values`` to ``row`` if its ``field`` is in ``sources`` and its version unchanged.

    Bumps the version (and ``updated_at`` where the table has it). Returns ``(True, None)``
    when this transaction won (``row`` then holds the values the UPDATE left, read back by its
    RETURNING), else ``(False, current)`` with the record as it is now (None when it was
    deleted; ``row`` is expired, so it reads fresh values next).
    """
    model = type(row)
    expected = row.version if version is None else version  # type: ignore[attr-defined]
    changes: dict[str, Any] = {"version": expected + 1, **values}
    if "updated_at" in model.model_fields and "updated_at" not in changes:
        changes["updated_at"] = now(session)
    keys, columns = _columns(model)
    stmt = _claim_statement(model, field, tuple(sorted(_value(s) for s in sources)), tuple(sorted(changes)))
    params = {f"v_{k}": v for k, v in changes.items()}
    params["c_id"], params["c_version"] = getattr(row, "id"), expected
    # a Core UPDATE built once per shape: the ORM's bulk-update path cost more CPU than the statement
    if session.autoflush:  # what the ORM's UPDATE did first: pending changes go before it
        session.flush()
    now_row = session.execute(stmt, params).first()
    session.expire(row)
    if now_row is not None:
        for key, value in zip(keys, now_row):
            set_committed_value(row, key, value)
        return True, None
    return False, session.get(model, row.id)  # type: ignore[attr-defined]


@lru_cache(maxsize=512)
def _claim_statement(model: type, field: str, sources: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    """``UPDATE <table> SET <keys> WHERE id = :c_id AND <field> IN (sources) AND version = :c_version
    RETURNING <every column>``, with a bound parameter ``v_<key>`` per value."""
    table = model.__table__  # type: ignore[attr-defined]
    by_key = dict(zip(*_columns(model)))
    return (
        update(table)
        .where(
            table.c.id == bindparam("c_id", type_=table.c.id.type),  # the mover's records all have id and version
            by_key[field].in_(sources),
            table.c.version == bindparam("c_version", type_=table.c.version.type),
        )
        .values({by_key[k]: bindparam(f"v_{k}", type_=by_key[k].type) for k in keys})
        .returning(*_columns(model)[1])  # the row as it is now: no SELECT after the UPDATE to read it back
    )


_COLUMNS: dict[type, tuple[tuple[str, ...], tuple[Any, ...]]] = {}


def _columns(model: type) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """A mapped model's column attributes: (attribute keys, their columns), in one order."""
    known = _COLUMNS.get(model)
    if known is None:
        attrs: Any = sa_inspect(model).column_attrs
        known = _COLUMNS[model] = (tuple(a.key for a in attrs), tuple(a.columns[0] for a in attrs))
    return known


# ---------------------------------------------------------------------------- printing


def _mid(state: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in state)


def mermaid(process: Process) -> str:
    """The process as a mermaid ``stateDiagram-v2`` (what DESIGN.md shows)."""
    lines = ["stateDiagram-v2"]
    for state in process.states:
        if _mid(state) != state:
            lines.append(f'    state "{state}" as {_mid(state)}')
    for state in process.initial:
        lines.append(f"    [*] --> {_mid(state)}")
    for t in process.transitions.values():
        for src in sorted(t.sources, key=process.states.index):
            for dst in sorted(t.targets if t.target is not None else {src}, key=process.states.index):
                lines.append(f"    {_mid(src)} --> {_mid(dst)}: {t.action}")
    return "\n".join(lines)


DESIGN_BEGIN = "<!-- processes:begin (generated by scripts/design-diagrams from services/transitions.py) -->"
DESIGN_END = "<!-- processes:end -->"


def mermaid_blocks(chosen: Iterable[Process] | None = None) -> str:
    """Each process as a heading and a fenced mermaid block: DESIGN.md's generated section."""
    parts = []
    for p in processes() if chosen is None else chosen:
        parts.append(f"### {p.title} (`{p.name}`: {p.model.__name__}.{p.field})\n\n```mermaid\n{mermaid(p)}\n```")
    return "\n\n".join(parts)


def design_section() -> str:
    """What DESIGN.md holds between its process markers."""
    return f"{DESIGN_BEGIN}\n\n{mermaid_blocks()}\n\n{DESIGN_END}"


def as_dict(process: Process) -> dict[str, Any]:
    return {
        "name": process.name,
        "title": process.title,
        "record": process.model.__name__,
        "field": process.field,
        "states": list(process.states),
        "initial": list(process.initial),
        "transitions": [
            {
                "action": t.action,
                "from": sorted(t.sources, key=process.states.index),
                "to": sorted(t.targets, key=process.states.index) if t.target is not None else None,
                "permission": t.permission,
                "wording": t.wording,
                "manual": t.manual,
            }
            for t in process.transitions.values()
        ],
    }


def as_text(process: Process) -> str:
    out = [
        f"{process.name}: {process.title} ({process.model.__name__}.{process.field})",
        "  states: " + ", ".join(process.states),
    ]
    for t in process.transitions.values():
        to = " | ".join(sorted(t.targets, key=process.states.index)) if t.target is not None else "(same)"
        who = t.permission or "the system, the portal or the workflow engine"
        out.append(f"  {t.action:<16} {_states(t.sources, process.states)} -> {to}   [{who}]")
    return "\n".join(out)
