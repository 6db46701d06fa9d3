"""The guard around every request: client address behind a trusted proxy, body size limit,
security headers, an access log without tokens, and the CSRF double-submit check.

One pure ASGI middleware (no per-request task switching) so a refusal costs nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import time
from typing import Any

from services.tokens import TOKEN_PATTERN

access_log = logging.getLogger("regdesk.web.access")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
BASE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # token pages above all: a link never leaks in a Referer
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
_SECRET_QUERY = re.compile(r"(?i)((?:token|password|code)=)[^&\s]*")


def scrub(text: str) -> str:
    """A path or log line with every token and secret query value removed."""
    return _SECRET_QUERY.sub(r"\1[removed]", TOKEN_PATTERN.sub("[token removed]", text))


class ScrubTokens(logging.Filter):
    """For uvicorn's own access log, when someone turns it on: no token, no password."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        record.msg = scrub(str(record.msg))
        return True


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class Guard:
    def __init__(self, app: Any, config) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        client = scope.get("client") or ("", 0)
        if client[0] in self.config.trusted_proxies:
            forwarded = _header(scope, b"x-forwarded-for")
            proto = _header(scope, b"x-forwarded-proto")
            if forwarded:
                hop = forwarded.split(",")[-1].strip()
                if hop:
                    scope["client"] = (hop[:64], 0)
            if proto and proto.strip().lower() in ("http", "https"):
                scope["scheme"] = proto.strip().lower()
        https = scope.get("scheme") == "https"
        status_seen = [0]

        async def guarded_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"server"]
                names = {h[0].lower() for h in headers}
                headers += [h for h in BASE_HEADERS if h[0] not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if https:
                    headers.append(
                        (
                            b"strict-transport-security",
                            f"max-age={self.config.hsts_seconds}; includeSubDomains".encode(),
                        )
                    )
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._serve(scope, receive, guarded_send, status_seen)
        except Exception as exc:  # the app answered already (its error page); keep the trace out of the log too
            logging.getLogger("regdesk.web").error(
                "%s on %s %s (answered %s)",
                exc.__class__.__name__,
                scope.get("method"),
                scrub(scope.get("path", "")),
                status_seen[0] or 500,
            )
            if not status_seen[0]:
                await self._refuse(scope, guarded_send, 500, "Sorry, something went wrong: nothing was changed")
        finally:
            path = scrub(scope.get("path", ""))
            access_log.info(
                '%s "%s %s" %s %.1fms',
                (scope.get("client") or ("-",))[0],
                scope.get("method"),
                path,
                status_seen[0] or 500,
                (time.perf_counter() - started) * 1000,
            )

    async def _serve(self, scope: dict, receive, guarded_send, status_seen: list) -> None:
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            body = await self._read_body(scope, receive)
            if body is None:
                await self._refuse(scope, guarded_send, 413, "the request is too large")
                return
            sent = [False]

            async def replay() -> dict:
                if not sent[0]:
                    sent[0] = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, guarded_send)
        else:
            await self.app(scope, receive, guarded_send)

    async def _read_body(self, scope: dict, receive) -> bytes | None:
        limit = self.config.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    return None
            except ValueError:
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _refuse(self, scope: dict, send, status: int, text: str) -> None:
        wants_json = scope.get("path", "").startswith("/api/")
        if wants_json:
            body = json.dumps({"error": text}).encode()
            ctype = b"application/json"
        else:
            body = (
                f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{text}</title></head>'
                f"<body><main><h1>{text}</h1></main></body></html>"
            ).encode()
            ctype = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------ CSRF (double submit)


def csrf_cookie_name(https: bool) -> str:
    # __Host-: only set by this host over https, path /, so no sibling domain can plant it
    return "__Host-rdcsrf" if https else "rdcsrf"


def csrf_token(request) -> tuple[str, bool]:
    """The form token for this browser: (token, whether the cookie must be (re)set)."""
    https = request.url.scheme == "https"
    current = request.cookies.get(csrf_cookie_name(https), "")
    if re.fullmatch(r"[A-Za-z0-9_-]{43}", current):
        return current, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response, request, token: str) -> None:
    https = request.url.scheme == "https"
    # Lax, not Strict: a customer arriving from a mail link (a cross-site navigation) keeps the
    # cookie the other tab's form was made with; cross-site POSTs still go without it
    response.set_cookie(csrf_cookie_name(https), token, httponly=True, samesite="lax", secure=https, path="/")


def csrf_ok(request, form_value: str | None) -> bool:
    if (request.headers.get("sec-fetch-site") or "").lower() == "cross-site":
        return False
    cookie = request.cookies.get(csrf_cookie_name(request.url.scheme == "https"), "")
    return bool(cookie) and isinstance(form_value, str) and hmac.compare_digest(cookie.encode(), form_value.encode())
