"""The import's proposals are prepared before the write transaction (issue 9): numbers and ids
are the only things the write phase fills in. What the old one-by-one write phase gave must
still come out: consecutive numbers, the lines, the four audit events with the real number
(also inside JSON, whatever the prefix holds), counters that match a recount."""

from __future__ import annotations

import json

from sqlmodel import col, select

from models.changes import ChangeLine, ChangeProposal
from models.core import AuditEvent
from services import changes, counters, sequences
from tests.conftest import actor_of
from tests.test_customer_import import run, setup


def test_proposals_of_an_import_carry_their_numbers_everywhere(any_store):
    admin = setup(any_store, "propose", "credit_limit")
    with any_store.write() as s:
        changes._ensure_sequence(s)
    any_store.call(sequences.configure, admin, "change", prefix='C"\\H-')  # JSON-hostile characters
    report = run(
        any_store,
        "account,credit_limit,city\nC-000001,5000,Tacoma\nC-000002,7000,Leeds\nC-000003,9000,Bothell\n",
        partial=False,
    )
    assert report.counts["proposed"] == 3, report
    numbers = [r.proposal for r in report.report]
    assert numbers == ['C"\\H-000001', 'C"\\H-000002', 'C"\\H-000003']
    with any_store.read() as s:
        props = s.exec(select(ChangeProposal).order_by(col(ChangeProposal.number))).all()
        assert [(p.number, p.account, p.state, p.version) for p in props] == [
            (n, a, "Submitted", 2) for n, a in zip(numbers, ("C-000001", "C-000002", "C-000003"))
        ]
        for p, limit in zip(props, ("5000.00", "7000.00", "9000.00")):
            lines = s.exec(select(ChangeLine).where(ChangeLine.proposal_id == p.id)).all()
            assert [(x.field, json.loads(x.proposed_value)) for x in lines] == [("credit_limit", limit)]
            trail = s.exec(
                select(AuditEvent).where(AuditEvent.entity_key == p.number).order_by(col(AuditEvent.id))
            ).all()
            assert [e.action for e in trail] == ["created", "lines proposed", "submitted"]
            told = s.exec(
                select(AuditEvent).where(AuditEvent.entity_key == p.account, AuditEvent.action == "changes submitted")
            ).one()
            assert json.loads(told.after or "{}") == {"proposal": p.number, "fields": ["credit_limit"]}
        assert not [e for e in s.exec(select(AuditEvent)).all() if "\x00" in f"{e.entity_key}{e.before}{e.after}"]
        assert counters.check(s, admin) == []
    view = any_store.call(changes.show_proposal, actor_of(any_store)("approver1"), "C-000002")
    assert view.state == "Submitted" and view.source == "import"
    any_store.call(changes.approve, actor_of(any_store)("approver1"), "C-000002")
