"""The record browser: the one list every area of the console is built on.

A screen subclasses ``BrowserScreen`` and declares only what is its own:

* ``COLUMNS`` (``Column``: key, label, the service's sort name, a width past which a cell is
  cut with ``…``), ``FILTERS`` (the tabs), ``DEFAULT_SORT``;
* ``fetch(q, after, limit, reverse) -> Page`` (thread): one keyset page from a typed service
  call; ``fetch_counts(search) -> {filter: n}``; ``fetch_detail(key)``;
* ``row_key(row)``, ``row_cells(row)`` (``Text`` cells: data is never markup), ``show_detail``;
* its actions, each resolving its record with ``self.target()`` when the key is pressed and
  running the typed service call through ``self.act(key, work)``.

The browser does the rest once for every area: filter tabs with live counts, ``/`` search,
sort by any shown column (``s``/``S`` or a header click), keyset paging on scroll, "N of M",
a bounded window (at most ``WINDOW_PAGES`` pages are held; pages scrolled out are dropped and
read again by their keyset token when scrolled back; ``ctrl+end`` is one query from the
other end), the cursor kept on its record across reloads (or the next one when it left the
filter), stale results dropped by a generation counter, live reloads when the app reports a
change (``data_changed``), a fresh read when the area is shown again, and the narrow layout
(below ``NARROW`` columns the detail pane is a toggle: Enter shows it, Escape hides it).

Services that have no keyset paging (they return one bounded list) set ``LOCAL = True``:
their rows are searched and sorted here, in memory.

The package: ``parts`` (Column, ListQuery, Page, the workers' messages), ``table`` (RecordTable),
``window`` (ListWindow: pages, window, cursor, detail, live rereads), ``screen`` (BrowserScreen:
layout, tabs, search, sort, actions).
"""

from screens.browser.parts import (
    ActionDone,
    Chunk,
    Column,
    CountsLoaded,
    DetailLoaded,
    ListQuery,
    Page,
    PageLoaded,
    cut,
)
from screens.browser.screen import BrowserScreen
from screens.browser.table import RecordTable
from screens.browser.window import ListWindow

__all__ = [
    "ActionDone",
    "BrowserScreen",
    "Chunk",
    "Column",
    "CountsLoaded",
    "DetailLoaded",
    "ListQuery",
    "ListWindow",
    "Page",
    "PageLoaded",
    "RecordTable",
    "cut",
]
