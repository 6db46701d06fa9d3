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
