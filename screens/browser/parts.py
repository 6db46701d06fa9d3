"""The record browser's vocabulary: columns, the list question, pages, and the messages its
workers post back (each carries what it answers, so a stale answer is recognised)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.message import Message


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort: str | None = None  # the service's sort name (None: not sortable, except in LOCAL lists)
    width: int | None = None  # cells wider than this are cut, ending in "…"


@dataclass(frozen=True)
class ListQuery:
    status: str
    search: str
    sort: str
    descending: bool


@dataclass
class Page:
    rows: list[Any]
    after: Any = None  # keyset token to continue in the same direction; None: nothing more that way


@dataclass
class Chunk:
    reverse: bool  # fetched from the other end (display order is the reverse of the fetch order)
    start: Any  # the token it was fetched with
    end: Any  # the token to continue in its direction (None: the end of the list that way)
    keys: list[str] = field(default_factory=list)  # display order


def cut(text: Text, width: int | None) -> Text:
    """A cell no wider than ``width`` cells; a cut one ends in "…"."""
    if width is None or cell_len(text.plain) <= width:
        return text
    out = text.copy()
    out.truncate(width, overflow="ellipsis")
    return out


def fit_tabs(
    tabs: list[tuple[str, str]], width: int, active: int, gutter: int = 2, shortest: int = 4, readable: int = 10
) -> list[str | None]:
    """The filter tabs' labels in a bar ``width`` cells wide: ``tabs`` is each tab's (name, suffix:
    its count, " (12)"), ``gutter`` a tab's padding. All whole when they fit; else the longest
    names are shortened first, one cell at a time, ending in "…" (never below ``shortest`` cells,
    never into another tab's shortened name: "Pending a…", "Pending c…"), the count kept; if even
    that is too wide, the tabs around the ``active`` one that fit (names up to ``readable`` cells)
    are shown and the others hidden (None; their number key and ←/→ still reach them), the outermost
    shown label marked "‹ " / " ›" on a side with hidden tabs. A tab is never cut by the bar's edge,
    nor hidden, with nothing to say so."""
    if width <= 0 or not tabs:
        return [name + suffix for name, suffix in tabs]
    names = [name for name, _ in tabs]

    def short(name: str, cap: int) -> str:
        if cell_len(name) <= cap:
            return name
        return cut(Text(name), cap).plain[:-1].rstrip() + "…"

    def labels(caps: list[int]) -> list[str]:
        return [short(name, cap) + suffix for (name, suffix), cap in zip(tabs, caps)]

    def cells(out: list[str]) -> int:
        return sum(cell_len(label) + gutter for label in out)

    caps = [cell_len(name) for name in names]
    out = labels(caps)
    while cells(out) > width:
        for i in sorted(range(len(caps)), key=lambda i: -caps[i]):
            if caps[i] <= shortest:
                continue
            shorter = short(names[i], caps[i] - 1)
            if any(other.startswith(shorter[:-1]) for j, other in enumerate(names) if j != i):
                continue  # it would no longer tell this tab from another ("Pending…": which one?)
            caps[i] -= 1
            break
        else:
            break
        out = labels(caps)
    if cells(out) <= width:
        whole: list[str | None] = list(out)
        return whole
    # not all of them even that short: fewer tabs, each one readable
    out = labels([min(cell_len(n), max(readable, c)) for n, c in zip(names, caps)])
    active = min(max(active, 0), len(out) - 1)
    first = last = active
    used = cells([out[active]])
    grew = True
    while grew:  # one to the right, one to the left, while they fit
        grew = False
        if last + 1 < len(out) and used + cells([out[last + 1]]) <= width:
            last += 1
            used += cells([out[last]])
            grew = True
        if first > 0 and used + cells([out[first - 1]]) <= width:
            first -= 1
            used += cells([out[first]])
            grew = True

    def marked() -> int:  # the width with a marker on each side that hides tabs
        return used + cell_len(MORE_LEFT) * (first > 0) + cell_len(MORE_RIGHT) * (last < len(out) - 1)

    while marked() > width and last > first:  # make room for the markers: drop the farthest tab
        if last - active >= active - first:
            used -= cells([out[last]])
            last -= 1
        else:
            used -= cells([out[first]])
            first += 1
    if first > 0:
        out[first] = MORE_LEFT + out[first]
    if last < len(out) - 1:
        out[last] = out[last] + MORE_RIGHT
    return [label if first <= i <= last else None for i, label in enumerate(out)]


MORE_LEFT, MORE_RIGHT = "‹ ", " ›"  # tabs hidden on that side of the bar (their keys still reach them)


def tab_id(name: str) -> str:
    return "f-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())


class PageLoaded(Message):
    def __init__(self, generation: int, kind: str, chunk: Chunk, rows: list[Any], keep: str | None) -> None:
        super().__init__()
        self.generation, self.kind, self.chunk, self.rows, self.keep = generation, kind, chunk, rows, keep

    @property
    def page(self) -> Page:  # compatibility: the rows of the page
        return Page(self.rows, self.chunk.end)


class CountsLoaded(Message):
    def __init__(self, counts: dict[str, int], generation: int | None = None) -> None:
        super().__init__()
        self.counts, self.generation = counts, generation


class DetailLoaded(Message):
    def __init__(self, key: str, detail: Any, seq: int = 0) -> None:
        super().__init__()
        self.key, self.detail = key, detail
        self.seq = seq  # which read this is: an older read answering after a newer one is not shown


class ActionDone(Message):
    def __init__(
        self, key: str, message: str, advance: bool = False, keep: str | None = None, latest: int | None = None
    ) -> None:
        super().__init__()
        self.key, self.message, self.advance, self.keep = key, message, advance, keep
        self.latest = latest  # the change counter right after the action committed (None: not read)
