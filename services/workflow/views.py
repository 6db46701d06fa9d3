"""What the engine returns: pydantic views of steps, work items, instances, decisions and tick runs."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel

from models.workflow import WorkflowStep
from services import audit


class StepView(BaseModel):
    sequence: int
    name: str
    kind: str
    assignee: str  # "role:approver", "operator:admin1", "" (automated)
    policy: str
    condition: str
    time_limit_hours: int | None
    reminder_hours: int | None
    escalation: list[str]
    final_action: str
    action: str


class WorkItemView(BaseModel):
    id: int
    instance_id: int
    doc_type: str
    doc_title: str
    doc_key: str
    summary: str
    step: str
    assignee: str
    assigned_via: str
    status: str
    assigned_at: datetime
    due_at: datetime | None
    overdue: bool
    age_minutes: int
    escalation_level: int
    delegated_from: str | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    submitter: str
    assignee_name: str = ""  # the assignee's display name ("Alice Approver")
    # the viewing operator submitted the document: while 'Disallow approval by submitter' is on
    # they may not approve it, and ``count_waiting`` does not count it as waiting for them
    own_submission: bool = False


class InstanceView(BaseModel):
    id: int
    doc_type: str
    doc_key: str
    definition_id: int
    definition: str  # "name v3"
    status: str
    current_step: str | None
    submitter: str
    started_at: datetime
    ended_at: datetime | None
    assignees: list[str]  # who has an open item now


class InstanceDetail(InstanceView):
    steps: list[StepView]
    items: list[WorkItemView]


class WorkflowHistory(BaseModel):
    doc_type: str
    doc_key: str
    instances: list[InstanceDetail]
    events: list[audit.AuditView]


class ActionResult(BaseModel):
    item_id: int | None
    action: str
    ok: bool = True
    message: str
    item_status: str | None = None
    doc_type: str | None = None
    doc_key: str | None = None
    instance_status: str | None = None
    current_step: str | None = None
    error: str | None = None  # the refusal's kind (PermissionDenied, Conflict...) when not ok


class TickReport(BaseModel):
    at: datetime
    reminders: int = 0
    escalations: int = 0
    automatic_approvals: int = 0
    automatic_rejections: int = 0
    events: list[str] = []


def step_view(step: WorkflowStep) -> StepView:
    return StepView(
        sequence=step.sequence,
        name=step.name,
        kind=step.kind,
        assignee=f"{step.assignee_kind}:{step.assignee}" if step.assignee_kind else "",
        policy=step.policy,
        condition=step.condition,
        time_limit_hours=step.time_limit_hours,
        reminder_hours=step.reminder_hours,
        escalation=json.loads(step.escalation or "[]"),
        final_action=step.final_action,
        action=step.action,
    )
