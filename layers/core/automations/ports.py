"""The interfaces the service needs and the adapters (adapters/) implement, in one place, by area
(what a store refuses with: store_refusals.py). Named in annotations only (under TYPE_CHECKING)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:  # the domain's types, named in annotations only: a function loads the domain
    # modules its own code needs, not all of them (each dataclass costs its cold start)
    from automations.domain.audit import Audit
    from automations.domain.contact_events import ContactEvent
    from automations.domain.contacts import Contact, Group, MembersAdded, Membership, Template
    from automations.domain.delivery import Delivery, DeliveryStatus
    from automations.domain.events import Event
    from automations.domain.job import Job, JobItem
    from automations.domain.messages import BucketDispatch, ExpandQueueMessage, RedrivePass
    from automations.domain.account import Account, ApiKey
    from automations.domain.model import Automation, Conditions, Trigger
    from automations.domain.run import Run, RunStatus
    from automations.domain.sweep import FanOut, SweepStats, SweepTask
    from automations.domain.ticket import DeletedTicket, Ticket
    from automations.domain.timing import Firing
    from automations.domain.user import DeletedUser, Role, User
    from automations.store_refusals import UnreadableTicket


# -- accounts and automations -----------------------------------------------------------------
class AccountStore(Protocol):
    def create_account(self, account: Account) -> None:
        """Raises Conflict when the owner email already has an account."""

    def get_account(self, account_id: str) -> Account | None: ...

    def set_timezone(self, account: Account, timezone: str) -> bool:
        """Store the account's new zone if it is still ``account.timezone`` (its previous zone
        kept until followed); False otherwise."""

    def zone_followed(self, account: Account) -> bool:
        """Forget the previous zone if the account is still as given; False otherwise."""

    def account_page(self, limit: int, after: str | None = None) -> tuple[list[str], str | None]:
        """Up to ``limit`` account ids after ``after``, in id order, and the last one's id when
        there may be more (None at the end)."""

    def find_account_by_email(self, email: str) -> Account | None: ...

    def put_key(self, key: ApiKey) -> None:
        """Raises Conflict when the key already exists."""

    def get_key(self, key_hash: str) -> ApiKey | None:
        """The key as last written (a consistent read: every lookup of a key decides)."""

    def find_key(self, key_id: str) -> ApiKey | None: ...

    def revoke_key(self, key: ApiKey) -> None: ...

    def list_keys(self, account_id: str) -> list[ApiKey]:
        """The account's keys, oldest first (revoked ones included)."""


class AutomationStore(Protocol):
    def allocate(self, account_id: str, count: int) -> list[tuple[int, int]]:
        """Reserve ``count`` fresh (id, position) pairs, unique under concurrency."""

    def raise_next_position(self, account_id: str, position: int) -> None:
        """Make sure positions allocated later come after ``position``."""

    def get(self, account_id: str, automation_id: int) -> Automation | None: ...

    def find_by_uuid(self, account_id: str, automation_uuid: str) -> Automation | None: ...

    def list(self, account_id: str) -> list[Automation]: ...

    def listening(self, account_id: str, trigger: Any, listens_to: str) -> list[Automation]:
        """The active ``trigger`` automations that ``listens_to`` starts (Automation.listens_to), by id."""

    def insert(self, automation: Automation, max_active: int) -> None:
        """Atomically store a new automation; raises IdenticalActiveAutomation / ActiveLimitReached."""

    def replace(self, old: Automation, new: Automation, max_active: int) -> None:
        """Atomically swap ``old`` (at its version) for ``new``; raises StaleWrite too."""

    def delete(self, automation: Automation) -> None:
        """Raises StaleWrite when the automation changed since it was read."""


