"""E-mail delivery: the outbox to an SMTP server, once per row as far as SMTP allows, never lost.

``send_pending`` handles one message at a time, each in short transactions:

1. **lease** (one write transaction, immediately before the send): the next due row
   (pending, ``next_attempt_at`` reached, no live lease) gets a fresh lease (``lease_id``,
   ``lease_until`` = now + ``lease_length``) by a conditional UPDATE on the row's lease, so
   two senders never hold one row at once. In the same transaction the message is rendered
   for sending: the Date is now, a single-use link is minted (services/mail.py: only its
   hash is stored, replacing the record's earlier one) and the Message-ID's domain is the
   sender's (fixed at the row's first lease, stable after that).
2. **send** it over the sender's SMTP connection, with a deadline: every socket wait is cut
   so the whole send ends before the lease does (minus a margin). A sender never starts or
   continues a send its lease does not cover, so no other sender can pick the row up while
   this one may still deliver it.
3. **settle** it in its own transaction, only if the lease is still ours: *sent* (the body
   keeps no secret), back to *pending* with exponential backoff and the error, or *dead*.

Only the one message in flight is leased, so a killed sender holds back one row, for one
short lease; the next run picks it up and says so (``SendReport.recovered``). The one case
of a repeat: the connection drops after the message's data went out but before the
server's answer; the server may have accepted it, and the next try sends it again with the
same Message-ID (receivers and the recipient can tell it is the same message).

A server that cannot be reached, times out, drops the connection or answers 421 is not the
message's fault: the due rows stay pending with backoff and the error shown, never dead
for it. A temporary refusal (4xx to MAIL, RCPT or DATA) backs off and counts an attempt;
after ``mail.max_attempts`` the row is dead. A permanent refusal (5xx) makes the row dead
at once, with the server's answer kept, until an admin retries it.

The package, by what it holds:

* ``smtp``   - settings, the connection with its deadline, the server check, the message as sent;
* ``lease``  - lease / render / settle one outbox row (the database side of a send);
* ``sender`` - ``send_pending`` and its ``SendReport``;
* ``admin``  - the outbox as staff see it (links masked), counts, ``retry``.

``from services import delivery; delivery.send_pending(...)`` keeps working for every name in
``__all__``; patch a function where it is looked up (its submodule).
"""

from __future__ import annotations

from services.delivery.admin import OutboxView, counts, list_messages, require_send, retry
from services.delivery.lease import BACKOFF_BASE, BACKOFF_CAP, ENTITY, SENT_MASK, backoff, claim, lease_length
from services.delivery.sender import SendReport, send_pending
from services.delivery.smtp import (
    DELIVERY_FAILED_EXIT,
    NOT_CONFIGURED,
    NotConfigured,
    ServerNotAnswering,
    SmtpSettings,
    build_message,
    check_server,
    smtp_status,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DELIVERY_FAILED_EXIT",
    "ENTITY",
    "NOT_CONFIGURED",
    "SENT_MASK",
    "NotConfigured",
    "OutboxView",
    "SendReport",
    "ServerNotAnswering",
    "SmtpSettings",
    "backoff",
    "build_message",
    "check_server",
    "claim",
    "counts",
    "lease_length",
    "list_messages",
    "require_send",
    "retry",
    "send_pending",
    "smtp_status",
]
