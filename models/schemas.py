"""Input schemas (validated, non-table models). Table models do not validate on construction."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# Far beyond any field's limit: refused before cleaning, which costs time in proportion
MAX_RAW_TEXT = 100_000


def _too_long(value: object) -> None:
    if isinstance(value, str) and len(value) > MAX_RAW_TEXT:
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError("text_far_too_long", "far too long ({length} characters)", {"length": len(value)})


def _clean_line(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value) if not (isinstance(value, int) and value.bit_length() > 1000) else "9" * 1000
    _too_long(value)
    if isinstance(value, str):
        from services.text import clean  # services.text is stdlib-only

        return clean(value)
    return value


def _clean_multi(value: object) -> object:
    if value is None:
        return ""
    _too_long(value)
    if isinstance(value, str):
        from services.text import clean

        return clean(value, multiline=True)
    return value


Line = Annotated[str, BeforeValidator(_clean_line)]  # one line of untrusted text, controls stripped
Multi = Annotated[str, BeforeValidator(_clean_multi)]  # several lines (newlines and tabs kept)


class SignupIn(BaseModel):
    """What the portal's sign-up page sends (``regdesk signup schema`` prints it as JSON Schema)."""

    model_config = ConfigDict(extra="forbid", title="regdesk sign-up request")

    company: Line = Field(min_length=1, max_length=200, description="Company name")
    first_name: Line = Field(min_length=1, max_length=80, description="Contact first name")
    last_name: Line = Field(min_length=1, max_length=80, description="Contact last name")
    email: Line = Field(min_length=3, max_length=254, description="Contact e-mail address")
    user_name: Line = Field(
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
        description="Preferred portal logon: letters, digits, . _ @ -",
    )
    phone: Line = Field(default="", max_length=40, pattern=r"^[0-9 +()./xX-]*$", description="Phone number")
    fax: Line = Field(default="", max_length=40, pattern=r"^[0-9 +()./xX-]*$", description="Fax number")
    street: Line = Field(default="", max_length=200)
    city: Line = Field(default="", max_length=80)
    zip: Line = Field(default="", max_length=20, pattern=r"^[A-Za-z0-9 -]*$", description="ZIP/postal code")
    state: Line = Field(default="", max_length=40)
    county: Line = Field(default="", max_length=40)
    country: Line = Field(
        min_length=2, max_length=3, pattern=r"^[A-Za-z]{2,3}$", description="Country/region (ISO 3166 code)"
    )
    language: Line = Field(
        default="en-us",
        max_length=10,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="Language, e.g. en-us",
    )
    customer_account: Line = Field(
        default="", max_length=20, description="Existing customer account, if the company is a customer already"
    )
