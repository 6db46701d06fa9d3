"""Dialogs: typed results (``ModalScreen[Result | None]``), Escape dismisses with ``None``.

Service calls run in thread workers; a ``ValidationFailed`` becomes an inline error under
each named field, any other refusal a notification. Values from customers are shown as data.

The package: ``base`` (Dialog, FieldError, ConfirmDialog, CommentDialog, HelpDialog), ``forms``
(FormDialog, FieldSpec, parse_date, RejectDialog, NewRequestDialog), ``create_customer``
(CreateCustomerDialog, prepare_create).
"""

from screens.dialogs.base import CommentDialog, ConfirmDialog, Dialog, FieldError, HelpDialog, field_id
from screens.dialogs.create_customer import CreateCustomerDialog, prepare_create
from screens.dialogs.forms import FieldSpec, FormDialog, NewRequestDialog, RejectDialog, parse_date

__all__ = [
    "CommentDialog",
    "ConfirmDialog",
    "CreateCustomerDialog",
    "Dialog",
    "FieldError",
    "FieldSpec",
    "FormDialog",
    "HelpDialog",
    "NewRequestDialog",
    "RejectDialog",
    "field_id",
    "parse_date",
    "prepare_create",
]
