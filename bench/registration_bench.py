"""Registration screen benchmark (not part of the test suite).

    .venv/bin/python bench/registration_bench.py [--sizes 1000,100000] [--runs 5]

For each size it builds a temporary SQLite database (demo set + synthetic requests) and prints:

* start-up: a bare Textual app from process start to its first paint, next to ``regdesk``
  (the real entry point) from process start to the first painted page of the list; both
  in a subprocess on a pseudo-terminal, median of ``--runs``;
* filter switch: key press to the new filter's first page shown (in-process, headless);
* page fetch: ``services.signup.list_requests`` for a first page and a deep keyset page,
  next to the raw SQL page query (sqlite3, no ORM) on the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-bench-config.toml")
# timed processes run as an installed regdesk does, its bytecode cached (pip compiles what it
# installs; a checkout writes its own on the first run, which the figures leave out): with
# PYTHONDONTWRITEBYTECODE set (as on some machines) every start compiled regdesk's modules again
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

BARE_APP = r"""
import sys, time
from textual.app import App

class Bare(App):
    def on_mount(self):
        self.call_after_refresh(self.painted)

    def painted(self):
        with open(sys.argv[1], "w") as fh:
            fh.write(repr(time.time()))
        self.exit()

Bare().run()
"""


# ----------------------------------------------------------------------------- databases


def build_db(path: Path, requests: int) -> None:
    from seed.demo import REQUESTS, add_synthetic, load_base
    from services.store import Store

    store = Store(f"sqlite:///{path}", create=True)
    try:
        load_base(store)
        add_synthetic(store, max(0, requests - len(REQUESTS)))
        from services import identity

        with store.write() as s:  # a demo database: `--as approver1` is allowed (services.identity)
            identity.mark_demo(s)
    finally:
        store.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# ----------------------------------------------------------------------------- start-up on a pty


def _run_on_pty(argv: list[str], env: dict[str, str], marker: Path, timeout: float = 60.0) -> float:
    """Seconds from spawning ``argv`` to the time the child wrote into ``marker``."""
    import fcntl
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    marker.unlink(missing_ok=True)

    def drain() -> None:
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    start = time.time()

    def controlling_tty() -> None:  # like a terminal emulator: a session whose controlling terminal is the pty
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True, preexec_fn=controlling_tty
    )
    os.close(slave)
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    if not marker.exists():
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode} without painting")
    return float(marker.read_text()) - start


def startup(db: Path, runs: int, workdir: Path) -> tuple[float, float]:
    env = {**os.environ, "TERM": "xterm-256color", "REGDESK_DATABASE_URL": f"sqlite:///{db}"}
    bare_script = workdir / "bare_app.py"
    bare_script.write_text(BARE_APP)
    marker = workdir / "painted"
    regdesk = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())", "--as", "approver1"]
    bare, console = [], []
    for _ in range(runs + 1):  # the first round warms the OS file cache
        bare.append(_run_on_pty([sys.executable, str(bare_script), str(marker)], env, marker))
        console.append(
            _run_on_pty(regdesk, {**env, "REGDESK_BENCH_PAINTED": str(marker), "PYTHONPATH": str(ROOT)}, marker)
        )
    return statistics.median(bare[1:]), statistics.median(console[1:])


# ----------------------------------------------------------------------------- in-process: filters, pages


async def _filter_switch(db: Path, runs: int) -> float:
    from app.tui import make_app
    from screens.registration import RegistrationScreen
    from services.operators import resolve_actor
    from services.store import Store

    store = Store(f"sqlite:///{db}", create=True)
    with store.read() as s:
        actor = resolve_actor(s, "approver1")
    app = make_app(store, actor)
    times = []
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        while not (isinstance(screen, RegistrationScreen) and screen.first_page_shown):
            await pilot.pause(0.01)
            screen = app.screen
        keys = ["2", "3", "4", "5", "6", "1"] * runs
        for key in keys:
            generation = screen.generation
            started = time.perf_counter()
            app.simulate_key(key)  # not pilot.press: that also waits for the tab underline animation
            while screen.generation == generation or screen._fetching:
                await asyncio.sleep(0.001)
            # the page is in the table: wait for the refresh that paints it (not for the tab animation)
            painted: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            screen.call_after_refresh(lambda: painted.done() or painted.set_result(time.perf_counter()))
            times.append(await painted - started)
    store.dispose()
    return statistics.median(times)


def page_fetch(db: Path, runs: int) -> dict[str, float]:
    from services import signup
    from services.operators import resolve_actor
    from services.store import Store

    store = Store(f"sqlite:///{db}", create=True)
    with store.read() as s:
        actor = resolve_actor(s, "approver1")

    def timed(fn) -> float:
        fn()
        samples = []
        for _ in range(runs * 4):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    # a cursor deep into the list: walk half-way with large pages once
    count = store.call(signup.count_by_status, actor)["Requested"]
    after = None
    walked = 0
    while walked < count // 2:
        page = store.call(signup.list_requests, actor, status="Requested", after=after, limit=5000)
        after, walked = page.after, walked + len(page.rows)
        if after is None:
            break
    results = {
        "service first page": timed(lambda: store.call(signup.list_requests, actor, status="Requested", limit=60)),
        "service deep page": timed(
            lambda: store.call(signup.list_requests, actor, status="Requested", after=after, limit=60)
        ),
        "service counts": timed(lambda: store.call(signup.count_by_status, actor)),
    }
    store.dispose()

    conn = sqlite3.connect(db)
    sql = (
        "SELECT id, number, created_at, status, company, first_name, last_name, email, user_name, country "
        "FROM signuprequest WHERE status = ? AND id > ? ORDER BY id LIMIT 61"
    )
    last_id = after[1] if after else 0
    results["raw SQL first page"] = timed(lambda: conn.execute(sql, ("Requested", 0)).fetchall())
    results["raw SQL deep page"] = timed(lambda: conn.execute(sql, ("Requested", last_id)).fetchall())
    conn.close()
    return results


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="regdesk-bench-") as tmp:
        workdir = Path(tmp)
        for size in sizes:
            db = workdir / f"bench_{size}.db"
            t = time.perf_counter()
            build_db(db, size)
            print(f"built {size:,} requests in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            bare, console = startup(db, args.runs, workdir)
            switch = asyncio.run(_filter_switch(db, max(1, args.runs // 2)))
            pages = page_fetch(db, args.runs)
            rows.append((size, bare, console, switch, pages))

    ms = lambda s: f"{s * 1000:8.1f} ms"  # noqa: E731
    print()
    print(
        f"{'requests':>10} | {'bare Textual':>12} | {'regdesk list':>12} | {'ratio':>5} | {'filter switch':>13} | "
        f"{'svc page':>11} | {'svc deep':>11} | {'raw SQL':>11} | {'raw deep':>11} | {'counts':>11}"
    )
    print("-" * 132)
    for size, bare, console, switch, p in rows:
        print(
            f"{size:>10,} | {ms(bare):>12} | {ms(console):>12} | {console / bare:5.2f} | {ms(switch):>13} | "
            f"{ms(p['service first page']):>11} | {ms(p['service deep page']):>11} | "
            f"{ms(p['raw SQL first page']):>11} | {ms(p['raw SQL deep page']):>11} | {ms(p['service counts']):>11}"
        )
    print()
    print("start-up: process start to first paint (bare) / to the first painted page of the list (regdesk),")
    print("median on a 140x40 pty; filter switch: key press to the new page painted; pages: 60 rows, status filter.")


if __name__ == "__main__":
    main()
