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

from sqlalchemy import bindparam, case, exists, literal_column, select, union
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
    probes = [select(table.c.id, *more).where(table.c[key] == bindparam(f"k_{name}_{i}")) for i, key in enumerate(keys)]
    hits_query = union(*probes) if len(probes) > 1 else probes[0]
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


def found(
    dialect: str, model: type[SQLModel], term: str, keys: Sequence[tuple[str, Any]], extra: tuple[str, ...] = ()
) -> Select[Any] | CompoundSelect[Any]:
    """``matches`` for ``term`` with its values bound: one subquery to embed in a list's page or
    count statement (its shape's statement is cached; binding copies it with the values)."""
    shape, params = search_params(dialect, model, term, keys)
    return matches(dialect, model, tuple(key for key, _ in keys), shape, extra).params(**params)
