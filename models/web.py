"""State the public web pages share across ``serve`` processes: attempt counters per client."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

__all__ = ["WebRateLimit"]


class WebRateLimit(SQLModel, table=True):
    """One fixed-window counter: ``key`` is the action, the kind (ip/email/link) and a hash of
    the value (no address is stored in clear); ``hits`` counts attempts since ``window_start``."""

    key: str = Field(primary_key=True, max_length=80)
    window_start: datetime = Field(index=True)
    hits: int = 0
