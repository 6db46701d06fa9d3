"""The one state-change primitive every process uses: a conditional UPDATE.

A record moves only if it is still in one of the states the action allows and still at the
version that was read; the row count says whether this transaction won. The loser gets the
record as the winner left it, so each process can say who acted first in its own words.
On PostgreSQL the UPDATE waits for a concurrent writer's row lock and then re-checks its
WHERE clause; on SQLite writers are serialized by BEGIN IMMEDIATE.
"""

from __future__ import annotations

from typing import Any, Iterable, TypeVar

from sqlalchemy import update
from sqlmodel import Session, SQLModel, col

from services.store import now

R = TypeVar("R", bound=SQLModel)


def claim(session: Session, row: R, sources: Iterable[str], *, field: str = "status", version: int | None = None,
          **values: Any) -> tuple[bool, R | None]:
    """Apply ``values`` to ``row`` if its ``field`` is in ``sources`` and its version unchanged.

    Bumps the version (and ``updated_at`` where the table has it). Returns ``(True, None)``
    when this transaction won, else ``(False, current)`` with the record as it is now (None
    when it was deleted). ``row`` is expired either way, so it reads fresh values next.
    """
    model = type(row)
    expected = row.version if version is None else version  # type: ignore[attr-defined]
    changes: dict[str, Any] = {"version": expected + 1, **values}
    if "updated_at" in model.model_fields and "updated_at" not in changes:
        changes["updated_at"] = now(session)
    result = session.execute(
        update(model)
        .where(model.id == row.id,  # type: ignore[attr-defined]
               col(getattr(model, field)).in_([str(s) for s in sources]),
               model.version == expected)  # type: ignore[attr-defined]
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    session.expire(row)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True, None
    return False, session.get(model, row.id)  # type: ignore[attr-defined]
