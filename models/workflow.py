"""The workflow engine (issue 3): definitions and their steps, running instances, work items.

A definition is immutable once imported: a new import of the same (doc type, name) is a new
version with its own step rows, so an instance keeps following the version it started with.
One version per (doc type, name) may be active (a partial unique index enforces it); several
named definitions may be active for one doc type, tried in ``priority`` then name order.
Work items are fixed to one operator each when a step starts (a role is expanded to its
active operators at that moment), so later changes of roles or definitions move no work.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.base import LabeledEnum


class StepKind(LabeledEnum):
    APPROVAL = "approval"
    AUTOMATED = "automated"


class CompletionPolicy(LabeledEnum):
    ANY = "any"  # the first decision decides (D365 "single approver")
    ALL = "all"  # every assignee approves; one rejection rejects
    MAJORITY = "majority"  # more than half approve; rejected once a majority is out of reach


class FinalAction(LabeledEnum):
    NONE = "none"
    APPROVE = "approve"
    REJECT = "reject"


class InstanceStatus(LabeledEnum):
    RUNNING = "running"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGE_REQUESTED = "change_requested"
    RECALLED = "recalled"


class ItemStatus(LabeledEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGE_REQUESTED = "change_requested"
    DELEGATED = "delegated"
    ESCALATED = "escalated"
    CANCELED = "canceled"


class WorkflowDefinition(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    doc_type: str = Field(max_length=40)
    name: str = Field(max_length=40)
    version: int = Field(default=1)
    description: str = Field(default="", max_length=500)
    condition: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    priority: int = Field(default=100)
    active: bool = Field(default=False)
    source: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # the TOML imported
    created_at: datetime
    created_by: str = Field(max_length=64)
    activated_at: datetime | None = None
    activated_by: str | None = Field(default=None, max_length=64)
    row_version: int = Field(default=1)

    __table_args__ = (
        UniqueConstraint("doc_type", "name", "version"),
        Index(
            "uq_workflowdefinition_active",
            "doc_type",
            "name",
            unique=True,
            sqlite_where=text("active = 1"),
            postgresql_where=text("active"),
        ),
    )


class WorkflowStep(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    definition_id: int = Field(foreign_key="workflowdefinition.id", index=True)
    sequence: int
    name: str = Field(max_length=60)
    kind: str = Field(default=StepKind.APPROVAL, max_length=12)
    assignee_kind: str = Field(default="", max_length=10)  # role | operator ("" for automated steps)
    assignee: str = Field(default="", max_length=64)
    policy: str = Field(default=CompletionPolicy.ANY, max_length=10)
    condition: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    time_limit_hours: int | None = None
    reminder_hours: int | None = None
    escalation: str = Field(
        default="[]", sa_column=Column(Text, nullable=False, server_default="[]")
    )  # JSON ["role:admin"]
    final_action: str = Field(default=FinalAction.NONE, max_length=10)
    action: str = Field(default="", max_length=60)  # automated step: the document type's handler name

    __table_args__ = (UniqueConstraint("definition_id", "sequence"),)


class WorkflowInstance(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    doc_type: str = Field(max_length=40)
    doc_key: str = Field(max_length=64)
    definition_id: int = Field(foreign_key="workflowdefinition.id", index=True)
    status: str = Field(default=InstanceStatus.RUNNING, max_length=20)
    current_step: int | None = None  # sequence of the step being worked on
    activation: int = Field(default=0)  # bumps each time a step (re)starts; work items carry it
    submitter: str = Field(max_length=64)
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    version: int = Field(default=1)

    __table_args__ = (
        Index("ix_workflowinstance_doc", "doc_type", "doc_key", "id"),
        Index("ix_workflowinstance_submitter", "submitter", "status"),  # My work: my own submissions
        # one running (or sent back) workflow per document
        Index(
            "uq_workflowinstance_open",
            "doc_type",
            "doc_key",
            unique=True,
            sqlite_where=text("status IN ('running', 'change_requested')"),
            postgresql_where=text("status IN ('running', 'change_requested')"),
        ),
    )


class WorkItem(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="workflowinstance.id", index=True)
    activation: int
    step_sequence: int
    step_name: str = Field(max_length=60)
    assignee: str = Field(max_length=64)  # operator user name, fixed when the step started
    assigned_via: str = Field(default="", max_length=120)  # "role approver", "operator", "delegated by x"...
    status: str = Field(default=ItemStatus.OPEN, max_length=20)
    created_at: datetime
    due_at: datetime | None = None
    escalation_level: int = Field(default=0)
    delegated_from: str | None = Field(default=None, max_length=64)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))
    reminders_sent: int = Field(default=0)
    last_reminded_at: datetime | None = None
    # when ``tick`` must next look at this open item: its due time or its next reminder,
    # whichever is first (None: never); tick finds due items through ix_workitem_status_check
    next_check_at: datetime | None = None
    version: int = Field(default=1)

    __table_args__ = (
        Index("ix_workitem_assignee_status", "assignee", "status"),
        Index("ix_workitem_status_due", "status", "due_at"),
        Index("ix_workitem_status_check", "status", "next_check_at"),
        # My work in its order (due time, then oldest), mine and everyone's, without sorting
        Index("ix_workitem_assignee_inbox", "assignee", "status", "due_at", "created_at", "id"),
        Index("ix_workitem_inbox", "status", "due_at", "created_at", "id"),
        Index("ix_workitem_assignee_instance", "assignee", "status", "instance_id"),  # count_waiting
    )


__all__ = [
    "StepKind",
    "CompletionPolicy",
    "FinalAction",
    "InstanceStatus",
    "ItemStatus",
    "WorkflowDefinition",
    "WorkflowStep",
    "WorkflowInstance",
    "WorkItem",
]
