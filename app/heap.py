"""The garbage collector in the long-running processes (console, ``regdesk serve`` workers).

Python's full collection (generation 2) walks every tracked object, and after start-up most of
them are the modules, classes, compiled statements and caches that live as long as the process.
A full collection that falls into a service call stalls it for the whole walk: ~150 ms for a
started regdesk process on a loaded 2-core machine, and several seconds in a process forked
from a parent with that heap, where the walk also copies every inherited page (copy on write):
20 forked writers collecting at once took 4.5 s each (0.4 s with the parent's heap frozen;
bench/team_load.py, the PostgreSQL create p99 of issue 9).

``freeze_startup_heap`` moves what exists once the process is up into the permanent
generation: later collections walk only what was made since. The console does this itself at
start (app.console, no collection first: it would fall into the first frame) and again when idle
(app.tui)."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then keep everything alive now out of later collections; returns how many
    objects were frozen. Call it when start-up is done (modules imported, the app built)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
