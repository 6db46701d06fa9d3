"""Open the Textual console for a CLI context.

Fast start: on a current SQLite file ``services.quick`` reads the acting operator and the
Registration list's first view with plain sqlite3, so the console paints without importing
SQLModel/SQLAlchemy; the real store and actor are opened in a background thread worker once
the list is painted (``RegdeskApp.call`` waits for them). Otherwise (PostgreSQL, a file that
needs an upgrade, an unknown or refused operator...) the store and actor are resolved first
and their refusals surface before the screen opens.
"""

from __future__ import annotations

import gc

from app.cli.context import CliContext


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


def _run(ctx: CliContext) -> int | None:
    from screens.registration import PAGE_SIZE
    from services.quick import light_start

    settings = ctx.settings
    light = light_start(settings.database_url, settings.operator_named, limit=PAGE_SIZE)
    from app.tui import make_app

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
