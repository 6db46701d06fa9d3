"""The root ``regdesk`` command: global options, the console when no command is given."""

from __future__ import annotations

from typing import Optional

import typer

from app.cli.context import CliContext

app = typer.Typer(
    name="regdesk",
    help="Customer onboarding and customer master-data control, from the keyboard.\n\n"
    "Without a command, opens the console. You act as the operator the store knows you as: your "
    "database login (PostgreSQL) or your OS login (SQLite); --as NAME only on a demo database or, "
    "for an admin, with --reason.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DbOption = typer.Option(
    None,
    "--db",
    metavar="PATH_OR_URL",
    envvar="REGDESK_DATABASE_URL",
    help="SQLite file or database URL (postgresql://...). Default: a file in your data directory.",
)
AsOption = typer.Option(
    None,
    "--as",
    metavar="NAME",
    envvar="REGDESK_OPERATOR",
    help="Act as this operator: only on a demo database (SQLite), or as an admin with --reason; "
    "on PostgreSQL you are your database login.",
)
ReasonOption = typer.Option(
    None,
    "--reason",
    metavar="TEXT",
    envvar="REGDESK_REASON",
    help="Why an admin acts as another operator (--as) on a non-demo SQLite database; recorded on every audit row.",
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts.")


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    db: Optional[str] = DbOption,
    as_: Optional[str] = AsOption,
    reason: Optional[str] = ReasonOption,
) -> None:
    ctx.obj = CliContext(db=db, operator=as_, reason=reason)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        from app.console import run_console

        run_console(ctx.obj)


def obj(ctx: typer.Context) -> CliContext:
    return ctx.find_root().obj
