"""The form fields of the public pages, derived from the same pydantic input models the CLI
validates with (so a field added to SignupIn or ProspectIn appears on the page)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

LABELS = {
    "company": "Company name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "E-mail address",
    "user_name": "Preferred user name",
    "phone": "Phone",
    "fax": "Fax",
    "street": "Street",
    "city": "City",
    "zip": "ZIP/postal code",
    "state": "State",
    "county": "County",
    "country": "Country/region",
    "language": "Language",
    "customer_account": "Customer account",
    "comments": "Comments",
    "store_name": "Store name",
    "store_url": "Store address (URL)",
}
HINTS = {
    "user_name": "3-64 characters: letters, digits and . _ @ -",
    "country": "ISO code, e.g. US or DEU",
    "language": "e.g. en-us",
    "customer_account": "only if your company is already our customer",
    "store_url": "http:// or https://",
}
AUTOCOMPLETE = {
    "company": "organization",
    "first_name": "given-name",
    "last_name": "family-name",
    "email": "email",
    "user_name": "username",
    "phone": "tel",
    "fax": "fax tel",
    "street": "street-address",
    "city": "address-level2",
    "zip": "postal-code",
    "state": "address-level1",
    "country": "country",
    "language": "language",
    "store_url": "url",
}
TYPES = {"email": "email", "phone": "tel", "fax": "tel", "store_url": "url"}
MULTILINE = {"comments"}


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    required: bool
    max_length: int | None
    input_type: str
    autocomplete: str
    hint: str
    multiline: bool


def fields_of(model: type[BaseModel]) -> list[FormField]:
    out = []
    for name, info in model.model_fields.items():
        max_length = next((m.max_length for m in info.metadata if getattr(m, "max_length", None)), None)
        out.append(
            FormField(
                name=name,
                label=LABELS.get(name) or info.description or name.replace("_", " ").capitalize(),
                required=info.is_required(),
                max_length=max_length,
                input_type=TYPES.get(name, "text"),
                autocomplete=AUTOCOMPLETE.get(name, "off"),
                hint=HINTS.get(name, ""),
                multiline=name in MULTILINE,
            )
        )
    return out
