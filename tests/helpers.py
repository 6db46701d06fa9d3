"""Helpers the console tests share (defined once here, imported by every test that drives Pilot)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

# How long ``until`` waits for the app to reach a condition by itself (workers, debounce timers,
# live reads). Only a failing test waits this long; generous for a loaded CI machine at -n 2.
UNTIL_SECONDS = 30.0


def run_async(fn):
    """No asyncio plugin in this suite: run the Pilot scenario in its own event loop."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def workers_done(app) -> None:
    """Wait for the app's workers; one cancelled meanwhile (an exclusive worker replaced by a newer
    one, as the console does on every new question) is not a failure of the test."""
    from textual.worker import WorkerCancelled

    for _ in range(20):
        try:
            await app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


async def until(
    app, pilot, condition: Callable[[], bool], what: str = "condition", seconds: float = UNTIL_SECONDS
) -> None:
    """Wait for workers and a condition the app reaches by itself (never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await workers_done(app)
        if condition():
            return
        if loop.time() >= deadline:
            break
        await pilot.pause(0.02)
    raise AssertionError(
        f"timed out after {seconds:g} s waiting for {what}; focused={app.focused!r} "
        f"screen={app.screen!r} notifications={notes(app)}"
    )


def notes(app) -> list[str]:
    """The messages of the notifications the app raised (through screens/textual_compat.py)."""
    from screens.textual_compat import notifications

    return [n.message for n in notifications(app)]
