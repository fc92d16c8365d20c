"""Native API shapes for runs."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from automations.domain.run import Run
from automations.surfaces.native_models import Model


class Subject(Model):
    kind: Literal["ticket", "contact"]
    id: str


class RunOut(Model):
    id: str
    automation_id: int
    subject: Subject
    occurrence: str
    status: Literal["scheduled", "running", "succeeded", "failed", "cancelled", "skipped"]
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    data: Any
    changes: dict[str, Any]
    deliveries: list[str]
    history: list[dict[str, Any]]
    error: str | None


class RunPage(Model):
    runs: list[RunOut]
    next_cursor: str | None


def run_out(run: Run) -> RunOut:
    return RunOut(id=run.id, automation_id=run.automation_id,
                  subject=Subject(kind=run.subject_kind.value, id=run.subject_id), occurrence=run.occurrence,
                  status=run.status.value, created_at=run.created_at, updated_at=run.updated_at, due_at=run.due_at,
                  data=run.data, changes=run.changes, deliveries=list(run.deliveries), history=list(run.history),
                  error=run.error)
