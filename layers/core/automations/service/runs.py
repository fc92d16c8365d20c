"""Reading runs (the audit trail of every firing)."""
from __future__ import annotations

from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus
from automations.errors import found


class RunService:
    def __init__(self, store) -> None:
        self._store = store

    def get(self, account_id: str, run_id: str) -> Run:
        return found(self._store.get(account_id, run_id), f"run {run_id}")

    def list(self, account_id: str, *, automation_id: int | None = None, subject: tuple[SubjectKind, str] | None = None,
             status: RunStatus | None = None, limit: int = 50, cursor: str | None = None) -> tuple[list[Run], str | None]:
        return self._store.list(account_id, automation_id=automation_id, subject=subject, status=status,
                                limit=limit, cursor=cursor)
