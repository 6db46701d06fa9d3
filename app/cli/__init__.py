"""The ``regdesk`` command line. ``main`` turns every refusal into a message and an exit code."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    console_args = _console_only(list(sys.argv[1:] if argv is None else argv))
    if console_args is not None:
        # the console alone (no command): skip typer and every command module, open it directly
        return _guarded(lambda: _open_console(*console_args), wants_json=False)
    from app.cli import admin_cmds, cases_cmds, changes_cmds, portal_cmds, signup_cmds, workflow_cmds  # noqa: F401  (registers the commands)
    from app.web import cli as _web_cli  # noqa: F401  (regdesk serve)
    from app.cli.root import app

    args = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in args

    def run() -> int:
        # standalone mode: typer prints usage errors and --help itself and raises SystemExit
        app(args=args, prog_name="regdesk", standalone_mode=True)
        return 0

    return _guarded(run, wants_json=wants_json)


def _guarded(run, *, wants_json: bool) -> int:
    """Run ``run``; every refusal becomes a message on stderr and an exit code, never a traceback."""
    from services.errors import RegdeskError, ValidationFailed

    try:
        return run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except RegdeskError as exc:
        from app.cli.output import emit_json, error

        if wants_json:
            emit_json({"error": exc.message, **({"fields": exc.errors} if isinstance(exc, ValidationFailed) else {})})
        error(exc.message)
        return _exit(exc.exit_code)
    except KeyboardInterrupt:
        return _exit(130)
    except Exception as exc:  # the database went away, a bug...: a message, never a traceback
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        from app.cli.output import error

        if os.environ.get("REGDESK_DEBUG"):
            raise
        if isinstance(exc, OperationalError):
            error(f"cannot use the database: {str(exc.orig).strip() or exc}")
            return _exit(8)
        if isinstance(exc, SQLAlchemyError):
            error(f"database error: {exc.__class__.__name__}: {str(getattr(exc, 'orig', exc)).strip()}")
            return _exit(8)
        error(f"unexpected {exc.__class__.__name__}: {exc} (set REGDESK_DEBUG=1 for details)")
        return _exit(70)


def _console_only(args: list[str]) -> tuple[str | None, str | None, str | None] | None:
    """(db, operator, reason) when the arguments only choose those, else None (typer handles it)."""
    db = operator = reason = None
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name not in ("--db", "--as", "--reason"):
            return None
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None  # let typer report the missing value
            value = args[i + 1]
            i += 1
        if name == "--db":
            db = value
        elif name == "--reason":
            reason = value
        else:
            operator = value
        i += 1
    return db, operator, reason


def _open_console(db: str | None, operator: str | None, reason: str | None = None) -> int:
    from app.cli.context import CliContext
    from app.console import run_console

    ctx = CliContext(db=db, operator=operator, reason=reason)
    try:
        return run_console(ctx) or 0
    finally:
        ctx.close()


def _exit(code: int) -> int:
    return code
