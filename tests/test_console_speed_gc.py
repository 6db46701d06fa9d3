"""The console decides when full garbage collections run (app/tui.py): never by the collector's own
schedule while the app runs, which started one every second or two while a key was held down (the
longest event-loop stalls in bench/console_bench.py); idle, or after ``GC_FORCE`` middle-generation
collections whatever the input."""

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


def test_a_full_collection_runs_when_idle_or_after_gc_force_during_input(store, monkeypatch):
    app = make_app(store, actor_of(store)("approver1"))
    collected: list[str] = []

    async def run() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            app._settled_frozen = True  # past the one-off freeze
            monkeypatch.setattr(gc, "collect", lambda *a: collected.append("full") or 0)
            counts = {"n": 0}
            monkeypatch.setattr(gc, "get_count", lambda: (0, 0, counts["n"]))
            app._last_input = time.monotonic()  # a key was just pressed
            counts["n"] = app.GC_EARLY
            app._maybe_collect()
            assert collected == []  # coming, but the operator is typing
            counts["n"] = app.GC_FORCE
            app._maybe_collect()
            assert collected == ["full"]  # held input does not defer it for ever
            collected.clear()
            counts["n"] = app.GC_EARLY
            app._last_input = time.monotonic() - app.GC_IDLE_SECONDS
            app._maybe_collect()
            assert collected == ["full"]  # idle: the one that is coming runs now

    asyncio.run(run())
