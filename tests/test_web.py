"""regdesk serve: every page and endpoint with the framework's test client, each refusal and
each limit, hostile input shown escaped; tokens reach the test as they reach a customer (by
mail over SMTP on loopback)."""

from __future__ import annotations

import logging
import re

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from app.web.app import create_app
from app.web.config import HOUR, WebConfig
from models.core import AuditEvent, OutboxEmail
from models.portal import PortalUser
from models.prospects import Lead, Prospect, ProspectIn
from models.schemas import SignupIn
from models.signup import SignupRequest
from services import signup, user_requests
from services.ratelimit import Limit
from tests.conftest import actor_of
from tests.smtp_helpers import SmtpServer
from tests.web_helpers import (
    APPLY,
    HOSTILE_WEB,
    PASSWORD,
    SIGNUP,
    csrf_of,
    deliver,
    link_in_mail,
    post_form,
    set_portal_url,
    token_of,
)


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp):
    smtp.recorder.messages.clear()
    return smtp


def make_client(store, **config) -> TestClient:
    set_portal_url(store, "http://testserver")
    return TestClient(create_app(store, WebConfig(**config)), follow_redirects=False)


@pytest.fixture
def web(any_store):
    return make_client(any_store)


@pytest.fixture
def sweb(store):
    return make_client(store)


def requests_of(store) -> list[SignupRequest]:
    with store.read() as s:
        return list(s.exec(select(SignupRequest)).all())


def audit_of(store, key: str) -> list[tuple[str, str]]:
    with store.read() as s:
        return [
            (e.operator, e.action)
            for e in s.exec(select(AuditEvent).where(AuditEvent.entity_key == key).order_by(AuditEvent.id)).all()
        ]


def signed_up(web, store, smtp, **changes) -> tuple[str, str]:
    """Sign up on the page; returns (request number, verification link from the mail)."""
    response = post_form(web, "/signup", {**SIGNUP, **changes})
    assert response.status_code == 200, response.text
    number = requests_of(store)[-1].number
    deliver(store, smtp)
    return number, link_in_mail(smtp, changes.get("email", SIGNUP["email"]), "signup/verify")


# ------------------------------------------------------------------ sign-up page