# -- tickets, users and the hourly sweep ------------------------------------------------------
class TicketStore(Protocol):
    def allocate_id(self, account_id: str) -> int:
        """A fresh ticket id, unique in the account under concurrency."""

    def allocate_ids(self, account_id: str, count: int) -> range:
        """``count`` fresh ticket ids."""

    def get(self, account_id: str, ticket_id: int) -> Ticket | None: ...

    def get_many(self, account_id: str, ticket_ids: Sequence[int]) -> dict[int, Ticket]: ...

    def count(self, account_id: str, *, deleted: bool = False) -> int: ...

    def list_page(self, account_id: str, limit: int, exclusive_start: int | None = None, *,
                  descending: bool = False, offset: int = 0) -> tuple[list[Ticket], int | None]:
        """Up to ``limit`` tickets in id order after the ticket id ``exclusive_start``, the first
        ``offset`` of them skipped; and the id to continue after (None when none are left)."""

    def sweepable_page(self, account_id: str, shard: int, limit: int, exclusive_start: dict[str, Any] | None
                       ) -> tuple[list[Ticket | UnreadableTicket], dict[str, Any] | None]:
        """A page of the shard's non-closed tickets and the opaque, JSON-serialisable key to go
        on from (None at the end)."""

    # ``also``: writes of the caller's (opaque, from another store of the same table) committed
    # in the same transaction; a failed condition among them raises StaleWrite too.
    def insert(self, ticket: Ticket, audit: Audit, also: Sequence[Any] = ()) -> None:
        """Atomically store a new ticket with its audit; raises StaleWrite when the write lost a race."""

    def insert_many(self, entries: Sequence[tuple[Ticket, Audit, Sequence[Any]]]) -> None:
        """Atomically store new tickets of one account, each with its audit and ``also``, in one
        write (at most MAX_INSERTED_WRITES items all told); raises StaleWrite."""

    def replace(self, old: Ticket, new: Ticket, audit: Audit, also: Sequence[Any] = ()) -> None:
        """Atomically swap ``old`` (at its version) for ``new`` (stored at ``old.version + 1``) and
        record ``audit``; raises StaleWrite."""

    def delete(self, ticket: Ticket, also: Sequence[Any] = (), *, deleted_at: datetime | None = None,
               actor_id: int | None = None) -> None:
        """Move the ticket to the deleted tickets; StaleWrite when it changed since it was read."""

    def deleted_page(self, account_id: str, limit: int, *, offset: int = 0) -> tuple[list[DeletedTicket], int | None]: ...

    def get_deleted(self, account_id: str, ticket_id: int) -> DeletedTicket | None: ...

    def restore(self, deleted: DeletedTicket) -> None:
        """StaleWrite when it is not among the deleted tickets any more."""

    def purge(self, account_id: str, ticket_id: int, also: Sequence[Any] = ()) -> None:
        """Delete a deleted ticket and its audits for good; StaleWrite when it is not deleted."""

    def list_audits(self, account_id: str, ticket_id: int) -> list[Audit]:
        """Oldest first."""

    def ticket_audits(self, account_id: str, ticket_id: int, limit: int, *, after: str | None = None,
                      descending: bool = False) -> tuple[list[tuple[str, Audit]], bool]:
        """Up to ``limit`` of the ticket's audits, oldest first (newest first when ``descending``),
        past the position ``after`` (one returned before), each with its position; and whether
        more follow."""

    def updated_since(self, account_id: str, position: str, limit: int, *, inclusive: bool, max_bytes: int,
                      until: str | None = None) -> tuple[list[tuple[str, Ticket | DeletedTicket]], bool]:
        """Tickets, deleted ones too, in the order they last changed, from ``position`` on (and
        before the position ``until``, when given)."""

    def account_audits(self, account_id: str, limit: int, *, before: str | None = None, after: str | None = None,
                       ) -> tuple[list[tuple[str, Audit]], bool]:
        """The account's audits newest first, each with its (opaque) position."""

    def tag_counts(self, account_id: str) -> dict[str, int]:
        """How many of the account's tickets (deleted ones not) carry each tag; tags none carry left out."""


