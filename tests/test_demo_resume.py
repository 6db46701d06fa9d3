"""`regdesk demo` finishes a load that was cut short, whichever step it was in (issue 9): the
requests, the cases and the prospects are each taken on from the state they reached, and
nothing is added twice."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import func, select

from app.cli import main
from models.cases import Case, SampleRequest
from models.prospects import Lead, Opportunity, Prospect
from models.signup import SignupRequest
from seed.demo import REQUESTS, is_loaded, load_base
from seed.demo_b2b import CASES, PROSPECTS
from services import cases, prospects, signup
from services.clock import ManualClock
from services.store import Store


class Killed(BaseException):
    """The load process dies here (not an error any service would catch)."""


def _die_at(monkeypatch, module, name: str, call_number: int) -> None:
    original = getattr(module, name)
    seen = {"n": 0}

    def dying(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] == call_number:
            raise Killed(f"{name} #{call_number}")
        return original(*args, **kwargs)

    dying.__dict__.update(original.__dict__)  # keeps @writes / phased marks for Store.call
    monkeypatch.setattr(module, name, dying)


def _finals(store: Store) -> tuple[Counter, Counter, Counter, Counter, int]:
    with store.read() as s:
        requests = Counter(s.exec(select(SignupRequest.status)).all())
        case_statuses = Counter(s.exec(select(Case.status)).all())
        leads = Counter(s.exec(select(Lead.status)).all())
        opportunities = Counter(s.exec(select(Opportunity.status)).all())
        samples = s.exec(select(func.count()).select_from(SampleRequest)).one()
        assert s.exec(select(func.count()).select_from(Prospect)).one() == len(PROSPECTS)
    return requests, case_statuses, leads, opportunities, samples


def _expected_cases() -> Counter:
    return Counter(entry[-1] for entry in CASES)


@pytest.mark.parametrize(
    "where",
    [
        (signup, "approve", 2),  # in the requests step
        (cases, "approve", 1),  # in the cases step (before it the old load said "already there" for ever)
        (cases, "add_sample", 1),
        (prospects, "qualify", 2),  # in the prospects step
        (prospects, "won", 1),
    ],
    ids=lambda w: f"{w[0].__name__.rsplit('.', 1)[-1]}.{w[1]}#{w[2]}",
)
def test_a_load_killed_half_way_is_finished_by_the_next_one(tmp_path, monkeypatch, where):
    module, name, call_number = where
    store = Store(f"sqlite:///{tmp_path / 'demo.db'}", clock=ManualClock(), create=True)
    try:
        with monkeypatch.context() as m:
            _die_at(m, module, name, call_number)
            with pytest.raises(Killed):
                load_base(store)
        assert not is_loaded(store)
        load_base(store)
        assert is_loaded(store)
        requests, case_statuses, leads, opportunities, samples = _finals(store)
        assert requests == Counter(entry[-1] for entry in REQUESTS)
        assert case_statuses == _expected_cases()
        assert samples == 1
        assert leads == Counter({"Open": 1, "Qualified": 3, "Disqualified": 1})
        assert opportunities == Counter({"Open": 1, "Won": 1, "Lost": 1})
        assert load_base(store) == {"loaded": False}  # complete: the next run adds nothing
    finally:
        store.dispose()


def test_demo_command_finishes_a_load_killed_in_the_cases_step(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REGDESK_DATABASE_URL", raising=False)
    target = tmp_path / "demo.db"
    store = Store(f"sqlite:///{target}", create=True)
    with monkeypatch.context() as m:
        _die_at(m, cases, "submit", 2)
        with pytest.raises(Killed):
            load_base(store)
    store.dispose()
    capsys.readouterr()
    assert main(["--db", str(target), "demo"]) == 0
    out = capsys.readouterr().out
    assert "already there" not in out
    store = Store(f"sqlite:///{target}")
    try:
        assert _finals(store)[1] == _expected_cases()
    finally:
        store.dispose()
