"""A run: one automation applied to one subject (a ticket or a contact) for one occurrence.
Every firing leaves one, sweep firings included; it is the unit of audit."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from automations.clock import iso_z
from automations.domain.model import SubjectKind

# A run is one DynamoDB item (at most 400 KB) holding its data beside its history and outcome,
# and its data travels on in SQS messages and events (at most 256 KB): half the item is the bound.
MAX_DATA_BYTES = 200 * 1024


def data_size(data: Any) -> int:
    """Bytes of a run's (or an event's) data as JSON."""
    return len(json.dumps(data, separators=(",", ":")).encode())


class RunStatus(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


def run_id(account_id: str, automation_id: int, subject_kind: SubjectKind, subject_id: str, occurrence: str) -> str:
    """Deterministic: the same trigger (retried, duplicated, concurrent) names the same run."""
    digest = hashlib.sha256(f"{account_id}|{automation_id}|{subject_kind}|{subject_id}|{occurrence}".encode())
    return "run_" + digest.hexdigest()[:24]


STARTED = "started"  # the history entry an executor's claim adds


@dataclass(frozen=True)
class Run:
    account_id: str
    id: str
    automation_id: int
    subject_kind: SubjectKind
    subject_id: str
    occurrence: str  # what makes this firing unique, e.g. "sweep:2026-11-22T19"
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None = None
    data: Any = None
    changes: dict[str, Any] = field(default_factory=dict)
    deliveries: tuple[str, ...] = ()
    history: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    version: int = 1  # optimistic lock: claim, cancel and finish are conditional on it
    attempts: int = 0  # executions begun
    lease_until: datetime | None = None  # a running run whose lease passed may be taken over
    template_id: int | None = None  # the template it sends (what cancel_email/text/series name)
    step: int | None = None  # a series step run: the step's index in its series template
    trigger: str | None = None  # the automation's trigger kind when the run was made (metrics by trigger)
    # Never sent before this: its trigger plus the delay in force then (a series step: its due time).
    not_before: datetime | None = None
    moves: int = 0  # times its due time was re-planned (each move has a schedule of its own)

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED)

    @property
    def in_attempt(self) -> bool:
        """Claimed by an executor that is at it now, not waiting for its next attempt (a retry, a
        throttle or a continuation: each ends the history with its own entry)."""
        return self.status is RunStatus.RUNNING and bool(self.history) and self.history[-1]["event"] == STARTED


def history_entry(at: datetime, event: str, detail: str | None) -> dict[str, Any]:
    """One line of a run's history."""
    return {"at": iso_z(at), "event": event, **({"detail": detail} if detail else {})}


def moved(run: Run, due: datetime, at: datetime, event: str, why: str, **changes: Any) -> Run:
    """``run`` waiting for ``due`` instead (a move, recorded in its history as ``event``)."""
    return replace(run, due_at=due, moves=run.moves + 1, updated_at=at, **changes,
                   history=run.history + (history_entry(at, event, f"due {iso_z(due)}: {why}"),))
