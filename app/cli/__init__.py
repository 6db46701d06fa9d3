"""The ``regdesk`` command line. ``main`` turns every refusal into a message and an exit code."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    console_args = _console_only(list(sys.argv[1:] if argv is None else argv))
    if console_args is not None:
        # the console alone (no command): skip typer and every command module, open it directly
        return _guarded(lambda: _open_console(*console_args), wants_json=False)
    args = list(sys.argv[1:] if argv is None else argv)
    light = _guarded(lambda: _light(args), wants_json="--json" in args)
    if light is not None:
        return light
    register(command_of(args))
    from app.cli.root import app

    wants_json = "--json" in args

    def run() -> int:
        # standalone mode: typer prints usage errors and --help itself and raises SystemExit
        app(args=args, prog_name="regdesk", standalone_mode=True)
        return 0

    return _guarded(run, wants_json=wants_json)


# command group -> the modules that register its commands (tests/test_cli_start.py checks it is
# complete); a command not listed (or --help without a command) imports every module
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "signup": ("signup_cmds",),
    "requests": ("signup_cmds",),
    "serve": ("web_cmds",),
    "customers": ("admin_cmds", "changes_cmds"),
    "outbox": ("admin_cmds", "portal_cmds"),
    **{name: ("admin_cmds",) for name in ("templates", "roles", "operators", "audit", "db", "sequences", "demo")},
    "params": ("changes_cmds",),
    "changes": ("changes_cmds",),
    **{name: ("cases_cmds",) for name in ("cases", "prospects", "leads", "opportunities")},
    **{name: ("portal_cmds",) for name in ("user-requests", "portal", "mail")},
    "workflow": ("workflow_cmds",),
    "work": ("workflow_cmds",),
    "processes": ("processes_cmds",),
}
ALL_MODULES = (
    "admin_cmds",
    "cases_cmds",
    "changes_cmds",
    "portal_cmds",
    "processes_cmds",
    "signup_cmds",
    "web_cmds",
    "workflow_cmds",
)


def command_of(args: list[str]) -> str | None:
    """The command group named in ``args`` (after the global options), or None."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--db", "--as"):
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg
    return None


def register(command: str | None) -> None:
    """Import the command modules ``command`` needs (each registers its commands on import)."""
    import importlib

    for name in COMMAND_MODULES.get(command or "", ALL_MODULES):
        importlib.import_module(f"app.cli.{name}")


def _light(args: list[str]) -> int | None:
    """A plain read (``requests list``, ``customers list``) without typer and the ORM (app/cli/light.py)."""
    from app.cli.light import run

    return run(args)


def _guarded(run, *, wants_json: bool) -> int:
    """Run ``run``; every refusal becomes a message on stderr and an exit code, never a traceback."""
    from services.errors import RegdeskError, ValidationFailed

    try:
        return run()
    except SystemExit as exc:
        if isinstance(exc.code, str):  # e.g. an unreadable config file: say it, as invalid input
            print(exc.code, file=sys.stderr)
            return _exit(2)
        return exc.code if isinstance(exc.code, int) else 0
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
