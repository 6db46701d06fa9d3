"""Time comes from the store's clock so tests can move it (escalations, token expiry)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable


def system_now() -> datetime:
    return datetime.now(timezone.utc)


class ManualClock:
    """A clock for tests: starts at a fixed instant and moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 2, 9, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


Clock = Callable[[], datetime]
