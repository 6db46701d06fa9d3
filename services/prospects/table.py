"""The lead, opportunity and prospect processes: their Transition tables, the prospect's outcome
of each decision, and the wording of a refusal (services/transitions.py moves the records).

The tables are registered with services.transitions by the package (``services/prospects/__init__``):
``regdesk processes`` ranks a process by the module that registers it (``PROCESS_MODULES``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from models.prospects import Lead, LeadStatus, Opportunity, OpportunityStatus, Prospect, ProspectStatus
from services import audit, transitions
from services.permissions import Actor
from services.store import now

P, L, O = ProspectStatus, LeadStatus, OpportunityStatus  # noqa: E741  (short names for the transition tables)
ENTITY = "prospect"
LEAD_ENTITY = "lead"
OPP_ENTITY = "opportunity"


# the lead's and the opportunity's tables; each decision also decides the prospect (PROSPECT_OUTCOME)
LEAD_TRANSITIONS = transitions.table(
    "lead",
    [
        ("qualify", {L.OPEN}, L.QUALIFIED, "prospects.process", "qualify"),
        ("disqualify", {L.OPEN}, L.DISQUALIFIED, "prospects.process", "disqualify"),
    ],
)
OPPORTUNITY_TRANSITIONS = transitions.table(
    "opportunity",
    [
        ("won", {O.OPEN}, O.WON, "prospects.process", "close as won"),
        ("lost", {O.OPEN}, O.LOST, "prospects.process", "close as lost"),
    ],
)
PROSPECT_TRANSITIONS = transitions.table(
    "prospect",
    [
        ("approve", {P.PENDING}, P.APPROVED, None, "approve (its opportunity is won)", frozenset(), False),
        (
            "reject",
            {P.PENDING},
            P.REJECTED,
            None,
            "reject (its lead is disqualified or opportunity lost)",
            frozenset(),
            False,
        ),
        ("change_email", {P.PENDING}, None, None, "change the e-mail of", frozenset(), False),
    ],
)
TRANSITIONS = {**LEAD_TRANSITIONS, **OPPORTUNITY_TRANSITIONS}
PROSPECT_OUTCOME: dict[str, str] = {"disqualify": "reject", "won": "approve", "lost": "reject"}
PROSPECT_FILTERS = ["All", *[s.value for s in ProspectStatus]]
LEAD_FILTERS = ["All", *[s.value for s in LeadStatus]]
OPPORTUNITY_FILTERS = ["All", *[s.value for s in OpportunityStatus]]


def _at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def _explain(session: Session, row: Lead | Opportunity, action: str) -> str | None:
    """The process's own words for a refusal (None: the mover's sentence, services/transitions.py)."""
    n, st = row.number, row.status
    if isinstance(row, Lead):
        if st == L.QUALIFIED:
            opp = session.exec(
                select(Opportunity.number, Opportunity.status).where(col(Opportunity.lead_id) == row.id)
            ).first()
            where = f"; act on opportunity {opp[0]} ({opp[1]})" if opp else ""
            return f"{n} was qualified by {row.qualified_by} on {_at(row.qualified_at)}{where}"
        if st == L.DISQUALIFIED:
            return (
                f"{n} was disqualified by {row.disqualified_by} on {_at(row.disqualified_at)}: {row.disqualify_reason}"
            )
    else:
        if st in (O.WON, O.LOST):
            return f"{n} was closed as {st} by {row.closed_by} on {_at(row.closed_at)}"
    return None


def _explain_prospect(_session: Session, p: Prospect, action: str) -> str | None:
    return f"prospect {p.number} is {p.status} already ({p.decided_by}, {_at(p.decided_at)})"


LEAD_PROCESS = transitions.Process(
    name="lead",
    title="Lead",
    model=Lead,
    states=tuple(LeadStatus),
    transitions=LEAD_TRANSITIONS,
    entity=LEAD_ENTITY,
    initial=(L.OPEN,),
    explain=_explain,
)
OPPORTUNITY_PROCESS = transitions.Process(
    name="opportunity",
    title="Opportunity",
    model=Opportunity,
    states=tuple(OpportunityStatus),
    transitions=OPPORTUNITY_TRANSITIONS,
    entity=OPP_ENTITY,
    initial=(O.OPEN,),
    explain=_explain,
)
PROSPECT_PROCESS = transitions.Process(
    name="prospect",
    title="Prospect",
    model=Prospect,
    states=tuple(ProspectStatus),
    transitions=PROSPECT_TRANSITIONS,
    entity=ENTITY,
    initial=(P.PENDING,),
    explain=_explain_prospect,
    label=lambda p: f"prospect {p.number}",
)


def process_of(row: Lead | Opportunity) -> transitions.Process:
    return LEAD_PROCESS if isinstance(row, Lead) else OPPORTUNITY_PROCESS


def check(session: Session, row: Lead | Opportunity, action: str) -> None:
    """The plan phase's check: refuse before the write lock."""
    transitions.check(session, process_of(row), row, action)


def step(
    session: Session,
    actor: Actor,
    action: str,
    row: Lead | Opportunity,
    prospect: Prospect,
    reason: str | None = None,
    **values: Any,
) -> None:
    """Move the lead/opportunity and the prospect together (the mover takes the write lock)."""
    transitions.move(session, process_of(row), row, action, **values)
    outcome = PROSPECT_OUTCOME.get(action)
    if outcome is not None:
        target = PROSPECT_TRANSITIONS[outcome].target or ""
        transitions.move(
            session,
            PROSPECT_PROCESS,
            prospect,
            outcome,
            decided_by=actor.user_name,
            decided_at=now(session),
            decision_reason=reason,
        )
        audit.record(
            session,
            actor,
            ENTITY,
            prospect.number,
            target.lower(),
            before={"status": P.PENDING.value},
            after={"status": target},
            comment=f"{row.number} {(TRANSITIONS[action].target or '').lower()}" + (f": {reason}" if reason else ""),
        )