def test_signup_page_shows_every_schema_field_labelled_with_company_name(sweb, store):
    with store.write() as s:
        from services import params
        from services.permissions import SYSTEM

        params.set_value(s, SYSTEM, "company.name", "Fabrikam <b>& Co")
    page = sweb.get("/signup")
    assert page.status_code == 200
    for name in SignupIn.model_fields:
        assert f'<label for="f-{name}">' in page.text and f'id="f-{name}" name="{name}"' in page.text
    assert "Fabrikam &lt;b&gt;&amp; Co" in page.text and "<b>&" not in page.text
    assert 'name="website"' in page.text and 'tabindex="-1"' in page.text  # honeypot, out of the tab order
    assert "<script" not in page.text and 'href="/static/site.css"' in page.text
    css = sweb.get("/static/site.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_signup_errors_next_to_each_field_input_kept(sweb, store):
    bad = {**SIGNUP, "email": "not-an-address", "user_name": "a b", "country": "Norway!", "company": "Tailwind"}
    response = post_form(sweb, "/signup", bad)
    assert response.status_code == 422
    for name in ("email", "user_name", "country"):
        assert re.search(rf'<span class="error" id="e-{name}">[^<]+</span>', response.text), name
        assert f'id="f-{name}" name="{name}"' in response.text
    assert 'value="not-an-address"' in response.text and 'value="Tailwind"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert requests_of(store) == []


def test_signup_creates_the_request_the_cli_would(web, any_store, mailbox):
    number, link = signed_up(web, any_store, mailbox)
    req = requests_of(any_store)[-1]
    assert req.status == "Requested" and req.submitted_by == "portal" and req.company == SIGNUP["company"]
    assert audit_of(any_store, number) == [("portal", "submitted")]
    with any_store.read() as s:
        templates = [m.template for m in s.exec(select(OutboxEmail)).all()]
    assert templates == ["signup_verify"]
    assert link.startswith("/signup/verify?token=")


def test_success_page_says_what_happens_next_and_reveals_no_duplicates(sweb, store):
    first = post_form(sweb, "/signup", SIGNUP)
    second = post_form(sweb, "/signup", SIGNUP)  # same e-mail again: the page must not tell
    strip = lambda t: re.sub(r'value="[^"]+"', "", t)  # noqa: E731
    assert first.status_code == second.status_code == 200
    assert strip(first.text) == strip(second.text)
    assert "What happens next" in first.text and "ann.lee@tailwind.example" in first.text


def test_honeypot_filled_looks_like_success_but_stores_nothing(sweb, store):
    response = post_form(sweb, "/signup", {**SIGNUP, "website": "http://spam.example"})
    assert response.status_code == 200 and "What happens next" in response.text
    assert requests_of(store) == []
    response = post_form(sweb, "/partners/apply", {**APPLY, "website": "x"})
    assert response.status_code == 200
    with store.read() as s:
        assert s.exec(select(Prospect)).all() == []


# ------------------------------------------------------------------ verification link


def test_verification_link_confirms_only_on_the_pages_post(web, any_store, mailbox):
    number, link = signed_up(web, any_store, mailbox)
    page = web.get(link)  # a mail scanner's prefetch does this: nothing may change
    assert page.status_code == 200 and number in page.text and "Confirm my sign-up" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert requests_of(any_store)[-1].status == "Requested"
    token = token_of(link)
    assert f'name="token" value="{token}"' in page.text  # from here on the token travels in a POST body
    done = post_form(web, "/signup/verify", {"token": token})
    assert done.status_code == 200 and "is confirmed" in done.text and "Verified by user" in done.text
    assert requests_of(any_store)[-1].status == "Verified by user"
    assert audit_of(any_store, number)[-1] == ("portal", "verified")
    again = web.get(link)
    assert again.status_code == 410 and "already used" in again.text and "Send me a new link" not in again.text
    reused = post_form(web, "/signup/verify", {"token": token})
    assert reused.status_code == 410 and "already used" in reused.text


def test_unknown_link_page_offers_the_resend_form(sweb):
    for token in ("rdk_" + "A" * 43, "garbage", "", "<script>x</script>"):
        page = sweb.get("/signup/verify", params={"token": token})
        assert page.status_code == 404 and "not known" in page.text and 'href="/signup/resend"' in page.text
        assert "<script>x" not in page.text


def test_expired_link_offers_a_new_one_which_replaces_it(sweb, store, clock, mailbox):
    number, link = signed_up(sweb, store, mailbox)
    clock.advance(hours=73)
    page = sweb.get(link)
    assert page.status_code == 410 and "expired" in page.text and "Send me a new link" in page.text
    assert post_form(sweb, "/signup/verify", {"token": token_of(link)}).status_code == 410
    renewed = post_form(sweb, "/signup/verify/renew", {"token": token_of(link)})
    assert renewed.status_code == 200 and "new link" in renewed.text
    assert audit_of(store, number)[-1] == ("portal", "activation URL sent")
    deliver(store, mailbox)
    new = link_in_mail(mailbox, SIGNUP["email"], "signup/verify")
    assert new != link
    replaced = sweb.get(link)
    assert replaced.status_code == 410 and "newer link" in replaced.text
    assert post_form(sweb, "/signup/verify", {"token": token_of(new)}).status_code == 200


def test_replaced_link_says_so(sweb, store, mailbox, actor):
    number, link = signed_up(sweb, store, mailbox)
    store.call(signup.resend, actor("support1"), number)  # the approver's Activation URL
    page = sweb.get(link)
    assert page.status_code == 410 and "newer link" in page.text and "Send me a new link" in page.text


def test_resend_form_answers_the_same_for_known_and_unknown_addresses(sweb, store, mailbox):
    signed_up(sweb, store, mailbox)
    mailbox.recorder.messages.clear()
    known = post_form(sweb, "/signup/resend", {"email": SIGNUP["email"].upper()})
    unknown = post_form(sweb, "/signup/resend", {"email": "nobody@nowhere.example"})
    strip = lambda t: re.sub(r'value="[^"]+"', "", t)  # noqa: E731
    assert known.status_code == unknown.status_code == 200 and strip(known.text) == strip(unknown.text)
    deliver(store, mailbox)
    assert [str(m["To"]) for m in mailbox.recorder.messages] == [SIGNUP["email"]]
    bad = post_form(sweb, "/signup/resend", {"email": "nope"})
    assert bad.status_code == 422 and 'id="e-email">enter' in bad.text


# ------------------------------------------------------------------ B2B onboarding


def test_partner_apply_page_creates_prospect_and_lead_like_the_cli(web, any_store):
    page = web.get("/partners/apply")
    for name in ProspectIn.model_fields:
        assert f'<label for="f-{name}">' in page.text
    assert '<textarea id="f-comments"' in page.text
    done = post_form(web, "/partners/apply", APPLY)
    assert done.status_code == 200 and "Fourth Coffee" in done.text
    with any_store.read() as s:
        prospect = s.exec(select(Prospect)).one()
        lead = s.exec(select(Lead)).one()
    assert prospect.status == "Pending" and prospect.submitted_by == "portal" and lead.status == "Open"
    assert lead.view == "All commerce B2B leads" and lead.prospect_id == prospect.id
    assert audit_of(any_store, prospect.number) == [("portal", "submitted")]
    assert audit_of(any_store, lead.number) == [("portal", "created")]
    bad = post_form(web, "/partners/apply", {**APPLY, "store_url": "javascript:alert(1)", "email": "x"})
    assert bad.status_code == 422 and 'id="e-store_url">' in bad.text and 'id="e-email">' in bad.text
    assert 'value="javascript:alert(1)"' in bad.text


# ------------------------------------------------------------------ activation


def provisioned(web, store, smtp) -> str:
    """Sign up and verify on the pages, approve and create through the services; the logon link."""
    number, link = signed_up(web, store, smtp)
    assert post_form(web, "/signup/verify", {"token": token_of(link)}).status_code == 200
    who = actor_of(store)
    store.call(signup.approve, who("approver1"), number)
    ur = store.call(
        signup.create_customer,
        who("approver1"),
        number,
        mode="new",
        template="DOMESTIC",
        role="Customer self-service user",
    ).user_request
    store.call(user_requests.approve, who("approver2"), ur)
    deliver(store, smtp)
    return link_in_mail(smtp, SIGNUP["email"], "activate")


def test_activation_page_sets_the_password_and_completes_the_request(web, any_store, mailbox):
    link = provisioned(web, any_store, mailbox)
    page = web.get(link)
    assert page.status_code == 200 and "alee" in page.text and "at least 12" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    token = token_of(link)
    differ = post_form(web, "/activate", {"token": token, "password": PASSWORD, "password_again": PASSWORD + "x"})
    assert differ.status_code == 422 and "the two passwords differ" in differ.text
    weak = post_form(web, "/activate", {"token": token, "password": "short", "password_again": "short"})
    assert weak.status_code == 422 and 'id="e-password">at least 12' in weak.text
    assert "short" not in re.sub(r"<p id=\"policy\">.*?</p>", "", weak.text)  # a password is never echoed
    ok = post_form(web, "/activate", {"token": token, "password": PASSWORD, "password_again": PASSWORD})
    assert ok.status_code == 200 and "is active" in ok.text
    with any_store.read() as s:
        user = s.exec(select(PortalUser)).one()
    assert user.status == "Active" and user.password_hash.startswith("$argon2id$")
    from models.signup import UserRequest

    with any_store.read() as s:
        assert s.exec(select(UserRequest.status)).one() == "Completed"
    used = web.get(link)
    assert used.status_code == 410 and "already used" in used.text and "Active" in used.text


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "path,data",
    [
        ("/signup", SIGNUP),
        ("/partners/apply", APPLY),
        ("/signup/resend", {"email": SIGNUP["email"]}),
        ("/signup/verify", {"token": "rdk_" + "A" * 43}),
        ("/signup/verify/renew", {"token": "rdk_" + "A" * 43}),
        ("/activate", {"token": "rdk_" + "A" * 43, "password": PASSWORD, "password_again": PASSWORD}),
    ],
)
def test_every_form_refuses_a_missing_or_forged_csrf_token(sweb, store, path, data):
    csrf_of(sweb)  # the browser has the cookie
    assert sweb.post(path, data=data).status_code == 403
    assert post_form(sweb, path, data, csrf="forged-" + "x" * 36).status_code == 403
    fresh = TestClient(sweb.app)  # no cookie at all, the right-looking token
    assert fresh.post(path, data={"csrf": "x" * 43, **data}).status_code == 403
    cross = post_form(sweb, path, data, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "expired" in cross.text
    as_json = sweb.post(path, json={"csrf": csrf_of(sweb), **data})
    assert as_json.status_code == 415
    assert requests_of(store) == []
    with store.read() as s:
        assert s.exec(select(Prospect)).all() == []


def test_body_size_limit(sweb, store):
    big = "x" * (70 * 1024)
    response = post_form(sweb, "/signup", {**SIGNUP, "comments": big})
    assert response.status_code == 413
    assert (
        sweb.post(
            "/api/v1/signup", content=b"{" + b" " * 70000 + b"}", headers={"content-type": "application/json"}
        ).status_code
        == 413
    )
    assert (
        sweb.post(
            "/api/v1/signup", content=b"{}", headers={"content-length": "999999999", "content-type": "application/json"}
        ).status_code
        == 413
    )
    long_field = post_form(sweb, "/signup", {**SIGNUP, "company": "y" * 5000})
    assert long_field.status_code == 413 and requests_of(store) == []


def test_security_headers_and_hsts_only_over_https_from_a_trusted_proxy(store):
    trusting = make_client(store, trusted_proxies=frozenset({"testclient"}))
    plain = trusting.get("/signup")
    csp = plain.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert "default-src 'none'" in csp and plain.headers["x-frame-options"] == "DENY"
    assert plain.headers["x-content-type-options"] == "nosniff" and "strict-transport-security" not in plain.headers
    assert "server" not in plain.headers
    tls = trusting.get("/signup", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["strict-transport-security"].startswith("max-age=63072000")
    assert "__Host-rdcsrf=" in tls.headers["set-cookie"] and "Secure" in tls.headers["set-cookie"]
    untrusted = make_client(store)  # the test client's address is no proxy of ours
    spoofed = untrusted.get("/signup", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in spoofed.headers


def test_tokens_and_passwords_never_reach_the_access_log(sweb, store, mailbox, caplog):
    number, link = signed_up(sweb, store, mailbox)
    token = token_of(link)
    with caplog.at_level(logging.INFO, logger="regdesk.web.access"):
        sweb.get(link)
        sweb.get("/activate?token=" + token + "&password=" + PASSWORD)
        post_form(sweb, "/signup/verify", {"token": token})
    lines = [r.getMessage() for r in caplog.records if r.name == "regdesk.web.access"]
    assert any("/signup/verify" in line for line in lines)
    assert not any(token in line or PASSWORD in line for line in lines)
    from app.web.security import ScrubTokens

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s "%s %s"', ("1.2.3.4", "GET", link), None)
    ScrubTokens().filter(record)
    assert token not in record.getMessage()


@pytest.mark.parametrize("hostile", HOSTILE_WEB)
def test_hostile_strings_through_every_form_field_are_shown_escaped(sweb, store, hostile):
    client = make_client(store, limits={})
    for path, base, fields in (
        ("/signup", SIGNUP, SignupIn.model_fields),
        ("/partners/apply", APPLY, ProspectIn.model_fields),
    ):
        csrf = csrf_of(client, path)
        for name in fields:
            response = post_form(client, path, {**base, name: hostile}, csrf=csrf)
            assert response.status_code in (200, 422), (path, name, response.status_code)
            text = response.text
            assert "<script>alert" not in text and "<img src=x" not in text and "Traceback" not in text
            if response.status_code == 422 and "<" in hostile:
                assert "&lt;" in text, (path, name)
    # what was stored is what the services made of it, and the pages that show it escape it
    with store.read() as s:
        stored = s.exec(select(SignupRequest)).all()
    assert stored, "some hostile values are valid input and were stored"


def test_hostile_values_stored_by_a_sign_up_are_escaped_on_the_link_pages(sweb, store, mailbox):
    company = "<script>alert(1)</script> [b]x[/b] \u202eevil"
    number, link = signed_up(sweb, store, mailbox, company=company)
    page = sweb.get(link)
    assert page.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text


# ------------------------------------------------------------------ limits (in the database)


def tight(action: str, kind: str, n: int) -> dict:
    return {"limits": {action: [Limit(action, kind, n, HOUR)]}}


def test_signup_limit_per_client_address_holds_across_processes(any_store, clock):
    store = any_store
    one = make_client(store, **tight("signup", "ip", 3))
    other_store = type(store)(store.url, clock=clock)  # a second serve process on the same database
    two = TestClient(create_app(other_store, WebConfig(**tight("signup", "ip", 3))))
    codes = [
        post_form(c, "/signup", {**SIGNUP, "email": f"a{i}@example.com"}).status_code
        for i, c in enumerate([one, two, one, two])
    ]
    assert codes == [200, 200, 200, 429]
    refused = post_form(one, "/signup", SIGNUP)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0 and "Too many" in refused.text
    assert len(requests_of(store)) == 3
    clock.advance(hours=1, minutes=1)
    assert post_form(one, "/signup", SIGNUP).status_code == 200
    other_store.dispose()


def test_limit_counts_exactly_under_concurrent_processes(any_store, clock):
    """Eight writers (two stores = two processes' pools) hit one counter at once: exactly `limit` pass."""
    from concurrent.futures import ThreadPoolExecutor

    from services import ratelimit

    other = type(any_store)(any_store.url, clock=clock)
    limit = Limit("signup", "ip", 25, HOUR)
    try:
        with ThreadPoolExecutor(8) as pool:
            verdicts = list(
                pool.map(
                    lambda i: (any_store if i % 2 else other).call(ratelimit.hit, [(limit, "10.1.1.1")]), range(40)
                )
            )
    finally:
        other.dispose()
    assert sum(v.allowed for v in verdicts) == 25
    assert sorted(v.hits for v in verdicts) == list(range(1, 41))


def test_signup_limit_per_email_across_client_addresses(store):
    client = make_client(store, trusted_proxies=frozenset({"testclient"}), **tight("signup", "email", 2))
    codes = [
        post_form(
            client,
            "/signup",
            {**SIGNUP, "email": SIGNUP["email"] if i % 2 == 0 else SIGNUP["email"].upper()},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    api = client.post("/api/v1/signup", json=SIGNUP, headers={"X-Forwarded-For": "10.0.0.9"})
    assert api.status_code == 429 and api.json()["kind"] == "rate_limited" and "retry-after" in api.headers


def test_resend_limit(store, mailbox):
    client = make_client(store, **tight("resend", "email", 2))
    codes = [post_form(client, "/signup/resend", {"email": "someone@example.com"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.post("/api/v1/signup/resend", json={"email": "someone@example.com"}).status_code == 429


def test_activation_attempts_are_limited_per_link(store, mailbox):
    client = make_client(store)
    link = provisioned(client, store, mailbox)
    limited = make_client(store, **tight("activate", "link", 2))
    token = token_of(link)
    codes = [
        post_form(limited, "/activate", {"token": token, "password": "weak", "password_again": "weak"}).status_code
        for _ in range(3)
    ]
    assert codes == [422, 422, 429]
    assert limited.post("/api/v1/activate", json={"token": token, "password": PASSWORD}).status_code == 429
    with store.read() as s:
        assert s.exec(select(PortalUser.status)).one() == "Pending activation"


def test_limits_from_the_serve_option(cli):
    from app.web.config import WebConfig, parse_limits

    limits = parse_limits("signup.ip=2, resend.email=1", WebConfig().limits)
    assert [(lim.kind, lim.limit) for lim in limits["signup"]] == [("ip", 2), ("email", 5)]
    assert limits["resend"][1].limit == 1
    for bad in ("signup.ip=x", "nothing.ip=3", "signup.link=3"):
        with pytest.raises(ValueError, match="bad limit"):
            parse_limits(bad, WebConfig().limits)
    refused = cli("serve", "--limits", "signup.nope=3")
    assert refused.code == 2 and "bad limit" in refused.err


# ------------------------------------------------------------------ API


def test_api_signup_verify_resend(web, any_store, mailbox):
    created = web.post("/api/v1/signup", json={**SIGNUP, "email": "api@example.com"})
    assert created.status_code == 201 and created.json()["status"] == "Requested"
    assert set(created.json()) == {"number", "status", "email"}  # no duplicate count: it would tell
    number = created.json()["number"]
    assert audit_of(any_store, number) == [("portal", "submitted")]
    extra = web.post("/api/v1/signup", json={**SIGNUP, "extra": 1})
    assert extra.status_code == 422 and set(extra.json()["fields"]) == {"extra"}
    invalid = web.post("/api/v1/signup", json={**SIGNUP, "email": "nope"})
    assert invalid.status_code == 422 and set(invalid.json()["fields"]) == {"email"}
    deliver(any_store, mailbox)
    token = token_of(link_in_mail(mailbox, "api@example.com", "signup/verify"))
    assert web.post("/api/v1/signup/verify", json={"token": "rdk_" + "B" * 43}).json()["kind"] == "unknown"
    ok = web.post("/api/v1/signup/verify", json={"token": token})
    assert ok.status_code == 200 and ok.json() == {"number": number, "status": "Verified by user"}
    again = web.post("/api/v1/signup/verify", json={"token": token})
    assert again.status_code == 410 and again.json()["kind"] == "used"
    known = web.post("/api/v1/signup/resend", json={"email": "api@example.com"})
    unknown = web.post("/api/v1/signup/resend", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()


def test_api_apply_and_activate(web, any_store, mailbox):
    applied = web.post("/api/v1/partners/apply", json=APPLY)
    assert applied.status_code == 201 and applied.json()["status"] == "Pending" and applied.json()["lead"]
    link = provisioned(web, any_store, mailbox)
    token = token_of(link)
    weak = web.post("/api/v1/activate", json={"token": token, "password": "aaaaaaaaaaaaaa"})
    assert weak.status_code == 422 and "password" in weak.json()["fields"]
    ok = web.post("/api/v1/activate", json={"token": token, "password": PASSWORD})
    assert ok.status_code == 200 and ok.json() == {"user_name": "alee", "status": "Active"}
    assert web.post("/api/v1/activate", json={"token": token, "password": PASSWORD}).status_code == 410
    assert web.get("/api/v1/password-policy").json()["policy"].startswith("at least 12")


def test_openapi_document_comes_from_the_cli_input_models(sweb):
    doc = sweb.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert schemas["SignupIn"]["title"] == "regdesk sign-up request"
    assert set(schemas["SignupIn"]["properties"]) == set(SignupIn.model_fields)
    assert set(schemas["ProspectIn"]["properties"]) == set(ProspectIn.model_fields)
    assert schemas["SignupIn"]["additionalProperties"] is False
    for path in (
        "/api/v1/signup",
        "/api/v1/signup/verify",
        "/api/v1/signup/resend",
        "/api/v1/partners/apply",
        "/api/v1/activate",
    ):
        assert "post" in doc["paths"][path]
    assert not any("token" in p for p in doc["paths"])  # tokens travel in bodies
    assert sweb.get("/docs").status_code == 404  # no inline-script documentation page


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"{not json", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"company": ' + b"9" * 5000 + b"}", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b'"a string"', "application/json"),
        (b"null", "application/json"),
        (b"company=x", "text/plain"),
        (b'{"company": {"a": [1, {"b": null}]}}', "application/json"),
    ],
)
def test_no_server_error_on_garbage(sweb, body, ctype):
    for path in (
        "/api/v1/signup",
        "/api/v1/signup/verify",
        "/api/v1/partners/apply",
        "/api/v1/activate",
        "/api/v1/signup/resend",
    ):
        response = sweb.post(path, content=body, headers={"content-type": ctype})
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
        assert "Traceback" not in response.text
    for path in ("/signup", "/partners/apply", "/activate", "/signup/resend"):
        response = sweb.post(path, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
        assert response.status_code == 403 and "Traceback" not in response.text


def test_healthz_and_unknown_pages(sweb):
    assert sweb.get("/healthz").json() == {"status": "ok"} and sweb.head("/healthz").status_code == 200
    missing = sweb.get("/nothing-here")
    assert missing.status_code == 404 and "<h1>Not Found</h1>" in missing.text
    assert sweb.get("/").status_code == 200
    assert sweb.get("/api/v1/nothing").json() == {"error": "Not Found"}


def test_regdesk_serve_runs_two_workers_on_one_database(any_store, tmp_path):
    """The real command: uvicorn with two worker processes over one database; no token in its log."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from tests.smtp_helpers import free_port

    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "REGDESK_DATABASE_URL": any_store.url, "REGDESK_CONFIG": "/nonexistent.toml"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from app.cli import main; sys.exit(main())",
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("serve did not answer: " + log.read_text())
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(6) as pool:  # at once, so both workers take some
            codes = list(
                pool.map(
                    lambda i: (
                        httpx.post(
                            base + "/api/v1/signup", timeout=30, json={**SIGNUP, "email": f"w{i}@example.com"}
                        ).status_code
                    ),
                    range(12),
                )
            )
        assert codes == [201] * 12
        assert len(requests_of(any_store)) == 12
        assert httpx.get(base + "/signup/verify", params={"token": "rdk_" + "Z" * 43}).status_code == 404
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
        for _ in range(50):  # the workers too: none may keep a connection to the test database
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert '"POST /api/v1/signup" 201' in text and "Z" * 43 not in text and "Traceback" not in text


def test_database_failure_is_a_plain_page_never_a_trace(store, monkeypatch, caplog):
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("INSERT INTO signuprequest ... rdk_secret", {"token": "rdk_secret"}, Exception("gone"))

    down.regdesk_writes = True
    set_portal_url(store, "http://testserver")
    client = TestClient(create_app(store), raise_server_exceptions=False)
    csrf = csrf_of(client)
    monkeypatch.setattr(signup, "submit", down)
    with caplog.at_level(logging.ERROR):
        page = client.post("/signup", data={"csrf": csrf, **SIGNUP})
        api = client.post("/api/v1/signup", json=SIGNUP)
    assert page.status_code == 503 and "Nothing was changed" in page.text and "Traceback" not in page.text
    assert api.status_code == 503 and set(api.json()) == {"error"}
    assert "rdk_secret" not in page.text + api.text + caplog.text
