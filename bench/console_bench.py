"""Console key-to-ready times, driven with Pilot (headless, in-process), next to a bare Textual app.

    python bench/console_bench.py --rows 1000 --rows 1000000 [--store sqlite|postgres|both]
        [--db-dir=DIR] [--pg URL] [--pg-keep] [--src=DIR] [--repeat 3] [--profile] [--start]

For each size a fresh SQLite database gets the demo reference data and ``--rows`` synthetic
sign-up requests (bulk inserts, seed.demo.add_synthetic), then the console is driven as
approver1 and the script prints, per measure, the median over ``--repeat`` runs of:

* create dialog: ``c`` on an Approved request until the dialog shows its ready preview;
* create (again): the same once the list has settled (the dialog's own cost: refilled, not composed);
* approve: ``a`` on a Verified request until the list shows the result (and the next row);
* filter switch: ``3`` until the "Verified by user" page is painted;
* live update: another operator approves through the services until the row leaves this list
  (no key pressed);
* search: Enter in the search field ("Cedar Atlas") until its first page is painted (4 rows at 1k,
  a full page at 1M: the 1k figure draws fewer rows);
* search (page): the same for "Cedar", a full page at both sizes;
* sort: ``s`` (number -> created) until the first page in that order is painted;
* jump to end: ``ctrl+end`` until the last request is under the cursor;
* stalls (max over the runs): the longest gap between two ticks of a 5 ms timer during the jump,
  30 PageDown (one every 40 ms) and 400 held Down (one every 25 ms), both past the bounded window;
  their "loop CPU" is the event loop thread's CPU time over the whole scroll. ``--stall-stacks``
  prints each stall over 40 ms with the loop's and the process's CPU time during it (loop CPU
  well below the gap: the machine's other processes had the cores; process CPU well above loop
  CPU: this process's other threads held the GIL) and the loop thread's most frequent frames
  in it (sampled every millisecond by a watchdog thread);

next to the bare app's key-to-repaint (a key that changes one Static) measured in the same run,
and each measure's ratio at the largest size to the same at the smallest (issue 10: within 1.2x).
With ``--start``: console start (spawn on a pty to the first painted list, ``regdesk --as
approver1``) next to a bare Textual app's, as bench/scale_bench.py measures it (issue 10: within
1.5x on PostgreSQL).

``--store postgres`` (or ``both``) runs the same on PostgreSQL (``--pg``: the server, default
$REGDESK_TEST_PG or postgresql://postgres@127.0.0.1:5432/postgres). Its database per size holds the
same data as the SQLite build: schema and reference data through the services as there, then the
SQLite build's sign-up requests (the same rows, ids and numbers) copied in with one COPY, the
number sequence where SQLite's stands, VACUUM ANALYZE (``build_postgres``; bench/scale_bench.py's
generate_series builder makes other data: other words, numbers, no "Cedar Atlas"). The SQLite
build it copies is the ``--db-dir`` one (made first when missing). Databases are named
``pgconsole_<size>_<pid>`` and dropped at the end; with ``--pg-keep`` the build is kept as
``pgconsole_keep_<size>`` (reused when it exists) and each run works on a ``CREATE DATABASE ...
TEMPLATE`` copy of it, as SQLite runs work on a copy of the ``--db-dir`` file.
Figures only; no thresholds here (the targets are in issues 8 and 10).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import gc
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable


def _option(name: str) -> str | None:
    """``--name=VALUE`` or ``--name VALUE`` from the command line, read before anything is imported
    (``--src`` decides where the code comes from)."""
    for i, a in enumerate(sys.argv):
        if a.startswith(f"{name}="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
    return None


DB_DIR = _option("--db-dir")  # both forms: with "--db-dir DIR" the databases were silently rebuilt in /tmp
SRC = _option("--src")
sys.path.insert(0, SRC or str(Path(__file__).resolve().parent.parent))  # --src=DIR: another checkout's code

# --stall-stacks: per scroll measure, each stall over 40 ms (gap, loop CPU, process CPU, the loop's stacks)
STALL_STACKS: dict[str, list[tuple[float, float, float, list[tuple[str, ...]], list[str]]]] = {}
STALL_WATCH = "--stall-stacks" in sys.argv
PROFILE: dict[str, object] = {}  # --profile: one pyinstrument session per measure (the event loop's thread)
LOOP_CPU: dict[str, list[float]] = {}  # CPU time the event loop's thread spent in each run of a measure


class _Timed:
    """Times one measure into ``out[name]``; with --profile, samples the event loop meanwhile."""

    def __init__(self, out: dict[str, list[float]], name: str, profile: bool) -> None:
        self.out, self.name, self.profile = out, name, profile

    def __enter__(self) -> None:
        self.profiler = None
        if self.profile:
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.0005, async_mode="disabled")
            self.profiler.start()
        self.t, self.cpu = time.perf_counter(), time.thread_time()

    def __exit__(self, *exc: object) -> None:
        self.out[self.name].append(time.perf_counter() - self.t)
        LOOP_CPU.setdefault(self.name, []).append(time.thread_time() - self.cpu)
        if self.profiler is not None:
            from pyinstrument.session import Session

            session = self.profiler.stop()
            before = PROFILE.get(self.name)
            PROFILE[self.name] = Session.combine(before, session) if before is not None else session


class StallWatch:
    """--stall-stacks: a thread samples the event loop thread's stack every millisecond
    (``sys._current_frames``); when the bench's 5 ms timer sees a gap over ``threshold`` seconds,
    the samples taken inside that gap are kept under the measure's name (what the loop did while
    it stalled: drawing, a message handler, the GIL held by another thread...). The garbage
    collector's passes are timed too (``gc.callbacks``): a pass holds the GIL, so the sampler sees
    nothing of it (a stall whose few samples are all in ``select``, with the loop's CPU near the gap)."""

    def __init__(self, threshold: float = 0.04) -> None:
        import gc
        import threading

        self.threshold = threshold
        self.loop_thread = threading.get_ident()
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self.collections: list[tuple[float, float, int, str]] = []  # (start, end, generation, thread)
        self._collecting: dict[int, float] = {}
        self._full_from = ""
        self.running = True
        self.thread = threading.Thread(target=self._run, name="stall watch", daemon=True)
        self.thread.start()
        gc.callbacks.append(self._collection)

    def _collection(self, phase: str, info: dict) -> None:
        import threading

        ident = threading.get_ident()
        if phase == "start":
            self._collecting[ident] = time.perf_counter()
            if info["generation"] == 2:  # a full pass: where it was started (an explicit collect?)
                frame, where = sys._getframe(1), []
                while frame is not None and len(where) < 3:
                    where.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}")
                    frame = frame.f_back
                self._full_from = " < ".join(where)
            return
        start = self._collecting.pop(ident, None)
        if start is not None:
            thread = "loop" if ident == self.loop_thread else threading.current_thread().name
            if info["generation"] == 2:
                thread += f", from {self._full_from}"
            self.collections.append((start, time.perf_counter(), info["generation"], thread))
            if len(self.collections) > 20000:
                del self.collections[:10000]

    def _run(self) -> None:
        import traceback

        while self.running:
            frame = sys._current_frames().get(self.loop_thread)
            if frame is not None:
                stack = tuple(
                    f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in traceback.extract_stack(frame, limit=40)
                )
                self.samples.append((time.perf_counter(), stack))
                if len(self.samples) > 20000:
                    del self.samples[:10000]
            time.sleep(0.001)

    def gap(self, name: str, start: float, end: float, loop_cpu: float, process_cpu: float) -> None:
        """A gap between two ticks; over the threshold, kept with the CPU time the loop's thread and
        the whole process used meanwhile (loop CPU near the gap: the loop worked; process CPU well
        above loop CPU: other threads of this process ran (the GIL); both well below: the machine)."""
        if end - start < self.threshold:
            return
        inside = [stack for t, stack in self.samples if start <= t <= end]
        collected = [
            f"gc gen {generation} {(stop - begin) * 1000:.0f} ms ({thread})"
            for begin, stop, generation, thread in self.collections
            if begin < end and stop > start and stop - begin >= 0.002
        ]
        STALL_STACKS.setdefault(name, []).append((end - start, loop_cpu, process_cpu, inside, collected))

    def stop(self) -> None:
        import gc

        self.running = False
        if self._collection in gc.callbacks:
            gc.callbacks.remove(self._collection)


