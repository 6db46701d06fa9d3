"""The light read path: ``requests list``, ``requests show`` and ``customers list`` without typer,
SQLAlchemy or pydantic.

A read command's own work is one small query; importing typer, SQLModel, pydantic, every model
and the services cost several times more. When the arguments are plainly one of these reads
(global ``--db`` / ``--as``, the command, its simple options, nothing else), ``run`` reads
through ``services.quick`` (plain sqlite3, or libpq on PostgreSQL, in one read-only snapshot)
and prints with ``app.cli.output`` exactly what the typer command prints.

It answers only when sure: for anything else (a search, ``--help``, an option given twice, a
value typer would refuse or convert, ``--reason``, PostgreSQL URL options, a schema that needs
an upgrade, an operator the identity rules refuse or treat specially, a missing permission,
any database error) ``run`` returns None before printing anything, and ``main`` takes the typer
path, which gives the usual answer, message and exit code. tests/test_cli_light.py compares both
paths' output byte for byte on both stores; tests/test_cli_start.py checks what this path loads.
"""

from __future__ import annotations

from typing import Any, Callable

# command -> its options: name -> takes a value
_OPTIONS: dict[tuple[str, str], dict[str, bool]] = {
    ("requests", "list"): {"--status": True, "--sort": True, "--desc": False, "--limit": True, "--json": False},
    ("customers", "list"): {"--limit": True, "--json": False},
    ("requests", "show"): {"--json": False},
}
_POSITIONAL = {("requests", "show"): 1}  # how many arguments a command takes
_LIMITS = {("requests", "list"): (50, 5000), ("customers", "list"): (50, 1000)}  # typer's default and max

REQUEST_COLUMNS = [
    ("number", "Number"),
    ("created_at", "Created"),
    ("status", "Status"),
    ("company", "Company"),
    ("contact", "Contact"),
    ("email", "E-mail"),
    ("user_name", "User name"),
    ("country", "Country"),
]
CUSTOMER_COLUMNS = [
    ("account", "Account"),
    ("name", "Name"),
    ("party_type", "Type"),
    ("customer_group", "Group"),
    ("city", "City"),
    ("country", "Country"),
    ("email", "E-mail"),
    ("blocked", "Blocked"),
    ("approval_status", "Approval status"),
]


def parse(args: list[str]) -> tuple[str | None, str | None, tuple[str, str], dict[str, Any]] | None:
    """(--db, --as, command, options) when ``args`` are plainly a light read, else None."""
    db = operator = None
    seen: set[str] = set()
    i = 0
    while i < len(args) and args[i].startswith("-"):  # global options
        name, eq, value = args[i].partition("=")
        if name not in ("--db", "--as") or name in seen:
            return None
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None
            value = args[i + 1]
            i += 1
        seen.add(name)
        if name == "--db":
            db = value
        else:
            operator = value
        i += 1
    if len(args) < i + 2 or (args[i], args[i + 1]) not in _OPTIONS:
        return None
    command = (args[i], args[i + 1])
    known = _OPTIONS[command]
    options: dict[str, Any] = {}
    positional: list[str] = []
    i += 2
    while i < len(args):
        if not args[i].startswith("-"):
            positional.append(args[i])
            i += 1
            continue
        name, eq, value = args[i].partition("=")
        if name not in known or name in options:
            return None
        if known[name]:
            if not eq:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    return None
                value = args[i + 1]
                i += 1
            options[name] = value
        elif eq:
            return None
        else:
            options[name] = True
        i += 1
    if len(positional) != _POSITIONAL.get(command, 0):
        return None
    options["args"] = positional
    if command not in _LIMITS:
        return db, operator, command, options
    low, high = 1, _LIMITS[command][1]
    limit = options.get("--limit", str(_LIMITS[command][0]))
    if not (limit.isascii() and limit.isdigit() and low <= int(limit) <= high and str(int(limit)) == limit):
        return None  # typer's int conversion and range check say what is wrong
    options["--limit"] = int(limit)
    return db, operator, command, options


def run(args: list[str]) -> int | None:
    """Print the command's answer and return 0, or None (nothing printed: take the typer path)."""
    parsed = parse(args)
    if parsed is None:
        return None
    db, operator, command, options = parsed
    import os

    if os.environ.get("REGDESK_REASON"):
        return None  # an admin acting for someone: services.identity's path
    from app.settings import resolve
    from services import quick

    settings = resolve(db, operator)
    read: Callable[[Any, Any], Any]
    if command == ("requests", "list"):

        def read(conn, actor):
            return quick.request_page(
                conn,
                actor,
                status=options.get("--status"),
                sort=options.get("--sort", "number"),
                descending="--desc" in options,
                limit=options["--limit"],
            )
    elif command == ("requests", "show"):

        def read(conn, actor):
            return quick.request_detail(conn, actor, options["args"][0])
    else:

        def read(conn, actor):
            return quick.customer_rows(conn, actor, limit=options["--limit"])

    result = quick.light_read(settings.database_url, settings.operator_named, read)
    if result is None:
        return None
    from app.cli import output

    if command == ("requests", "show"):
        if "--json" in options:
            output.emit_json(_json_ready(result))
            return 0
        output.record(result, title=f"Sign-up request {result['number']}")
        if result["duplicates"]:
            output.table(
                result["duplicates"],
                [("kind", "Kind"), ("key", "Number/account"), ("label", "What"), ("reason", "Why")],
                title="Possible duplicates",
            )
        output.table(
            result["history"],
            [("at", "When"), ("operator", "Who"), ("action", "What"), ("comment", "Comment")],
            title="History",
        )
        return 0
    if command == ("requests", "list"):
        rows = [_fields(row) for row in result.rows]
        if "--json" in options:
            output.emit_json([{**row, "created_at": _json_time(row["created_at"])} for row in rows])
            return 0
        output.table(rows, REQUEST_COLUMNS)
        if result.after is not None:
            output.message(f"(more: raise --limit above {options['--limit']})")
        return 0
    rows = [_fields(row) for row in result]
    if "--json" in options:
        output.emit_json(rows)
        return 0
    output.table(rows, CUSTOMER_COLUMNS)
    return 0


def _fields(row: Any) -> dict[str, Any]:
    """A light row as the dict pydantic's ``model_dump`` gives (field order kept)."""
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def _json_ready(value: Any) -> Any:
    """Datetimes anywhere in ``value`` as pydantic's JSON mode writes them."""
    from datetime import datetime

    if isinstance(value, dict):
        return {key: _json_ready(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return _json_time(value)
    return value


def _json_time(moment) -> str:
    """A UTC datetime as pydantic writes it in JSON mode (``Z``, not ``+00:00``)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