class UserStore(Protocol):
    def allocate_id(self, account_id: str) -> int: ...

    def allocate_ids(self, account_id: str, count: int) -> range:
        """``count`` fresh user ids (a bulk job's creates)."""

    def get(self, account_id: str, user_id: int) -> User | None: ...

    def find_by_email(self, account_id: str, email: str) -> User | None: ...

    def find_by_external_id(self, account_id: str, external_id: str) -> User | None: ...

    def ids_by_email(self, account_id: str, emails: Sequence[str]) -> dict[str, int]:
        """The ids of the users that have ``emails``, by email (a few calls for a hundred)."""

    def get_many(self, account_id: str, user_ids: Sequence[int]) -> dict[int, User]: ...

    def ids_by_word(self, account_id: str, start: str, limit: int) -> tuple[list[int], bool]:
        """Ids of users with a word of their name starting with ``start``, and whether more follow."""

    def list_page(self, account_id: str, limit: int, exclusive_start: int | None = None, *, role: Role | None = None,
                  descending: bool = False, offset: int = 0) -> tuple[list[User], int | None]:
        """Up to ``limit`` users (of ``role``, when given) in id order after the user id
        ``exclusive_start``, the first ``offset`` skipped; and the id to continue after (None at
        the end)."""

    def count(self, account_id: str, roles: Sequence[Role]) -> int:
        """How many users of the account have one of ``roles``."""

    def updated_since(self, account_id: str, position: str, limit: int, *, inclusive: bool, max_bytes: int,
                      until: str | None = None) -> tuple[list[tuple[str, User | DeletedUser]], bool]:
        """Users, deleted ones too, in the order they last changed (as TicketStore.updated_since)."""

    # ``also``: writes of the caller's (opaque, from another store of the same table) committed
    # in the same transaction; a failed condition among them raises StaleWrite too.
    def add(self, user: User, also: Sequence[Any] = ()) -> User:
        """Store ``user`` unless its email is taken; returns the user stored under that email.
        Raises StaleWrite (naming "external_id" when that is taken) for other failed conditions."""

    def add_many(self, users: Sequence[User]) -> list[User]:
        """Store new users, several to a write; those stored (a write that failed stores none of
        its users: add them one by one)."""

    def replace(self, old: User, new: User, also: Sequence[Any] = ()) -> User:
        """Swap ``old`` (at its version) for ``new``; StaleWrite names what failed ("user" when it
        changed meanwhile, "email" or "external_id" when taken)."""

    def delete(self, user: User, deleted_at: datetime, also: Sequence[Any] = ()) -> None:
        """StaleWrite when the user changed since it was read."""


class FiringStore(Protocol):
    def commit(self, old: Ticket, new: Ticket, audits: list[Audit], runs: list[Run], deliveries: list,
               cycle: str, cap: int) -> None:
        """Atomically: ticket (at old's version) -> new, audits, runs, caps, deliveries.
        Raises StaleWrite, AlreadyFired or CapReached."""

    def add_to_summary(self, sweep_id: str, stats: SweepStats, at: datetime, part: str) -> None:
        """Add ``stats`` to the sweep's summary (kept for a while after ``at``). ``part`` names
        who adds (stable text): the summary is kept in parts so its writes spread."""

    def record_failed(self, runs: list[Run]) -> None:
        """Store failed runs (each only if absent), outside any ticket's commit."""

    def summary(self, sweep_id: str) -> dict[str, int]: ...

    def was_started(self, sweep_id: str) -> bool:
        """Whether a pass with this id was started (``mark_started``)."""

    def mark_started(self, sweep_id: str, at: datetime) -> None: ...


class SweepQueue(Protocol):
    def send(self, messages: list[SweepTask] | list[FanOut], *, delay_s: int = 0) -> None: ...


class Notifier(Protocol):
    def prepare(self, account: Account, ticket: Ticket, run: Run, notifications: tuple) -> list: ...

    def dispatch(self, deliveries: list) -> int: ...


# -- contacts, their lists and their events ---------------------------------------------------
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


