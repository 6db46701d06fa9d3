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

next to the bare app's key-to-repaint (a key that changes one Static) measured in the same run.
Figures only; no thresholds here (the targets are in issue 8).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def _pause_until(pilot, condition, timeout=30.0):
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError
        await pilot.pause(0.001)
    await pilot.pause()  # the frame that shows it


def bare_key_to_repaint(repeat: int) -> float:
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
            for _ in range(repeat):
                before = app.n
                t = time.perf_counter()
                await pilot.press("x")
                await _pause_until(pilot, lambda: app.n > before)
                times.append(time.perf_counter() - t)

    asyncio.run(run())
    return statistics.median(times) * 1000


def console_measures(rows: int, repeat: int) -> dict[str, float]:
    from app.tui import make_app
    from screens.dialogs import CreateCustomerDialog
    from screens.registration import RegistrationScreen
    from seed.demo import add_synthetic, load_reference
    from services import signup
    from services.permissions import SYSTEM
    from services.store import Store
    from tests.conftest import actor_of

    tmp = tempfile.mkdtemp()
    store = Store(f"sqlite:///{tmp}/bench.db", create=True)
    load_reference(store)
    t = time.perf_counter()
    add_synthetic(store, rows)
    print(f"  {rows:,} requests generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    actor = actor_of(store)
    _ = SYSTEM
    out: dict[str, list[float]] = {"create dialog": [], "create (again)": [], "approve": [], "filter switch": [], "live update": [],
                                   "jump to end": [], "scroll stall max": []}

    async def run():
        app = make_app(store, actor("approver1"))
        async with app.run_test(size=(140, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, RegistrationScreen)
            await _pause_until(pilot, lambda: screen.detail is not None and app.last_change is not None)
            for i in range(repeat):
                # filter switch
                t = time.perf_counter()
                await pilot.press("3")
                await _pause_until(pilot, lambda: screen.query_state.status == "Verified by user" and not screen._fetching
                                   and screen.loaded > 0)
                out["filter switch"].append(time.perf_counter() - t)
                await _pause_until(pilot, lambda: screen.detail is not None)
                # approve the row under the cursor
                number = screen.table.key_at_cursor()
                gen = screen.generation
                t = time.perf_counter()
                await pilot.press("a")
                await _pause_until(pilot, lambda: screen.generation > gen and not screen._fetching)
                out["approve"].append(time.perf_counter() - t)
                # create dialog on it (now Approved; what it needs was prepared while the detail showed)
                await _pause_until(pilot, lambda: screen.detail is not None and screen.detail.number == number
                                   and screen.detail.status == "Approved")
                t = time.perf_counter()
                await pilot.press("c")
                await _pause_until(pilot, lambda: isinstance(app.screen, CreateCustomerDialog)
                                   and app.screen.preview is not None)
                out["create dialog"].append(time.perf_counter() - t)
                await pilot.press("escape")
                await _pause_until(pilot, lambda: app.screen is screen)
                # again, the list settled: the dialog's own cost (refilled, not composed)
                await pilot.pause(0.5)
                t = time.perf_counter()
                await pilot.press("c")
                await _pause_until(pilot, lambda: isinstance(app.screen, CreateCustomerDialog)
                                   and app.screen.preview is not None)
                out["create (again)"].append(time.perf_counter() - t)
                await pilot.press("escape")
                await _pause_until(pilot, lambda: app.screen is screen)
                # live update: approver2 approves a row shown here
                await pilot.press("down")
                keys = [str(k.value) for k in screen.table.rows]
                other = keys[-1]
                t = time.perf_counter()
                await asyncio.get_running_loop().run_in_executor(None, store.call, signup.approve, actor("approver2"),
                                                                 other)
                await _pause_until(pilot, lambda: other not in screen.records)
                out["live update"].append(time.perf_counter() - t)
                await pilot.press("1")
                await _pause_until(pilot, lambda: screen.query_state.status == "All" and not screen._fetching)
                # jump to the end: one keyset query from the other end
                last = f"REG-{rows:06d}"
                t = time.perf_counter()
                await pilot.press("ctrl+end")
                await _pause_until(pilot, lambda: screen.selected is not None and screen.selected >= last)
                out["jump to end"].append(time.perf_counter() - t)
                await pilot.press("ctrl+home")
                await _pause_until(pilot, lambda: not screen._fetching and not screen.above)
                # scrolling: the longest gap between two ticks of a 5 ms timer while paging down
                gaps: list[float] = []
                stamp = [time.perf_counter()]

                def tick() -> None:
                    now = time.perf_counter()
                    gaps.append(now - stamp[0])
                    stamp[0] = now

                timer = app.set_interval(0.005, tick)
                for _ in range(30):
                    await pilot.press("pagedown")
                    await pilot.pause(0.01)
                await _pause_until(pilot, lambda: not screen._fetching)
                timer.stop()
                out["scroll stall max"].append(max(gaps) if gaps else 0.0)
                await pilot.press("ctrl+home")
                await _pause_until(pilot, lambda: not screen._fetching and not screen.above)
                _ = i

    asyncio.run(run())
    store.dispose()
    return {k: (max(v) if k == "scroll stall max" else statistics.median(v)) * 1000 for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, action="append", help="synthetic requests (repeatable)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = args.rows or [1000, 1_000_000]
    print(f"{'rows':>10} {'measure':<15} {'console ms':>11} {'bare ms':>8} {'ratio':>6}")
    for rows in sizes:
        bare = bare_key_to_repaint(args.repeat * 4)
        for name, ms in console_measures(rows, args.repeat).items():
            print(f"{rows:>10,} {name:<15} {ms:>11.1f} {bare:>8.1f} {ms / bare:>6.1f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
