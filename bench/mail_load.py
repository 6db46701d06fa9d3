"""Mail delivery under load (issue 9; not part of the test suite).

    .venv/bin/python bench/mail_load.py [--mails 1000] [--delay 0.02] [--kill-at 0.8]
                                        [--lease 8] [--store sqlite|postgres] [--trials 1]

One trial: a fresh database with ``--mails`` sign-up verification mails waiting (their links
minted when sent), a slow SMTP server on loopback (aiosmtpd, ``--delay`` seconds per
message), two senders in separate processes started together, the first killed with
SIGKILL mid-run (once it has sent ``--kill-at`` of its half, at a random moment), the second running until nothing is due,
then a rerun (a third process, after the killed sender's lease ran out) that picks up what
the killed one left. It prints delivered (distinct Message-IDs the server accepted),
duplicated (extra copies), lost (queued but never accepted) and the times; targets 1,000,
0, 0.

The server commits a message only if the connection is still open when it answers the
final dot (a careful MTA). A duplicate is still possible in one window SMTP cannot close:
the server has accepted the message and the sender is killed before it records the send
(the README's "dropped connection after DATA"); the bench reports such repeats on their own
line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-bench-config.toml")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"


# ------------------------------------------------------------------ the sender process


def run_sender(url: str, port: int, lease: float, name: str) -> None:
    from services import delivery
    from services.store import Store

    store = Store(url, upgrade=False)
    settings = delivery.SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=max(1.0, lease / 3))
    totals = Counter()
    started = time.monotonic()
    while True:
        report = delivery.send_pending(store, settings, limit=25, lease=timedelta(seconds=lease))
        for key in ("claimed", "sent", "retrying", "dead", "recovered"):
            totals[key] += getattr(report, key)
        print(
            json.dumps(
                {
                    "sender": name,
                    "round": dict(totals),
                    "due_now": report.due_now,
                    "leased_elsewhere": report.leased_elsewhere,
                }
            ),
            flush=True,
        )
        if report.claimed == 0 and report.due_now == 0:
            break
    print(
        json.dumps({"sender": name, "done": dict(totals), "seconds": round(time.monotonic() - started, 2)}), flush=True
    )
    store.dispose()


# ------------------------------------------------------------------ the slow server


class SlowServer:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.accepted: list[tuple[str, int]] = []  # (Message-ID, connection number)
        self.lock = threading.Lock()
        self.connections = 0

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        reader = getattr(server, "_reader", None)
        if server.transport is None or server.transport.is_closing() or (reader is not None and reader.at_eof()):
            return "421 4.4.2 connection lost before the answer: not accepted"
        content = envelope.original_content or envelope.content
        message_id = next(
            (
                line.split(b":", 1)[1].strip().decode()
                for line in content.splitlines()
                if line.lower().startswith(b"message-id:")
            ),
            "?",
        )
        with self.lock:
            self.accepted.append((message_id, id(session)))
        return "250 2.0.0 accepted"


# ------------------------------------------------------------------ one trial


def make_database(store_kind: str, tmp: Path, mails: int) -> str:
    from seed.demo import load_reference
    from services import signup
    from services.permissions import PORTAL
    from services.store import Store

    if store_kind == "sqlite":
        url = f"sqlite:///{tmp / 'mail.db'}"
    else:
        import psycopg

        name = f"regdesk_mail_bench_{os.getpid()}"
        with psycopg.connect(PG_URL.replace("+psycopg", "") + "postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_URL + name
        from services.schema import upgrade
        from services.store import make_engine

        engine = make_engine(url, create=True)
        upgrade(engine)
        engine.dispose()
    store = Store(url, create=True)
    load_reference(store)
    base = {
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "+1 555 0100",
        "fax": "",
        "street": "1 Pier Rd",
        "city": "Oslo",
        "zip": "0150",
        "state": "",
        "county": "",
        "country": "NO",
        "language": "en-us",
    }
    for i in range(mails):
        store.call(
            signup.submit,
            PORTAL,
            {**base, "company": f"Company {i:05d}", "email": f"c{i}@load.example", "user_name": f"user{i:05d}"},
        )
    store.dispose()
    return url


def start_sender(url: str, port: int, lease: float, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--sender", name, "--url", url, "--port", str(port), "--lease", str(lease)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def last_report(proc: subprocess.Popen) -> dict:
    out = proc.stdout.read() if proc.stdout else ""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return lines[-1] if lines else {}


def trial(args, tmp: Path) -> dict:
    from aiosmtpd.controller import Controller
    from sqlmodel import func, select

    from models.core import OutboxEmail
    from services.store import Store

    t0 = time.monotonic()
    url = make_database(args.store, tmp, args.mails)
    queued_s = time.monotonic() - t0
    handler = SlowServer(args.delay)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        t1 = time.monotonic()
        a = start_sender(url, port, args.lease, "A")
        b = start_sender(url, port, args.lease, "B")
        # kill A mid-run: once it has sent --kill-at of the mails, at a random moment of a round
        a_sent = 0
        for line in a.stdout:  # type: ignore[union-attr]
            if line.startswith("{"):
                a_sent = json.loads(line).get("round", {}).get("sent", 0)
                if a_sent >= args.kill_at * args.mails / 2:
                    break
        time.sleep(random.uniform(0, 25 * args.delay))
        a.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        a.wait()
        with handler.lock:
            accepted_before_kill = len(handler.accepted)
        b.wait()
        b_report = last_report(b)
        run_s = time.monotonic() - t1
        # the rerun, once the killed sender's lease has run out
        time.sleep(max(0.0, killed_at + args.lease + 0.2 - time.monotonic()))
        t2 = time.monotonic()
        c = start_sender(url, port, args.lease, "rerun")
        c.wait()
        c_report = last_report(c)
        rerun_s = time.monotonic() - t2
    finally:
        controller.stop()
    store = Store(url, upgrade=False)
    with store.read() as s:
        ids = set(s.exec(select(OutboxEmail.message_id)).all())
        by_status = dict(s.exec(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)).all())
    store.dispose()
    if args.store == "postgres":
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(PG_URL.replace("+psycopg", "") + "postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    counts = Counter(mid for mid, _ in handler.accepted)
    delivered = len(ids & set(counts))
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    # SMTP's one window: the server accepted a message on a connection of the killed sender (the
    # last that connection carried, before the kill) and the sender died before recording it
    last_on_connection = {conn: mid for mid, conn in handler.accepted[:accepted_before_kill]}
    first_copy = {}
    for i, (mid, conn) in enumerate(handler.accepted):
        first_copy.setdefault(mid, (i, conn))
    in_window = sum(
        n - 1
        for mid, n in counts.items()
        if n > 1
        and first_copy[mid][0] < accepted_before_kill
        and last_on_connection.get(first_copy[mid][1]) == mid
        and all(conn != first_copy[mid][1] for _m, conn in handler.accepted[accepted_before_kill:])
    )
    return {
        "mails": len(ids),
        "delivered": delivered,
        "duplicated": duplicated,
        "kill_window": in_window,
        "lost": len(ids - set(counts)),
        "foreign": len(set(counts) - ids),
        "db": by_status,
        "accepted_before_kill": accepted_before_kill,
        "b": b_report.get("done", {}),
        "rerun": c_report.get("done", {}),
        "queue_s": round(queued_s, 1),
        "run_s": round(run_s, 1),
        "rerun_s": round(rerun_s, 1),
        "total_s": round(run_s + rerun_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds the server takes per message")
    parser.add_argument(
        "--kill-at",
        type=float,
        default=0.8,
        help="sender A gets SIGKILL once it has sent this share of its half (then a random delay)",
    )
    parser.add_argument("--lease", type=float, default=8.0, help="seconds of a sender's lease on one message")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--sender", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        return run_sender(args.url, args.port, args.lease, args.sender)
    print(
        f"{args.mails} mails, server {args.delay * 1000:.0f} ms/message, 2 senders (processes), "
        f"A killed (SIGKILL) mid-run, lease {args.lease:g} s, store {args.store}"
    )
    print(
        f"{'trial':>5} {'delivered':>9} {'duplicated':>10} {'lost':>5} {'db sent/pending/dead':>21} "
        f"{'A before kill':>13} {'B sent':>6} {'rerun sent':>10} {'picked up':>9} {'run s':>6} {'rerun s':>7}"
    )
    totals = Counter()
    for n in range(1, args.trials + 1):
        with tempfile.TemporaryDirectory() as tmp:
            r = trial(args, Path(tmp))
        db = r["db"]
        print(
            f"{n:>5} {r['delivered']:>9} {r['duplicated']:>10} {r['lost']:>5} "
            f"{db.get('sent', 0):>7}/{db.get('pending', 0)}/{db.get('dead', 0):<9} {r['accepted_before_kill']:>13} "
            f"{r['b'].get('sent', 0):>6} {r['rerun'].get('sent', 0):>10} {r['b'].get('recovered', 0) + r['rerun'].get('recovered', 0):>9} "
            f"{r['run_s']:>6} {r['rerun_s']:>7}",
            flush=True,
        )
        for key in ("delivered", "duplicated", "lost", "foreign", "kill_window"):
            totals[key] += r[key]
    print(
        f"total over {args.trials} trial(s): delivered {totals['delivered']}, duplicated {totals['duplicated']}, "
        f"lost {totals['lost']} (targets {args.mails * args.trials}, 0, 0)"
    )
    print(
        f"  of the duplicates, {totals['kill_window']} in SMTP's one window (accepted by the server as the last "
        f"message of the killed sender's connection, the sender killed before it could record the send: the README's "
        f"dropped connection after DATA, same Message-ID); {totals['duplicated'] - totals['kill_window']} otherwise"
    )


if __name__ == "__main__":
    main()