class GroupStore(NumberedStore["Group"], Protocol):
    def add_members(self, group: Group, joins: Iterable[tuple[Membership, ContactEvent]]
                    ) -> tuple[MembersAdded, list[ContactEvent]]:
        """Store each membership with a conditional write and, in the same transaction, its join
        event; contacts that do not exist are reported, existing memberships left alone. Returns
        the outcome and the events that committed. Raises NotFound when the group is gone."""

    def remove_member(self, group: Group, contact_uuid: str) -> bool:
        """False when the contact was not a member."""

    def members(self, group: Group, *, after: str | None, limit: int) -> tuple[list[Membership], str | None]: ...

    member_shards: int  # the partitions a group's members are spread over

    def shard_members(self, group: Group, shard: int, *, after: str | None, limit: int
                      ) -> tuple[list[Membership], str | None]:
        """One shard's members, from after the opaque position ``after``, and where to go on."""

    def is_member(self, account_id: str, group_id: int, contact_uuid: str) -> bool: ...


class ContactChanges(Protocol):
    """Where a contact's creation and changes are announced (the event ingestion path), so
    ``contact_created`` / ``contact_updated`` automations fire. The event is already in the
    contact event log, written with the contact: an announcement lost to a crash is caught up."""

    def contact_changed(self, change: ContactEvent) -> None: ...


class ContactEventLog(Protocol):
    """The durable log (DynamoDB: adapters/dynamo_contacts.DynamoContactEventLog)."""

    def append(self, event: ContactEvent) -> bool:
        """Store an event not tied to another write; False when it is already stored."""

    def read(self, account_id: str, *, after: str | None, since: datetime | None,
             limit: int) -> tuple[list[ContactEvent], str | None]:
        """Events in time order after the opaque cursor ``after`` (or from ``since``), and the
        cursor of the next page (None at the end)."""


class EventQueue(Protocol):
    """Where events wait for the ingestion function (SQS: adapters/sqs_events.py)."""

    def send(self, events: Sequence[Event], after: dict[str, Any] | None = None) -> None:
        """Events, each one message (``after``: where each goes on from)."""

    def send_joins(self, joins: Sequence[ContactEvent], after: dict[str, Any] | None = None) -> None:
        """Joins in batches, each batch one message (``after``: the joins of one message, and
        where they go on from)."""


# -- runs -------------------------------------------------------------------------------------
class RunStore(Protocol):
    due_shards: int  # the DueIndex's partitions of waiting runs

    def put_new(self, run: Run) -> bool:
        """Store a new run; False when a run of that id exists (a duplicate trigger)."""

    def get(self, account_id: str, run_id: str) -> Run | None:
        """Raises UnreadableRecord for a stored run that cannot be read."""

    def set_aside(self, account_id: str, run_id: str, reason: str) -> None:
        """Mark an unreadable run failed and take it out of the DueIndex, so nothing retries it."""

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

    def get_many(self, account_id: str, run_ids: list[str]) -> list[Run]:
        """Those of ``run_ids`` that are stored (an unreadable one left out, visibly)."""

    def waiting(self, account_id: str, automation_id: int, shard: int, limit: int, after: str | None = None
                ) -> tuple[list[str], str | None]:
        """Ids of the automation's runs in ``shard`` (of ``due_shards``) planned for later than
        they were made and still waiting, after the run id ``after``, and where the next page
        starts (None at the end)."""


class RunScheduler(Protocol):
    """One-time schedules that start runs at their due time, and those of each firing of a
    recurring or date-field automation (EventBridge Scheduler: adapters/scheduler.py)."""

    def schedule(self, run: Run) -> None:
        """Idempotent: scheduling the same run twice leaves one schedule."""

    def schedule_all(self, runs: list[Run]) -> None:
        """``schedule`` each of ``runs`` (service/time_buckets.py: their time buckets counted once)."""

    def schedule_retry(self, run: Run) -> None:
        """A one-time schedule at the run's ``lease_until`` for its next attempt (idempotent per attempt)."""

    def unschedule(self, run: Run) -> None:
        """Idempotent: a schedule that fired or was deleted already is fine."""

    def put_firing(self, automation: Automation, firing: Firing) -> bool:
        """Create or update the one-time schedule of a recurring or date-field automation's
        firing (which invokes the rule expander with the firing's day). True when it was
        missing and had to be created."""

    def delete_firing(self, automation: Automation, firing: Firing) -> None:
        """Idempotent: a schedule that fired or was deleted already is fine."""


