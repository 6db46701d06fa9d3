"""Open the Textual console for a CLI context.

Fast start: on a current SQLite file ``services.quick`` reads the acting operator and the
Registration list's first view with plain sqlite3, so the console paints without importing
SQLModel/SQLAlchemy; the real store and actor are opened in a background thread worker once
the list is painted (``RegdeskApp.call`` waits for them). Otherwise (a file that needs an
upgrade, an unknown or refused operator...) the store and actor are resolved first and their
refusals surface before the screen opens. PostgreSQL has the same fast start through libpq.

The first view is read in a thread while the main thread imports Textual and the screens:
on PostgreSQL loading libpq, connecting and the queries are mostly waiting (dlopen, the
network, the server), which now overlaps the imports instead of following them.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

from app.cli.context import CliContext

# the first page's size the first view is read with before the screens are imported; it must be
# ``screens.registration.PAGE_SIZE`` (tests/test_cli_start.py checks; a mismatch reads it again)
FIRST_PAGE = 60


def run_console(ctx: CliContext) -> int | None:
    """Run the console; returns its exit code (None or 0: a normal exit)."""
    # start-up: no garbage collection while the modules load (they live as long as the
    # process); then they are frozen, out of the collector's passes (a full pass, ~30 ms,
    # used to fall into the first frame)
    gc.disable()
    try:
        return _run(ctx)
    finally:
        gc.enable()


class _FirstView(threading.Thread):
    """``services.quick.light_start`` in a thread: the acting operator and the list's first view."""

    def __init__(self, url: str, operator: str | None) -> None:
        super().__init__(name="regdesk-first-view", daemon=True)
        self.url, self.operator = url, operator
        self.light: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            from services.quick import light_start

            self.light = light_start(self.url, self.operator, limit=FIRST_PAGE)
        except BaseException as exc:  # raised in the main thread, as before
            self.error = exc

    def result(self, limit: int) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        if limit != FIRST_PAGE:
            from services.quick import light_start

            return light_start(self.url, self.operator, limit=limit)
        return self.light


def _run(ctx: CliContext) -> int | None:
    settings = ctx.settings
    first = _FirstView(settings.database_url, settings.operator_named)
    first.start()
    from app.tui import make_app
    from screens.registration import PAGE_SIZE

    light = first.result(PAGE_SIZE)

    if light is None:
        store, actor = ctx.store, ctx.actor  # refusals (unknown operator, bad db) surface before the screen opens
        app = make_app(store, actor)
    else:
        app = make_app(None, light.actor, view=light.view, open_store=lambda: (ctx.store, ctx.actor))
    gc.freeze()
    gc.enable()
    app.run()
    if app.startup_error is not None:
        raise app.startup_error  # opening the store failed after the fast start: the CLI reports it, no traceback
    return app.return_code
