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

A word search of a list asks first, in a small statement of its own, whether the term is an
exact key and how rare the word is (``first_shape``: SQLite ``sqlite_first``, FTS5's matches
counted; PostgreSQL ``pg_first``, the newest rows tested, for a term not shaped as a key).

A statement is built once per shape (dialect, table, keys, whether the term is long enough for
the text index, extra columns) and cached; the term's values are parameters
(``search_params``): ``k_<table>_<i>`` per key and ``q_<table>`` for the text index.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    bindparam,
    case,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
    union_all,
)
from sqlalchemy.sql.selectable import CompoundSelect, Select
from sqlmodel import Session, SQLModel

from models.base import table_of
from services import counters
from services.keyset import _position, keyset_page
from services.search import MIN_WORD, SEARCHABLE, _text_sql, dialect_of, pg_document, text_value

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
    hits = _hits_cte(model, keys) if not extra else hits_query.cte(f"hits_{name}")
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


@lru_cache(maxsize=64)
def _hits_cte(model: type[SQLModel], keys: tuple[str, ...]) -> Any:
    """``_key_hits`` as the CTE ``hits_<table>``: one object per table and keys, so a statement
    that probes the keys in two places (a word walk's LIMIT and its fallback's ``matches``)
    names the same CTE twice and runs (and plans) its probes once."""
    return _key_hits(model, keys).cte(f"hits_{table_of(model).name}")


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


# ------------------------------------------------------------------ key-shaped terms

# A term shaped as a document number or an account (letters or a prefix, then 4 or more digits at
# the end, no space: "REG-0500005", "C-000042", "bulk4242") or as an e-mail address: almost always
# an exact key, and when it is none, its text matches are few (at most the rows sharing 4 or more
# trailing digits of a number, or a whole address). On PostgreSQL such a term is the list's
# statement of ``matches`` (keys, else the text index's matches sorted: ``RARE``), not the walk's:
# the walk's statement costs its planning (about 1.5 ms at 1M, with every index of the table
# considered for each of its scans) where the key probes cost 0.3 ms. SQLite asks first instead
# (``sqlite_first``, no network).
_KEY_SHAPED = re.compile(r"[^\s@]*[^\W\d][^\s@]*\d{4}|[^\s@]+@[^\s@]+\.[^\s@]+", re.ASCII)


def key_shaped(term: str) -> bool:
    """Whether ``term`` looks like a number, an account or an e-mail address (see ``_KEY_SHAPED``)."""
    return _KEY_SHAPED.fullmatch(term) is not None


# ------------------------------------------------------------------------- word walk

# Rows of the list's own order a word search reads before it asks the text index instead (see
# ``walk_page``). A word on more than one row in ``WALK_BUDGET / page`` fills its page within the
# walk; a rarer one has fewer than ``page * rows / WALK_BUDGET`` matches, which the text index
# finds and the list sorts. A walked row costs ``w`` (a row read in the order's index), a sorted
# match ``m`` (a row read by id): the worst case, ``w * budget + m * page * rows / budget``, is
# least at ``sqrt(page * rows * m / w)``. Measured at 1M on SQLite (bench/scale_bench.py): m about
# 7 us, w 6 us (created, rows near in id order) to 18 us (company, rows far apart): 4.5k to 8k for a
# page of 51. A bound parameter: the statements do not change with it.
WALK_BUDGET = 5_000
# PostgreSQL walks POSTGRES_WALK_SCALE times as many rows: a walked row is cheap there (the heap
# in the order's index, shared buffers) and the fallback dear (the trigram index's bitmap and its
# recheck of every match). Measured at 1M (console_bench's data, quiet machine), first page of 60:
# "Cedar Atlas" (0.7% of rows) by number / created 90 / 402 ms at 5k, 28 / 49 ms at 20k, 26 / 30 ms
# at 50k; a word on no row 19-25 ms at 5k, 56-86 ms at 20k, 144-324 ms at 50k.
POSTGRES_WALK_SCALE = 4


