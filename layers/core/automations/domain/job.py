"""Zendesk's job statuses: a bulk request (create, update or delete up to 100 tickets or users)
done off the request path, item by item, ``queued -> working -> completed | failed``.

Each item's outcome is recorded once, in the same write as its change, so a job that is run
again (a redelivered message) skips what it already did and never applies an item twice."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

QUEUED, WORKING, COMPLETED, FAILED = "queued", "working", "completed", "failed"
# purge: a deleted ticket, for good; create_or_update: each user item is one or the other (its result says which)
ACTIONS = ("create", "update", "delete", "purge", "create_or_update")
SUBJECTS = ("ticket", "user")
MAX_ITEMS = 100  # Zendesk's bulk limit
_DONE = {"create": "Created", "update": "Updated", "delete": "Deleted", "purge": "Deleted"}


@dataclass(frozen=True)
class Job:
    account_id: str
    id: str  # "V3-" and 32 hex digits, as Zendesk's
    action: str  # one of ACTIONS
    total: int
    author_email: str  # whose request it was: the author of every change
    created_at: datetime
    status: str = QUEUED
    message: str | None = None
    subject: str = "ticket"  # one of SUBJECTS: what the items are


@dataclass(frozen=True)
class JobItem:
    index: int
    request: dict[str, Any]  # {"id": the record's id (given, or reserved for a create), "ticket"/"user": the changes}
    result: dict[str, Any] | None = None  # None until done


def success(action: str, index: int, ticket_id: int) -> dict[str, Any]:
    return {"index": index, "id": ticket_id, "action": action, "success": True, "status": _DONE[action]}


def failure(action: str, index: int, ticket_id: int | None, error: str, details: str) -> dict[str, Any]:
    return {"index": index, "id": ticket_id, "action": action, "success": False, "error": error,
            "details": details}
