"""Open the Textual console for a CLI context (store and acting operator resolved first)."""

from __future__ import annotations

from app.cli.context import CliContext


def run_console(ctx: CliContext) -> int | None:
    """Run the console; returns its exit code (None or 0: a normal exit)."""
    store, actor = ctx.store, ctx.actor  # refusals (unknown operator, bad db) surface before the screen opens
    from app.tui import make_app

    app = make_app(store, actor)
    app.run()
    return app.return_code
