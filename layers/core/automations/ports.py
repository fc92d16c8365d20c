"""Interfaces the service needs from storage; adapters implement them."""
from __future__ import annotations

from typing import Any, Protocol

from automations.domain.audit import Audit
from automations.domain.model import Account, ApiKey, Automation
from automations.domain.ticket import Ticket
from automations.domain.user import User


class IdenticalActiveAutomation(Exception):
    def __init__(self, existing_id: int | None) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class ActiveLimitReached(Exception):
    pass


class StaleWrite(Exception):
    """The item changed since it was read (optimistic locking)."""


class AccountStore(Protocol):
    def create_account(self, account: Account) -> None:
        """Raises Conflict when the owner email already has an account."""

    def get_account(self, account_id: str) -> Account | None: ...

    def account_ids(self) -> list[str]: ...

    def find_account_by_email(self, email: str) -> Account | None: ...

    def put_key(self, key: ApiKey) -> None:
        """Raises Conflict when the key already exists."""

    def get_key(self, key_hash: str) -> ApiKey | None: ...

    def find_key(self, key_id: str) -> ApiKey | None: ...

    def revoke_key(self, key: ApiKey) -> None: ...


class AutomationStore(Protocol):
    def allocate(self, account_id: str, count: int) -> list[tuple[int, int]]:
        """Reserve ``count`` fresh (id, position) pairs, unique under concurrency."""

    def raise_next_position(self, account_id: str, position: int) -> None:
        """Make sure positions allocated later come after ``position``."""

    def get(self, account_id: str, automation_id: int) -> Automation | None: ...

    def find_by_uuid(self, account_id: str, automation_uuid: str) -> Automation | None: ...

    def list(self, account_id: str) -> list[Automation]: ...

    def insert(self, automation: Automation, max_active: int) -> None:
        """Atomically store a new automation; raises IdenticalActiveAutomation / ActiveLimitReached."""

    def replace(self, old: Automation, new: Automation, max_active: int) -> None:
        """Atomically swap ``old`` (at its version) for ``new``; raises StaleWrite too."""

    def delete(self, automation: Automation) -> None:
        """Raises StaleWrite when the automation changed since it was read."""


class TicketStore(Protocol):
    def allocate_id(self, account_id: str) -> int:
        """A fresh ticket id, unique in the account under concurrency."""

    def get(self, account_id: str, ticket_id: int) -> Ticket | None: ...

    def count(self, account_id: str) -> int: ...

    def list_page(self, account_id: str, limit: int, exclusive_start: int | None = None, *,
                  descending: bool = False, offset: int = 0) -> tuple[list[Ticket], int | None]:
        """Up to ``limit`` tickets in id order after the ticket id ``exclusive_start``, the first
        ``offset`` of them skipped; and the id to continue after (None when none are left)."""

    def sweepable_page(self, account_id: str, shard: int, limit: int,
                       exclusive_start: dict[str, Any] | None) -> tuple[list[Ticket], dict[str, Any] | None]:
        """A page of the shard's non-closed tickets and the opaque, JSON-serialisable key to go
        on from (None at the end)."""

    def insert(self, ticket: Ticket, audit: Audit) -> None:
        """Atomically store a new ticket with its audit; raises StaleWrite when the write lost a race."""

    def replace(self, old: Ticket, new: Ticket, audit: Audit) -> None:
        """Atomically swap ``old`` (at its version) for ``new`` (stored at ``old.version + 1``) and
        record ``audit``; raises StaleWrite."""

    def delete(self, ticket: Ticket) -> None:
        """Raises StaleWrite when the ticket changed since it was read."""

    def list_audits(self, account_id: str, ticket_id: int) -> list[Audit]:
        """Oldest first."""


class UserStore(Protocol):
    def allocate_id(self, account_id: str) -> int: ...

    def get(self, account_id: str, user_id: int) -> User | None: ...

    def find_by_email(self, account_id: str, email: str) -> User | None: ...

    def add(self, user: User) -> User:
        """Store ``user`` unless its email is taken; returns the user stored under that email.
        Raises StaleWrite when a concurrent write of the same email had not settled yet."""


# -- contacts (issue 4) ------------------------------------------------------------------------
# Imported here, beside the Protocols that use them, to keep this section self-contained.
from collections.abc import Iterable  # noqa: E402
from typing import TYPE_CHECKING, TypeVar  # noqa: E402

from automations.domain.contacts import Contact, CustomField, Group, MembersAdded, Membership, Template  # noqa: E402

if TYPE_CHECKING:
    from automations.service.events import ContactEvent

_Item = TypeVar("_Item")


