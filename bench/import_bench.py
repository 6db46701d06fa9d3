"""Benchmark of the governed customer import (not collected by pytest).

Builds a database with N customers (default 100 000), writes an N-row CSV changing three
fields of every customer (city and phone: no approval; credit limit: needs approval), then
times, each on a fresh copy of the database:

* the import under each Data entity behavior (allow / reject / propose), report included;
* a raw SQL bulk update of the same rows (one executemany, no validation, no audit).

For each import it also prints the write phase: from ``begin_write`` (the write lock taken,
services/customer_import/commands.py) to the commit, i.e. how long the office could wait.

    .venv/bin/python bench/import_bench.py [--rows 100000] [--pg postgresql://127.0.0.1:5432/postgres]
        [--behaviors allow,reject,propose] [--src=DIR]

``--src=DIR`` runs another checkout's code (the "before" of a comparison, e.g. /work/main).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

# --src=DIR: another checkout's code
sys.path.insert(
    0, next((a[6:] for a in sys.argv if a.startswith("--src=")), str(Path(__file__).resolve().parent.parent))
)

from sqlalchemy import Numeric, bindparam, insert, text

from models.customer import Customer
from seed.demo import load_reference
from services import changes, customer_import
from services.customer_import import commands as import_commands
from services.operators import resolve_actor
from services.store import Store

SRC = next((a[6:] for a in sys.argv if a.startswith("--src=")), None)


def customer_row(a: str, label: str, at: datetime) -> dict[str, Any]:
    """One customer row for bulk inserts (benchmarks make their data with SQL, not the services)."""
    return {
        "account": a,
        "name": f"{label} customer {a}",
        "name_normalized": f"{label.lower()} customer {a.lower()}",
        "party_type": "Organization",
        "customer_group": "10",
        "currency": "USD",
        "terms_of_payment": "Net30",
        "method_of_payment": "CHECK",
        "payment_specification": "",
        "credit_limit": Decimal("1000.00"),
        "mandatory_credit_limit": False,
        "tax_group": "TAXABLE",
        "tax_exempt_number": "",
        "bank_account": "",
        "cash_discount": "",
        "cash_discount_base_days": 0,
        "credit_rating": "",
        "exclude_interest_charges": False,
        "exclude_collection_fees": False,
        "invoice_account": "",
        "email": "",
        "email_normalized": "",
        "phone": "",
        "street": "",
        "city": "Springfield",
        "zip": "",
        "state": "",
        "county": "",
        "country": "US",
        "language": "en-us",
        "parent_account": "",
        "blocked": False,
        "created_at": at,
        "created_by": "bench",
        "version": 1,
    }


def build(store: Store, rows: int) -> list[str]:
    load_reference(store)
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    accounts = [f"B-{i:07d}" for i in range(1, rows + 1)]
    for start in range(0, rows, 10_000):
        batch = [customer_row(a, "Bench", at) for a in accounts[start : start + 10_000]]
        with store.write() as s:
            s.execute(insert(Customer), batch)
    with store.write() as s:
        admin = resolve_actor(s, "admin1")
    store.call(changes.set_approvals, admin, True)
    store.call(changes.set_field_approval, admin, "credit_limit", True)
    return accounts


def write_csv(path: Path, accounts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("account,city,phone,credit_limit\n")
        for i, a in enumerate(accounts):
            fh.write(f"{a},Shelbyville,+1 555 {i % 10000:04d},{2000 + i % 500}.00\n")


def fresh_copy(kind: str, template, target: str):
    if kind == "sqlite":
        shutil.copy(template, target)
        return Store(f"sqlite:///{target}", create=True)
    import psycopg

    base, name = template
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{name}"')
    return Store(base.rsplit("/", 1)[0] + "/" + target, create=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pg", default=None, help="also run on PostgreSQL (a server URL with a maintenance database)")
    ap.add_argument("--behaviors", default="allow,reject,propose", help="the Data entity behaviors to import under")
    ap.add_argument("--src", help="run another checkout's code (the 'before' of a comparison); --src=DIR")
    args = ap.parse_args()
    print(f"code: {SRC or 'this checkout'}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="regdesk-bench-"))
    results: list[tuple[str, str, float, str]] = []
    try:
        targets = [("sqlite", None)]
        if args.pg:
            targets.append(("postgresql", args.pg))
        csv_path = work / "customers.csv"
        for kind, url in targets:
            t0 = time.perf_counter()
            if kind == "sqlite":
                template = work / "template.db"
                store = Store(f"sqlite:///{template}", create=True)
                accounts = build(store, args.rows)
                with store.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                store.dispose()
                tmpl = template
            else:
                import psycopg

                base = url.replace("postgresql+psycopg://", "postgresql://")
                name = f"regdesk_bench_{os.getpid()}"
                with psycopg.connect(base, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{name}"')
                from services.schema import upgrade
                from services.store import make_engine

                eng = make_engine(base.rsplit("/", 1)[0] + "/" + name, create=True)
                upgrade(eng)
                eng.dispose()
                store = Store(base.rsplit("/", 1)[0] + "/" + name, create=True)
                accounts = build(store, args.rows)
                store.dispose()
                tmpl = (base, name)
            print(f"[{kind}] built {args.rows} customers in {time.perf_counter() - t0:.1f}s", flush=True)
            if not csv_path.exists():
                write_csv(csv_path, accounts)
            t0 = time.perf_counter()
            rows = customer_import.read_file(csv_path)
            results.append((kind, "parse CSV", time.perf_counter() - t0, f"{len(rows)} rows"))

            for behavior in args.behaviors.split(","):
                target = str(work / f"{behavior}.db") if kind == "sqlite" else f"{tmpl[1]}_{behavior}"
                s = fresh_copy(kind, tmpl, target)
                with s.read() as ss:
                    admin = resolve_actor(ss, "admin1")
                s.call(changes.set_entity_behavior, admin, behavior)
                phase: dict[str, float] = {}
                original = import_commands.begin_write

                def timed(session, _original=original, _phase=phase):
                    _original(session)
                    _phase["write_start"] = time.perf_counter()

                import_commands.begin_write = timed  # where import_rows looks it up
                try:
                    t0 = time.perf_counter()
                    report = s.call(customer_import.import_rows, admin, rows)
                    end = time.perf_counter()
                finally:
                    import_commands.begin_write = original
                took = end - t0
                write = end - phase.get("write_start", end)
                counts = ", ".join(f"{n} {k}" for k, n in report.counts.items() if n)
                results.append((kind, f"import ({behavior})", took, counts))
                results.append((kind, f"  write phase ({behavior})", write, "begin_write to commit"))
                print(f"[{kind}] import {behavior}: {took:.1f}s, write phase {write:.2f}s ({counts})", flush=True)
                s.dispose()
                if kind != "sqlite":
                    _drop(tmpl[0], target)

            target = str(work / "raw.db") if kind == "sqlite" else f"{tmpl[1]}_raw"
            s = fresh_copy(kind, tmpl, target)
            params = [
                {
                    "city": "Shelbyville",
                    "phone": f"+1 555 {i % 10000:04d}",
                    "credit_limit": Decimal(f"{2000 + i % 500}.00"),
                    "account": a,
                }
                for i, a in enumerate(accounts)
            ]
            t0 = time.perf_counter()
            with s.write() as ss:
                ss.execute(
                    text(
                        "UPDATE customer SET city = :city, phone = :phone, credit_limit = :credit_limit, "
                        "version = version + 1 WHERE account = :account"
                    ).bindparams(bindparam("credit_limit", type_=Numeric(18, 2))),
                    params,
                )
            took = time.perf_counter() - t0
            results.append((kind, "raw SQL bulk update", took, f"{len(params)} rows, no validation/audit"))
            print(f"[{kind}] raw SQL bulk update: {took:.1f}s", flush=True)
            s.dispose()
            if kind != "sqlite":
                _drop(tmpl[0], target)
                _drop(tmpl[0], tmpl[1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'database':<11} {'what':<22} {'seconds':>8} {'rows/s':>9}  detail")
    for kind, what, took, detail in results:
        print(f"{kind:<11} {what:<22} {took:>8.2f} {args.rows / took:>9.0f}  {detail}")


def _drop(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
