"""A ticket as automations see it: Zendesk's ticket fields plus the timestamps that the
time-based conditions count from. Immutable; a change is a new ticket (``with_changes``).

Status timestamps: ``status_entered_at`` holds, for each status, when the ticket last entered
it. The OPEN/PENDING/HOLD/SOLVED/CLOSED hour conditions count from that instant and hold only
while the ticket *is* in that status (an "hours since solved" on a reopened ticket is false).
NEW is "hours since created" (Zendesk's label), counted from ``created_at`` in any status.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from automations.clock import ensure_utc
from automations.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from automations.domain.audit import Comment  # audit reads tickets: imported for the annotation only

# The values a ticket's status, priority, type and satisfaction take (Zendesk's).
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("", "low", "normal", "high", "urgent")
TICKET_TYPES = ("", "question", "incident", "problem", "task")
SATISFACTION = ("unoffered", "offered", "bad", "bad_with_comment", "good", "good_with_comment")

_NO_STATUS_TIMES: tuple[datetime | None, ...] = (None,) * len(STATUSES)

# The hourly sweep reads an account's non-closed tickets in this many partitions (shards), so a
# large account is swept by several workers at once.
SWEEP_SHARDS = 8
# Tags one ticket holds at most: a change that swaps all of them moves 2 x 48 tag counters, which
# with the ticket, its audit and a bulk job's result stays within one DynamoDB transaction (100).
MAX_TICKET_TAGS = 48


def tag_changes(before: Iterable[str], after: Iterable[str]) -> int:
    """How many tag counters a ticket's change moves: tags added plus tags taken away."""
    return len(set(before) ^ set(after))


# A single-brand account's one brand and one ticket form, and the system custom status of each
# status category (a closed ticket keeps solved's), as Zendesk gives every ticket.
DEFAULT_BRAND_ID = 1
DEFAULT_TICKET_FORM_ID = 1
DEFAULT_CUSTOM_STATUS_IDS = {"new": 1, "open": 2, "pending": 3, "hold": 4, "solved": 5, "closed": 5}


@dataclass(frozen=True)
class Brand:
    """The account's one brand, which every ticket names: read-only, named after the account."""
    id: int
    name: str
    subdomain: str
    created_at: datetime

    @classmethod
    def default_of(cls, name: str, created_at: datetime) -> Brand:
        subdomain = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63] or "support"
        return cls(DEFAULT_BRAND_ID, name, subdomain, created_at)


def sweep_shard(ticket_id: int) -> int:
    return ticket_id % SWEEP_SHARDS


def normalize_tags(tags: str | Iterable[str]) -> tuple[str, ...]:
    """Zendesk tags: lower case, unique, in first-seen order; a space separates two tags."""
    if isinstance(tags, str):
        tags = (tags,)
    return tuple(dict.fromkeys(" ".join(tags).lower().split()))


def normalize_custom_fields(
        values: Mapping[int, str | None] | Iterable[tuple[int, str | None]]) -> tuple[tuple[int, str], ...]:
    """Pairs sorted by field id; an empty value ("" or None) is the same as no value, so it is
    dropped and every ticket has one representation."""
    pairs = values.items() if isinstance(values, Mapping) else values
    return tuple(sorted((int(k), v) for k, v in pairs if v not in (None, "")))


def _utc(when: datetime | None) -> datetime | None:
    # One tzinfo object for every instant keeps datetime comparisons on CPython's fast path.
    return when if when is None or when.tzinfo is UTC else ensure_utc(when)


