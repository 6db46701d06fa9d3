"""The ``regdesk`` command line. ``main`` turns every refusal into a message and an exit code."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from app.cli import admin_cmds, signup_cmds  # noqa: F401  (registers the commands)
    from app.cli.output import emit_json, error
    from app.cli.root import app
    from services.errors import RegdeskError, ValidationFailed

    args = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in args
    try:
        # standalone mode: typer prints usage errors and --help itself and raises SystemExit
        app(args=args, prog_name="regdesk", standalone_mode=True)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except RegdeskError as exc:
        if wants_json:
            emit_json({"error": exc.message, **({"fields": exc.errors} if isinstance(exc, ValidationFailed) else {})})
        error(exc.message)
        return _exit(exc.exit_code)
    except KeyboardInterrupt:
        return _exit(130)
    except Exception as exc:  # the database went away, a bug...: a message, never a traceback
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

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


def _exit(code: int) -> int:
    return code
