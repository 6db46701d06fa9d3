"""Helpers for the web tests: an app on a test store, the form token, mails caught over SMTP."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from services import delivery, params
from services.permissions import SYSTEM
from tests.conftest import HOSTILE

# the markup/escape strings every surface gets, plus what a browser would run or reorder
HOSTILE_WEB = [*HOSTILE, "a\u202eb", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']

SIGNUP = {
    "company": "Tailwind Traders",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@tailwind.example",
    "user_name": "alee",
    "phone": "+1 555 0100",
    "street": "1 Pier Rd",
    "city": "Oslo",
    "zip": "0150",
    "country": "NO",
    "language": "en-us",
}
APPLY = {
    "company": "Fourth Coffee",
    "first_name": "Kim",
    "last_name": "Ray",
    "email": "kim.ray@fourth.example",
    "phone": "+1 555 0199",
    "zip": "98052",
    "comments": "We run 12 shops.",
    "store_name": "Fourth Coffee Online",
    "store_url": "https://fourth.example/shop",
}
PASSWORD = "Blue-Kettle-Morning-42"


def set_portal_url(store, url: str) -> None:
    with store.write() as s:
        params.set_value(s, SYSTEM, "portal.url", url)


def csrf_of(client, path: str = "/signup") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def post_form(client, path: str, data: dict, *, csrf: str | None = None, headers: dict | None = None):
    token = (
        csrf
        if csrf is not None
        else csrf_of(client, path if path in ("/signup", "/partners/apply", "/signup/resend") else "/signup/resend")
    )
    return client.post(path, data={"csrf": token, **data}, headers=headers or {})


def deliver(store, smtp) -> None:
    """Send the outbox to the SMTP server on loopback, as `regdesk outbox send` does."""
    delivery.send_pending(store, smtp.settings())


def link_in_mail(smtp, to: str, kind: str) -> str:
    """Path and query of the newest link of ``kind`` (signup/verify or activate) mailed to ``to``."""
    for message in reversed(smtp.recorder.messages):
        if to.lower() in str(message["To"]).lower():
            body = message.get_body(preferencelist=("plain",)).get_content()
            match = re.search(r"https?://\S+/" + re.escape(kind) + r"\?token=\S+", body)
            if match:
                parts = urlsplit(match.group(0))
                return f"{parts.path}?{parts.query}"
    raise AssertionError(f"no {kind} link mailed to {to}")


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]
