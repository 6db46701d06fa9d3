"""A search as one statement: the rows equal to the term on an exact key, else its text matches.

Probing the exact keys first and then running the list's query costs two statements (two round
trips on PostgreSQL). Here both questions are one subquery that the list's page or count
statement embeds, so a search costs one statement:

    WITH hits_<t> AS (SELECT id FROM t WHERE key0 = :k_t_0 UNION SELECT id FROM t WHERE key1 = :k_t_1)
    SELECT id FROM hits_<t>
    UNION
    SELECT id FROM (<the text index's ids>) WHERE NOT EXISTS (SELECT id FROM hits_<t>)

The ``NOT EXISTS`` does not depend on any row of the text branch: PostgreSQL evaluates it once
as an init plan and skips the branch (a one-time filter, "never executed"). SQLite would test
it per row after the FTS5 lookup, so there the branch is a subquery whose LIMIT is
``CASE WHEN EXISTS (SELECT id FROM hits_<t>) THEN 0 ELSE -1 END``: a LIMIT is computed
before the loop, and LIMIT 0 jumps over the lookup. So an exact key is b-tree probes
only, as before, and the text index is read only when no key matched. The union (not a plain
subquery) also keeps PostgreSQL from flattening the text branch into a walk of the list's
order index that filters every row (a scan of the table for a rare word).

A statement is built once per shape (dialect, table, keys, whether the term is long enough for
the text index, extra columns) and cached; the term's values are parameters
(``search_params``): ``k_<table>_<i>`` per key and ``q_<table>`` for the text index.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, bindparam, case, column, exists, literal_column, select, table, union, union_all
from sqlalchemy.sql.selectable import CompoundSelect, Select
from sqlmodel import SQLModel

from models.base import table_of
from services.search import MIN_WORD, _text_sql, text_value

KEYS_ONLY = "keys"  # a term too short for the text index: the exact keys alone
KEYS_OR_WORDS = "keys-or-words"


def search_params(
    dialect: str, model: type[SQLModel], term: str, keys: Sequence[tuple[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """The shape of ``term``'s search and its parameters; ``keys``: (column, value the term
    takes for it), in the order the statement was built with."""
    table = table_of(model).name
    params = {f"k_{table}_{i}": value for i, (_, value) in enumerate(keys)}
    if len(term) < MIN_WORD:
        return KEYS_ONLY, params
    params[f"q_{table}"] = text_value(dialect, term)
    return KEYS_OR_WORDS, params


@lru_cache(maxsize=128)
def matches(
    dialect: str, model: type[SQLModel], keys: tuple[str, ...], shape: str, extra: tuple[str, ...] = ()
) -> Select[Any] | CompoundSelect[Any]:
    """The ids (and ``extra`` columns) a search finds, as one subquery (see the module doc)."""
    table = table_of(model)
    name = table.name
    more = [table.c[c] for c in extra]
    hits_query = _key_hits(model, keys, extra)
    if shape == KEYS_ONLY:
        return hits_query
    hits = hits_query.cte(f"hits_{name}")
    words = _text_sql(dialect, name, {c.key: c.type for c in more}).subquery(f"words_{name}")
    any_hit = exists(select(hits.c.id))
    text_branch = select(words.c.id, *[words.c[c] for c in extra])
    if dialect == "sqlite":
        # SQLite tests a NOT EXISTS in the branch's WHERE inside its loop, after the FTS5 lookup
        # ran; a LIMIT is computed before the loop, and LIMIT 0 jumps over it (-1: no limit)
        skip = case((any_hit, literal_column("0")), else_=literal_column("-1"))
        text_branch = select(*text_branch.limit(skip).subquery(f"text_{name}").c)
    else:
        text_branch = text_branch.where(~any_hit)  # an init plan: a one-time filter over the branch
    return union(select(hits.c.id, *[hits.c[c] for c in extra]), text_branch)


def _key_hits(
    model: type[SQLModel], keys: tuple[str, ...], extra: tuple[str, ...] = ()
) -> Select[Any] | CompoundSelect[Any]:
    """The ids (and ``extra`` columns) equal to the term on one of ``keys``: one b-tree probe each."""
    t = table_of(model)
    more = [t.c[c] for c in extra]
    probes = [select(t.c.id, *more).where(t.c[key] == bindparam(f"k_{t.name}_{i}")) for i, key in enumerate(keys)]
    hits: Select[Any] | CompoundSelect[Any] = union(*probes) if len(probes) > 1 else probes[0]
    return hits


def sqlite_id_page(
    model: type[SQLModel], keys: tuple[str, ...], query: Select[Any], *, descending: bool, keyed: bool
) -> CompoundSelect[Any]:
    """SQLite, a term long enough for the text index, the list in id order: the page of ``query``
    (the list's columns and filters, the id first; no search, no cursor) that the search finds,
    at most ``limit`` rows after the cursor ``after_id`` (``keyed``).

    ``id IN (<matches>)`` makes SQLite rank every match before the first row is read (the FTS5
    lookup run to its end into a temporary b-tree: 7k rows of "Cedar Atlas" at 1M). FTS5 hands
    its matches in rowid order, which is the list's order, so the text branch here is the FTS5
    table joined to the rows by id, its ORDER BY the rowid (consumed by FTS5, no sort) and the
    page's LIMIT its own: the lookup stops at the page's last row. The exact keys are the first
    branch (b-tree probes); the text branch's LIMIT is 0 when one of them hit, so the text index is
    read only when no key matched (see the module doc). Both branches take the list's filters, and
    the cursor seeks both (``rowid > ?`` starts FTS5 at the cursor)."""
    t = table_of(model)
    name = t.name
    hits = _key_hits(model, keys).cte(f"hits_{name}")
    fts = table(f"{name}_search", column("rowid", Integer))
    limit = bindparam("limit", type_=Integer)
    after = bindparam("after_id", type_=Integer)

    def after_cursor(c: Any) -> Any:
        return c < after if descending else c > after

    def ordered(c: Any) -> Any:
        return c.desc() if descending else c.asc()

    by_key = query.where(t.c.id.in_(select(hits.c.id)))
    by_words = query.select_from(fts).where(
        t.c.id == fts.c.rowid, literal_column(f"{name}_search").op("MATCH")(bindparam(f"q_{name}"))
    )
    if keyed:
        by_key, by_words = by_key.where(after_cursor(t.c.id)), by_words.where(after_cursor(fts.c.rowid))
    skip = case((exists(select(hits.c.id)), literal_column("0")), else_=limit)
    branches = [
        by_key.order_by(ordered(t.c.id)).limit(limit).subquery(f"keys_{name}"),
        by_words.order_by(ordered(fts.c.rowid)).limit(skip).subquery(f"words_{name}"),
    ]
    page = union_all(*[select(*b.c) for b in branches])
    return page.order_by(ordered(literal_column("1"))).limit(limit)


def found(
    dialect: str, model: type[SQLModel], term: str, keys: Sequence[tuple[str, Any]], extra: tuple[str, ...] = ()
) -> Select[Any] | CompoundSelect[Any]:
    """``matches`` for ``term`` with its values bound: one subquery to embed in a list's page or
    count statement (its shape's statement is cached; binding copies it with the values)."""
    shape, params = search_params(dialect, model, term, keys)
    return matches(dialect, model, tuple(key for key, _ in keys), shape, extra).params(**params)
