"""The ASGI app behind ``regdesk serve``: the customer's pages and a JSON API.

FastAPI (on Starlette) because the API's OpenAPI document comes straight from the pydantic
models the CLI validates with (``SignupIn``, ``ProspectIn``), with no second description to
keep in step; the pages are plain Starlette requests rendered with Jinja2 (autoescaped).
Every action is one call of the same service functions the CLI runs, in the same store, so
every rule, audit event and e-mail is the CLI's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.web import forms
from app.web.config import WebConfig
from app.web.security import Guard, csrf_ok, csrf_token, set_csrf_cookie
from models.prospects import ProspectIn
from models.schemas import SignupIn
from services import params, portal, prospects, ratelimit, selfservice, signup
from services.errors import RegdeskError, ValidationFailed
from services.permissions import PORTAL
from services.store import Store

log = logging.getLogger("regdesk.web")
HERE = Path(__file__).parent
HONEYPOT = "website"
SIGNUP_FIELDS = forms.fields_of(SignupIn)
APPLY_FIELDS = forms.fields_of(ProspectIn)
MAX_FIELD = 4000  # a form value longer than any field allows is refused before the services


class Limited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


class Web:
    """What the handlers share: the store, the settings, a short cache of the parameters."""

    def __init__(self, store: Store, config: WebConfig) -> None:
        self.store = store
        self.config = config
        self._params: tuple[float, dict[str, Any]] = (0.0, {})

    async def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(self.store.call, fn, *args, **kwargs)

    async def site(self) -> dict[str, Any]:
        at, values = self._params
        if time.monotonic() - at > 10 or not values:

            def read(session):
                return {"company": params.get(session, "company.name"), "portal_url": params.get(session, "portal.url")}

            values = await run_in_threadpool(self._read, read)
            self._params = (time.monotonic(), values)
        return values

    def _read(self, fn: Callable) -> Any:
        with self.store.read() as session:
            return fn(session)

    async def limit(self, action: str, request: Request, **values: str) -> None:
        checks = []
        for lim in self.config.limits.get(action, []):
            value = client_ip(request) if lim.kind == "ip" else values.get(lim.kind, "")
            checks.append((lim, value))
        verdict = await self.call(ratelimit.hit, checks)
        if not verdict.allowed:
            raise Limited(verdict.retry_after)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ------------------------------------------------------------------ API models


class TokenIn(BaseModel):
    token: str = Field(max_length=200, description="The token from the link in the e-mail")


class ResendIn(BaseModel):
    email: str = Field(max_length=254, description="The e-mail address the sign-up was made with")


class ActivateIn(BaseModel):
    token: str = Field(max_length=200, description="The token from the link in the logon e-mail")
    password: str = Field(max_length=1000, description="The new password: " + portal.PASSWORD_POLICY)


class SignupOut(BaseModel):
    number: str
    status: str
    email: str


class VerifyOut(BaseModel):
    number: str
    status: str


class ApplyOut(BaseModel):
    number: str
    status: str
    lead: str


class ActivateOut(BaseModel):
    user_name: str
    status: str


class AcceptedOut(BaseModel):
    message: str


class PolicyOut(BaseModel):
    policy: str


class ErrorOut(BaseModel):
    error: str
    kind: str | None = None
    fields: dict[str, str] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (404, 409, 410, 413, 422, 429)}


def create_app(store: Store, config: WebConfig | None = None) -> Any:
    config = config or WebConfig()
    web = Web(store, config)
    api = FastAPI(
        title="regdesk customer API",
        version="1",
        docs_url=None,
        redoc_url=None,
        description="Sign-up, verification, B2B onboarding and portal activation for a portal "
        "that keeps its own pages. Bodies are JSON; tokens travel in bodies, never in URLs.",
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    async def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        token, fresh = csrf_token(request)
        site = await web.site()
        response = templates.TemplateResponse(
            request, name, {"site": site, "csrf": token, **context}, status_code=status
        )
        if fresh:
            set_csrf_cookie(response, request, token)
        return response

    async def read_form(request: Request) -> dict[str, str] | None:
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return None
        data = await request.form(max_files=0, max_fields=60)
        out: dict[str, str] = {}
        for key, value in data.multi_items():
            if isinstance(value, str) and key not in out:
                out[key] = value
        return out

    async def form_or_refusal(request: Request) -> dict[str, str] | Response:
        """The posted form's fields, or the page that refuses it (not a form, a stale CSRF token, too long)."""
        form = await read_form(request)
        if form is None:
            return await page(
                request,
                "refused.html",
                415,
                title="Please use the form",
                message="This address takes the page's form only.",
            )
        if not csrf_ok(request, form.get("csrf")):
            return await page(
                request,
                "refused.html",
                403,
                title="The form has expired",
                message="For your safety the form must be sent from this site, in a browser "
                "that accepts its cookie. Go back, reload the page and send it again.",
            )
        if any(len(v) > MAX_FIELD for v in form.values()):
            return await page(
                request,
                "refused.html",
                413,
                title="Too much text",
                message=f"A field holds more than {MAX_FIELD} characters.",
            )
        return form

    def limited_page(request: Request, exc: Limited):
        async def render():
            response = await page(
                request,
                "refused.html",
                429,
                title="Too many attempts",
                message=f"Too many attempts from here. Please try again in {minutes(exc.retry_after)}.",
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response

        return render()

    # -------------------------------------------------------------- errors: never a stack trace

    @api.exception_handler(Limited)
    async def on_limited(request: Request, exc: Limited):
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"error": f"too many attempts: try again in {minutes(exc.retry_after)}", "kind": "rate_limited"},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        return await limited_page(request, exc)

    @api.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError):
        fields: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p != "body"]
            fields[".".join(loc) or "request"] = str(err.get("msg", "invalid"))[:300]
        return JSONResponse({"error": "invalid input", "kind": "invalid", "fields": fields}, status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith("/api/") or request.url.path.startswith("/openapi"):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        return await page(request, "refused.html", exc.status_code, title=str(exc.detail), message="")

    @api.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception):
        from sqlalchemy.exc import OperationalError

        # the class only: a database error's text can carry bound values
        log.error("%s on %s %s", exc.__class__.__name__, request.method, request.url.path)
        status = 503 if isinstance(exc, OperationalError) else 500
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "the service is unavailable, please try again later"}, status_code=status)
        return HTMLResponse(ERROR_PAGE, status_code=status)

    # -------------------------------------------------------------- health

    @api.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})

    @api.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz():
        def ping(session):
            from sqlalchemy import text

            session.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(web._read, ping)
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    # -------------------------------------------------------------- pages: sign-up

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request):
        return await page(request, "index.html", title="Welcome")

    @api.get("/signup", response_class=HTMLResponse, include_in_schema=False)
    async def signup_form(request: Request):
        return await page(
            request,
            "form.html",
            title="Sign up",
            fields=SIGNUP_FIELDS,
            values={"language": "en-us"},
            errors={},
            action="/signup",
            intro="signup",
        )

    @api.post("/signup", response_class=HTMLResponse, include_in_schema=False)
    async def signup_post(request: Request):
        form = await form_or_refusal(request)
        if isinstance(form, Response):
            return form
        values = {f.name: form.get(f.name, "") for f in SIGNUP_FIELDS}
        await web.limit("signup", request, email=values.get("email", ""))
        if form.get(HONEYPOT):
            return await page(request, "signup_done.html", title="Thank you", email=values.get("email", ""))
        data = {
            k: v
            for k, v in values.items()
            if v != "" or k in ("company", "first_name", "last_name", "email", "user_name", "country")
        }
        try:
            result = await web.call(signup.submit, PORTAL, data)
        except ValidationFailed as exc:
            return await page(
                request,
                "form.html",
                422,
                title="Sign up",
                fields=SIGNUP_FIELDS,
                values=values,
                errors=exc.errors,
                action="/signup",
                intro="signup",
            )
        return await page(request, "signup_done.html", title="Thank you", email=result.email)

    @api.get("/signup/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_link(request: Request, token: str = ""):
        state = await run_in_threadpool(web._read, lambda s: selfservice.link_state(s, selfservice.VERIFY, token))
        return await link_page(request, state, token, "verify")

    @api.post("/signup/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_post(request: Request):
        form = await form_or_refusal(request)
        if isinstance(form, Response):
            return form
        token = form.get("token", "")
        await web.limit("verify", request)
        try:
            result = await web.call(signup.verify, token)
        except RegdeskError as exc:
            state = await run_in_threadpool(web._read, lambda s: selfservice.link_state(s, selfservice.VERIFY, token))
            return await link_page(request, state, token, "verify", problem=exc.message)
        return await page(request, "verified.html", title="Thank you", number=result.number, req_status=result.status)

    @api.post("/signup/verify/renew", response_class=HTMLResponse, include_in_schema=False)
    async def verify_renew(request: Request):
        form = await form_or_refusal(request)
        if isinstance(form, Response):
            return form
        token = form.get("token", "")
        await web.limit("resend", request, email=token)
        state = await web.call(selfservice.renew_verification, token)
        if state.state in ("expired", "replaced") and state.status == "Requested":
            return await page(request, "resent.html", title="A new link is on its way", known=True)
        return await link_page(request, state, token, "verify")

    @api.get("/signup/resend", response_class=HTMLResponse, include_in_schema=False)
    async def resend_form(request: Request):
        return await page(request, "resend.html", title="Send the link again", values={}, errors={})

    @api.post("/signup/resend", response_class=HTMLResponse, include_in_schema=False)
    async def resend_post(request: Request):
        form = await form_or_refusal(request)
        if isinstance(form, Response):
            return form
        email = form.get("email", "").strip()
        if not email or "@" not in email or len(email) > 254:
            return await page(
                request,
                "resend.html",
                422,
                title="Send the link again",
                values={"email": email},
                errors={"email": "enter the e-mail address you signed up with"},
            )
        await web.limit("resend", request, email=email)
        response = await page(request, "resent.html", title="Check your e-mail", known=False)
        if not form.get(HONEYPOT):
            # after the answer is sent: a known address must not answer slower than an unknown one
            response.background = BackgroundTask(web.call, selfservice.resend_verification, email)
        return response

    # -------------------------------------------------------------- pages: B2B onboarding

    @api.get("/partners/apply", response_class=HTMLResponse, include_in_schema=False)
    async def apply_form(request: Request):
        return await page(
            request,
            "form.html",
            title="Become a business partner",
            fields=APPLY_FIELDS,
            values={},
            errors={},
            action="/partners/apply",
            intro="apply",
        )

    @api.post("/partners/apply", response_class=HTMLResponse, include_in_schema=False)
    async def apply_post(request: Request):
        form = await form_or_refusal(request)
        if isinstance(form, Response):
            return form
        values = {f.name: form.get(f.name, "") for f in APPLY_FIELDS}
        await web.limit("apply", request, email=values.get("email", ""))
        if form.get(HONEYPOT):
            return await page(request, "apply_done.html", title="Thank you", company=values.get("company", ""))
        data = {k: v for k, v in values.items() if v != "" or k in ("company", "first_name", "last_name", "email")}
        try:
            result = await web.call(prospects.submit, PORTAL, data)
        except ValidationFailed as exc:
            return await page(
                request,
                "form.html",
                422,
                title="Become a business partner",
                fields=APPLY_FIELDS,
                values=values,
                errors=exc.errors,
                action="/partners/apply",
                intro="apply",
            )
        return await page(
            request, "apply_done.html", title="Thank you", company=data.get("company", ""), number=result.number
        )

    # -------------------------------------------------------------- pages: portal activation

    @api.get("/activate", response_class=HTMLResponse, include_in_schema=False)
    async def activate_link(request: Request, token: str = ""):
        state = await run_in_threadpool(web._read, lambda s: selfservice.link_state(s, selfservice.ACTIVATE, token))
        return await link_page(request, state, token, "activate")

    @api.post("/activate", response_class=HTMLResponse, include_in_schema=False)
    async def activate_post(request: Request):
        form = await form_or_refusal(request)
        if isinstance(form, Response):
            return form
        token = form.get("token", "")
        password, again = form.get("password", ""), form.get("password_again", "")
        state = await run_in_threadpool(web._read, lambda s: selfservice.link_state(s, selfservice.ACTIVATE, token))
        await web.limit("activate", request, link=state.user_name or token)
        if state.state != "valid":
            return await link_page(request, state, token, "activate")
        if password != again:
            return await link_page(
                request, state, token, "activate", errors={"password_again": "the two passwords differ"}, status=422
            )
        try:
            result = await web.call(portal.activate, token, password)
        except ValidationFailed as exc:
            return await link_page(request, state, token, "activate", errors=exc.errors, status=422)
        except RegdeskError as exc:
            state = await run_in_threadpool(web._read, lambda s: selfservice.link_state(s, selfservice.ACTIVATE, token))
            return await link_page(request, state, token, "activate", problem=exc.message)
        return await page(request, "activated.html", title="Your portal user is active", user_name=result.user_name)

    async def link_page(
        request: Request,
        state: selfservice.LinkState,
        token: str,
        kind: str,
        *,
        problem: str | None = None,
        errors: dict[str, str] | None = None,
        status: int | None = None,
    ):
        if state.state == "valid":
            template = "verify_confirm.html" if kind == "verify" else "activate_form.html"
            return await page(
                request,
                template,
                status or (200 if not problem else 409),
                title=TITLES[kind],
                state=state,
                token=token,
                problem=problem,
                errors=errors or {},
                policy=portal.PASSWORD_POLICY,
            )
        code = 404 if state.state == "unknown" else 410
        return await page(
            request,
            "link_problem.html",
            code,
            title=PROBLEM_TITLES[state.state],
            state=state,
            token=token if state.state in ("expired", "replaced") else "",
            kind=kind,
        )

    # -------------------------------------------------------------- JSON API

    def api_error(exc: RegdeskError, status: int = 400, kind: str | None = None) -> JSONResponse:
        body: dict[str, Any] = {"error": exc.message, "kind": kind}
        if isinstance(exc, ValidationFailed):
            body["fields"] = exc.errors
            status, body["kind"] = 422, "invalid"
        return JSONResponse(body, status_code=status)

    @api.post("/api/v1/signup", status_code=201, response_model=SignupOut, responses=ERRORS, tags=["sign-up"])
    async def api_signup(body: SignupIn, request: Request):
        """Submit a sign-up request (Requested); the verification e-mail goes to the address given."""
        await web.limit("signup", request, email=body.email)
        try:
            result = await web.call(signup.submit, PORTAL, body.model_dump())
        except RegdeskError as exc:
            return api_error(exc)
        return SignupOut(number=result.number, status=result.status, email=result.email)

    async def token_error(exc: RegdeskError, purpose: str, token: str) -> JSONResponse:
        if isinstance(exc, ValidationFailed):
            return api_error(exc)
        state = await run_in_threadpool(web._read, lambda s: selfservice.link_state(s, purpose, token))
        if state.state == "unknown":
            return api_error(exc, 404, "unknown")
        if state.state != "valid":
            return api_error(exc, 410, state.state)
        return api_error(exc, 409, "conflict")

    @api.post("/api/v1/signup/verify", response_model=VerifyOut, responses=ERRORS, tags=["sign-up"])
    async def api_verify(body: TokenIn, request: Request):
        """Confirm a sign-up request with the token of its e-mail: Requested -> Verified by user."""
        await web.limit("verify", request)
        try:
            result = await web.call(signup.verify, body.token)
        except RegdeskError as exc:
            return await token_error(exc, selfservice.VERIFY, body.token)
        return VerifyOut(number=result.number, status=result.status)

    @api.post("/api/v1/signup/resend", status_code=202, response_model=AcceptedOut, responses=ERRORS, tags=["sign-up"])
    async def api_resend(body: ResendIn, request: Request):
        """Send the verification link again. The answer is the same whether or not the address is known."""
        await web.limit("resend", request, email=body.email)
        return JSONResponse(
            AcceptedOut(message=RESEND_MESSAGE).model_dump(),
            status_code=202,
            background=BackgroundTask(web.call, selfservice.resend_verification, body.email),
        )

    @api.post("/api/v1/partners/apply", status_code=201, response_model=ApplyOut, responses=ERRORS, tags=["B2B"])
    async def api_apply(body: ProspectIn, request: Request):
        """The B2B onboarding request: a prospect (Pending) and its lead (Open), as ``prospects submit``."""
        await web.limit("apply", request, email=body.email)
        try:
            result = await web.call(prospects.submit, PORTAL, body.model_dump())
        except RegdeskError as exc:
            return api_error(exc)
        return ApplyOut(number=result.number, status=result.status, lead=result.lead)

    @api.post("/api/v1/activate", response_model=ActivateOut, responses=ERRORS, tags=["portal"])
    async def api_activate(body: ActivateIn, request: Request):
        """Set the password of the portal user of an activation link: Pending activation -> Active."""
        state = await run_in_threadpool(
            web._read, lambda s: selfservice.link_state(s, selfservice.ACTIVATE, body.token)
        )
        await web.limit("activate", request, link=state.user_name or body.token)
        try:
            result = await web.call(portal.activate, body.token, body.password)
        except RegdeskError as exc:
            return await token_error(exc, selfservice.ACTIVATE, body.token)
        return ActivateOut(user_name=result.user_name, status=result.status)

    @api.get("/api/v1/password-policy", response_model=PolicyOut, tags=["portal"])
    async def api_policy():
        """The password policy activation checks."""
        return PolicyOut(policy=portal.PASSWORD_POLICY)

    app = Guard(api, config)
    app.fastapi = api  # type: ignore[attr-defined]
    return app


def minutes(seconds: int) -> str:
    m = max(1, (seconds + 59) // 60)
    return f"{m} minute{'s' if m != 1 else ''}"


TITLES = {"verify": "Confirm your sign-up", "activate": "Choose your password"}
PROBLEM_TITLES = {
    "unknown": "This link is not known",
    "expired": "This link has expired",
    "used": "This link was already used",
    "replaced": "This link was replaced by a newer one",
}
RESEND_MESSAGE = (
    "If a sign-up waiting for confirmation exists for this address, a new link is on its way. "
    "Check your inbox (and spam folder) in a few minutes."
)
ERROR_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sorry</title>'
    '<link rel="stylesheet" href="/static/site.css"></head><body><main><h1>Sorry, something went wrong'
    "</h1><p>Nothing was changed. Please try again in a few minutes.</p></main></body></html>"
)