class RunQueue(Protocol):
    """Runs to execute now (no delay and no window, a re-driven run), and work for the rule
    expander: pages of a recurring expansion still to do, accounts whose recurring schedules to
    check (SQS: adapters/sqs.py)."""

    def execute_soon(self, runs: list[tuple[str, str]], delays: list[int] | None = None, *,
                     redriven: bool = False) -> None:
        """Queue (account id, run id) pairs for the executor, each held back its delay in
        seconds (0-900) when ``delays`` is given; ``redriven``: by the hourly re-drive."""

    def dispatch_later(self, task: BucketDispatch | RedrivePass) -> None:
        """Queue the rest of a time bucket (service/time_buckets.py) or of a re-drive for the executor."""

    def expand_later(self, tasks: list[ExpandQueueMessage]) -> None: ...


class BucketStore(Protocol):
    def due_shard(self, run: Run) -> int: ...

    def count_due(self, minute: datetime, shard: int, runs: int) -> tuple[int, bool]:
        """Count ``runs`` more due in (minute, shard); returns the count with them, and whether
        the bucket's schedule was made (``bucket_scheduled``)."""

    def bucket_scheduled(self, minute: datetime, shard: int) -> None:
        """Mark (minute, shard) as having its bucket's schedule."""

    def due_in_minute(self, shard: int, minute: datetime, limit: int, after: str | None
                      ) -> tuple[list[tuple[str, str]], str | None]:
        """(account id, run id) of unfinished runs in ``shard`` due in ``minute``, and where to go on."""


class BucketScheduler(RunScheduler, Protocol):
    def schedule_bucket(self, minute: datetime, shard: int, at: datetime) -> None:
        """Idempotent: one schedule per (minute, shard), firing at ``at``."""


# -- deliveries -------------------------------------------------------------------------------
class Sender(Protocol):
    def send(self, delivery: Delivery) -> str: ...


class RunOutcomes(Protocol):
    """What the relay reads of the run an announcement announces."""

    def get(self, account_id: str, run_id: str) -> Run | None:
        """Raises UnreadableRecord for a stored run that cannot be read."""


class SendPace(Protocol):
    """Send slots shared by every sender of the stack, so together they stay under a provider's
    rate (SES's MaxSendRate is the AWS account's, whichever function sends)."""

    def take(self, channel: str, rate: float, now: datetime, ahead: int) -> datetime | None:
        """Book one send of ``channel`` at ``rate`` a second in the first second from ``now`` on
        (looking ``ahead`` seconds at most) with a slot left: the start of that second, or None
        when all are taken."""


# -- what the run engine's parts read and use of the other services ---------------------------
type ConditionCheck = Callable[[Conditions, Contact, Any], bool]  # (conditions, contact, data): met?


class AccountReads(Protocol):
    def get_account(self, account_id: str) -> Account:
        """Raises NotFound for an account that does not exist."""


class AutomationReads(Protocol):
    def find(self, account_id: str, automation_id: int) -> Automation | None: ...

    def list(self, account_id: str, *, kinds: frozenset[Trigger] | None = None) -> list[Automation]: ...

    def listening(self, account_id: str, trigger: Trigger, listens_to: str) -> list[Automation]:
        """The active ``trigger`` automations that ``listens_to`` starts, by id."""


class Contacts(Protocol):
    def get(self, account_id: str, contact_uuid: str) -> Contact:
        """Raises NotFound (no such contact) or UnreadableRecord."""

    def find(self, account_id: str, contact_uuid: str) -> Contact | None: ...

    def get_many(self, account_id: str, contact_uuids: list[str]) -> dict[str, Contact]:
        """Those of the contacts that exist, by uuid."""

    def update(self, account_id: str, contact_uuid: str, changes: dict[str, Any]) -> Contact: ...


class MemberGroups(Protocol):
    """One kind of contact group (lists, communities) as runs read its members."""

    member_shards: int

    def shard_members(self, account_id: str, group_id: int, shard: int, *, cursor: str | None = None,
                      limit: int = 100) -> tuple[list[Membership], str | None]:
        """A page of one shard's members, and where the next page starts; NotFound when the group is gone."""

    def is_member(self, account_id: str, group_id: int, contact_uuid: str) -> bool: ...


