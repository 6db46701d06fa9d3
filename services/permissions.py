"""Who may do what. The one permission matrix; the CLI and the console both go through it.

Standard library only (no models): ``services.quick`` uses it before SQLModel is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.errors import PermissionDenied

# The role names (models.core.Role values; a test checks they agree). Plain strings so that
# this module stays standard-library only: the console's quick start imports it.
SUPPORT, APPROVER, ADMIN = "support", "approver", "admin"
STAFF = frozenset({SUPPORT, APPROVER, ADMIN})

# action -> roles allowed to do it, and how to say it in a refusal
PERMISSIONS: dict[str, tuple[frozenset[str], str]] = {
    # sign-up requests (issue 2)
    "signup.view": (STAFF, "view sign-up requests"),
    "signup.submit": (frozenset({SUPPORT, APPROVER}), "submit a sign-up request on behalf of a customer"),
    "signup.resend": (frozenset({SUPPORT, APPROVER}), "resend the verification link"),
    "signup.approve": (frozenset({APPROVER}), "approve sign-up requests"),
    "signup.reject": (frozenset({APPROVER}), "reject sign-up requests"),
    "signup.create": (frozenset({APPROVER}), "create customers from sign-up requests"),
    "customer.view": (STAFF, "view customers"),
    "customer.edit": (frozenset({SUPPORT, APPROVER, ADMIN}), "edit customers"),
    "customer.import": (frozenset({ADMIN}), "import customers"),
    "audit.view": (STAFF, "view the audit trail"),
    "outbox.view": (STAFF, "view the outbox"),
    "outbox.send": (frozenset({ADMIN}), "send or retry e-mail"),
    # administration
    "admin.templates": (frozenset({ADMIN}), "maintain customer account templates"),
    "admin.roles": (frozenset({ADMIN}), "maintain portal user roles"),
    "admin.parameters": (frozenset({ADMIN}), "change parameters"),
    "admin.operators": (frozenset({ADMIN}), "maintain operators"),
    "admin.workflows": (frozenset({ADMIN}), "maintain workflow definitions"),
    "admin.portal_users": (frozenset({ADMIN}), "disable or enable portal users"),
    # approvals through the workflow engine (issue 3)
    "work.view": (STAFF, "view work items"),
    "work.act": (STAFF, "act on work items assigned to them"),
    "user_request.view": (STAFF, "view user requests"),
    "user_request.process": (frozenset({APPROVER, ADMIN}), "process user requests by hand"),
    # proposed customer changes (issue 4)
    "changes.view": (STAFF, "view proposed customer changes"),
    "changes.submit": (frozenset({SUPPORT, APPROVER, ADMIN}), "submit proposed customer changes"),
    "changes.decide": (frozenset({APPROVER}), "approve or reject proposed customer changes"),
    # cases and prospects (issue 5)
    "cases.view": (STAFF, "view customer request cases"),
    "cases.edit": (frozenset({SUPPORT, APPROVER}), "create and update customer request cases"),
    "cases.decide": (frozenset({APPROVER}), "approve or reject customer request cases"),
    "prospects.view": (STAFF, "view prospects, leads and opportunities"),
    "prospects.process": (frozenset({APPROVER}), "qualify leads and close opportunities"),
}


@dataclass(frozen=True)
class Actor:
    """The operator on whose behalf a service runs (plain data, safe to hand to the UI)."""

    user_name: str
    display_name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    profile: str | None = None
    sales_rep: bool = False
    email: str | None = None
    # how the store knows who this is (issue 11, services.identity): the database login
    # (PostgreSQL) or OS login (SQLite), the reason an admin gave to act as someone else,
    # and whether the database is a demo database. None/False for actors made in code.
    login: str | None = None
    reason: str | None = None
    demo: bool = False

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def can(self, action: str) -> bool:
        allowed, _ = PERMISSIONS[action]
        return bool(self.roles & allowed)

    def label(self) -> str:
        roles = ", ".join(sorted(self.roles)) or "no role"
        return f"{self.user_name} ({roles})"


# The sign-up portal and other outside channels act as this system actor.
PORTAL = Actor(user_name="portal", display_name="Customer portal", roles=frozenset())
SYSTEM = Actor(user_name="system", display_name="regdesk", roles=frozenset({ADMIN, APPROVER, SUPPORT}))


def require(actor: Actor, action: str) -> None:
    """Refuse with a message that says who lacks what, and which role would do."""
    allowed, what = PERMISSIONS[action]
    if actor.roles & allowed:
        return
    needed = " or ".join(sorted(allowed))
    raise PermissionDenied(f"{actor.label()} may not {what}: needs role {needed}")
