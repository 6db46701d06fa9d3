"""Settings of the public web pages (``regdesk serve`` options and REGDESK_WEB_* variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from services.ratelimit import Limit

HOUR = 3600


def _limits() -> dict[str, list[Limit]]:
    return {
        "signup": [Limit("signup", "ip", 20, HOUR), Limit("signup", "email", 5, HOUR)],
        "apply": [Limit("apply", "ip", 20, HOUR), Limit("apply", "email", 5, HOUR)],
        "resend": [Limit("resend", "ip", 10, HOUR), Limit("resend", "email", 3, HOUR)],
        "verify": [Limit("verify", "ip", 60, HOUR)],
        "activate": [Limit("activate", "ip", 30, HOUR), Limit("activate", "link", 10, HOUR)],
    }


@dataclass
class WebConfig:
    max_body_bytes: int = 64 * 1024
    # peers whose X-Forwarded-For / X-Forwarded-Proto are believed (the reverse proxy)
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    limits: dict[str, list[Limit]] = field(default_factory=_limits)
    hsts_seconds: int = 63072000  # two years, sent only over https

    @classmethod
    def from_env(cls) -> "WebConfig":
        cfg = cls()
        proxies = os.environ.get("REGDESK_WEB_TRUSTED_PROXIES")
        if proxies is not None:
            cfg.trusted_proxies = frozenset(p.strip() for p in proxies.split(",") if p.strip())
        if os.environ.get("REGDESK_WEB_MAX_BODY"):
            cfg.max_body_bytes = int(os.environ["REGDESK_WEB_MAX_BODY"])
        if os.environ.get("REGDESK_WEB_LIMITS"):
            cfg.limits = parse_limits(os.environ["REGDESK_WEB_LIMITS"], cfg.limits)
        return cfg


def parse_limits(text: str, base: dict[str, list[Limit]]) -> dict[str, list[Limit]]:
    """``signup.ip=20,resend.email=3`` (attempts per hour) over the defaults; ValueError names the bad item."""
    limits = {action: list(items) for action, items in base.items()}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = item.partition("=")
        action, _, kind = name.strip().partition(".")
        current = limits.get(action, [])
        if not value.strip().isdigit() or kind not in {lim.kind for lim in current}:
            known = ", ".join(f"{lim.action}.{lim.kind}" for items in base.values() for lim in items)
            raise ValueError(f"bad limit {item!r}: expected NAME=ATTEMPTS_PER_HOUR with NAME one of {known}")
        limits[action] = [
            Limit(action, kind, int(value), lim.window_seconds) if lim.kind == kind else lim for lim in current
        ]
    return limits