def print_stall_stacks(where: str) -> None:
    """Per measure, each stall over the threshold: its length and the loop's most frequent frames
    (own code and Textual's innermost frames, counted once per sample), for the stalls in which the
    loop itself worked longest (on a loaded machine the longest gaps are often other processes')."""
    from collections import Counter

    for name, stalls in STALL_STACKS.items():
        print(f"\n===== {where}: stalls in {name}: {len(stalls)}")
        for gap, loop_cpu, process_cpu, _, collected in stalls:
            print(
                f"  stall {gap * 1000:5.0f} ms: loop CPU {loop_cpu * 1000:5.0f} ms, process CPU {process_cpu * 1000:5.0f} ms"
                + (f"; {', '.join(collected)}" if collected else "")
            )
        for gap, loop_cpu, process_cpu, stacks, _ in sorted(stalls, key=lambda s: -s[1])[:6]:
            print(
                f"--- {gap * 1000:.0f} ms (loop CPU {loop_cpu * 1000:.0f}, process {process_cpu * 1000:.0f}), {len(stacks)} samples"
            )
            seen: Counter[str] = Counter()
            for stack in stacks:
                for frame in set(stack):
                    seen[frame] += 1
            for frame, n in seen.most_common(45):
                print(f"  {n:4d} {frame}")
    STALL_STACKS.clear()


