"""Client CPU per command (not collected by pytest): one writer process running team_load's mix.

With 20 writers on 2 cores the office's throughput is bounded by the CPU each command spends in
the client (Python, SQLAlchemy, the driver), not by the database. This runs the commands of
``bench/team_load.py`` (submit, verify, approve, reject, create, edit) one after the other in one
process, warmed up, and prints per command the CPU time (``time.process_time``: this process
only, not the server's) and the wall time, p50 and mean; ``--profile N`` prints cProfile's top N
functions (by own time and by cumulative time) over the timed part.

    .venv/bin/python bench/command_cpu.py [--store sqlite|postgres|both] [--rounds 60]
        [--profile 30] [--pg postgresql://127.0.0.1:5432/postgres] [--src=DIR]

``--src=DIR`` runs another checkout's code (the "before" of a comparison, e.g. /work/main).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(
    0, next((a[6:] for a in sys.argv if a.startswith("--src=")), str(Path(__file__).resolve().parent.parent))
)

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict

os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-bench-config.toml")

from sqlalchemy import insert

import models  # noqa: F401
from bench.import_bench import customer_row
from models.customer import Customer
from seed.demo import load_reference
from services import changes, signup
from services.operators import resolve_actor
from services.permissions import PORTAL
from services.store import Store

SRC = next((a[6:] for a in sys.argv if a.startswith("--src=")), None)
OPS = ("submit", "verify", "approve", "reject", "create", "edit")
EDIT_CUSTOMERS = 200


def build(store: Store) -> None:
    from datetime import datetime, timezone

    load_reference(store)
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    with store.write() as s:
        s.execute(insert(Customer), [customer_row(f"D-{i:07d}", "Load", at) for i in range(1, EDIT_CUSTOMERS + 1)])


def _request(n: int) -> dict:
    tag = uuid.uuid4().hex[:6]
    return {
        "email": f"c{n}.{tag}@load.example",
        "user_name": f"c{n}x{tag}",
        "company": f"Load Company {n} {tag}",
        "first_name": "Lou",
        "last_name": "Load",
        "phone": "+1 555 0100",
        "street": "1 Main St",
        "city": "Springfield",
        "zip": "12345",
        "country": "US",
        "language": "en-us",
    }


class Mix:
    """One writer's commands, each a function timed on its own (its setup is not)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rng = random.Random(7)
        with store.read() as s:
            self.approver = resolve_actor(s, "approver1")
            self.support = resolve_actor(s, "support1")
        self.n = 0
        self.requested: list[str] = []
        self.links: list[str] = []  # raw tokens of requested ones (minted untimed, as the sender does)
        self.verified: list[str] = []
        self.approved: list[str] = []

    def prepare(self, op: str) -> None:
        """What an op needs, untimed: a link to click, a verified or approved request."""
        if op == "verify" and not self.links:
            self._mint(self.run("submit", None))
        if op in ("approve", "reject") and not self.verified:
            self.prepare("verify")
            self.run("verify", None)
        if op == "create" and not self.approved:
            self.prepare("approve")
            self.run("approve", None)

    def _mint(self, number: str) -> None:
        with self.store.write() as s:
            self.links.append(signup.mint_verification_link(s, number)["token"])
        self.requested.remove(number)

    def run(self, op: str, sink: dict | None) -> str:
        store = self.store
        c0, w0 = time.process_time(), time.perf_counter()
        if op == "submit":
            self.n += 1
            out = store.call(signup.submit, PORTAL, _request(self.n)).number
            self.requested.append(out)
        elif op == "verify":
            out = store.call(signup.verify, self.links.pop(0)).number
            self.verified.append(out)
        elif op == "approve":
            out = self.verified.pop(0)
            store.call(signup.approve, self.approver, out)
            self.approved.append(out)
        elif op == "reject":
            out = self.verified.pop()
            store.call(signup.reject, self.approver, out, "Not a business customer (load test)")
        elif op == "create":
            out = self.approved.pop(0)
            store.call(
                signup.create_customer,
                self.approver,
                out,
                mode="new",
                template="DOMESTIC",
                role="Customer self-service user",
            )
        elif op == "edit":
            out = f"D-{self.rng.randint(1, EDIT_CUSTOMERS):07d}"
            store.call(
                changes.edit_customer,
                self.support,
                out,
                {
                    "city": self.rng.choice(["Tacoma", "Everett", "Olympia"]),
                    "phone": f"+1 555 {self.rng.randint(0, 9999):04d}",
                },
            )
        else:
            raise ValueError(op)
        if sink is not None:
            sink["cpu"][op].append(time.process_time() - c0)
            sink["wall"][op].append(time.perf_counter() - w0)
        return out


def measure(kind: str, url: str, args) -> None:
    store = Store(url, create=True)
    build(store)
    mix = Mix(store)
    for op in OPS * 3:  # warm: modules imported, statements compiled, connections open
        mix.prepare(op)
        mix.run(op, None)
    sink: dict = {"cpu": defaultdict(list), "wall": defaultdict(list)}
    prof = cProfile.Profile() if args.profile else None
    for _ in range(args.rounds):
        for op in OPS:
            mix.prepare(op)
            profiled = prof is not None and (not args.only or op in args.only.split(","))
            if profiled:
                prof.enable()
            mix.run(op, sink)
            if profiled:
                prof.disable()
    store.dispose()
    print(f"\n== {kind} ({SRC or 'this checkout'}): {args.rounds} of each command, one process")
    print(f"{'command':<9}{'cpu p50':>9}{'cpu mean':>10}{'wall p50':>10}{'wall mean':>10}  (ms)")
    total_cpu = 0.0
    for op in OPS:
        cpu, wall = sink["cpu"][op], sink["wall"][op]
        total_cpu += statistics.fmean(cpu)
        print(
            f"{op:<9}{statistics.median(cpu) * 1e3:>9.2f}{statistics.fmean(cpu) * 1e3:>10.2f}"
            f"{statistics.median(wall) * 1e3:>10.2f}{statistics.fmean(wall) * 1e3:>10.2f}"
        )
    print(f"{'mix':<9}{'':>9}{total_cpu / len(OPS) * 1e3:>10.2f}  (mean of the six)")
    if prof is not None:
        for order in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(order).print_stats(args.profile)
            print(buf.getvalue())
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--only", help="profile only these commands (comma-separated), e.g. submit,create")
    ap.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions")
    ap.add_argument("--pg", default="postgresql://127.0.0.1:5432/postgres")
    ap.add_argument("--pg-prefix", default="tput_cpu_")
    ap.add_argument("--src", help="run another checkout's code (the 'before' of a comparison); --src=DIR")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="command-cpu-") as tmp:
        if args.store in ("sqlite", "both"):
            measure("sqlite", f"sqlite:///{tmp}/cpu.db", args)
        if args.store in ("postgres", "both"):
            import psycopg

            name = f"{args.pg_prefix}{os.getpid()}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = args.pg.rsplit("/", 1)[0] + "/" + name
            try:
                from services.schema import upgrade
                from services.store import make_engine

                engine = make_engine(url, create=True)
                upgrade(engine)
                engine.dispose()
                measure("postgres", url, args)
            finally:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