def walk_budget(dialect: str) -> int:
    """Rows of the list's order a word search walks on this store before the text index."""
    return WALK_BUDGET if dialect == "sqlite" else WALK_BUDGET * POSTGRES_WALK_SCALE


# The only characters SQLite's FTS5 (trigram, case_sensitive 0) folds onto an ASCII character:
# KELVIN SIGN and LATIN SMALL LETTER LONG S (tests/test_word_walk.py asks FTS5 about every
# character of the BMP; FTS5 folds none outside it onto ASCII).
FOLDS_ONTO_ASCII = {"\u212a": "k", "\u017f": "s"}


# the least budget a list sized by its rows walks (``sized_budget``)
MIN_WALK_BUDGET = 500


def sized_budget(dialect: str, rows: int, page: int) -> int:
    """The walk's budget for a list of ``rows`` rows and pages of ``page``: least worst case near
    ``sqrt(page * rows)`` (see ``WALK_BUDGET``; PostgreSQL ``POSTGRES_WALK_SCALE`` times that), at
    least ``MIN_WALK_BUDGET`` and at most ``walk_budget``. A list of 100k rows walks 2.3k (SQLite)
    or 9k (PostgreSQL) rows, not the 1M-row list's 5k / 20k, before a rare word's text index."""
    scale = 1 if dialect == "sqlite" else POSTGRES_WALK_SCALE
    sized = scale * max(MIN_WALK_BUDGET, math.isqrt(max(page, 1) * max(rows, 0)))
    return min(walk_budget(dialect), sized)


# PostgreSQL, in pages: the stages of a word search. First (``pg_first``, ``FIRST_STAGE_PAGES``): is
# the word on one of the newest rows of the list's tables (in id order, the heap's own, whatever
# the sort or filter)? When not, the list's order is not walked: the list's statement is the
# trigram index's matches sorted (``RARE``). Then, in the walk's statement (``walk_search_page``,
# ``STAGE_PAGES``): is it on one of the first rows of the list's own order from the cursor? When
# not, the rest of the budget is not read (a word clustered elsewhere in the order, a company word
# sorted by company: the trigram index). A word spread at density ``d`` is missed by a stage of
# ``n`` rows with probability ``exp(-n * d)``, and a miss costs what the indexed query costs (the
# raw query; the walk would have been cheaper): at 1M, "Cedar Atlas" (1 in 144 rows) 3% for the
# first stage (510 rows for a page of 51), a word at the density where the walk just pays (a page
# within the 20k budget, 1 in 400) 28%. A word on no row reads the first stage: each row is one
# heap read and one LIKE, about 1 us (0.5 ms for 510 rows; 1020 rows cost a word on no row 5x its
# raw query at 1M); a common word a few rows of it (the test stops at its first match).
# (SQLite counts FTS5's matches instead: ``sqlite_first``.)
FIRST_STAGE_PAGES = 10
STAGE_PAGES = 20


def first_stage(page: int) -> int:
    """Rows of ``pg_first``'s stage (the newest rows) for pages of ``page`` rows."""
    return FIRST_STAGE_PAGES * max(page, 1)


def walk_stage(page: int) -> int:
    """Rows of the walk's stage (the first rows of the list's order) for pages of ``page`` rows."""
    return STAGE_PAGES * max(page, 1)


# a list's rows, for sizing its walk: (database, area) -> (read at, rows); re-read after SIZE_TTL s
_SIZES: dict[tuple[str, str], tuple[float, int]] = {}
SIZE_TTL = 60.0


def list_rows(session: Session, area: str) -> int:
    """The rows of a list (its kept counter, ``services.counters``) for ``sized_budget``: read at
    most once a minute per database, not once per search (a statement, a round trip). The size
    only sets how far a word is walked before the text index, never what is found."""
    bind = session.get_bind()
    key = (str(bind.engine.url), area)
    now = time.monotonic()
    hit = _SIZES.get(key)
    if hit is None or now - hit[0] > SIZE_TTL:
        hit = _SIZES[key] = (now, counters.total(session, area))
    return hit[1]


