"""The Textual console: one app, a mode per top-level area, built by a factory for tests.

Areas are registered in ``AREAS`` (mode name, key, title, "module:Screen class"); their
screens are imported only when first shown, so start-up pays only for the first area.
Each area gets its key (shown in the help), a "Go to <area>" command in the palette, and
its title in the header. A screen's own bindings with a tooltip become palette commands
too, and its ``HELP`` is shown with F1.
"""

from __future__ import annotations

import gc
import importlib
import os
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding
from textual.content import Content
from textual.message import Message

from screens.console_app import ConsoleApp
from screens.textual_compat import active_app, mark_screen_styled, stylesheet_untouched

if TYPE_CHECKING:  # importing the models costs start-up time; the store has them loaded anyway
    from textual.screen import Screen

    from services.permissions import Actor
    from services.quick import LightView

T = TypeVar("T")


@dataclass(frozen=True)
class Area:
    mode: str
    key: str
    title: str
    screen: str  # "module.path:ClassName"


AREAS: list[Area] = [
    Area("registration", "f2", "Registration", "screens.registration:RegistrationScreen"),
    Area("mywork", "f3", "My work", "screens.my_work:MyWorkScreen"),
    Area("userrequests", "f4", "User requests", "screens.user_requests:UserRequestsScreen"),
    Area("outbox", "f8", "Outbox", "screens.outbox:OutboxScreen"),
    Area("cases", "f7", "Cases", "screens.cases:CasesScreen"),
    Area("prospects", "f11", "Prospects", "screens.prospects:ProspectsScreen"),
    Area("workflows", "f9", "Workflows", "screens.workflows:WorkflowsScreen"),
    Area("customers", "f6", "Customers", "screens.customers:CustomersScreen"),
    Area("changes", "f10", "Changes", "screens.changes:ChangesScreen"),
    Area("settings", "f12", "Settings", "screens.settings:SettingsScreen"),
]


