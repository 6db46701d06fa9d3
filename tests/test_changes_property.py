"""Property: whatever operators do (edits, imports, submits, discards, recalls, approvals,
rejections, in any order), a field that needs approval changes only through an approval by
someone who did not propose or submit it, and only to the value that was proposed.

The Data entity behavior is drawn from reject / propose: "allow" is by definition the
documented bypass of approval for imports (tested in test_customer_import.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from models.changes import ChangeLine, ChangeProposal
from services import changes, customers
from services import customer_import as ci
from services.clock import ManualClock
from services.errors import RegdeskError
from services.store import Store
from tests.conftest import DEMO_OPERATORS, actor_of

ACCOUNTS = ("C-000001", "C-000002")
GATED = ("credit_limit", "name", "credit_rating")
VALUES = {
    "credit_limit": ["0", "100", "250.50"],
    "name": ["Alpha", "Beta"],
    "credit_rating": ["", "A", "B"],
    "city": ["Oslo", "Lima"],
    "tax_group": ["TAX", "EXEMPT"],
}
FIELDS = tuple(VALUES)

_edit = st.tuples(
    st.just("edit"),
    st.sampled_from(DEMO_OPERATORS),
    st.sampled_from(ACCOUNTS),
    st.dictionaries(st.sampled_from(FIELDS), st.integers(0, 2), min_size=1, max_size=3),
)
_submit = st.tuples(st.just("submit"), st.sampled_from(DEMO_OPERATORS), st.sampled_from(ACCOUNTS))
_approve = st.tuples(
    st.just("approve"),
    st.sampled_from(DEMO_OPERATORS + ("approver1", "approver2") * 3),
    st.sampled_from(ACCOUNTS),
    st.one_of(st.none(), st.none(), st.lists(st.sampled_from(GATED), min_size=1, max_size=2)),
)
op_strategy = st.one_of(
    _edit,
    _edit,
    _submit,
    _submit,
    _approve,
    _approve,
    st.tuples(
        st.just("import"),
        st.sampled_from(DEMO_OPERATORS + ("admin1",) * 3),
        st.lists(
            st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(FIELDS), st.integers(0, 2)), min_size=1, max_size=3
        ),
    ),
    st.tuples(
        st.just("discard"),
        st.sampled_from(DEMO_OPERATORS),
        st.sampled_from(ACCOUNTS),
        st.one_of(st.none(), st.sampled_from(FIELDS)),
    ),
    st.tuples(st.just("recall"), st.sampled_from(DEMO_OPERATORS), st.sampled_from(ACCOUNTS)),
    st.tuples(st.just("reject"), st.sampled_from(DEMO_OPERATORS), st.sampled_from(ACCOUNTS)),
)


@st.composite
def _round(draw):
    """An edit, any operation, a submit, any operation, an approval attempt - mostly on one customer."""
    account = draw(st.sampled_from(ACCOUNTS))
    edit, submit, approve = draw(_edit), draw(_submit), draw(_approve)
    return [
        (*edit[:2], account, *edit[3:]),
        draw(op_strategy),
        (*submit[:2], account),
        draw(op_strategy),
        (*approve[:2], account, *approve[3:]),
    ]


def _value(field, i):
    pool = VALUES[field]
    return pool[i % len(pool)]


def _gated_values(store):
    with store.read() as s:
        return {a: {f: changes.encode(f, getattr(customers.get_customer(s, a), f)) for f in GATED} for a in ACCOUNTS}


def _run(store, actor, op):
    kind, who = op[0], actor(op[1])
    if kind == "edit":
        store.call(changes.edit_customer, who, op[2], {f: _value(f, i) for f, i in op[3].items()})
    elif kind == "import":
        rows = [ci.ImportRow(line=n + 2, account=a, values={f: _value(f, i)}) for n, (a, f, i) in enumerate(op[2])]
        store.call(ci.import_rows, who, rows)
    elif kind == "submit":
        store.call(changes.submit, who, op[2])
    elif kind == "discard":
        store.call(changes.discard, who, op[2], op[3])
    elif kind == "recall":
        store.call(changes.recall, who, op[2])
    elif kind == "approve":
        store.call(changes.approve, who, op[2], only=op[3])
    elif kind == "reject":
        store.call(changes.reject, who, op[2], "no")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    enabled=st.sets(st.sampled_from(GATED), min_size=1),
    behavior=st.sampled_from(["reject", "propose"]),
    rounds=st.lists(_round(), min_size=1, max_size=5),
)
def test_enabled_fields_change_only_through_an_approval(sqlite_template, enabled, behavior, rounds):
    """Each round: an edit, any operation, a submit, any operation, an approval attempt (random operators)."""
    ops = [op for r in rounds for op in r]
    folder = Path(tempfile.mkdtemp(prefix="regdesk-prop-"))
    shutil.copy(sqlite_template, folder / "r.db")
    store = Store(f"sqlite:///{folder / 'r.db'}", clock=ManualClock())
    try:
        actor = actor_of(store)
        admin = actor("admin1")
        store.call(changes.set_approvals, admin, True)
        store.call(changes.set_entity_behavior, admin, behavior)
        for f in enabled:
            store.call(changes.set_field_approval, admin, f, True)
        for op in ops:
            before = _gated_values(store)
            ok = True
            try:
                _run(store, actor, op)
            except RegdeskError:
                ok = False
            after = _gated_values(store)
            event(f"{op[0]} {'done' if ok else 'refused'}")
            for account in ACCOUNTS:
                moved = {f for f in enabled if before[account][f] != after[account][f]}
                if not moved:
                    continue
                assert ok and op[0] == "approve" and op[2] == account, (op, moved)
                with store.read() as s:
                    c = customers.get_customer(s, account)
                    p = s.exec(
                        select(ChangeProposal)
                        .where(ChangeProposal.customer_id == c.id)
                        .order_by(col(ChangeProposal.id).desc())
                    ).first()
                    lines = {x.field: x for x in s.exec(select(ChangeLine).where(ChangeLine.proposal_id == p.id)).all()}
                assert p.decided_by == op[1] and p.state in ("Approved", "Partially approved")
                assert op[1] not in {x.proposed_by for x in lines.values()} | {p.submitted_by}
                for f in moved:
                    assert lines[f].decision == "approved" and lines[f].proposed_value == after[account][f]
                    assert lines[f].original_value == before[account][f]
    finally:
        store.dispose()
        shutil.rmtree(folder, ignore_errors=True)
