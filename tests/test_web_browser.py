"""The customer's journey in a real headless Chromium (Debian's package, driven by Playwright):
sign up, open the verification link from the mail caught over SMTP on loopback, get approved
and created by an approver through the services, set the password from the logon mail's link.
Skips cleanly when no Chromium is installed (.ci/run installs it)."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from tests.smtp_helpers import SmtpServer, free_port
from tests.web_helpers import PASSWORD, SIGNUP, set_portal_url

CHROMIUM = os.environ.get("REGDESK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (apt-get install chromium)")


@pytest.fixture
def served(store):
    """The app on a real uvicorn server on loopback, its address as the portal.url of the mails."""
    import uvicorn

    from app.web.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    set_portal_url(store, base)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    yield base
    server.should_exit = True
    server.force_exit = True  # do not wait for the browser's keep-alive connections
    thread.join(5)


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def by_label(text: str):
    import re

    return re.compile(rf"^{re.escape(text)}( \*)?$")  # the label as read out; the star marks a required field


def newest_link(smtp, kind: str) -> str:
    import re

    body = smtp.recorder.messages[-1].get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+/" + re.escape(kind) + r"\?token=\S+", body)
    assert match, body
    return match.group(0)


def test_customer_signs_up_verifies_and_activates_in_chromium(store, served, browser):
    from services import delivery, signup, user_requests
    from tests.conftest import actor_of

    smtp = SmtpServer().start()
    try:
        page = browser.new_page()
        page.set_default_timeout(10_000)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        token_requests: list[dict] = []

        page.goto(served + "/signup")
        labels = {
            "company": "Company name",
            "first_name": "First name",
            "last_name": "Last name",
            "email": "E-mail address",
            "user_name": "Preferred user name",
            "phone": "Phone",
            "city": "City",
            "zip": "ZIP/postal code",
            "country": "Country/region",
        }
        for field, label in labels.items():
            page.get_by_label(by_label(label)).fill(SIGNUP[field])
        page.get_by_role("button", name="Sign up").click()
        page.get_by_text("What happens next").wait_for()
        assert SIGNUP["email"] in page.content()

        delivery.send_pending(store, smtp.settings())
        link = newest_link(smtp, "signup/verify")
        assert link.startswith(served)
        page.on("request", lambda r: token_requests.append(r.headers) if r.url.endswith("site.css") else None)
        page.goto(link)
        page.get_by_role("button", name="Confirm my sign-up").click()
        page.get_by_role("status").get_by_text("is confirmed").wait_for()
        assert token_requests and not any(h.get("referer") for h in token_requests)  # the token never leaks

        number = store.call(signup.list_requests, actor_of(store)("approver1")).rows[-1].number
        approver = actor_of(store)("approver1")
        store.call(signup.approve, approver, number)
        ur = store.call(
            signup.create_customer, approver, number, mode="new", template="DOMESTIC", role="Customer self-service user"
        ).user_request
        store.call(user_requests.approve, actor_of(store)("approver2"), ur)
        delivery.send_pending(store, smtp.settings())
        page.goto(newest_link(smtp, "activate"))
        assert "at least 12" in page.content()
        page.get_by_label(by_label("New password")).fill(PASSWORD)
        page.get_by_label(by_label("New password again")).fill(PASSWORD)
        page.get_by_role("button", name="Activate my portal user").click()
        page.get_by_role("status").get_by_text("is active").wait_for()
        from services import portal

        with store.read() as s:
            assert portal.verify_logon(s, SIGNUP["user_name"], PASSWORD)
        assert not problems, problems  # no CSP violation, no script error
    finally:
        smtp.stop()
