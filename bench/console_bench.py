"""Console key-to-ready times, driven with Pilot (headless, in-process), next to a bare Textual app.

    python bench/console_bench.py --rows 1000 --rows 1000000

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

next to the bare app's key-to-repaint (a key that changes one Static) measured in the same run.
Figures only; no thresholds here (the targets are in issue 8).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


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


def console_measures(rows: int, repeat: int, profile: bool = False, mode: str = "paint") -> dict[str, float]:
    from app.tui import make_app
    from screens.dialogs import CreateCustomerDialog
    from screens.registration import RegistrationScreen
    from seed.demo import add_synthetic, load_reference
    from services import signup
    from services.permissions import SYSTEM
    from services.store import Store
    from tests.conftest import actor_of

    tmp = tempfile.mkdtemp(dir=DB_DIR)
    db = Path(tmp) / "bench.db"
    template = Path(DB_DIR) / f"console_bench_{rows}.db" if DB_DIR else None
    if template is not None and template.exists():
        shutil.copyfile(template, db)  # the runs change rows: each starts from the same copy
        store = Store(f"sqlite:///{db}")
        print(f"  {rows:,} requests copied from {template}", file=sys.stderr)
    else:
        store = Store(f"sqlite:///{db}", create=True)
        load_reference(store)
        t = time.perf_counter()
        add_synthetic(store, rows)
        print(f"  {rows:,} requests generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        if template is not None:
            store.dispose()
            shutil.copyfile(db, template)
            store = Store(f"sqlite:///{db}")
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

                def tick() -> None:
                    now = time.perf_counter()
                    gaps.append(now - stamp[0])
                    stamp[0] = now

                def stall(name: str) -> None:
                    out[name].append(max(gaps) if gaps else 0.0)
                    gaps.clear()

                await pilot.pause(0.2)
                timer = app.set_interval(0.005, tick)
                # jump to the end: one keyset query from the other end
                last = f"REG-{rows:06d}"
                stamp[0] = time.perf_counter()
                gaps.clear()
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
                with _Timed({"scroll": []}, "scroll", profile):
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
                with _Timed({"scroll": []}, "scroll", profile):
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
    gc.unfreeze()
    store.dispose()
    shutil.rmtree(tmp, ignore_errors=True)  # the copy (1 GB at 1M)
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
    args = parser.parse_args()
    sizes = args.rows or [1000, 1_000_000]
    print(f"code: {SRC or 'this checkout'}; mode: {args.mode}; load average: {os.getloadavg()[0]:.2f}")
    print(f"{'rows':>10} {'measure':<16} {'console ms':>11} {'bare ms':>8} {'ratio':>6} {'loop CPU ms':>12}")
    for rows in sizes:
        bare = bare_key_to_repaint(args.repeat * 4, args.mode)
        LOOP_CPU.clear()
        for name, ms in console_measures(rows, args.repeat, args.profile, args.mode).items():
            cpu = statistics.median(LOOP_CPU[name]) * 1000 if name in LOOP_CPU else None
            print(
                f"{rows:>10,} {name:<16} {ms:>11.1f} {bare:>8.1f} {ms / bare:>6.1f} "
                f"{'' if cpu is None else f'{cpu:12.1f}'}"
            )
        sys.stdout.flush()
    for name, session in PROFILE.items():
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