class ContactStore(Protocol):
    def insert(self, contact: Contact, change: ContactEvent) -> None:
        """Atomically store a new contact, claim its email and log ``change``; raises Conflict
        when the email belongs to another contact of the account."""

    def replace(self, old: Contact, new: Contact, change: ContactEvent) -> None:
        """Swap ``old`` (at its version) for ``new``, moving the email claim and logging
        ``change``; raises Conflict or StaleWrite."""

    def delete(self, contact: Contact) -> None:
        """Remove the contact, its email claim and its memberships; raises StaleWrite."""

    def get(self, account_id: str, contact_uuid: str) -> Contact | None: ...

    def get_many(self, account_id: str, contact_uuids: list[str]) -> dict[str, Contact]: ...

    def find_by_email(self, account_id: str, email: str) -> Contact | None: ...

    def page(self, account_id: str, *, after: str | None, limit: int) -> tuple[list[Contact], str | None]:
        """Contacts in uuid order after the opaque cursor, and the next page's cursor."""


class NumberedStore(Protocol[_Item]):
    """Records with integer ids from a per-account counter (lists, communities, custom fields,
    templates), stored whole and replaced with optimistic locking."""

    def next_id(self, account_id: str) -> int: ...

    def insert(self, item: _Item) -> None: ...

    def get(self, account_id: str, item_id: int) -> _Item | None: ...

    def list(self, account_id: str) -> list[_Item]: ...

    def replace(self, old: _Item, new: _Item) -> None:
        """Raises StaleWrite when ``old`` changed since it was read."""

    def delete(self, item: _Item) -> None:
        """Raises StaleWrite when the item changed since it was read."""


class GroupStore(NumberedStore[Group], Protocol):
    def add_members(self, group: Group, joins: Iterable[tuple[Membership, ContactEvent]]
                    ) -> tuple[MembersAdded, list[ContactEvent]]:
        """Store each membership with a conditional write and, in the same transaction, its join
        event; contacts that do not exist are reported, existing memberships left alone. Returns
        the outcome and the events that committed. Raises NotFound when the group is gone."""

    def remove_member(self, group: Group, contact_uuid: str) -> bool:
        """False when the contact was not a member."""

    def members(self, group: Group, *, after: str | None, limit: int) -> tuple[list[Membership], str | None]: ...

    def is_member(self, account_id: str, group_id: int, contact_uuid: str) -> bool: ...


CustomFieldStore = NumberedStore[CustomField]
TemplateStore = NumberedStore[Template]


# -- the run engine (issue 5) ------------------------------------------------------------------
from datetime import datetime  # noqa: E402

from automations.domain.run import Run, RunStatus  # noqa: E402


class RunStore(Protocol):
    due_shards: int  # the DueIndex's partitions of waiting runs

    def put_new(self, run: Run) -> bool:
        """Store a new run; False when a run of that id exists (a duplicate trigger)."""

    def get(self, account_id: str, run_id: str) -> Run | None: ...

    def existing(self, account_id: str, run_ids: list[str]) -> set[str]:
        """Which of ``run_ids`` are stored."""

    def replace(self, old: Run, new: Run) -> Run:
        """Store ``new`` at ``old.version + 1`` if the run is still at ``old.version``; raises StaleWrite."""

    def list(self, account_id: str, *, automation_id: int | None = None, subject: tuple[Any, str] | None = None,
             status: RunStatus | None = None, limit: int = 50, cursor: str | None = None
             ) -> tuple[list[Run], str | None]: ...

    def due(self, shard: int, before: datetime, limit: int, after: str | None = None
            ) -> tuple[list[tuple[str, str]], str | None]:
        """(account id, run id) of unfinished runs to look at by ``before``, and where to go on."""


class RunScheduler(Protocol):
    """One-time schedules that start runs at their due time, and the recurring schedules of
    recurring and date-field automations (EventBridge Scheduler: adapters/scheduler.py)."""

    def schedule(self, run: Run) -> None:
        """Idempotent: scheduling the same run twice leaves one schedule."""

    def schedule_all(self, runs: list[Run]) -> None:
        """``schedule`` each of ``runs`` (service/time_buckets.py: their time buckets counted once)."""

    def schedule_retry(self, run: Run) -> None:
        """A one-time schedule at the run's ``lease_until`` for its next attempt (idempotent per attempt)."""

    def unschedule(self, run: Run) -> None:
        """Idempotent: a schedule that fired or was deleted already is fine."""

    def put_recurring(self, automation: Automation, expression: str, timezone: str) -> None:
        """Create or update the automation's recurring schedule (disabled when it is inactive)."""

    def delete_recurring(self, automation: Automation) -> None: ...


class RunQueue(Protocol):
    """Runs to execute now (no delay and no window, a re-driven run), and work for the rule
    expander: pages of a recurring expansion still to do, accounts whose recurring schedules to
    check (SQS: adapters/sqs.py)."""

    def execute_soon(self, runs: list[tuple[str, str]]) -> None:
        """Queue (account id, run id) pairs for the executor."""

    def dispatch_later(self, task: dict[str, Any]) -> None:
        """Queue the rest of a time bucket for the executor to dispatch (service/time_buckets.py)."""

    def expand_later(self, tasks: list[dict[str, Any]]) -> None: ...
