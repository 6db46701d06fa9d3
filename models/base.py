"""Shared pieces of every table: the metadata naming convention and column helpers.

The naming convention must be set before the first table is declared so that Alembic
migrations (including SQLite batch rebuilds) get stable constraint names.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Table, inspect
from sqlmodel import SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a ``table=True`` model (SQLModel's typing does not declare ``__table__``)."""
    table = inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


class LabeledEnum(StrEnum):
    """A status enum whose value is the label users of the ERP products know."""

    @classmethod
    def parse(cls, text: str) -> "LabeledEnum":
        """Accept the label, the member name or a dashed/underscored form, any case."""
        key = text.strip().lower().replace("-", " ").replace("_", " ")
        for member in cls:
            if key in (member.value.lower(), member.name.lower().replace("_", " ")):
                return member
        choices = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown {cls.__name__} {text!r} (one of: {choices})")
