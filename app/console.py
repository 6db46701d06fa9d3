"""Open the Textual console for a CLI context (store and acting operator resolved first)."""

from __future__ import annotations

from app.cli.context import CliContext


def run_console(ctx: CliContext) -> None:
    store, actor = ctx.store, ctx.actor  # refusals (unknown operator, bad db) surface before the screen opens
    from app.tui import make_app

    make_app(store, actor).run()