def walk_params(
    dialect: str, model: type[SQLModel], term: str, *, rows: int | None = None, page: int = 51
) -> dict[str, Any]:
    """The walk's parameters for ``term`` (long enough for the text index): ``budget``; on
    PostgreSQL ``stage`` (the walk's own stage, ``walk_stage``), on SQLite ``w_<table>``, a LIKE
    pattern of the term (PostgreSQL's walk uses ``q_<table>``). ``rows``: the list's rows (a kept
    counter), for a budget sized to it (``sized_budget``).

    PostgreSQL tests each walked row on the text the trigram index indexes (``search_doc``): the
    same answer by construction. SQLite's FTS5 folds case by its own Unicode table, LIKE folds
    ASCII letters only: for an ASCII term the two are the same test once the two characters FTS5 folds onto ASCII
    are replaced in the columns (``FOLDS_ONTO_ASCII``). A term with other characters is not walked
    on SQLite (budget 0: the text index at once, as before the walk); asking FTS5 about each walked
    row by its rowid costs a millisecond or more a row at 1M."""
    name = table_of(model).name
    budget = walk_budget(dialect) if rows is None else sized_budget(dialect, rows, page)
    if dialect != "sqlite":
        return {"budget": budget, "stage": min(budget, walk_stage(page))}
    escaped = "".join("\\" + c if c in "\\%_" else c for c in term)
    return {"budget": budget if term.isascii() else 0, f"w_{name}": f"%{escaped}%"}


# ------------------------------------------------------------------ SQLite: keys and rarity first

# SQLite: how many rows of a list the word is on, each of these counted up to ``:most`` (FTS5 hands
# its matches one by one and the LIMIT stops it: a common word costs ``most`` matches, not all of
# them). Per list (its text indexes, as ``matches`` reads them): the requests', the prospects', the
# customers' (account, name, e-mail; and the customers of a matching city), the cases' (title and
# contact; and the customers' as for that list: a case is found by its customer's text too; a
# customer without cases may count, which only keeps a word from being taken as rare).
_CITY_IDS = (
    "SELECT v.value FROM customer_search_city v WHERE v.id IN (SELECT rowid FROM customer_search_city_fts "
    "WHERE customer_search_city_fts MATCH :q_customer)"
)
SQLITE_CAPPED: dict[str, tuple[str, ...]] = {
    "signuprequest": ("SELECT 1 FROM signuprequest_search WHERE signuprequest_search MATCH :q_signuprequest",),
    "prospect": ("SELECT 1 FROM prospect_search WHERE prospect_search MATCH :q_prospect",),
    "customer": (
        "SELECT 1 FROM customer_search WHERE customer_search MATCH :q_customer",
        f"SELECT 1 FROM customer c WHERE c.city IN ({_CITY_IDS})",
    ),
    "customercase": (
        "SELECT 1 FROM customercase_search WHERE customercase_search MATCH :q_customercase",
        "SELECT 1 FROM customer_search WHERE customer_search MATCH :q_customer",
        f"SELECT 1 FROM customer c WHERE c.city IN ({_CITY_IDS})",
    ),
}
# a word on fewer than RARE_PAGES pages of rows (all the list's rows, every status) is answered by
# the text index at once on SQLite: a walk could not fill a page from them (it would read the whole
# budget first), and they are few to sort; the count costs a common word about a page of FTS5 matches
RARE_PAGES = 1
# ``sqlite_first``'s answers (and, as a list statement's shape, ``RARE``: the text index's matches
# sorted, ``matches`` of ``KEYS_OR_WORDS`` with no walk; its key probes already answered no)
KEYED, RARE, NOWHERE = "keyed", "rare", "nowhere"
FIRST_MARK = "word_first"  # in the first statement's text (tests tell it from the list's own)


