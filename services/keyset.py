"""A keyset page: a query continued after a cursor in the order of a multi-column index.

``(a, b, id) > (?, ?, ?)`` is the natural predicate, and PostgreSQL seeks an index on it. SQLite
seeks an index on the first column of a row value only: ``(status, id) > (?, ?)`` starts at
the cursor's status and then reads every row of that status up to the cursor's id (400k rows
of one status at 1M). So on SQLite the page is one arm per column, each a seek on the index's
columns, merged in index order by a ``UNION ALL`` (``MERGE (UNION ALL)``, no sort) under the
page's ORDER BY and LIMIT, which stops them after a page:

    a = ? AND b = ? AND id > ?      the rest of the cursor's (a, b)
    a = ? AND b > ?                 the rest of the cursor's a
    a > ?                           the values after it

(``<`` throughout when descending). The cursor's values and the limit may be bound parameters
(the sign-up requests build each shape's statement once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, Unpack

from sqlalchemy import and_, literal_column, tuple_, union_all
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect, Select

S = TypeVar("S", bound=Select[Unpack[tuple[Any, ...]]])


def _after(column: Any, value: Any, descending: bool) -> ColumnElement[bool]:
    after: ColumnElement[bool] = column < value if descending else column > value
    return after


def _direction(column: Any, descending: bool) -> Any:
    return column.desc() if descending else column.asc()


def keyset_page(
    dialect: str,
    query: S,
    columns: Sequence[Any],
    after: Sequence[Any] | None,
    *,
    descending: bool = False,
    limit: int | BindParameter[Any],
    fixed: Sequence[Any] = (),
    seek_arms: bool = True,
) -> S | CompoundSelect[Any]:
    """``query`` ordered by ``columns`` (the last a unique tie-breaker, e.g. the id), after the
    cursor ``after`` (one value per column; None: the first page), at most ``limit`` rows.

    A compound select on SQLite after a cursor (see the module doc): its ORDER BY names the
    columns by their position in ``query``'s select list, where each of ``columns`` must be.

    ``fixed``: columns the query's filter holds at one value by ``IS NULL``, ordered by ahead of
    ``columns`` (a no-op) so that PostgreSQL walks an index that has them before ``columns``: it
    takes ``col = ?`` as fixing a column for the order of an index, not ``col IS NULL``.

    ``seek_arms=False``: one row-value predicate on SQLite too (a query whose few rows are sorted
    anyway, e.g. a search's matches, would read its filter once per arm)."""
    order = [*fixed, *columns]
    if after is None or dialect != "sqlite" or len(columns) == 1 or not seek_arms:
        if after is not None:
            if len(columns) == 1:
                query = query.where(_after(columns[0], after[0], descending))
            else:
                query = query.where(_after(tuple_(*columns), tuple_(*after), descending))
        return query.order_by(*[_direction(c, descending) for c in order]).limit(limit)
    arms = []
    for n in range(len(columns), 0, -1):  # the cursor's own prefix first: index order
        equal = [c == v for c, v in zip(columns[: n - 1], after[: n - 1])]
        arms.append(query.where(and_(*equal, _after(columns[n - 1], after[n - 1], descending))))
    positions = [_position(query, c) for c in order]
    return union_all(*arms).order_by(*[_direction(literal_column(str(p)), descending) for p in positions]).limit(limit)


def _position(query: Select[Unpack[tuple[Any, ...]]], column: Any) -> int:
    """The 1-based position of ``column`` in ``query``'s select list (a compound's ORDER BY
    term; names can repeat across joined tables, positions cannot)."""
    target = getattr(column, "expression", column)
    for i, selected in enumerate(query.selected_columns, start=1):
        if selected.compare(target):  # the same column of the same table (annotations aside)
            return i
    raise ValueError(f"{column} is not selected by the page's query")
