"""E-mail texts and the outbox.

A message is rendered from a template and added to the outbox in the caller's transaction,
so it exists exactly when the state change that causes it is committed. Delivery (SMTP)
reads the outbox later. Templates have built-in defaults; an admin's version is kept as the
parameter ``mail.template.<key>`` and wins.

Template placeholders are ``$name`` (string.Template): customer text is substituted as data,
never evaluated.

No working secret is ever stored (issue 11). The templates in ``LINK_TEMPLATES`` carry a
single-use link: ``enqueue`` fills ``$link``, ``$token`` and ``$expires`` with *slots*
(``[[link:<nonce>]]``, the nonce being the random part of the row's Message-ID, which no
customer text can know in advance), and the sender (services/delivery.py) mints the token
when it renders the mail for sending, in the same short transaction as its lease on the row.
The database only ever holds the token's SHA-256 (``services.tokens``).
"""

from __future__ import annotations

import json
import re
import uuid
from email.utils import parseaddr
from string import Template
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from models.core import OutboxEmail, OutboxStatus, Parameter
from services import params, tokens
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require
from services.store import now
from services.text import strip_controls

DEFAULT_TEMPLATES: dict[str, tuple[str, str]] = {
    "signup_verify": (
        "Confirm your sign-up request $number",
        "Dear $first_name $last_name,\n\n"
        "we received a request to register $company for the $our_company customer portal.\n"
        "Please confirm your e-mail address by opening this link (valid until $expires):\n\n"
        "  $link\n\n"
        "or enter this code on the sign-up page: $token\n\n"
        "If you did not ask for this, ignore this e-mail.\n",
    ),
    "signup_declined": (
        "Your sign-up request $number",
        "Dear $first_name $last_name,\n\n"
        "thank you for your interest in $our_company. We are unable to accept the sign-up "
        "request for $company.\n\nReason: $reason\n",
    ),
    "portal_logon": (
        "Your logon to the $our_company customer portal",
        "Dear $first_name $last_name,\n\n"
        "a portal user has been created for you.\n\n"
        "  User name: $user_name\n  Portal:    $portal_url\n\n"
        "Set your password with this single-use link (valid until $expires):\n\n  $link\n",
    ),
    # B2B partner onboarding (issue 5): the approval e-mail may use first name, last name,
    # company, e-mail, ZIP, comments, store name and store URL; the decline e-mail only
    # first name, last name and company (DOMAIN.md section 3)
    "prospect_approved": (
        "Welcome to the $our_company B2B partner program",
        "Dear $first_name $last_name,\n\n"
        "your request to become a business partner of $our_company for $company has been approved.\n\n"
        "  Company:    $company\n  E-mail:     $email\n  ZIP:        $zip\n"
        "  Store:      $store_name $store_url\n\n"
        "Your comments: $comments\n\n"
        "You will receive a separate e-mail to sign in to the B2B site as your company's administrator.\n",
    ),
    "prospect_declined": (
        "Your B2B partner request",
        "Dear $first_name $last_name,\n\n"
        "thank you for your interest in $our_company. We are unable to accept $company as a "
        "business partner at this time.\n",
    ),
    # workflow engine (issue 3): a work item assigned by delegation or escalation, and reminders
    "workflow_assigned": (
        "$document: your decision is needed ($step)",
        'Dear $name,\n\n$document is now assigned to you in step "$step" ($reason).\n'
        "Work item: $item\nDecide by: $due\n\nOpen My work in regdesk (F3) or run: regdesk work list --mine\n",
    ),
    "workflow_reminder": (
        "Reminder: $document waits for your decision ($step)",
        'Dear $name,\n\n$document waits for your decision in step "$step". $note\n'
        "Work item: $item\nDecide by: $due\n\nOpen My work in regdesk (F3) or run: regdesk work list --mine\n",
    ),
}


def template_keys() -> list[str]:
    return sorted(DEFAULT_TEMPLATES)


def get_template(session: Session, key: str) -> tuple[str, str]:
    if key not in DEFAULT_TEMPLATES:
        raise NotFound(f"no e-mail template {key!r} (one of: {', '.join(template_keys())})")
    row = session.get(Parameter, f"mail.template.{key}")
    if row is None:
        return DEFAULT_TEMPLATES[key]
    stored = json.loads(row.value)
    return stored["subject"], stored["body"]


def set_template(session: Session, actor: Actor, key: str, subject: str, body: str) -> None:
    require(actor, "admin.parameters")
    old_subject, old_body = get_template(session, key)
    errors = {}
    for name, text in (("subject", subject), ("body", body)):
        try:
            Template(text).substitute({k: "" for k in Template(text).get_identifiers()})
        except (ValueError, KeyError) as exc:
            errors[name] = f"bad placeholder: {exc}"
    if not subject.strip() or "\n" in subject:
        errors["subject"] = "one non-empty line"
    if errors:
        raise ValidationFailed(errors)
    from services import audit

    row = session.get(Parameter, f"mail.template.{key}") or Parameter(
        key=f"mail.template.{key}", value="", updated_at=now(session)
    )
    row.value = json.dumps({"subject": subject, "body": body})
    row.updated_at = now(session)
    row.updated_by = actor.user_name
    session.add(row)
    audit.record(
        session,
        actor,
        "mail_template",
        key,
        "changed",
        before={"subject": old_subject, "body": old_body},
        after={"subject": subject, "body": body},
    )