async def _pause_until(pilot, condition, timeout=30.0):
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError
        await pilot.pause(0.001)
    await pilot.pause()  # the frame that shows it


class Keys:
    """Presses a key and waits for what it should show, in one of two ways.

    ``paint`` (default): the key is posted as the terminal driver posts it, and the clock stops at
    the first frame painted while the condition holds (what the operator sees); a frame is
    "painted" when the compositor hands its update to the driver. ``pilot``: ``Pilot.press`` and
    ``Pilot.pause``, which also wait until the whole process (worker threads included) is idle by
    CPU time; that adds Pilot's own waits (tens of ms even for the bare app).
    """

    def __init__(self, app, pilot, mode: str) -> None:
        self.app, self.pilot, self.mode = app, pilot, mode
        self.condition = None
        self.shown_at: float | None = None
        if mode == "paint":
            display = app._display

            def painted(screen, renderable):
                display(screen, renderable)
                if (
                    renderable is not None
                    and not app._batch_count
                    and self.condition is not None
                    and self.shown_at is None
                    and self.condition()
                ):
                    self.shown_at = time.perf_counter()

            app._display = painted

    async def press(self, key: str) -> None:
        if self.mode == "pilot":
            await self.pilot.press(key)
            return
        from textual import events

        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(self.app)
        self.app._driver.send_message(event)

    async def until(self, condition, timeout: float = 30.0) -> float:
        """Wait until ``condition`` holds in a painted frame; returns that frame's time."""
        if self.mode == "pilot":
            await _pause_until(self.pilot, condition, timeout)
            return time.perf_counter()
        self.condition, self.shown_at = condition, None
        start = time.perf_counter()
        held: float | None = None
        try:
            while self.shown_at is None:
                now = time.perf_counter()
                if now - start > timeout:
                    raise TimeoutError
                if held is None and condition():
                    held = now
                elif held is not None and now - held > 1.0:
                    return held  # nothing repainted after it (nothing visible changed): when it held
                await asyncio.sleep(0.0005)
            return self.shown_at
        finally:
            self.condition = None


def bare_key_to_repaint(repeat: int, mode: str = "paint") -> float:
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        BINDINGS = [("x", "bump", "")]
        n = 0

        def compose(self):
            yield Static("0", id="s")

        def action_bump(self):
            self.n += 1
            self.query_one("#s", Static).update(str(self.n))

    times = []

    async def run():
        app = Bare()
        async with app.run_test(size=(140, 40)) as pilot:
            keys = Keys(app, pilot, mode)
            await pilot.pause()
            for _ in range(repeat):
                before = app.n
                t = time.perf_counter()
                await keys.press("x")
                await keys.until(lambda: app.n > before)
                times.append(time.perf_counter() - t)
                await pilot.pause(0.02)

    asyncio.run(run())
    return statistics.median(times) * 1000


# ----------------------------------------------------------------------------- databases

# timed processes run as an installed regdesk does, its bytecode cached (pip compiles what it
# installs; a checkout writes its own on the first run, which the figures leave out): with
# PYTHONDONTWRITEBYTECODE set (as on some machines) every start compiled regdesk's modules again
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
PG_DEFAULT = os.environ.get("REGDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_PREFIX = "pgconsole"  # every PostgreSQL database this bench makes starts with it
_SCRATCH: list[str] = []  # without --db-dir: one temporary folder for this process's SQLite builds


def _size(rows: int) -> str:
    """1000 -> 1k, 1000000 -> 1m (database names)."""
    if rows and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}m"
    if rows and rows % 1000 == 0:
        return f"{rows // 1000}k"
    return str(rows)