class TemplateReads(Protocol):
    def find(self, account_id: str, template_id: int) -> Template | None: ...


class Outbox(Protocol):
    """The stored deliveries (DynamoDB: adapters/dynamo_deliveries.DynamoDeliveryStore)."""

    def put_new(self, delivery: Delivery) -> Delivery:
        """Store ``delivery`` unless its id is stored; ``delivery`` itself if it was stored now,
        else the one stored before."""

    def get(self, account_id: str, delivery_id: str) -> Delivery | None: ...

    def finish(self, delivery: Delivery, status: DeliveryStatus, provider_id: str | None = None,
               error: str | None = None, *, unless_claimed: bool = False) -> Delivery | None:
        """``delivery`` finished; ``unless_claimed``: only if still pending (else None)."""


class Sending(Protocol):
    """Sending stored deliveries (service/deliveries.DeliveryService)."""

    def deliver(self, composed: list[Delivery], has_time: Callable[[float], bool] | None = None) -> list[Delivery]:
        """A run attempt's deliveries stored and sent, each as it stands afterwards; raises Busy (a
        throttle) or OutOfTime."""

    def dispatch(self, deliveries: list[Delivery]) -> int:
        """Send what is pending, a throttle stopping it; how many were sent now."""

    def settle(self, run: Run, ended: RunStatus, reason: str | None) -> None:
        """What earlier attempts of ``run``, ending ``ended``, left unsettled: one being sent recorded
        unconfirmed, never resent; one pending, when the run did not succeed, never sent."""


class ContactEventReads(Protocol):
    def since(self, account_id: str, *, cursor: str | None = None, since: datetime | None = None,
              limit: int = ...) -> tuple[list[ContactEvent], str | None]:
        """An account's contact events in the order they happened, a page at a time."""


class StartedRuns(Protocol):
    runs: list[Run]
    rest: dict[str, Any] | None


class RunStarts(Protocol):
    """What starts runs of events and joins (service/launching.RunLauncher)."""

    def on_event(self, account_id: str, event_name: str, contact_uuid: str, *, data: Any, event_id: str,
                 occurred_at: datetime | None = None, after: dict[str, Any] | None = None,
                 limit: int | None = None) -> StartedRuns: ...

    def on_contact_events(self, events: list[ContactEvent], *, after: dict[str, Any] | None = None,
                          limit: int | None = None) -> StartedRuns: ...


# -- bulk jobs --------------------------------------------------------------------------------
class JobStore(Protocol):
    """Bulk ticket jobs (domain/job.py) and their items' outcomes."""

    def create(self, job: Job, items: list[JobItem]) -> None: ...

    def get(self, account_id: str, job_id: str) -> Job | None: ...

    def items(self, account_id: str, job_id: str) -> list[JobItem]:
        """Every item, by index, with its result when done (consistent read)."""

    def set_status(self, job: Job, status: str, message: str | None) -> None: ...

    def result_write(self, job: Job, index: int, result: dict[str, Any]) -> Any:
        """An opaque write recording the item's result only if none is recorded, for the ticket
        store to commit in the same transaction as the item's change."""

    def record(self, job: Job, index: int, result: dict[str, Any]) -> bool:
        """Record the item's result unless one is; False when one was."""


class JobQueue(Protocol):
    def send(self, account_id: str, job_id: str, *, delay_s: int = 0) -> None: ...


# -- data migrations --------------------------------------------------------------------------
class Migration(Protocol):
    name: str  # "<number>-<what>": the order they run in
    about: str  # what it changes, for people

    def step(self, account_id: str, start: Any) -> tuple[int, Any]:
        """Migrate a page of the account's old items from ``start`` (None: its first); how many
        were changed, and where to go on (None when the account has no more)."""


class MigrationStore(Protocol):
    def state(self, name: str) -> dict[str, Any] | None:
        """{"done", "account", "start", "migrated", "steps"}, or None before its first step."""

    def save(self, name: str, state: dict[str, Any], steps_before: int) -> bool:
        """Store ``state`` if the migration is still at ``steps_before`` steps; False when another
        runner moved it on meanwhile."""