@dataclass(frozen=True, slots=True)
class Ticket:
    account_id: str
    id: int
    external_id: str | None = None
    subject: str = ""
    description: str = ""
    status: str = "new"
    priority: str = ""
    type: str = ""
    requester_id: int | None = None
    submitter_id: int | None = None
    assignee_id: int | None = None
    group_id: int | None = None
    organization_id: int | None = None
    tags: tuple[str, ...] = ()
    custom_fields: tuple[tuple[int, str], ...] = ()
    custom_status_id: int | None = None
    brand_id: int | None = None
    ticket_form_id: int | None = None
    locale_id: int | None = None
    via_id: int | None = None
    recipient: str | None = None
    satisfaction_score: str = "unoffered"
    due_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    assigned_at: datetime | None = None
    requester_updated_at: datetime | None = None
    assignee_updated_at: datetime | None = None
    sla_next_breach_at: datetime | None = None
    # When the ticket last entered each status, aligned with STATUSES (None: never). A mapping
    # status -> instant is accepted too.
    status_entered_at: tuple[datetime | None, ...] = _NO_STATUS_TIMES
    automation_updates: int = 0  # updates made by automations; Zendesk stops at 100
    swept_cycle: str = ""  # the last sweep cycle whose firings were committed: a retry skips the ticket
    version: int = 1  # the repository's optimistic-concurrency token; with_changes keeps it

    def __post_init__(self) -> None:
        for name, allowed in (("status", STATUSES), ("priority", PRIORITIES), ("type", TICKET_TYPES),
                              ("satisfaction_score", SATISFACTION)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"ticket {name} {getattr(self, name)!r} is not one of {allowed}")
        entered = self.status_entered_at
        if isinstance(entered, Mapping):
            unknown = set(entered) - set(STATUSES)
            if unknown:
                raise ValueError(f"status_entered_at names unknown statuses {sorted(unknown)}")
            entered = tuple(entered.get(s) for s in STATUSES)
        if len(entered) != len(STATUSES):
            raise ValueError(f"status_entered_at needs one entry per status {STATUSES}")
        set_ = object.__setattr__
        set_(self, "status_entered_at", tuple(_utc(t) for t in entered))
        set_(self, "tags", normalize_tags(self.tags))
        set_(self, "custom_fields", normalize_custom_fields(self.custom_fields))
        for name in INSTANTS:
            set_(self, name, _utc(getattr(self, name)))

    @classmethod
    def create(cls, account_id: str, id: int, now: datetime, **values: Any) -> Ticket:
        """A new ticket whose derived timestamps start at ``now``, in the account's brand and
        form and its status's custom status unless ``values`` name others."""
        status = values.get("status", "new")
        derived: dict[str, Any] = {"created_at": now, "updated_at": now, "status_entered_at": {status: now}}
        if values.get("assignee_id") is not None:
            derived["assigned_at"] = now
        defaults = {"brand_id": DEFAULT_BRAND_ID, "ticket_form_id": DEFAULT_TICKET_FORM_ID,
                    "custom_status_id": DEFAULT_CUSTOM_STATUS_IDS.get(status)}
        values = {**values, **{k: v for k, v in defaults.items() if values.get(k) is None}}
        return cls(account_id=account_id, id=id, **(derived | values))

    def custom_field(self, field_id: int) -> str | None:
        for key, value in self.custom_fields:
            if key == field_id:
                return value
        return None

    def entered(self, status: str) -> datetime | None:
        """When the ticket last entered ``status``."""
        return self.status_entered_at[STATUSES.index(status)]

    def with_changes(self, changes: Mapping[str, Any], now: datetime, *, touch: bool = False) -> Ticket:
        """The ticket with ``changes`` (attribute -> new value) applied at ``now``. Derived
        timestamps follow: a new status is entered at ``now``, a new assignee is assigned at
        ``now`` (unassigning clears ``assigned_at``: an unassigned ticket has no "hours since
        assigned"), and ``updated_at`` becomes ``now``; a ticket in its status's system custom
        status moves to the new status's. Values equal to the current ones are not changes;
        with none left the same ticket is returned, unless ``touch`` (a comment was added)."""
        refused = changes.keys() - _CHANGEABLE
        if refused:
            raise ValueError(f"cannot change {sorted(refused)} directly")
        new_status = changes.get("status", self.status)
        if new_status != self.status and "custom_status_id" not in changes \
                and self.custom_status_id == DEFAULT_CUSTOM_STATUS_IDS[self.status]:
            changes = {**changes, "custom_status_id": DEFAULT_CUSTOM_STATUS_IDS.get(new_status)}
        changed = replace(self, **changes)
        real = {name for name in changes if getattr(changed, name) != getattr(self, name)}
        if not real and not touch:
            return self
        now = ensure_utc(now)
        # `changed` is new and not yet shared: finish it in place rather than copy it again
        set_ = object.__setattr__
        set_(changed, "updated_at", now)
        if "status" in real:
            entered = list(changed.status_entered_at)
            entered[STATUSES.index(changed.status)] = now
            set_(changed, "status_entered_at", tuple(entered))
        if "assignee_id" in real:
            set_(changed, "assigned_at", None if changed.assignee_id is None else now)
        return changed


@dataclass(frozen=True)
class TicketDraft:
    """A ticket to create, or a ticket's changes, as its surface read them from a request: the
    fields given, and what was wrong with them. The service raises those problems once it has
    found the ticket (an unknown ticket is 404 whatever the body) and added its own."""

    values: dict[str, Any]  # ticket attribute -> value; custom_fields holds only the fields given
    requester: tuple[str, str | None] | None = None  # (email, name) of a requester given by email
    comment: Comment | None = None  # the comment the change adds (a new ticket's description)
    added_tags: tuple[str, ...] = ()  # added to the ticket's tags, whatever they are when written
    removed_tags: tuple[str, ...] = ()
    problems: tuple[FieldError, ...] = ()

    def names_requester(self) -> bool:
        """Whether it names a requester, one it read or one it found wrong."""
        return (self.requester is not None or self.values.get("requester_id") is not None
                or any(problem.field in ("requester", "requester_id") for problem in self.problems))

    def checked(self, *more: FieldError) -> TicketDraft:
        """This draft, when neither it nor ``more`` holds a problem; else ValidationFailed with all of them."""
        if self.problems or more:
            raise ValidationFailed([*self.problems, *more])
        return self


@dataclass(frozen=True)
class DeletedTicket:
    """A ticket in Zendesk's deleted tickets: out of every listing and of the sweep, until it is
    restored or deleted for good (then its audits go with it)."""

    ticket: Ticket
    deleted_at: datetime
    actor_id: int | None  # who deleted it


INSTANTS = tuple(f.name for f in fields(Ticket) if f.type == "datetime | None")
# Identity, bookkeeping and the timestamps with_changes derives itself are not for callers.
_CHANGEABLE = frozenset(f.name for f in fields(Ticket)) - {
    "account_id", "id", "updated_at", "assigned_at", "status_entered_at", "automation_updates", "swept_cycle",
    "version"}
