"""A ``regdesk serve`` worker keeps its start-up heap out of full collections (app.heap).

A full collection walks every tracked object; in a started worker most of them live as long as
the process (modules, the app, compiled statements). Frozen, they are walked no more."""

from __future__ import annotations

import gc

import pytest


@pytest.fixture
def thawed():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_serve_worker_freezes_what_it_started_with(db_path, monkeypatch, thawed):
    from app.web.asgi import create_from_env

    monkeypatch.setenv("REGDESK_DATABASE_URL", f"sqlite:///{db_path}")
    monkeypatch.setenv("REGDESK_WEB_ACCESS_LOG", "0")
    assert gc.get_freeze_count() == 0
    app = create_from_env()
    assert app is not None
    frozen = gc.get_freeze_count()
    # the modules it imported, its routes and the store are frozen: thousands of objects
    assert frozen > 10_000
    # what was alive at start-up is not walked by a full collection any more
    assert not any(o is app for o in gc.get_objects(generation=2))


def test_freeze_startup_heap_collects_first_and_reports_the_count(thawed):
    from app.heap import freeze_startup_heap

    class Cycle:
        pass

    a, b = Cycle(), Cycle()
    a.other, b.other = b, a  # garbage once the names go: collected, not frozen for life
    del a, b
    frozen = freeze_startup_heap()
    assert frozen == gc.get_freeze_count() > 0
    assert not any(type(o) is Cycle for o in gc.get_objects()) and not any(type(o) is Cycle for o in _frozen_objects())


def _frozen_objects():
    gc.unfreeze()  # the permanent generation back into gen 2, to look at it
    try:
        return list(gc.get_objects(generation=2))
    finally:
        gc.freeze()
