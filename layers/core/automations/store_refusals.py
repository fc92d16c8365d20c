"""What a store refuses with (the services catch these; the adapters raise them), apart from
the interfaces in ports.py, which the services name for type checking only: every function
would otherwise make ports' 35 Protocol classes at its cold start."""
from __future__ import annotations

from dataclasses import dataclass


class IdenticalActiveAutomation(Exception):
    def __init__(self, existing_id: int | None) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class ActiveLimitReached(Exception):
    pass


MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit on one TransactWriteItems: what callers group their writes by


class AlreadyFired(Exception):
    """The commit found runs of this cycle already there (a duplicate worker won the race)."""


class CapReached(Exception):
    """The commit would take automations past their per-cycle cap (Zendesk's 1,000 tickets an hour)."""

    def __init__(self, automation_ids: set[int]) -> None:
        super().__init__(automation_ids)
        self.automation_ids = automation_ids


class StaleWrite(Exception):
    """The item changed since it was read (optimistic locking)."""


class UnreadableRecord(Exception):
    """A stored record that cannot be read back (written by an older version, or by hand)."""


@dataclass(frozen=True)
class UnreadableTicket:
    """A stored ticket that cannot be read back (written by an older version, or by hand): in a
    page it stands in for the ticket, so that it fails alone and visibly."""

    account_id: str
    id: str  # as its key holds it
    reason: str
    position: dict  # its key in the page's index: where the page goes on after it