class WorkflowTicked(Message):
    """The periodic workflow tick finished: its ``report``, or the ``error`` that stopped it."""

    def __init__(self, report: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.report, self.error = report, error


class DataChanged(Message):
    """The change counter moved (anyone: another console, the CLI, cron): the new value and its events."""

    def __init__(self, latest: int, events: list[Any], counts: dict[str, int] | None) -> None:
        super().__init__()
        self.latest, self.events, self.counts = latest, events, counts


class StoreOpened(Message):
    """Fast start: the background worker has opened the store (``ok``) or failed (``app.startup_error``)."""

    def __init__(self, ok: bool) -> None:
        super().__init__()
        self.ok = ok


def _loader(path: str) -> Callable[[], Any]:
    def load():
        module, _, name = path.partition(":")
        screen = getattr(importlib.import_module(module), name)()
        app = active_app.get(None)
        if app is not None and stylesheet_untouched(app):
            # start-up: the stylesheet was parsed with the current variables and nothing has
            # invalidated it since, so the new mode's screen is already current; without this
            # Textual reparses and reapplies the whole stylesheet for it (twice the CSS work
            # of the first frame). A later theme change still refreshes every screen.
            mark_screen_styled(screen)
        return screen

    return load


class RegdeskApp(ConsoleApp):
    """Back-office console. Screens call services through ``call`` (never a session of their own)."""

    TITLE = "regdesk"
    CSS_PATH = "../screens/regdesk.tcss"
    MODES = {area.mode: _loader(area.screen) for area in AREAS}
    DEFAULT_MODE = "registration"
    TICK_SECONDS = 60.0  # workflow tick (time limits, escalations, reminders) while the console is open
    LIVE_SECONDS = 1.0  # the change counter is read this often (PostgreSQL NOTIFY wakes it sooner)
    WATCH_SECONDS = 0.1  # SQLite: the database file is looked at this often (os.stat; the counter read on a change)
    BINDINGS = [
        *[
            Binding(
                area.key,
                f"area('{area.mode}')",
                area.title,
                id=f"area.{area.mode}",
                tooltip=f"Go to {area.title}",
                show=False,
            )
            for area in AREAS
        ],
        Binding("f1", "help", "Help", id="app.help", tooltip="Help for this screen"),
        Binding("question_mark", "help", "Help", id="app.help2", tooltip="Help for this screen", show=False),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Leave regdesk", priority=True),
    ]

    def __init__(
        self,
        store: Any,
        actor: Actor,
        *,
        view: LightView | None = None,
        open_store: Callable[[], tuple[Any, Actor]] | None = None,
        **kwargs: Any,
    ) -> None:
        """``store`` and ``actor`` as resolved; or (fast start) ``store=None``, the actor read by
        ``services.quick``, its prefetched first ``view``, and ``open_store`` returning the real
        store and actor, called in a thread worker once the list is painted."""
        super().__init__(**kwargs)
        if store is None and open_store is None:
            raise ValueError("make_app needs a store or open_store")
        self.store = store
        self.actor = actor
        self.first_view = view
        self.startup_error: BaseException | None = None  # open_store failed: run_console reports it
        self._open_store = open_store if store is None else None
        self._store_ready = threading.Event()
        if store is not None:
            self._store_ready.set()
        self.sub_title = _operator_label(actor)
        self.last_change: int | None = None  # the change counter the open lists reflect
        self.header_counts: dict[str, int] = {}
        self._listener: Any = None
        self._live_wake = threading.Event()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a service as the acting operator, in its own session (call from a thread worker).

        On a fast start the store is still being opened: this waits for it (thread workers only)."""
        self._store_ready.wait()
        if self.store is None:
            from services.errors import RegdeskError

            raise RegdeskError("the database could not be opened; the console is closing")
        reason = getattr(self.actor, "reason", None)
        if not reason:
            return self.store.call(fn, self.actor, *args, **kwargs)
        # an admin acting for a named reason: bulk (Core) audit rows read it from this context
        # variable, and a worker thread starts with none (services.identity.current_reason)
        from services.identity import current_reason

        token = current_reason.set(reason)
        try:
            return self.store.call(fn, self.actor, *args, **kwargs)
        finally:
            current_reason.reset(token)

    def smtp_settings(self) -> dict[str, Any]:
        """The SMTP settings as the CLI resolves them (config file, REGDESK_SMTP_*), read on each
        call. Screens ask the app for settings; they never import ``app`` (layers contract)."""
        from app.settings import resolve

        return resolve().smtp

    def wait_for_store(self) -> bool:
        """Block until the store is open (True) or will not be (False: it failed, or the app closed
        first); call from a thread worker only."""
        self._store_ready.wait()
        return self.store is not None

    def take_first_view(self) -> LightView | None:
        """The prefetched first view of the Registration list, once (None: load it through the services)."""
        view, self.first_view = self.first_view, None
        return view

    # ------------------------------------------------------------------ fast start: the store in the background

    def on_mount(self) -> None:
        self._collect_when_idle()
        if self._open_store is not None:
            # normally opened as soon as the list is painted; this is the fallback
            self.set_timer(1.0, self._start_opening_store)
        else:
            self._start_ticking()

    def _start_opening_store(self) -> None:
        opener, self._open_store = self._open_store, None
        if opener is not None:
            self.run_worker(
                partial(self._open_store_in_thread, opener),
                name="open store",
                group="app.store",
                thread=True,
                exit_on_error=False,
            )

    def _open_store_in_thread(self, opener: Callable[[], tuple[Any, Actor]]) -> None:
        try:
            store, actor = opener()
        except Exception as exc:  # refused (schema, operator disabled meanwhile...) or the database failed
            self.startup_error = exc
            self._store_ready.set()
            self.post_message(StoreOpened(ok=False))  # thread-safe, never blocks (even while exiting)
            return
        self.store, self.actor = store, actor
        self._store_ready.set()
        self.post_message(StoreOpened(ok=True))

    def on_unmount(self) -> None:
        self._restore_gc()
        # closing before the store was opened (its worker cancelled, or never started):
        # release the thread workers waiting in ``call`` so the app can finish
        self._store_ready.set()

    # ------------------------------------------------------------------ garbage collection while idle

    GC_IDLE_SECONDS = 1.0  # no key or mouse for this long: a full collection that is coming runs now
    GC_EARLY = 3  # ... once this many middle-generation collections happened since the last full one
    # no input for this long: what idle collections froze is unfrozen and collected again (see
    # ``_maybe_collect``); the whole heap, a longer pass, so only in a longer pause
    GC_DEEP_IDLE_SECONDS = 10.0
    GC_NEVER = 1 << 30  # the oldest generation's threshold while the console runs: never by itself
    _last_input = 0.0
    _gc_threshold: tuple[int, int, int] | None = None
    _busy_frozen = False  # survivors of idle collections were frozen since the last deep one

    def _collect_when_idle(self) -> None:
        """Full (oldest-generation) collections scan every live object that is not frozen: 50-180 ms of
        CPU with Textual's render caches in the old generation, and the collector ran one every second
        or two while a key was held down (bench/console_bench.py: the longest event-loop stalls while
        scrolling, 0.4-0.9 s at load ~9, were all full collections). So the collector never starts one
        by itself while the console runs (``GC_NEVER`` as the oldest generation's threshold, given back
        at unmount; the young generations as before, 2-9 ms each); ``_maybe_collect`` runs them:

        * idle (no key for ``GC_IDLE_SECONDS``, ``GC_EARLY`` middle passes since the last, no list
          waiting for a page it asked for): a full one, whose survivors are then frozen, so the next
          scans only what came after (each one scanned every object since start-up's freeze again:
          a 50 ms pass at 1k requests, and a key pressed just then waited for it);
        * a longer pause (``GC_DEEP_IDLE_SECONDS``) after such freezes: all of it unfrozen,
          collected and frozen again (a frozen object that became cyclic garbage since, e.g. a
          closed screen's widgets, is reclaimed; nothing frozen leaks past a pause);
        * during input: none (the young generations only). Deferring them all once let cyclic garbage
          pile up (480k objects, 0.7-1.6 s for the one that came): every line drawn was such garbage
          then; it is freed by reference counting now (``_maybe_collect``)."""
        self._last_input = time.monotonic()
        if self._gc_threshold is None:
            self._gc_threshold = gc.get_threshold()
            young, middle, _ = self._gc_threshold
            gc.set_threshold(young, middle, self.GC_NEVER)
        self.set_interval(self.GC_IDLE_SECONDS / 2, self._maybe_collect, name="idle gc")

    def _restore_gc(self) -> None:
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None

    _settled_frozen = False

    def _maybe_collect(self) -> None:
        quiet_for = time.monotonic() - self._last_input
        idle = quiet_for >= self.GC_IDLE_SECONDS
        if idle and any(getattr(screen, "awaiting_rows", False) for screen in self.screen_stack):
            # not idle: the operator waits for the page a key asked for (a common word's first page
            # at 1M requests on PostgreSQL takes over a second); a full collection started now held
            # back that page's paint by its own time (bench/console_bench.py "search (page)")
            return
        passes = gc.get_count()[2]
        if idle and not self._settled_frozen and self.store is not None and self.last_change is not None:
            # settled (store open, lists read, the Create dialog composed): what lives now lives as long
            # as the console, so it leaves the collector's passes, as start-up's modules did
            # (app/console.py); later full collections scan only what came after
            self._settled_frozen = True
            gc.collect()
            gc.freeze()
        elif self._busy_frozen and quiet_for >= self.GC_DEEP_IDLE_SECONDS:
            self._busy_frozen = False
            gc.unfreeze()
            gc.collect()
            gc.freeze()
        elif idle and passes >= self.GC_EARLY:
            gc.collect()
            gc.freeze()  # the next idle collection scans only what comes after
            self._busy_frozen = True
        # during input: none. A full collection over the objects since the last freeze ran here after
        # GC_BUSY middle passes (30-70 ms of CPU each while scrolling) because cyclic garbage piled up
        # meanwhile; that garbage was every drawn line (Textual's Strip.divide cached [self] in the
        # strip), now freed by reference counting (screens/textual_compat.py strips_freed_by_refcount):
        # 30 PageDown and 400 Down leave ~1k cyclic objects, not 120k, and wait for the next idle moment

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)):
            self._last_input = time.monotonic()
        await super().on_event(event)  # ConsoleApp: keys typed while a dialog opens go to it

    def on_store_opened(self, event: StoreOpened) -> None:
        if event.ok:
            self.sub_title = _operator_label(self.actor)
            self._start_ticking()
        else:
            self.exit(return_code=1)  # run_console raises startup_error: the CLI prints it with its exit code

    # ------------------------------------------------------------------ workflow tick, app-wide

    def _start_ticking(self) -> None:
        """Once the store is open: the workflow tick every ``TICK_SECONDS`` (besides cron's), and live data."""
        self.set_interval(self.TICK_SECONDS, self.action_workflow_tick, name="workflow tick")
        self.set_interval(self.LIVE_SECONDS, self._poll_changes, name="live data")
        self._poll_changes()
        url = str(getattr(self.store, "url", ""))
        if url.startswith("postgresql"):
            threading.Thread(target=self._listen, args=(url,), name="regdesk LISTEN", daemon=True).start()
        elif url.startswith("sqlite"):
            from services.changefeed import FileWatch
            from services.store import sqlite_file

            path = sqlite_file(url)
            self._file_watch = FileWatch(str(path) if path is not None else None)
            if self._file_watch.watching:
                self.set_interval(self.WATCH_SECONDS, self._watch_file, name="live data (file)")

    _file_watch: Any = None

    def _watch_file(self) -> None:
        """SQLite: a commit by anyone touched the file: read the change counter now, not at the next poll."""
        if self._file_watch is not None and self._file_watch.changed():
            self._poll_changes()

    # ------------------------------------------------------------------ live data across operators

    def _listen(self, url: str) -> None:
        """PostgreSQL: a LISTEN connection of its own; a NOTIFY (sent at commit by services.audit.record)
        reads the change counter at once instead of at the next poll."""
        from services.changefeed import Listener

        listener = self._listener = Listener(url)
        try:
            while self.is_running and listener.listening:
                if listener.wait(5.0) and self.is_running:
                    self.call_from_thread(self._poll_changes)
        except Exception:
            pass
        finally:
            listener.close()

    def _poll_changes(self) -> None:
        self.run_worker(
            self._read_changes, name="live data", group="app.live", thread=True, exclusive=False, exit_on_error=False
        )

    _reading = False

    def _read_changes(self) -> None:
        """Thread: the change counter (one index probe); when it moved, what changed and the header counts."""
        if self._reading or not self.wait_for_store():
            return
        self._reading = True
        try:
            from services import changefeed

            latest = self.call(changefeed.latest_change)
            previous = self.last_change
            if previous is not None and latest == previous:
                return
            events = self.call(changefeed.changes_since, previous, limit=200) if previous is not None else []
            counts = self._read_header_counts()
            self.post_message(DataChanged(latest, events, counts))
        except Exception:
            return  # the next poll tries again; a database that went away shows in the lists' own errors
        finally:
            self._reading = False

    def _read_header_counts(self) -> dict[str, int] | None:
        from services import signup, workflow

        counts: dict[str, int] = {}
        if self.actor.can("signup.view"):
            counts["verified"] = self.call(signup.count_by_status).get("Verified by user", 0)
        if self.actor.can("work.view"):  # an index count (services.workflow.count_waiting), not a list
            counts["waiting"] = self.call(workflow.count_waiting)
        return counts

    def on_data_changed(self, event: DataChanged) -> None:
        first = self.last_change is None
        self.last_change = max(event.latest, self.last_change or 0)
        if event.counts is not None:
            self.header_counts = event.counts
            self.sub_title = _operator_label(self.actor, event.counts)
        verified = [e.entity_key for e in event.events if e.entity_type == "signup" and e.status == "Verified by user"]
        if verified:
            shown = ", ".join(verified[:3]) + (f" and {len(verified) - 3} more" if len(verified) > 3 else "")
            self.notify(
                f"Verified by the customer: {shown}",
                title="Registration",
                severity="information",
                timeout=4,
                markup=False,
            )
        if first:
            return
        # only what is on screen is read again (the top screen, or the list under an open dialog)
        for screen in reversed(self.screen_stack):
            changed = getattr(screen, "data_changed", None)
            if changed is not None:
                changed(event)  # the screen may skip a reread of only its own action
            elif callable(getattr(screen, "reload", None)) and not screen.is_modal:
                screen.reload()
            if not screen.is_modal:
                break

    def action_workflow_tick(self) -> None:
        """Apply time limits, escalations and reminders now, in a thread worker (never on the UI thread)."""
        self.run_worker(
            self._tick_in_thread,
            name="workflow tick",
            group="app.tick",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _tick_in_thread(self) -> None:
        if not self.wait_for_store():
            return  # the console is closing
        from services import workflow

        try:
            report = self.call(workflow.tick)  # any staff may; its changes are recorded as the system's
        except Exception as exc:
            self.post_message(WorkflowTicked(error=exc))
            return
        self.post_message(WorkflowTicked(report=report))

    def on_workflow_ticked(self, event: WorkflowTicked) -> None:
        if event.error is not None:
            from screens.widgets import error_text

            self.notify(error_text(event.error), title="Workflow tick", severity="error", markup=False, timeout=8)
            return
        r = event.report
        if r is not None and (r.escalations or r.automatic_approvals or r.automatic_rejections):
            self.notify(
                f"{r.escalations} escalation(s), {r.automatic_approvals + r.automatic_rejections} automatic "
                "decision(s) after time limits",
                title="Workflow",
                markup=False,
            )

    # ------------------------------------------------------------------ areas

    def format_title(self, title: str, sub_title: str) -> Content:
        """ "regdesk › Area — operator": the area is the screen's title."""
        parts: list[Any] = [("regdesk", "bold")]
        if title and title != self.title:
            parts += [" › ", (title, "bold")]
        if sub_title:
            parts += [("  —  ", "dim"), (sub_title, "dim")]
        return Content.assemble(*parts)

    def action_area(self, mode: str) -> None:
        if mode == self.current_mode:
            return
        try:
            known = bool(self._screen_stacks.get(mode))
            self.switch_mode(mode)
            screen = self.screen
            reload = getattr(screen, "reload", None)
            if known and not hasattr(screen, "data_changed") and callable(reload):
                reload()  # back to an area: fresh data (record browsers reread on resume themselves)
        except Exception as exc:  # a screen that fails to load: a message, not a crash
            self.notify(f"cannot open {mode}: {exc.__class__.__name__}: {exc}", severity="error", markup=False)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for area in AREAS:
            yield SystemCommand(
                f"Go to {area.title}", f"Open the {area.title} area ({area.key})", partial(self.action_area, area.mode)
            )
        seen: set[str] = set()
        for binding in _screen_bindings(screen):
            if not binding.tooltip or binding.action in seen:
                continue
            seen.add(binding.action)
            key = binding.key_display or binding.key.split(",")[0]
            yield SystemCommand(
                f"{binding.description}", f"{binding.tooltip} ({key})", partial(self.run_action, binding.action, screen)
            )
        yield SystemCommand("Help", "Help for this screen (F1)", self.action_help)

    # ------------------------------------------------------------------ help

    def action_help(self) -> None:
        from screens.dialogs import HelpDialog

        screen = self.screen
        if isinstance(screen, HelpDialog):
            return
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        for binding in [*_screen_bindings(screen), *self.BINDINGS]:
            if not isinstance(binding, Binding) or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append(
                (
                    binding.key.replace("question_mark", "?").replace("slash", "/"),
                    binding.tooltip or binding.description,
                )
            )
        areas = "\n".join(f"* **{a.key}** {a.title}" for a in AREAS)
        text = (getattr(screen, "HELP", None) or "No help for this screen.") + f"\n\n### Areas\n{areas}\n"
        self.push_screen(HelpDialog(screen.title or self.title, text, keys))

    # ------------------------------------------------------------------ start-up benchmark hook

    def on_first_list_painted(self) -> None:
        self._start_opening_store()
        target = os.environ.get("REGDESK_BENCH_PAINTED")
        if target:
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(repr(time.time()))
            self.exit()


def _screen_bindings(screen: Any) -> list[Binding]:
    return [b for b in getattr(screen, "BINDINGS", []) if isinstance(b, Binding)]


def _operator_label(actor: Actor, counts: dict[str, int] | None = None) -> str:
    label = f"{actor.display_name} ({', '.join(sorted(actor.roles))})"
    if actor.reason:  # an admin acting as this operator (services.identity): say so, and why
        label += f"  ·  acting: {actor.reason}"
    if actor.demo:
        label += "  ·  DEMO DATABASE"
    if counts:
        if "waiting" in counts:
            label += f"  ·  My work {counts['waiting']:,}"
        if "verified" in counts:
            label += f"  ·  Verified {counts['verified']:,}"
    return label


def make_app(
    store: Any,
    actor: Actor,
    *,
    view: LightView | None = None,
    open_store: Callable[[], tuple[Any, Actor]] | None = None,
) -> RegdeskApp:
    return RegdeskApp(store, actor, view=view, open_store=open_store)
