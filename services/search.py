"""Search through the store's own indexes: exact keys by b-tree, words by FTS5 / pg_trgm.

A search term is cleaned (controls out) and refused over ``MAX_SEARCH`` characters. Each list
looks the term up as an exact key (number, e-mail, account, user name: b-tree probes); when
one hits, those rows are the answer and no text index is read. Otherwise the answer is "the
ids whose searchable text contains the term" from the index migration 0007 made for its table:

* SQLite: an FTS5 external-content table ``<table>_search`` with the trigram tokenizer,
  kept by triggers in the transaction that writes the row (customers: account, name and
  e-mail there, city through the set of its values, ``CUSTOMER_TEXT_SQLITE``). The term is one FTS5 phrase
  (double quotes doubled), so ``%``, ``_``, ``*``, ``"`` and operators are plain text.
* PostgreSQL: a pg_trgm GIN index on ``search_doc``, a generated column of the row kept as
  ``lower(col1 || chr(31) || col2 ...)`` (migration 0016; 0007 indexed the expression itself);
  the term is a LIKE pattern with ``\\``, ``%`` and ``_`` escaped.

Both match a case-insensitive substring of one column. A trigram index cannot find a
term shorter than three characters, so such a term matches the exact keys only.

Every list (requests, customers, cases, prospects, leads, opportunities) searches in one
statement built once per shape (``services.keyed_search``): the exact keys and the text index
together, the term's values passed as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Integer, text
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine
from sqlmodel import Session

from services.errors import ValidationFailed
from services.text import clean

MAX_SEARCH = 200
MIN_WORD = 3  # shortest term a trigram index can look up

# table -> searchable columns, as migration 0007 indexed them
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "signuprequest": ("company", "first_name", "last_name", "email", "user_name"),
    "customer": ("account", "name", "email", "city"),
    "customercase": ("title", "contact_name"),
    "prospect": ("company", "first_name", "last_name", "email"),
}


# SQLite: the customers whose account, name or e-mail (``customer_search``) or city contain :q.
# Migration 0013 keeps city out of the per-customer document: the distinct cities in use are
# indexed (``customer_search_city_fts`` over ``customer_search_city``) and their customers found
# by ``ix_customer_search_city``, so an import rewriting 100k cities re-indexes one value, not
# 100k documents. Same answer as one document of the four columns (a substring of one column).
CUSTOMER_TEXT_SQLITE = (
    "SELECT rowid AS id FROM customer_search WHERE customer_search MATCH :q "
    "UNION SELECT c.id FROM customer c WHERE c.city IN (SELECT v.value FROM customer_search_city v "
    "WHERE v.id IN (SELECT rowid FROM customer_search_city_fts WHERE customer_search_city_fts MATCH :q))"
)


def search_term(search: object) -> str | None:
    """The cleaned term, None when there is nothing to search; ValidationFailed when too long."""
    if search is None:
        return None
    term = clean(search)
    if not term:
        return None
    if len(term) > MAX_SEARCH:
        raise ValidationFailed({"search": f"too long: at most {MAX_SEARCH} characters"})
    return term


def like_pattern(term: str) -> str:
    """``%term%`` for LIKE ... ESCAPE '\\', with the term's own wildcards made literal."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(term: str) -> str:
    """The term as one FTS5 phrase: everything inside is text, a double quote is doubled."""
    return '"' + term.replace('"', '""') + '"'


# PostgreSQL: each searchable table's generated column of ``lower(col1 || chr(31) || col2 ...)``
# over its ``SEARCHABLE`` columns (migration 0016), which its trigram index ``ix_<table>_search``
# indexes; a word walk tests a row on it (``keyed_search``): a LIKE of kept text, not the columns
# lower-cased and joined again for every row read (1.2 us a row at 1M, 0.15 with the column)
PG_DOCUMENT = "search_doc"


def pg_document(alias: str | None = None) -> str:
    """The trigram index's column (``alias.search_doc`` when given: a row of a subquery)."""
    return f"{alias}.{PG_DOCUMENT}" if alias else PG_DOCUMENT


def _text_sql(dialect: str, table: str, extra: Mapping[str, TypeEngine[Any]]) -> TextualSelect:
    """SQL for the ids (and ``extra`` columns: name -> type) of ``table`` whose searchable text
    contains the parameter ``q_<table>`` (see ``text_value``); ``services.keyed_search`` embeds it."""
    param = f"q_{table}"
    more = "".join(f", t.{name}" for name in extra)
    if dialect == "sqlite":
        fts = f"{table}_search"
        if table == "customer":  # its city through the set of city values (migration 0013)
            ids = CUSTOMER_TEXT_SQLITE.replace(":q", f":{param}")
            sql = f"SELECT t.id{more} FROM {table} t WHERE t.id IN ({ids})" if extra else ids
        elif extra:
            sql = f"SELECT t.id{more} FROM {table} t WHERE t.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH :{param})"
        else:
            sql = f"SELECT rowid AS id FROM {fts} WHERE {fts} MATCH :{param}"
    else:
        sql = f"SELECT t.id{more} FROM {table} t WHERE {pg_document('t')} LIKE lower(:{param}) ESCAPE '\\'"
    return text(sql).columns(id=Integer, **extra)


def text_value(dialect: str, term: str) -> str:
    """The value of ``q_<table>`` for ``term``: an FTS5 phrase (SQLite) or a LIKE pattern."""
    return fts_phrase(term) if dialect == "sqlite" else like_pattern(term)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name
