"""What the import hands back: the rows read from a file and the report per row and per file."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

STATUSES = ("applied", "proposed", "refused", "invalid", "unchanged")


class ImportRow(BaseModel):
    line: int  # CSV: the line the record starts on; JSON: the line its object starts on
    account: str
    values: dict[str, Any]
    error: str | None = None  # a row that could not even be read (wrong number of cells, not an object...)


class RowReport(BaseModel):
    line: int
    account: str
    status: str  # applied | proposed | refused | invalid | unchanged
    applied: list[str] = Field(default_factory=list)
    proposed: list[str] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    reason: str = ""
    proposal: str | None = None
    unapproved: list[str] = Field(default_factory=list)  # approval fields applied without approval (Allow changes)


class ImportReport(BaseModel):
    behavior: str
    behavior_label: str
    dry_run: bool
    rows: int
    counts: dict[str, int]
    report: list[RowReport]
    written: bool = False  # whether anything was written (False: dry run, or refused as a whole)
    partial: bool = False
    note: str = ""  # what happened to the file as a whole, in the user's words


# one planned change: (the customer row as read, the changed values, the row's report)
Planned = tuple[dict[str, Any], dict[str, Any], RowReport]