def _any_key_sql(probes: tuple[tuple[type[SQLModel], tuple[str, ...]], ...]) -> str:
    """SQL that is true when the term equals one of ``probes``' keys (``k_<table>_<i>``): a b-tree
    probe each, for the statement a word asks first (``sqlite_first``, ``pg_first``)."""
    return " OR ".join(
        f"EXISTS (SELECT 1 FROM {table_of(model).name} WHERE {key} = :k_{table_of(model).name}_{i})"
        for model, keys in probes
        for i, key in enumerate(keys)
    )


@lru_cache(maxsize=32)
def _sqlite_first(probes: tuple[tuple[type[SQLModel], tuple[str, ...]], ...], words: str) -> Any:
    keyed = _any_key_sql(probes)
    capped = " + ".join(f"(SELECT count(*) FROM ({sql} LIMIT :most))" for sql in SQLITE_CAPPED[words])
    # -1: a key matched (the text index is not read: CASE evaluates its ELSE only when needed)
    return text(f"SELECT CASE WHEN {keyed} THEN -1 ELSE {capped} END AS words /* {FIRST_MARK} */")


def sqlite_first(
    session: Session,
    probes: Sequence[tuple[type[SQLModel], tuple[str, ...]]],
    words: str,
    params: Mapping[str, Any],
    page: int,
) -> str | None:
    """SQLite, a term long enough for the text index: what a small statement of b-tree probes and
    capped FTS5 counts says before the list's own (no network: a second statement costs little):
    ``KEYED`` (the term equals an exact key: the list's statement of the key probes alone, b-tree
    probes only), ``NOWHERE`` (no key, and the text indexes have the word on no row: the page is
    empty, no second statement), ``RARE`` (the word is on fewer than ``RARE_PAGES`` pages of rows:
    the list's statement of the text index's matches sorted, not the walk's, whose machinery cost
    a word on no row 6x its raw query at 1M), or None (walk). ``probes``: each model's key columns
    (``search_params``'s ``k_<table>_<i>`` in ``params``); ``words``: the list's ``SQLITE_CAPPED``
    (every text index the list's ``matches`` reads: none of them has the word, no row is found)."""
    most = RARE_PAGES * max(page, 1)
    statement = _sqlite_first(tuple(probes), words)
    found = session.connection().execute(statement, {**params, "most": most}).scalar_one()
    if found < 0:
        return KEYED
    if found == 0 and most:  # (RARE_PAGES 0: nothing is counted, nothing is rare)
        return NOWHERE
    return RARE if found < most else None


# PostgreSQL: the tables whose newest rows are the stage of a list's word search (``pg_first``): the
# list's own, and for the Cases list its customers too (a case is found by its customer's text)
PG_STAGED: dict[str, tuple[str, ...]] = {
    "signuprequest": ("signuprequest",),
    "prospect": ("prospect",),
    "customer": ("customer",),
    "customercase": ("customercase", "customer"),
}


@lru_cache(maxsize=32)
def _pg_first(probes: tuple[tuple[type[SQLModel], tuple[str, ...]], ...], words: str) -> Any:
    keyed = _any_key_sql(probes)
    staged = " OR ".join(
        f"EXISTS (SELECT 1 FROM (SELECT {pg_document()} FROM {t} ORDER BY id DESC LIMIT :stage) AS s "
        f"WHERE s.{pg_document()} LIKE lower(:q_{t}) ESCAPE '\\')"
        for t in PG_STAGED[words]
    )
    # -1: a key matched (CASE tests the stage only when none did); 1: the word is in the stage
    return text(f"SELECT CASE WHEN {keyed} THEN -1 WHEN {staged} THEN 1 ELSE 0 END AS words /* {FIRST_MARK} */")


