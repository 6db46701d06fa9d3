"""``regdesk serve``: the public pages and the API on uvicorn (the app itself: app/web/)."""

from __future__ import annotations

import os
from typing import Optional

import typer

from app.cli.root import app, obj


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1 behind a reverse proxy)."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes (they share the database)."),
    trusted_proxies: Optional[str] = typer.Option(
        None,
        "--trusted-proxies",
        metavar="IPS",
        help="Comma-separated addresses whose X-Forwarded-For/-Proto are believed. Default: 127.0.0.1,::1.",
    ),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log each request (no tokens)."),
    limits: Optional[str] = typer.Option(
        None,
        "--limits",
        metavar="NAME=N,...",
        help="Attempts per hour over the defaults, e.g. signup.ip=20,signup.email=5,resend.email=3,activate.link=10.",
    ),
) -> None:
    """Serve the customer's pages (sign-up, verification, B2B onboarding, activation) and the JSON API."""
    import uvicorn

    from services.schema import ensure_schema
    from services.store import make_engine

    if limits is not None:
        from app.web.config import WebConfig, parse_limits
        from services.errors import ValidationFailed

        try:
            parse_limits(limits, WebConfig().limits)
        except ValueError as exc:
            raise ValidationFailed({"--limits": str(exc)}) from None
    c = obj(ctx)
    url = c.settings.database_url
    from app.settings import may_create

    engine = make_engine(url, create=may_create(url))
    try:
        ensure_schema(engine)  # refuse a stale PostgreSQL schema here, with the CLI's message and exit code
    finally:
        engine.dispose()
    os.environ["REGDESK_DATABASE_URL"] = url
    if limits is not None:
        os.environ["REGDESK_WEB_LIMITS"] = limits
    if trusted_proxies is not None:
        os.environ["REGDESK_WEB_TRUSTED_PROXIES"] = trusted_proxies
    os.environ["REGDESK_WEB_ACCESS_LOG"] = "1" if access_log else "0"
    typer.echo(f"regdesk serve: http://{host}:{port}/ ({workers} worker{'s' if workers > 1 else ''})", err=True)
    uvicorn.run(
        "app.web.asgi:create_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=True,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
