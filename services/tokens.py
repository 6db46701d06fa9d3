"""Single-use secrets sent by e-mail (verification and activation links).

The raw token exists only in the e-mail; the database keeps its SHA-256, so a leaked
database does not leak working links. Tokens start with ``rdk_`` so delivered bodies can
be scrubbed of them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from models.core import Token
from services.errors import InvalidTransition, NotFound
from services.store import now

TOKEN_PATTERN = re.compile(r"rdk_[A-Za-z0-9_-]{20,}")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.strip().encode("utf-8", "replace")).hexdigest()


def issue(session: Session, purpose: str, entity_type: str, entity_key: str, ttl_hours: int) -> str:
    """Void the record's earlier tokens of this purpose and issue a new one."""
    void(session, purpose, entity_type, entity_key)
    raw = "rdk_" + secrets.token_urlsafe(32)
    current = now(session)
    session.add(
        Token(
            purpose=purpose,
            entity_type=entity_type,
            entity_key=entity_key,
            token_hash=hash_token(raw),
            created_at=current,
            expires_at=current + timedelta(hours=ttl_hours),
        )
    )
    return raw


def void(session: Session, purpose: str, entity_type: str, entity_key: str) -> None:
    session.execute(
        update(Token)
        .where(
            col(Token.purpose) == purpose,
            col(Token.entity_type) == entity_type,
            col(Token.entity_key) == entity_key,
            col(Token.used_at).is_(None),
            col(Token.voided_at).is_(None),
        )
        .values(voided_at=now(session))
    )


def consume(session: Session, purpose: str, raw: str, *, what: str = "link") -> Token:
    """Mark the token used and return it; refuse an unknown, reused, replaced or expired one.

    The use is a conditional update, so two clicks at once cannot both succeed.
    """
    raw = (raw or "").strip()
    if not TOKEN_PATTERN.fullmatch(raw):
        raise NotFound(f"this {what} is not valid: check that the whole link was copied")
    token = session.exec(select(Token).where(Token.token_hash == hash_token(raw), Token.purpose == purpose)).first()
    if token is None:
        raise NotFound(f"this {what} is not known: check that the whole link was copied")
    current = now(session)
    if token.used_at is not None:
        raise InvalidTransition(f"this {what} was already used on {token.used_at:%Y-%m-%d %H:%M} UTC")
    if token.voided_at is not None:
        raise InvalidTransition(f"this {what} was replaced by a newer one: use the link in the latest e-mail")
    if token.expires_at <= current:
        raise InvalidTransition(f"this {what} expired on {token.expires_at:%Y-%m-%d %H:%M} UTC: ask for a new one")
    result = session.execute(
        update(Token).where(col(Token.id) == token.id, col(Token.used_at).is_(None)).values(used_at=current)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult
        raise InvalidTransition(f"this {what} was already used")
    token.used_at = current
    return token


def use(session: Session, token: Token, purpose: str, raw: str, *, what: str = "link") -> Token:
    """Mark ``token`` (read earlier, e.g. by a plan) used: one conditional UPDATE that re-checks
    what ``consume`` checks (not used, not replaced, not expired), so two clicks at once cannot
    both succeed; when it changes nothing the token is read again and refused as ``consume`` does."""
    current = now(session)
    result = session.execute(
        update(Token)
        .where(
            col(Token.id) == token.id,
            col(Token.used_at).is_(None),
            col(Token.voided_at).is_(None),
            col(Token.expires_at) > current,
        )
        .values(used_at=current)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
        session.expire(token)
        return consume(session, purpose, raw, what=what)  # the refusal of the token as it is now
    set_committed_value(token, "used_at", current)
    return token


def scrub(text: str) -> str:
    return TOKEN_PATTERN.sub("[link removed after delivery]", text)