def pg_first(
    session: Session,
    probes: Sequence[tuple[type[SQLModel], tuple[str, ...]]],
    words: str,
    params: Mapping[str, Any],
    page: int,
) -> str | None:
    """PostgreSQL, a word (not ``key_shaped``): what a small statement of b-tree probes and the
    stage (``first_stage``: the newest rows of ``PG_STAGED[words]``, each tested with one LIKE of
    its kept search document until the first match) says before the list's own: ``KEYED`` (an
    exact key: the list's statement of the key probes alone), ``RARE`` (no key, and none of the
    stage's rows has the word: the list's statement of the trigram index's matches sorted, no
    walk), or None (walk the list's order). ``probes`` and ``params`` as ``sqlite_first``'s."""
    statement = _pg_first(tuple(probes), words)
    found = session.connection().execute(statement, {**params, "stage": first_stage(page)}).scalar_one()
    if found < 0:
        return KEYED
    return None if found else RARE


def first_shape(
    session: Session,
    term: str,
    probes: Sequence[tuple[type[SQLModel], tuple[str, ...]]],
    words: str,
    params: Mapping[str, Any],
    page: int,
) -> str:
    """The statement a word (a ``KEYS_OR_WORDS`` term) gets, decided before the list's own:
    ``KEYS_ONLY`` (an exact key: its probes alone), ``RARE`` (the keys, else the text index's few
    matches sorted: no walk), ``NOWHERE`` (no row has it: an empty page, no statement) or
    ``KEYS_OR_WORDS`` (the walk). PostgreSQL: ``RARE`` for a ``key_shaped`` term (no statement
    first), else what ``pg_first`` says; SQLite: what ``sqlite_first`` says (``probes``,
    ``words``, ``params``, ``page`` are theirs)."""
    if dialect_of(session) != "sqlite":
        if key_shaped(term):
            return RARE
        first = pg_first(session, probes, words, params, page)
        return {KEYED: KEYS_ONLY, RARE: RARE}.get(first or "", KEYS_OR_WORDS)
    first = sqlite_first(session, probes, words, params, page)
    return {KEYED: KEYS_ONLY, RARE: RARE, NOWHERE: NOWHERE}.get(first or "", KEYS_OR_WORDS)


def _word_test(dialect: str, name: str, rows: Any, names: Mapping[str, str] | None = None) -> Any:
    """The text index's test of one walked row of ``rows`` (a subquery with the searchable columns
    of ``name``, each under its own name or ``names[column]``; on PostgreSQL its search document,
    ``walked_document``): a case-insensitive substring of one of them (see ``walk_params``)."""
    alias = rows.name
    named = names or {}
    if dialect != "sqlite":  # the kept document the trigram index indexes (migration 0016)
        return text(f"{alias}.{walked_document(name)} LIKE lower(:q_{name}) ESCAPE '\\'")

    def folded(c: str) -> str:
        expr = f"{alias}.{named.get(c, c)}"
        for char, ascii_char in FOLDS_ONTO_ASCII.items():
            expr = f"replace({expr}, '{char}', '{ascii_char}')"
        return expr

    return text("(" + " OR ".join(f"{folded(c)} LIKE :w_{name} ESCAPE '\\'" for c in SEARCHABLE[name]) + ")")


def walked_document(name: str) -> str:
    """PostgreSQL: the name of table ``name``'s search document among a walk's columns."""
    return f"doc_{name}"


def walk_page(
    dialect: str,
    model: type[SQLModel],
    keys: tuple[str, ...],
    query: Select[Any],
    columns: Sequence[Any],
    after: Sequence[Any] | None,
    *,
    descending: bool,
) -> CompoundSelect[Any]:
    """A word search's page of ``query`` (one table's list: its columns, ``columns`` among them,
    and filters; no search) found by ``model``'s exact ``keys`` or its text index: ``walk_search_page``
    with that table's key probes, row test and ``id IN (<matches>)``."""
    t = table_of(model)
    return walk_search_page(
        dialect,
        query,
        columns,
        after,
        descending=descending,
        probes=((model, keys),),
        tests=((t.name, {}),),
        indexed=query.where(t.c.id.in_(matches(dialect, model, keys, KEYS_OR_WORDS))),
    )


