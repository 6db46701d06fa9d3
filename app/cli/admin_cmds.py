"""Master data, administration and the store: customers, templates, roles, operators, outbox,
audit, db, demo."""

from __future__ import annotations

from typing import Optional

import typer

from app.cli import output
from app.cli.root import JsonOption, app, obj

customers_app = typer.Typer(help="Customers (master data).", no_args_is_help=True)
templates_app = typer.Typer(help="Customer account templates.", no_args_is_help=True)
roles_app = typer.Typer(help="Portal user roles.", no_args_is_help=True)
operators_app = typer.Typer(help="Operators: the staff who use regdesk, and their roles.", no_args_is_help=True)
outbox_app = typer.Typer(help="E-mail waiting to be sent, sent, or dead.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
sequences_app = typer.Typer(help="Number sequences (registration numbers, accounts...).", no_args_is_help=True)
for sub, name in (
    (customers_app, "customers"),
    (templates_app, "templates"),
    (roles_app, "roles"),
    (operators_app, "operators"),
    (outbox_app, "outbox"),
    (audit_app, "audit"),
    (db_app, "db"),
    (sequences_app, "sequences"),
):
    app.add_typer(sub, name=name)


# ------------------------------------------------------------------ customers


@customers_app.command("list")
def customers_list(
    ctx: typer.Context,
    search: Optional[str] = typer.Option(None, "--search"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """List customers by account."""
    from services import customers

    rows = obj(ctx).call(customers.list_customers, search=search, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(
        rows,
        [
            ("account", "Account"),
            ("name", "Name"),
            ("party_type", "Type"),
            ("customer_group", "Group"),
            ("city", "City"),
            ("country", "Country"),
            ("email", "E-mail"),
            ("blocked", "Blocked"),
            ("approval_status", "Approval status"),
        ],
    )


@customers_app.command("show")
def customers_show(ctx: typer.Context, account: str, as_json: bool = JsonOption) -> None:
    """A customer with its contacts and history."""
    from services import customers

    detail = obj(ctx).call(customers.show_customer, account)
    if as_json:
        return output.emit_json(detail)
    output.record(detail.customer, title=f"Customer {detail.customer.account}")
    output.table(
        detail.contacts,
        [
            ("first_name", "First name"),
            ("last_name", "Last name"),
            ("email", "E-mail"),
            ("phone", "Phone"),
            ("is_admin", "Admin"),
        ],
        title="Contacts",
    )
    output.table(
        detail.history,
        [("at", "When"), ("operator", "Who"), ("action", "What"), ("comment", "Comment")],
        title="History",
    )


# ------------------------------------------------------------------ templates, roles


@templates_app.command("list")
def templates_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Customer account templates and the values they copy."""
    from services import customers

    rows = obj(ctx).call(customers.list_templates)
    if as_json:
        return output.emit_json(rows)
    output.table(
        [
            {"name": t.name, "description": t.description, "values": ", ".join(f"{k}={v}" for k, v in t.values.items())}
            for t in rows
        ],
        [("name", "Template"), ("description", "Description"), ("values", "Values")],
    )


@roles_app.command("list")
def roles_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Portal user roles."""
    from services import customers

    rows = obj(ctx).call(customers.list_roles)
    if as_json:
        return output.emit_json(rows)
    output.table(rows, [("name", "Role"), ("description", "Description")])


# ------------------------------------------------------------------ operators


def _operator_rows(ops):
    return [
        {
            "user_name": o.user_name,
            "display_name": o.display_name,
            "roles": o.roles,
            "profile": o.profile or "",
            "sales_rep": o.sales_rep,
            "active": o.active,
        }
        for o in ops
    ]


@operators_app.command("list")
def operators_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Operators with their roles."""
    from services import operators

    rows = _operator_rows(obj(ctx).call(operators.list_operators))
    if as_json:
        return output.emit_json(rows)
    output.table(
        rows,
        [
            ("user_name", "User name"),
            ("display_name", "Name"),
            ("roles", "Roles"),
            ("profile", "Profile"),
            ("sales_rep", "Sales rep"),
            ("active", "Active"),
        ],
    )


@operators_app.command("add")
def operators_add(
    ctx: typer.Context,
    user_name: str,
    display_name: str = typer.Option(..., "--name"),
    roles: str = typer.Option(..., "--roles", help="Comma-separated: support, approver, admin."),
    email: Optional[str] = typer.Option(None, "--email"),
    profile: Optional[str] = typer.Option(
        None, "--profile", help="Sales, Customer Service or Supply Chain & Production."
    ),
    sales_rep: bool = typer.Option(
        False,
        "--sales-rep",
        help="Informational only: cases are approved at once "
        "when their creator has --profile Sales (seed 002's Salesrep profile).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add an operator (admins only)."""
    from services import operators

    op = obj(ctx).call(
        operators.add_operator, user_name, display_name, roles, email=email, profile=profile, sales_rep=sales_rep
    )
    if as_json:
        return output.emit_json(_operator_rows([op])[0])
    output.message(f"operator {op.user_name} added ({op.roles})")


def _set_active(ctx: typer.Context, user_name: str, active: bool, as_json: bool) -> None:
    from services import operators

    op = obj(ctx).call(operators.set_active, user_name, active)
    if as_json:
        return output.emit_json(_operator_rows([op])[0])
    output.message(f"operator {op.user_name} {'enabled' if active else 'disabled'}")


@operators_app.command("disable")
def operators_disable(ctx: typer.Context, user_name: str, as_json: bool = JsonOption) -> None:
    """Disable an operator: they can no longer act (admins only)."""
    _set_active(ctx, user_name, False, as_json)


@operators_app.command("enable")
def operators_enable(ctx: typer.Context, user_name: str, as_json: bool = JsonOption) -> None:
    """Enable a disabled operator again (admins only)."""
    _set_active(ctx, user_name, True, as_json)


# ------------------------------------------------------------------ outbox, audit


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help="pending, sent or dead."),
    entity: Optional[str] = typer.Option(None, "--entity", help="Only mail about this record."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """E-mail in the outbox: recipient, subject, body (links masked), status."""
    from services import delivery

    rows = obj(ctx).call(delivery.list_messages, status=status, entity=entity, limit=limit)
    data = [
        {
            "id": m.id,
            "created_at": m.created_at,
            "recipient": m.recipient,
            "subject": m.subject,
            "body": m.body,
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "message_id": m.message_id,
        }
        for m in rows
    ]
    if as_json:
        return output.emit_json(data)
    output.table(
        data,
        [
            ("id", "Id"),
            ("created_at", "Queued"),
            ("status", "Status"),
            ("recipient", "To"),
            ("subject", "Subject"),
            ("body", "Body"),
        ],
    )


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    entity: Optional[str] = typer.Option(None, "--entity", metavar="NUMBER"),
    limit: int = typer.Option(100, "--limit", min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """Audit events, newest first."""
    from services import audit

    rows = obj(ctx).call(audit.list_events, entity=entity, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(
        [{**r.model_dump(), "change": _change(r.before, r.after)} for r in rows],
        [
            ("at", "When"),
            ("operator", "Who"),
            ("entity_type", "Type"),
            ("entity_key", "Record"),
            ("action", "What"),
            ("change", "Before -> after"),
            ("comment", "Comment"),
        ],
    )


def _change(before, after) -> str:
    keys = list(dict.fromkeys([*(before or {}), *(after or {})]))
    return "; ".join(f"{k}: {(before or {}).get(k, '')} -> {(after or {}).get(k, '')}" for k in keys[:6])


# ------------------------------------------------------------------ sequences


def _sequence_rows(seqs):
    from services.sequences import format_number

    return [
        {
            "code": q.code,
            "prefix": q.prefix,
            "width": q.width,
            "next": format_number(q.prefix, q.width, q.next_value),
            "continuous": bool(q.continuous),
            "description": q.description,
        }
        for q in seqs
    ]


@sequences_app.command("list")
def sequences_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Number sequences and the next number each will give."""
    from services import sequences

    rows = _sequence_rows(obj(ctx).call(sequences.list_sequences))
    if as_json:
        return output.emit_json(rows)
    output.table(
        [{**r, "continuous": "yes" if r["continuous"] else "no"} for r in rows],
        [
            ("code", "Code"),
            ("prefix", "Prefix"),
            ("width", "Width"),
            ("next", "Next number"),
            ("continuous", "Continuous"),
            ("description", "Used for"),
        ],
    )


@sequences_app.command("set")
def sequences_set(
    ctx: typer.Context,
    code: str,
    prefix: Optional[str] = typer.Option(None, "--prefix"),
    width: Optional[int] = typer.Option(None, "--width", help="Digits (1-12)."),
    continuous: Optional[bool] = typer.Option(
        None,
        "--continuous/--no-continuous",
        help="Gap-free (taken last in the record's transaction) or not (taken in its own tiny "
        "transaction: nobody waits, a cancelled record leaves a gap).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Change a sequence's prefix, width or Continuous flag for the numbers still to come (admins only)."""
    from services import sequences

    row = _sequence_rows([obj(ctx).call(sequences.configure, code, prefix=prefix, width=width, continuous=continuous)])[
        0
    ]
    if as_json:
        return output.emit_json(row)
    kind = "continuous (gap-free)" if row["continuous"] else "not continuous (may skip numbers)"
    output.message(f"sequence {row['code']}: next number {row['next']}, {kind}")


# ------------------------------------------------------------------ db, demo


@db_app.command("init")
def db_init(ctx: typer.Context) -> None:
    """Create a new database (an SQLite file, or the schema in an empty PostgreSQL database)."""
    from services.schema import current_revisions, upgrade
    from services.sequences import ensure_defaults
    from services.store import Store, sqlite_file

    c = obj(ctx)
    url = c.settings.database_url
    path = sqlite_file(url)
    existed = path.is_file() if path is not None else None
    store = Store(url, upgrade=False, create=True)
    try:
        had = current_revisions(store.engine)
        revision = upgrade(store.engine)
        with store.write() as s:
            ensure_defaults(s)
    finally:
        store.dispose()
    where = path if path is not None else store.engine.url.render_as_string(hide_password=True)
    if had or existed:
        output.message(f"{where}: already a regdesk database, now at revision {revision}")
    else:
        output.message(f"{where}: created, at revision {revision}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Upgrade the schema of an existing database to this version of regdesk (Alembic migrations)."""
    from app.settings import may_create
    from services.schema import upgrade
    from services.sequences import ensure_defaults
    from services.store import Store

    c = obj(ctx)
    store = Store(c.settings.database_url, upgrade=False, create=may_create(c.settings.database_url))
    try:
        revision = upgrade(store.engine)
        with store.write() as s:
            ensure_defaults(s)
        if store.engine.dialect.name == "postgresql":  # group roles and grants, also for later migrations' tables
            from services.identity import pg_setup

            with store.engine.begin() as conn:
                pg_setup(conn)
    finally:
        store.dispose()
    output.message(f"database at revision {revision}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the schema revision the database is at, and where it is."""
    from services.schema import current_revision
    from services.schema_heads import SCHEMA_HEADS
    from services.store import Store

    c = obj(ctx)
    store = Store(c.settings.database_url, upgrade=False, create=False)
    try:
        rev = current_revision(store.engine)
    finally:
        store.dispose()
    output.message(
        f"{store.engine.url.render_as_string(hide_password=True)}: revision {rev or 'none'} "
        f"(this regdesk needs {','.join(sorted(SCHEMA_HEADS))})"
    )


@db_app.command("check-counters")
def db_check_counters(
    ctx: typer.Context,
    repair: bool = typer.Option(False, "--repair", help="Rewrite wrong counts with the recount (administrators)."),
    as_json: bool = JsonOption,
) -> None:
    """Recount the kept per-status counts and compare (exit 1 when some differ and were not repaired)."""
    from services import counters

    c = obj(ctx)
    if repair:
        with c.store.write() as s:
            wrong = counters.check(s, c.actor, repair=True)
    else:
        wrong = c.call(counters.check)
    if as_json:
        output.emit_json(wrong)
    elif wrong:
        output.table(wrong, [("area", "Area"), ("status", "Status"), ("kept", "Kept"), ("counted", "Counted")])
        output.message(f"{len(wrong)} count(s) {'repaired' if repair else 'differ: run with --repair'}")
    else:
        output.message("every kept count matches a recount")
    if wrong and not repair:
        raise typer.Exit(1)


@app.command("demo")
def demo(
    ctx: typer.Context,
    requests: int = typer.Option(0, "--requests", min=0, max=5_000_000, metavar="N", help="Add N synthetic requests."),
    open_console: bool = typer.Option(False, "--open", help="Then open the console as approver1."),
    as_json: bool = JsonOption,
) -> None:
    """Load the demo set (templates, roles, operators, requests in every status) into the database."""
    import time

    from seed.demo import add_synthetic, load_base
    from services import identity
    from services.errors import InvalidTransition
    from services.operators import list_operator_names

    c = obj(ctx)
    c.create = True  # the demo may start a new SQLite file
    start = time.perf_counter()
    with c.store.read() as s:
        names, demo = list_operator_names(s), identity.is_demo(s)
    if names and not demo and "approver1" not in names:
        raise InvalidTransition(
            "this database has operators and is not a demo database: 'regdesk demo' only fills "
            "a new, empty database (demo databases let anyone act as anyone with --as)"
        )
    result = load_base(c.store)
    if not names:  # it filled an empty database: that one is a demo database ("--as" allowed on SQLite)
        with c.store.write() as s:
            identity.mark_demo(s)
    if requests:
        result["synthetic_requests"] = add_synthetic(c.store, requests)
    result["seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        output.emit_json(result)
    else:
        state = "loaded" if result["loaded"] else "already there"
        output.message(
            f"demo set {state}"
            + (f"; {requests} synthetic requests added" if requests else "")
            + f" in {result['seconds']} s"
        )
    if open_console:
        from app.console import run_console

        c.operator = c.operator or "approver1"
        c._actor = None
        run_console(c)
