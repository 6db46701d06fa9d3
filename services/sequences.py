"""Number sequences (registration numbers, customer accounts, user requests...).

Each sequence has a Continuous flag (as AX number sequences do), admins change it:

* continuous (gap-free; the default, e.g. customer accounts): the number is taken by an
  UPDATE of the sequence row inside the transaction that stores the record, as the last step
  before its rows are written: the row stays locked until that transaction ends (a short
  one: everything that reads or checks ran before it), and a rollback gives the number back,
  so no number is skipped or used twice;
* not continuous (the default for registration numbers): on PostgreSQL the number is taken
  in its own tiny transaction, so no sign-up waits for another's transaction; a rolled-back
  record leaves a gap. On SQLite the whole database has one write lock, so both kinds are
  taken inside the (short) write transaction and stay gap-free in practice.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session, select

from models.core import NumberSequence
from services import audit
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require
from services.store import writes

NON_CONTINUOUS = frozenset({"signup"})  # registration numbers need no gap-free guarantee

DEFAULT_SEQUENCES: dict[str, tuple[str, int, str]] = {
    "signup": ("REG-", 6, "Customer sign-up requests (registration numbers)"),
    "customer": ("C-", 6, "Customer accounts"),
    "userrequest": ("UR-", 6, "User requests"),
    "case": ("CASE-", 6, "Customer request cases"),
    "sample": ("SMP-", 6, "Sample requests on cases"),
    "prospect": ("PRO-", 6, "B2B partner prospects"),
    "lead": ("LEAD-", 6, "Leads from B2B prospects"),
    "opportunity": ("OPP-", 6, "Opportunities from qualified leads"),
}


def ensure_defaults(session: Session, extra: dict[str, tuple[str, int, str]] | None = None) -> None:
    for code, (prefix, width, description) in {**DEFAULT_SEQUENCES, **(extra or {})}.items():
        if session.get(NumberSequence, code) is None:
            session.add(NumberSequence(code=code, prefix=prefix, width=width, next_value=1, description=description,
                                       continuous=code not in NON_CONTINUOUS))
    session.flush()


def format_number(prefix: str, width: int, value: int) -> str:
    return f"{prefix}{value:0{width}d}"


_TAKE = text("UPDATE numbersequence SET next_value = next_value + 1 WHERE code = :code "
             "RETURNING prefix, width, next_value - 1")


def next_number(session: Session, code: str) -> str:
    """The next number of sequence ``code``. Call it after every check and read, just before
    inserting the rows that carry it (see the module doc for the two kinds)."""
    bind = session.get_bind()
    row = None
    if bind.dialect.name != "sqlite":
        continuous = session.execute(text("SELECT continuous FROM numbersequence WHERE code = :code"),
                                     {"code": code}).scalar()
        if continuous is False:
            # its own tiny transaction: the sequence row is locked for one statement only
            with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                row = conn.execute(_TAKE, {"code": code}).first()
    if row is None:
        row = session.execute(_TAKE, {"code": code}).first()
    if row is None:
        raise NotFound(f"number sequence {code!r} is not set up (run 'regdesk db upgrade' or 'regdesk demo')")
    prefix, width, value = row
    return format_number(prefix, width, value)


def reserve_block(session: Session, code: str, count: int) -> tuple[str, int, int]:
    """Take ``count`` consecutive numbers at once (bulk loads): (prefix, width, first)."""
    row = session.execute(
        text(
            "UPDATE numbersequence SET next_value = next_value + :n WHERE code = :code "
            "RETURNING prefix, width, next_value - :n"
        ),
        {"code": code, "n": count},
    ).first()
    if row is None:
        raise NotFound(f"number sequence {code!r} is not set up")
    return row[0], row[1], row[2]


def list_sequences(session: Session, actor: Actor) -> list[NumberSequence]:
    require(actor, "signup.view")
    return list(session.exec(select(NumberSequence).order_by(NumberSequence.code)).all())


@writes
def configure(session: Session, actor: Actor, code: str, *, prefix: str | None = None,
              width: int | None = None, continuous: bool | None = None) -> NumberSequence:
    """Change the prefix, width or Continuous flag of the numbers still to come (admins; audited)."""
    require(actor, "admin.parameters")
    seq = session.get(NumberSequence, code)
    if seq is None:
        raise NotFound(f"no number sequence {code!r}")
    errors = {}
    if prefix is not None and (len(prefix) > 20 or not prefix.isprintable()):
        errors["prefix"] = "at most 20 printable characters"
    if width is not None and not 1 <= width <= 12:
        errors["width"] = "between 1 and 12 digits"
    if errors:
        raise ValidationFailed(errors)
    before = {"prefix": seq.prefix, "width": seq.width, "continuous": seq.continuous}
    if prefix is not None:
        seq.prefix = prefix
    if width is not None:
        seq.width = width
    if continuous is not None:
        seq.continuous = bool(continuous)
    session.add(seq)
    audit.record(session, actor, "sequence", code, "configured", before=before,
                 after={"prefix": seq.prefix, "width": seq.width, "continuous": seq.continuous})
    return seq