def _stored(session: Session, keys: list[str]) -> dict[str, Any]:
    """The stored values (decoded) of the parameters ``keys`` that have a row, in one SELECT."""
    return {k: json.loads(v) for k, v in session.execute(_STORED, {"keys": keys}).all()}


_STORED = select(col(Parameter.key), col(Parameter.value)).where(
    col(Parameter.key).in_(bindparam("keys", expanding=True))
)


def render(
    session: Session, key: str, context: dict[str, Any], *, stored: dict[str, Any] | None = None
) -> tuple[str, str]:
    """``stored``: the template's and company.name's stored values read already (``_stored``)."""
    if stored is None:
        subject, body = get_template(session, key)
        company = params.get(session, "company.name")
    else:
        if key not in DEFAULT_TEMPLATES:
            get_template(session, key)  # raises its NotFound
        kept = stored.get(f"mail.template.{key}")
        subject, body = DEFAULT_TEMPLATES[key] if kept is None else (kept["subject"], kept["body"])
        company = stored.get("company.name", params.spec_of("company.name").default)
    values = {
        "our_company": company,
        **{k: "" if v is None else str(v) for k, v in context.items()},
    }
    subject = strip_controls(Template(subject).safe_substitute(values))
    return subject, Template(body).safe_substitute(values)


# templates whose mail carries a single-use link, minted when the mail is sent
LINK_TEMPLATES = frozenset({"signup_verify", "portal_logon"})
SECRET_SLOTS = ("link", "token", "expires")
SLOT_PATTERN = re.compile(r"\[\[(link|token|expires):([0-9a-f]{32})\]\]")
MESSAGE_ID_PATTERN = re.compile(r"^<([0-9a-f]{32})@([^>]*)>$")
SLOT_MASKS = {"link": "[link made when sent]", "token": "[code made when sent]", "expires": "[set when sent]"}


def slot(name: str, nonce: str) -> str:
    return f"[[{name}:{nonce}]]"


def nonce_of(message_id: str) -> str | None:
    match = MESSAGE_ID_PATTERN.match(message_id or "")
    return match.group(1) if match else None


def fill_slots(body: str, nonce: str | None, values: dict[str, str]) -> str:
    """The body with this row's slots replaced by ``values`` (missing names: left as they are)."""
    if not nonce:
        return body
    return SLOT_PATTERN.sub(lambda m: values.get(m.group(1), m.group(0)) if m.group(2) == nonce else m.group(0), body)


def has_slots(body: str, nonce: str | None) -> bool:
    return bool(nonce) and any(m.group(2) == nonce for m in SLOT_PATTERN.finditer(body))


def mask_slots(body: str) -> str:
    """For staff views: slots in words (the link does not exist until the mail is sent)."""
    return SLOT_PATTERN.sub(lambda m: SLOT_MASKS[m.group(1)], body)


def domain_of(sender: str) -> str:
    """The domain of a From address (``regdesk <no-reply@example.com>`` -> ``example.com``)."""
    address = parseaddr(sender or "")[1]
    domain = address.rpartition("@")[2].strip().lower() if "@" in address else ""
    return re.sub(r"[^a-z0-9.-]", "", domain) or "regdesk.invalid"


def new_message_id(nonce: str, sender: str) -> str:
    return f"<{nonce}@{domain_of(sender)}>"


def enqueue(
    session: Session,
    recipient: str,
    template: str,
    context: dict[str, Any],
    *,
    entity_type: str = "",
    entity_key: str = "",
) -> OutboxEmail:
    """Render ``template`` into a new outbox row (in the caller's transaction).

    For ``LINK_TEMPLATES`` the link, code and expiry are slots filled at send time (passing
    them is a programming error); token-like text in the context is masked, never stored.
    """
    for key in SECRET_SLOTS:
        if template in LINK_TEMPLATES and key in context:
            raise ValueError(f"mail context {key!r} is made when the mail is sent: do not pass it")
    # whatever looks like a token (a pasted link in customer text) is not stored in a mail
    context = {k: tokens.scrub(v) if isinstance(v, str) else v for k, v in context.items()}
    nonce = uuid.uuid4().hex
    if template in LINK_TEMPLATES:
        context = {**context, **{name: slot(name, nonce) for name in SECRET_SLOTS}}
    # the template, company.name and mail.from in one statement (not one per key)
    stored = _stored(session, [f"mail.template.{template}", "company.name", "mail.from"])
    subject, body = render(session, template, context, stored=stored)
    message = OutboxEmail(
        created_at=now(session),
        recipient=recipient,
        subject=subject[:300],
        body=body,
        template=template,
        entity_type=entity_type,
        entity_key=entity_key,
        status=OutboxStatus.PENDING,
        message_id=new_message_id(nonce, stored.get("mail.from", params.spec_of("mail.from").default)),
        next_attempt_at=now(session),
    )
    session.add(message)
    return message
