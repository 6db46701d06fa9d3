"""PostgreSQL without psycopg: libpq itself through ctypes, just enough of a DB-API connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ctypes


# Importing psycopg costs about as much as Textual itself, so the light start talks to the
# server through libpq (the library psycopg wraps) with ctypes: a handful of calls, text
# results converted by column type. Anything unexpected -> None and the normal path.

_OID_INT = {20, 21, 23}  # int8, int2, int4
_OID_BOOL = 16
_OID_TIME = {1114, 1184}  # timestamp, timestamptz


def postgres_conninfo(url: str) -> str | None:
    """A libpq connection URI for a PostgreSQL URL regdesk accepts, or None (not PostgreSQL, or unusual)."""
    target = (url or "").strip()
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("postgres", "postgresql", "postgresql+psycopg"):
        return None
    if "?" in rest or "#" in rest:
        return None  # options meant for SQLAlchemy/psycopg: let the normal path read them
    return f"postgresql://{rest}?connect_timeout=5&application_name=regdesk"


def _libpq() -> ctypes.CDLL:
    import ctypes
    import glob
    import os
    import sys

    # the system's libpq by its soname first (dlopen: no subprocess), then psycopg's own copy;
    # ctypes.util.find_library only as a last resort: importing it and running ldconfig (or
    # gcc) in a subprocess cost 50-60 ms of the console's start
    lib = _first_loadable(["libpq.so.5", "libpq.dylib"])
    if lib is None:
        candidates: list[str | None] = []
        for base in sys.path:
            candidates += glob.glob(os.path.join(base, "psycopg_binary.libs", "libpq-*.so*"))
        lib = _first_loadable(candidates)
    if lib is None:
        import ctypes.util  # imports subprocess and more: ~35 ms

        lib = _first_loadable([ctypes.util.find_library("pq")])
    if lib is None:
        raise OSError("no libpq")
    c = ctypes
    lib.PQconnectdb.restype, lib.PQconnectdb.argtypes = c.c_void_p, [c.c_char_p]
    lib.PQstatus.restype, lib.PQstatus.argtypes = c.c_int, [c.c_void_p]
    lib.PQfinish.restype, lib.PQfinish.argtypes = None, [c.c_void_p]
    lib.PQexecParams.restype = c.c_void_p
    lib.PQexecParams.argtypes = [
        c.c_void_p,
        c.c_char_p,
        c.c_int,
        c.c_void_p,
        c.POINTER(c.c_char_p),
        c.c_void_p,
        c.c_void_p,
        c.c_int,
    ]
    lib.PQresultStatus.restype, lib.PQresultStatus.argtypes = c.c_int, [c.c_void_p]
    lib.PQntuples.restype, lib.PQntuples.argtypes = c.c_int, [c.c_void_p]
    lib.PQnfields.restype, lib.PQnfields.argtypes = c.c_int, [c.c_void_p]
    lib.PQftype.restype, lib.PQftype.argtypes = c.c_uint, [c.c_void_p, c.c_int]
    lib.PQgetvalue.restype, lib.PQgetvalue.argtypes = c.c_char_p, [c.c_void_p, c.c_int, c.c_int]
    lib.PQgetisnull.restype, lib.PQgetisnull.argtypes = c.c_int, [c.c_void_p, c.c_int, c.c_int]
    lib.PQclear.restype, lib.PQclear.argtypes = None, [c.c_void_p]
    return lib


def _first_loadable(names: Sequence[str | None]) -> ctypes.CDLL | None:
    import ctypes

    for name in filter(None, names):
        _map_without_gil(name)
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _map_without_gil(name: str) -> None:
    """Map the library (and the two dozen it needs: TLS, Kerberos, LDAP...) with the GIL released,
    so that ``ctypes.CDLL`` then finds it loaded. ``ctypes.CDLL`` calls ``dlopen`` holding the GIL:
    ~25 ms during which the console's main thread, importing Textual meanwhile (app/console.py: the
    first view is read in a thread), could not run; the C library's own ``dlopen`` called as a
    foreign function releases it, as every ctypes call does. Best effort: any failure leaves it to
    ``ctypes.CDLL``."""
    import ctypes
    import os

    try:
        dlopen = ctypes.CDLL(None).dlopen  # the process's own symbols: glibc, or libdl already loaded
        dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
        # RTLD_NOW as ctypes.CDLL opens it (it binds nothing more); the reference stays, as the library does
        dlopen(name.encode(), getattr(os, "RTLD_NOW", 2))
    except (OSError, AttributeError, ValueError):
        pass


class _PgResult:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class PgConnection:
    """Just enough of a DB-API connection for ``_read``: ``execute(sql with ?, params)``."""

    def __init__(self, conninfo: str) -> None:
        self.lib = _libpq()
        self.conn = self.lib.PQconnectdb(conninfo.encode())
        if not self.conn or self.lib.PQstatus(self.conn) != 0:  # CONNECTION_OK
            self.close()
            raise OSError("cannot connect")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> _PgResult:
        import ctypes

        parts = sql.split("?")
        if len(parts) - 1 != len(params):
            raise ValueError("placeholders")
        sql = "".join(p + (f"${i + 1}" if i < len(params) else "") for i, p in enumerate(parts))
        values = (ctypes.c_char_p * max(1, len(params)))(*[str(v).encode() for v in params])
        res = self.lib.PQexecParams(self.conn, sql.encode(), len(params), None, values, None, None, 0)
        if not res:
            raise OSError("no result")
        try:
            status = self.lib.PQresultStatus(res)
            if status not in (1, 2):  # PGRES_COMMAND_OK, PGRES_TUPLES_OK
                raise OSError(f"query failed ({status})")
            fields = self.lib.PQnfields(res)
            types = [self.lib.PQftype(res, j) for j in range(fields)]
            rows: list[tuple[Any, ...]] = []
            for i in range(self.lib.PQntuples(res)):
                row: list[Any] = []
                for j, oid in enumerate(types):
                    if self.lib.PQgetisnull(res, i, j):
                        row.append(None)
                        continue
                    text = self.lib.PQgetvalue(res, i, j).decode()
                    if oid in _OID_INT:
                        row.append(int(text))
                    elif oid == _OID_BOOL:
                        row.append(text == "t")
                    elif oid in _OID_TIME:
                        row.append(datetime.fromisoformat(text))
                    else:
                        row.append(text)
                rows.append(tuple(row))
            return _PgResult(rows)
        finally:
            self.lib.PQclear(res)

    def close(self) -> None:
        if self.conn:
            self.lib.PQfinish(self.conn)
            self.conn = None