def sqlite_build(rows: int) -> Path:
    """The SQLite build of ``rows`` requests: ``--db-dir``'s kept one, else made once (in --db-dir,
    or in a temporary folder for this process): the reference data, then ``add_synthetic``."""
    from seed.demo import add_synthetic, load_reference
    from services.store import Store

    if DB_DIR:
        folder = Path(DB_DIR)
    else:
        if not _SCRATCH:
            _SCRATCH.append(tempfile.mkdtemp(prefix="console_bench_"))
            atexit.register(shutil.rmtree, _SCRATCH[0], True)
        folder = Path(_SCRATCH[0])
    template = folder / f"console_bench_{rows}.db"
    if template.exists():
        return template
    building = template.with_name(template.name + ".building")
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    store = Store(f"sqlite:///{building}", create=True)
    load_reference(store)
    t = time.perf_counter()
    add_synthetic(store, rows)
    print(f"  {rows:,} requests generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    store.dispose()
    raw = sqlite3.connect(building, isolation_level=None)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the one file that is copied
    raw.close()
    building.rename(template)
    return template


def sqlite_database(rows: int) -> tuple[str, Callable[[], None]]:
    """A copy of the SQLite build for one run (the runs change rows: each starts from the same data)."""
    template = sqlite_build(rows)
    tmp = tempfile.mkdtemp(dir=DB_DIR)
    db = Path(tmp) / "bench.db"
    shutil.copyfile(template, db)
    print(f"  {rows:,} requests copied from {template}", file=sys.stderr)
    return f"sqlite:///{db}", lambda: shutil.rmtree(tmp, ignore_errors=True)  # the copy (1 GB at 1M)


def _pg_url(base: str, name: str) -> str:
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    return plain.rsplit("/", 1)[0] + "/" + name


def build_postgres(url: str, source: Path) -> None:
    """A PostgreSQL database with the same data as the SQLite build ``source``: the schema
    (migrations) and the reference data through the services as there, then ``source``'s
    sign-up requests, ids and all, in one COPY (the table's secondary indexes dropped meanwhile
    and made again after, the check that each status change has its audit row (a deferred row
    trigger) off for the load); the signup number sequence set where SQLite's stands; then
    VACUUM ANALYZE."""
    import psycopg

    from seed.demo import load_reference
    from services.schema import upgrade
    from services.store import Store, make_engine

    started = time.perf_counter()
    engine = make_engine(url, create=True)
    upgrade(engine)
    engine.dispose()
    store = Store(url, create=True)
    load_reference(store)
    store.dispose()
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        columns = [r[1] for r in src.execute("PRAGMA table_info(signuprequest)")]
        (next_value,) = src.execute("SELECT next_value FROM numbersequence WHERE code = 'signup'").fetchone()
        names = ", ".join(f'"{c}"' for c in columns)
        with psycopg.connect(_pg_url(url, url.rsplit("/", 1)[1])) as conn:
            conn.execute("SET TIME ZONE 'UTC'")  # SQLite keeps UTC times without an offset
            conn.execute("SET maintenance_work_mem = '256MB'")
            indexes = conn.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = 'signuprequest'::regclass "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            ).fetchall()
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {name}")
            audited = conn.execute(
                "SELECT 1 FROM pg_trigger WHERE tgrelid = 'signuprequest'::regclass "
                "AND tgname = 'regdesk_status_audited'"
            ).fetchone()
            if audited:
                conn.execute("ALTER TABLE signuprequest DISABLE TRIGGER regdesk_status_audited")
            with conn.cursor().copy(f"COPY signuprequest ({names}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {names} FROM signuprequest ORDER BY id"):
                    copy.write_row(row)
            print(f"  copied: {time.perf_counter() - started:.1f} s", file=sys.stderr)
            if audited:
                conn.execute("ALTER TABLE signuprequest ENABLE TRIGGER regdesk_status_audited")
            for _, definition in indexes:
                conn.execute(definition)
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('signuprequest', 'id'), max(id)) FROM signuprequest "
                "HAVING count(*) > 0"
            )
            conn.execute("UPDATE numbersequence SET next_value = %s WHERE code = 'signup'", (next_value,))
    finally:
        src.close()
    with psycopg.connect(_pg_url(url, url.rsplit("/", 1)[1]), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  PostgreSQL built in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def postgres_database(rows: int, base: str, keep: bool) -> tuple[str, Callable[[], None]]:
    """A PostgreSQL database for one run: built fresh (``pgconsole_<size>_<pid>``), or with ``keep``
    a ``CREATE DATABASE ... TEMPLATE`` copy of ``pgconsole_keep_<size>`` (built first when missing,
    and kept). Returns (url, drop)."""
    import psycopg

    admin = base.replace("postgresql+psycopg://", "postgresql://")

    def exists(conn, name: str) -> bool:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    def drop(name: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def fresh(name: str) -> str:
        with psycopg.connect(admin, autocommit=True) as conn:
            if exists(conn, name):
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            build_postgres(_pg_url(admin, name), sqlite_build(rows))
        except BaseException:
            drop(name)
            raise
        return _pg_url(admin, name)

    if not keep:
        name = f"{PG_PREFIX}_{_size(rows)}_{os.getpid()}"
        return fresh(name), lambda: drop(name)
    kept, name = f"{PG_PREFIX}_keep_{_size(rows)}", f"{PG_PREFIX}_run_{_size(rows)}_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        have = exists(conn, kept)
    if not have:
        fresh(kept)
    t = time.perf_counter()
    with psycopg.connect(admin, autocommit=True) as conn:
        if exists(conn, name):
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{kept}"')
    print(
        f"  {rows:,} requests: {'reused' if have else 'kept'} {kept}, copied in {time.perf_counter() - t:.1f} s",
        file=sys.stderr,
    )
    return _pg_url(admin, name), lambda: drop(name)


def open_database(kind: str, rows: int, pg: str = PG_DEFAULT, pg_keep: bool = False) -> tuple[str, Callable[[], None]]:
    return sqlite_database(rows) if kind == "sqlite" else postgres_database(rows, pg, pg_keep)


# ----------------------------------------------------------------------------- console start


def start_figures(url: str, runs: int) -> tuple[float, float]:
    """Console start as bench/scale_bench.py measures it: a bare Textual app's process start to
    first paint, and ``regdesk --as approver1``'s to its first painted list (both on a pty),
    in turn; medians in seconds (the first pair left out)."""
    saved = list(sys.path)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from registration_bench import BARE_APP, _run_on_pty
    finally:
        sys.path[:] = saved  # it puts this checkout first: --src's code must stay first
    code = SRC or str(Path(__file__).resolve().parent.parent)
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="console_bench_start_") as tmp:
        os.chdir(tmp)  # python -c puts the working directory first on sys.path: not a checkout
        try:
            workdir = Path(tmp)
            env = {
                **os.environ,
                "TERM": "xterm-256color",
                "REGDESK_DATABASE_URL": url,
                "REGDESK_CONFIG": "/nonexistent/regdesk-bench-config.toml",
            }
            bare_script = workdir / "bare_app.py"
            bare_script.write_text(BARE_APP)
            marker = workdir / "painted"
            regdesk = [
                sys.executable,
                "-c",
                "import sys; from app.cli import main; sys.exit(main())",
                "--as",
                "approver1",
            ]
            bare, console = [], []
            for _ in range(max(runs, 10) + 1):
                bare.append(_run_on_pty([sys.executable, str(bare_script), str(marker)], env, marker))
                console.append(
                    _run_on_pty(regdesk, {**env, "REGDESK_BENCH_PAINTED": str(marker), "PYTHONPATH": code}, marker)
                )
        finally:
            os.chdir(here)
    return statistics.median(bare[1:]), statistics.median(console[1:])


# ----------------------------------------------------------------------------- the console


def console_measures(
    rows: int,
    repeat: int,
    profile: bool = False,
    mode: str = "paint",
    kind: str = "sqlite",
    pg: str = PG_DEFAULT,
    pg_keep: bool = False,
    start: dict[str, float] | None = None,
) -> dict[str, float]:
    """The measures on ``kind``'s database of ``rows`` requests (ms). With ``start`` (a dict): console
    start and the bare app's (ms) are put in it first, on the same database."""
    from services.store import Store

    url, drop = open_database(kind, rows, pg, pg_keep)
    try:
        if start is not None:
            if kind == "sqlite":  # `--as` is for demo databases on SQLite (services.identity)
                from services import identity

                mark = Store(url)
                with mark.write() as s:
                    identity.mark_demo(s)
                mark.dispose()
            bare_s, console_s = start_figures(url, repeat)
            start.update({"bare": bare_s * 1000, "console": console_s * 1000})
        return _drive(url, rows, repeat, profile, mode)
    finally:
        drop()


def _drive(url: str, rows: int, repeat: int, profile: bool, mode: str) -> dict[str, float]:
    watch = StallWatch() if STALL_WATCH else None
    from app.tui import make_app
    from screens.dialogs import CreateCustomerDialog
    from screens.registration import RegistrationScreen
    from services import signup
    from services.permissions import SYSTEM
    from services.store import Store
    from tests.conftest import actor_of

    store = Store(url)
    actor = actor_of(store)
    _ = SYSTEM
    out: dict[str, list[float]] = {
        "create dialog": [],
        "create (again)": [],
        "approve": [],
        "filter switch": [],
        "live update": [],
        "search": [],
        "search (page)": [],
        "sort": [],
        "jump to end": [],
        "jump stall max": [],
        "pagedown stall max": [],
        "held down stall max": [],
    }

    async def run():
        app = make_app(store, actor("approver1"))
        gc.collect()
        gc.freeze()  # as app/console.py does before app.run(): what start-up loaded is out of the collector's passes
        async with app.run_test(size=(140, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, RegistrationScreen)
            await _pause_until(pilot, lambda: screen.detail is not None and app.last_change is not None)
            keys = Keys(app, pilot, mode)
            for i in range(repeat):
                # filter switch
                with _Timed(out, "filter switch", profile):
                    await keys.press("3")
                    await keys.until(
                        lambda: (
                            screen.query_state.status == "Verified by user"
                            and not screen._fetching
                            and screen.loaded > 0
                        )
                    )
                await _pause_until(pilot, lambda: screen.detail is not None)
                # approve the row under the cursor
                number = screen.table.key_at_cursor()
                gen = screen.generation
                with _Timed(out, "approve", profile):
                    await keys.press("a")
                    await keys.until(lambda: screen.generation > gen and not screen._fetching)
                # create dialog on it (now Approved; what it needs was prepared while the detail showed)
                await _pause_until(
                    pilot,
                    lambda: (
                        screen.detail is not None
                        and screen.detail.number == number
                        and screen.detail.status == "Approved"
                    ),
                )
                with _Timed(out, "create dialog", profile):
                    await keys.press("c")
                    await keys.until(
                        lambda: isinstance(app.screen, CreateCustomerDialog) and app.screen.preview is not None
                    )
                await pilot.press("escape")
                await _pause_until(pilot, lambda: app.screen is screen)
                # again, the list settled: the dialog's own cost (refilled, not composed)
                await pilot.pause(0.5)
                with _Timed(out, "create (again)", profile):
                    await keys.press("c")
                    await keys.until(
                        lambda: isinstance(app.screen, CreateCustomerDialog) and app.screen.preview is not None
                    )
                await pilot.press("escape")
                await _pause_until(pilot, lambda: app.screen is screen)
                # live update: approver2 approves a row shown here
                await pilot.press("down")
                await pilot.pause(0.3)
                shown = [str(k.value) for k in screen.table.rows]
                other = shown[-1]
                with _Timed(out, "live update", profile):
                    await asyncio.get_running_loop().run_in_executor(
                        None, store.call, signup.approve, actor("approver2"), other
                    )
                    await keys.until(lambda: other not in screen.records)
                await pilot.press("1")
                await _pause_until(pilot, lambda: screen.query_state.status == "All" and not screen._fetching)
                # search: the term typed, Enter until its first page is painted (a company's two words:
                # 4 rows at 1k, a full page at 1M); "search (page)": one word, a full page at both sizes
                for measure, term in (("search", "Cedar Atlas"), ("search (page)", "Cedar")):
                    await pilot.press("slash")
                    search = app.screen.query_one("#search")
                    search.value = term  # type: ignore[attr-defined]
                    await pilot.pause()
                    with _Timed(out, measure, profile):
                        await keys.press("enter")
                        await keys.until(
                            lambda: screen.query_state.search == term and not screen._fetching and screen.loaded > 0
                        )
                    await _pause_until(pilot, lambda: not screen.counts_stale)  # its counts too (a thread)
                    search.value = ""  # type: ignore[attr-defined]
                    await pilot.press("enter")
                    await _pause_until(pilot, lambda: screen.query_state.search == "" and not screen._fetching)
                # sort: s (number -> created) until the first page in that order is painted
                with _Timed(out, "sort", profile):
                    await keys.press("s")
                    await keys.until(
                        lambda: screen.query_state.sort != "number" and not screen._fetching and screen.loaded > 0
                    )
                screen.set_query(sort="number", descending=False)
                await _pause_until(pilot, lambda: not screen._fetching)
                # the longest gap between two ticks of a 5 ms timer while something runs (event-loop stall)
                gaps: list[float] = []
                stamp = [time.perf_counter()]

                current: list[str | None] = [None]  # the measure running (None: between measures)

                cpu = [time.thread_time(), time.process_time()]

                def tick() -> None:
                    now = time.perf_counter()
                    gaps.append(now - stamp[0])
                    if watch is not None:
                        loop_cpu, process_cpu = time.thread_time(), time.process_time()
                        if current[0] is not None:  # a stall between measures (an idle collection) is none of theirs
                            watch.gap(current[0], stamp[0], now, loop_cpu - cpu[0], process_cpu - cpu[1])
                        cpu[:] = [loop_cpu, process_cpu]
                    stamp[0] = now

                def stall(name: str) -> None:
                    out[name].append(max(gaps) if gaps else 0.0)
                    gaps.clear()
                    current[0] = None

                await pilot.pause(0.2)
                timer = app.set_interval(0.005, tick)
                # jump to the end: one keyset query from the other end
                last = f"REG-{rows:06d}"
                stamp[0] = time.perf_counter()
                gaps.clear()
                current[0] = "jump stall max"
                with _Timed(out, "jump to end", profile):
                    await keys.press("ctrl+end")
                    await keys.until(lambda: screen.selected is not None and screen.selected >= last)
                stall("jump stall max")
                await pilot.press("ctrl+home")
                await _pause_until(pilot, lambda: not screen._fetching and not screen.above)
                await pilot.pause(0.2)
                # paging down: 30 PageDown, one every 40 ms (past the bounded window: pages dropped above)
                stamp[0] = time.perf_counter()
                gaps.clear()
                current[0] = "pagedown stall max"
                with _Timed({"pagedown scroll": []}, "pagedown scroll", profile):
                    for _ in range(30):
                        await keys.press("pagedown")
                        await asyncio.sleep(0.04)
                    await _pause_until(pilot, lambda: not screen._fetching)
                stall("pagedown stall max")
                await pilot.press("ctrl+home")
                await _pause_until(pilot, lambda: not screen._fetching and not screen.above)
                await pilot.pause(0.2)
                # Down held: 400 Down at the terminal's repeat rate (one every 25 ms)
                stamp[0] = time.perf_counter()
                gaps.clear()
                current[0] = "held down stall max"
                with _Timed({"held down scroll": []}, "held down scroll", profile):
                    for _ in range(400):
                        await keys.press("down")
                        await asyncio.sleep(0.025)
                    await _pause_until(pilot, lambda: not screen._fetching)
                stall("held down stall max")
                timer.stop()
                await pilot.press("ctrl+home")
                await _pause_until(pilot, lambda: not screen._fetching and not screen.above)
                _ = i

    asyncio.run(run())
    if watch is not None:
        watch.stop()
    gc.unfreeze()
    store.dispose()
    return {k: (max(v) if k.endswith("stall max") else statistics.median(v)) * 1000 for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, action="append", help="synthetic requests (repeatable)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of each measure")
    parser.add_argument(
        "--db-dir",
        help="keep each size's generated database in DIR and copy it for later runs (the 1M build takes "
        "minutes); --db-dir=DIR",
    )
    parser.add_argument("--src", help="run another checkout's code (the 'before' of a comparison); --src=DIR")
    parser.add_argument(
        "--mode",
        choices=["paint", "pilot"],
        default="paint",
        help="paint: key posted, clock stopped at the frame showing the result (default); "
        "pilot: Pilot.press/pause, which also wait for the whole process to be idle",
    )
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--pg", default=PG_DEFAULT, help="the PostgreSQL server (a database URL on it)")
    parser.add_argument(
        "--pg-keep",
        action="store_true",
        help=f"keep each size's PostgreSQL build as {PG_PREFIX}_keep_<size> (reused when it exists; "
        "each run works on a copy of it)",
    )
    parser.add_argument(
        "--stall-stacks",
        action="store_true",
        help="print the event loop's stack samples during each stall over 40 ms while scrolling",
    )
    parser.add_argument(
        "--start", action="store_true", help="also console start to the first painted list, next to a bare app"
    )
    args = parser.parse_args()
    sizes = args.rows or [1000, 1_000_000]
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    print(f"code: {SRC or 'this checkout'}; mode: {args.mode}; load average: {os.getloadavg()[0]:.2f}")
    print(
        f"{'store':<8} {'rows':>10} {'measure':<19} {'console ms':>11} {'bare ms':>8} {'ratio':>6} {'loop CPU ms':>12}"
    )
    results: dict[tuple[str, int], dict[str, float]] = {}
    profiles: dict[str, object] = {}
    for kind in kinds:
        for rows in sizes:
            bare = bare_key_to_repaint(args.repeat * 4, args.mode)
            LOOP_CPU.clear()
            start: dict[str, float] | None = {} if args.start else None
            measures = console_measures(
                rows, args.repeat, args.profile, args.mode, kind=kind, pg=args.pg, pg_keep=args.pg_keep, start=start
            )
            for scroll in ("pagedown", "held down"):  # the loop's CPU time over each whole scroll
                name = f"{scroll} stall max"
                if f"{scroll} scroll" in LOOP_CPU:
                    LOOP_CPU[name] = LOOP_CPU[f"{scroll} scroll"]
            for name, ms in measures.items():
                cpu = statistics.median(LOOP_CPU[name]) * 1000 if name in LOOP_CPU else None
                print(
                    f"{kind:<8} {rows:>10,} {name:<19} {ms:>11.1f} {bare:>8.1f} {ms / bare:>6.1f} "
                    f"{'' if cpu is None else f'{cpu:12.1f}'}"
                )
            if start:
                measures["console start"] = start["console"]
                print(
                    f"{kind:<8} {rows:>10,} {'console start':<19} {start['console']:>11.1f} {start['bare']:>8.1f} "
                    f"{start['console'] / start['bare']:>6.1f}   (bare: a Textual app's start)"
                )
            print(f"  load average: {os.getloadavg()[0]:.2f}", flush=True)
            print_stall_stacks(f"{kind} {_size(rows)}")
            results[kind, rows] = measures
            for name in list(PROFILE):  # each store and size its own profile
                profiles[f"{kind} {_size(rows)}: {name}"] = PROFILE.pop(name)
        if len(sizes) > 1:  # each measure at the largest size next to the same at the smallest (issue 10: 1.2x)
            small, large = min(sizes), max(sizes)
            print(f"\n{kind}: {_size(large)} / {_size(small)}")
            print(f"{'store':<8} {'measure':<19} {_size(small) + ' ms':>11} {_size(large) + ' ms':>11} {'ratio':>6}")
            for name, ms in results[kind, large].items():
                before = results[kind, small].get(name)
                if before is not None:
                    ratio = f"{ms / before:6.2f}" if before else "     -"
                    print(f"{kind:<8} {name:<19} {before:>11.1f} {ms:>11.1f} {ratio}")
            print(flush=True)
    for name, session in profiles.items():
        from pyinstrument.renderers import ConsoleRenderer

        print(f"\n===== {name}: the event loop's time by function (self time)")
        print("\n".join(ConsoleRenderer(flat=True, time="seconds").render(session).splitlines()[6:36]))
        print(f"===== {name}: the calls that took more than 2% of it")
        _tree(session.root_frame(), session.root_frame().time * 0.02)


def _tree(frame, threshold: float, depth: int = 0) -> None:
    """The profile tree, only the calls above ``threshold`` seconds, library frames included; a call
    that passes (nearly) all its time to one callee is followed on the same indent."""
    where = f"{frame.file_path_short or ''}:{frame.line_no or ''}"
    print(f"{'  ' * depth}{frame.time:7.3f} {frame.function} {where}")
    children = sorted((c for c in frame.children if c.time >= threshold), key=lambda c: -c.time)
    if len(children) == 1 and children[0].time > frame.time * 0.9:
        _tree(children[0], threshold, depth)
        return
    for child in children:
        _tree(child, threshold, depth + 1)


if __name__ == "__main__":
    main()
