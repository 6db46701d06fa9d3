"""The console decides when full garbage collections run (app/tui.py): never by the collector's own
schedule while the app runs, which started one every second or two while a key was held down (the
longest event-loop stalls in bench/console_bench.py); only when idle (scrolling makes next to no
cyclic garbage since screens/textual_compat.py ``strips_freed_by_refcount``)."""

from __future__ import annotations

import asyncio
import gc
import time

from app.tui import make_app
from tests.conftest import actor_of


def test_the_collector_starts_no_full_collection_while_the_console_runs(store):
    before = gc.get_threshold()
    app = make_app(store, actor_of(store)("approver1"))
    seen: list[tuple[int, int, int]] = []

    async def run() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            seen.append(gc.get_threshold())

    asyncio.run(run())
    assert seen[0][:2] == before[:2]  # the young generations as before
    assert seen[0][2] == app.GC_NEVER
    assert gc.get_threshold() == before  # given back when the app closed


def _record_collections(app, monkeypatch, calls: list[str], middle_passes) -> None:
    """Past the app's one-off freeze; the collector's calls recorded in ``calls`` instead of run,
    and ``middle_passes()`` as the count of middle passes since the last full collection."""
    app._settled_frozen = True
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    monkeypatch.setattr(gc, "get_count", lambda: (0, 0, middle_passes()))


def test_full_collections_run_only_when_idle(store, monkeypatch):
    app = make_app(store, actor_of(store)("approver1"))
    calls: list[str] = []

    async def run() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            counts = {"n": 0}
            _record_collections(app, monkeypatch, calls, lambda: counts["n"])
            app._last_input = time.monotonic()  # a key was just pressed
            counts["n"] = app.GC_EARLY
            app._maybe_collect()
            assert calls == []  # coming, but the operator is typing
            counts["n"] = 1000
            app._maybe_collect()
            assert calls == []  # held input, however long: none (scrolling makes next to no cyclic garbage)
            counts["n"] = app.GC_EARLY
            app._last_input = time.monotonic() - app.GC_IDLE_SECONDS
            app._maybe_collect()
            # idle, one coming: a full collection, its survivors frozen (the next scans only what
            # came after: each idle one scanned the whole heap since start-up again, 50 ms at 1k)
            assert calls == ["collect", "freeze"] and app._busy_frozen
            calls.clear()
            counts["n"] = 0
            app._maybe_collect()
            assert calls == []  # idle, nothing coming, not a long pause: nothing
            app._last_input = time.monotonic() - app.GC_DEEP_IDLE_SECONDS
            app._maybe_collect()
            assert calls == ["unfreeze", "collect", "freeze"]  # a long pause: what was frozen is reclaimed
            assert not app._busy_frozen
            calls.clear()
            app._maybe_collect()
            assert calls == []  # once

    asyncio.run(run())


def test_no_full_collection_while_the_list_waits_for_the_page_it_asked_for(store, monkeypatch):
    """No key for a second is not idle while the page a key asked for is still on its way: a common
    word's first page at 1M requests on PostgreSQL takes over a second, and a full collection that
    started meanwhile held back the page's paint by its own time (bench/console_bench.py --profile:
    ``_maybe_collect`` was a third of the event loop's time in "search (page)" at 1M)."""
    app = make_app(store, actor_of(store)("approver1"))
    calls: list[str] = []

    async def run() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            _record_collections(app, monkeypatch, calls, lambda: app.GC_EARLY)
            screen = app.screen
            app._last_input = time.monotonic() - app.GC_IDLE_SECONDS  # the search's Enter, a second ago
            screen._fetching = True  # ... and its first page not here yet
            app._maybe_collect()
            assert calls == []
            app._settled_frozen = False  # nor the one-off freeze's collection
            app._maybe_collect()
            assert calls == []
            app._settled_frozen = True
            screen._fetching = False  # the page came (and was painted)
            app._maybe_collect()
            assert calls == ["collect", "freeze"]

    asyncio.run(run())


def test_what_an_idle_collection_froze_is_reclaimed_after_a_longer_pause(store, monkeypatch):
    """The real collector: an object kept across an idle collection is frozen (the next idle one
    does not scan it); once it becomes cyclic garbage, an idle collection leaves it (frozen) and the
    longer pause's pass reclaims it: nothing frozen leaks."""
    import weakref

    app = make_app(store, actor_of(store)("approver1"))

    class Node:
        pass

    async def run() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            app._settled_frozen = True
            monkeypatch.setattr(gc, "get_count", lambda: (0, 0, app.GC_EARLY))
            node = Node()
            node.me = node  # a cycle: only the collector frees it
            gone = weakref.ref(node)
            frozen = gc.get_freeze_count()
            app._last_input = time.monotonic() - app.GC_IDLE_SECONDS
            app._maybe_collect()
            assert gc.get_freeze_count() > frozen and app._busy_frozen
            del node  # cyclic garbage now, but frozen
            app._maybe_collect()
            assert gone() is not None
            app._last_input = time.monotonic() - app.GC_DEEP_IDLE_SECONDS
            app._maybe_collect()
            assert gone() is None

    try:
        asyncio.run(run())
    finally:
        gc.unfreeze()