def walk_search_page(
    dialect: str,
    query: Select[Any],
    columns: Sequence[Any],
    after: Sequence[Any] | None,
    *,
    descending: bool,
    probes: Sequence[tuple[type[SQLModel], tuple[str, ...]]],
    tests: Sequence[tuple[str, Mapping[str, str]]],
    indexed: Select[Any],
    counted: Select[Any] | None = None,
) -> CompoundSelect[Any]:
    """A word search's page of ``query`` (the list's columns, ``columns`` among them, and filters;
    no search; its table the first of ``probes``) in the order of ``columns`` (the last unique,
    e.g. the id) after the cursor ``after``: a bounded walk of the list's own order first, the
    text index only for a word too rare for the walk.

    A text index (FTS5, a pg_trgm GIN) hands its matches in no order the list has: ``id IN
    (<matches>)`` reads and sorts every match (0.5 s for a common word at 1M). Here the list's
    order index is walked from the cursor (``keyset_page``) for at most ``budget`` rows, each tested
    with the text indexes' own substring test (``_word_test`` of each of ``tests``: a table and the
    names its searchable columns have in ``query``; a row matches when one of them does), up to the
    page's ``limit``:

    * the walk filled the page, or it reached the end of the rows: that is the page (a common
      word: about ``limit / density`` rows read, no text index);
    * else (a word on fewer than one row in ``budget / limit``): ``indexed``, the list's query
      with its search as before (``id IN (<matches>)``), under the same cursor, whose few matches
      are cheap to sort.

    A rare word is not sent here (``first_shape``: SQLite's ``sqlite_first``, PostgreSQL's
    ``pg_first``). PostgreSQL walks the first ``stage`` rows of the order (``walk_stage``) and the
    rest of the budget only when they have the word (a word clustered elsewhere in the order reads
    the stage, then ``indexed``). It tests a row on its table's kept search document (``search_doc``,
    migration 0016; carried by each walked row as ``walked_document``), the very text the trigram
    index indexes.

    The exact keys (``probes``: each model's key columns) come first as ever: when one matches, the
    walk's LIMIT is 0 and the answer is ``indexed``, whose text branches are skipped (see the
    module doc): b-tree probes only. The two answers are the arms of one ``UNION ALL``, each under a
    LIMIT computed once before its loop from ``decided`` (a one-row CTE: the walk's answer stands),
    so only one of them runs. ``counted``: ``query`` as the walk's end is counted on (its ``columns``
    and filters; default ``query`` with only ``columns``), e.g. without a join every row has.
    Values are parameters (``limit``, ``budget``, PostgreSQL's ``stage``, the cursor's,
    ``walk_params`` and ``search_params``'s)."""
    limit = bindparam("limit", type_=Integer)
    budget = bindparam("budget", type_=Integer)
    zero: Any = literal_column("0")
    one: Any = literal_column("1")
    # the key probes: the CTE ``indexed``'s ``matches`` reads too (one CTE, planned and run once)
    keyed = [(model, _hits_cte(model, keys)) for model, keys in probes]
    key_hit = or_(*[exists(select(hits.c.id)) for _, hits in keyed])
    positions = [_position(query, c) for c in columns]

    def ordered(c: Any) -> Any:
        return c.desc() if descending else c.asc()

    def tested(rows: Any) -> Any:
        """The rows of the walk ``rows`` that have the word."""
        return select(*rows.c).where(or_(*[_word_test(dialect, t, rows, named) for t, named in tests]))

    def count(rows: Any) -> Any:
        return select(func.count()).select_from(rows).scalar_subquery()

    def from_cursor(most: Any) -> Any:
        """The list's order from the cursor, at most ``most`` rows (SQLite: one arm per column, merged)."""
        return keyset_page(dialect, walked_rows, columns, after, descending=descending, limit=most)

    width = len(query.selected_columns)  # the list's columns (a walked row may carry more)
    walked_rows = query
    if dialect == "sqlite":  # a rare word never comes here (``sqlite_first``): the budget at once
        matched = tested(from_cursor(budget).subquery("walk")).subquery("matched")
    else:
        # each walked row carries the search documents it is tested on (the tables' kept column,
        # under ``walked_document``'s names), after the list's columns: their positions stand
        walked_rows = query.add_columns(
            *[literal_column(f"{t}.{pg_document()}").label(walked_document(t)) for t, _ in tests]
        )
        # ``pg_first`` found the word among the newest rows; here the first ``stage`` rows of the
        # list's own order (from the cursor), then the rest of the budget only when they have the
        # word: a word clustered elsewhere in the order (a company word sorted by company) reads
        # the stage, not the budget, before the trigram index. The stage's matches are a CTE, read
        # by the walk and by the rest's filter (read and tested once); the rest's filter is on no
        # column of it, a one-time filter (its scan never started when false), and its LIMIT one
        # the planner can read (under a computed LIMIT it plans for a tenth of the table)
        stage = bindparam("stage", type_=Integer)
        rest_most: Any = budget - stage  # (a custom plan folds it into one number)
        staged = tested(from_cursor(stage).subquery("staged")).cte("staged_matches")
        rest = keyset_page(
            dialect,
            walked_rows.where(exists(select(*staged.c))),
            columns,
            after,
            descending=descending,
            limit=rest_most,
        ).offset(stage)
        matched = union_all(select(*staged.c), tested(rest.subquery("rest"))).subquery("matched")
    # the walk's matches up to the page, in the walk's order: the rows as the walk yields them (no
    # ORDER BY: PostgreSQL would merge the union's two arms, starting the second at once, or sort
    # every row; SQLite would sort the whole walk)
    walked = select(*matched.c).limit(case((key_hit, zero), else_=limit)).cte("walked")
    # the rows the walk may read, counted in the order index alone: fewer than ``budget``: all
    order = counted if counted is not None else query.with_only_columns(*columns)
    read = keyset_page(dialect, order, columns, after, descending=descending, limit=budget).subquery("read")
    decided = select(
        case(
            (key_hit, zero),
            (count(walked) >= limit, one),  # the walk filled the page
            (count(walked) == 0, zero),  # none in the stage or the budget: a rare word, the text index
            (count(read) < budget, one),  # the walk read every row
            else_=zero,
        ).label("walked")
    ).cte("decided")
    is_decided = select(decided.c.walked).scalar_subquery() == 1
    found = keyset_page(
        dialect,
        indexed,
        columns,
        after,
        descending=descending,
        limit=limit,
        seek_arms=False,  # its few matches are sorted anyway
    ).subquery("found")
    arms = [select(*list(walked.c)[:width]).limit(case((is_decided, limit), else_=zero))]
    if len(keyed) == 1:  # an exact key: ``indexed`` (its text branch skipped)
        arms.append(select(*found.c).limit(case((is_decided, zero), else_=limit)))
    else:
        # several probed tables (a case's number, its customer's account): ``indexed`` is an OR of
        # their ``IN (<keys or words>)``, which PostgreSQL read as a scan of the order (the Cases
        # list's exact number: 18 ms at 1M, raw 1): an exact key is the rows of its probes, one
        # arm per probed table united (b-tree probes, a sort of their few rows)
        if_keyed: Any = case((key_hit, limit), else_=zero)
        per_table = [
            keyset_page(
                dialect,
                query.where(table_of(model).c.id.in_(select(hits.c.id))),
                columns,
                after,
                descending=descending,
                limit=if_keyed,
                seek_arms=False,
            ).subquery(f"by_{table_of(model).name}")
            for model, hits in keyed
        ]
        in_order = [ordered(literal_column(str(p))) for p in positions]
        by_key = union(*[select(*t.c) for t in per_table]).order_by(*in_order).limit(if_keyed).subquery("by_key")
        arms.append(select(*by_key.c))
        arms.append(select(*found.c).limit(case((or_(key_hit, is_decided), zero), else_=limit)))
    both = union_all(*[select(*a.subquery().c) for a in arms])
    return both.order_by(*[ordered(literal_column(str(p))) for p in positions]).limit(limit)
