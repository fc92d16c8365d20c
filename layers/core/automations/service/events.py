"""Contact events: THE one place they are shaped, emitted and read.

A contact joining a list or a community, and a contact created or changed, are events that the
run engine consumes. Each record is written in the same transaction as the write it reports
(adapters/dynamo_contacts.py puts ``event.to_dict()`` beside the conditional membership or
contact write), so there is never a write without its event or an event without its write, and
a concurrent or retried write produces one of each.

Consumers either subscribe (``ContactEvents.subscribe``: called in-process with each batch
after it commits, e.g. to create runs at once) or read the durable log (``ContactEvents.since``: in
order, by cursor, e.g. to catch up after a failure). Event ids are deterministic, so a consumer
can use them as idempotency keys."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from automations.clock import ensure_utc, sortable
from automations.domain.contacts import GroupKind
from automations.paging import MAX_PAGE_SIZE

# How long the log keeps an event (the table's TTL removes it after): long enough to replay a
# consumer's outage, short enough not to grow forever.
RETENTION = timedelta(days=90)
_log = logging.getLogger(__name__)


class ContactEventKind(StrEnum):
    LIST_JOINED = "list_joined"
    COMMUNITY_JOINED = "community_joined"
    CONTACT_CREATED = "contact_created"
    CONTACT_UPDATED = "contact_updated"


_JOINED = {GroupKind.LIST: (ContactEventKind.LIST_JOINED, "list_id"),
           GroupKind.COMMUNITY: (ContactEventKind.COMMUNITY_JOINED, "community_id")}
_GROUP_KEY = dict(_JOINED.values())  # join event kind -> the key naming its group
JOINS = tuple(_GROUP_KEY)


@dataclass(frozen=True)
class ContactEvent:
    event: ContactEventKind
    account_id: str
    contact_uuid: str
    group_id: int | None  # joins only
    occurred_at: datetime
    id: str

    @property
    def is_join(self) -> bool:
        return self.event in JOINS

    def to_dict(self) -> dict[str, Any]:
        doc = {"event": self.event.value, "account_id": self.account_id, "contact_uuid": self.contact_uuid,
               "occurred_at": sortable(self.occurred_at), "id": self.id}
        if self.is_join:
            doc[_GROUP_KEY[self.event]] = self.group_id
        return doc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactEvent:
        kind = ContactEventKind(data["event"])
        return cls(event=kind, account_id=data["account_id"], contact_uuid=data["contact_uuid"],
                   group_id=data[_GROUP_KEY[kind]] if kind in JOINS else None,
                   occurred_at=datetime.fromisoformat(data["occurred_at"].replace("Z", "+00:00")), id=data["id"])

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind.LIST if self.event == ContactEventKind.LIST_JOINED else GroupKind.COMMUNITY


def joined(account_id: str, kind: GroupKind, group_id: int, contact_uuid: str, at: datetime) -> ContactEvent:
    """The event of ``contact_uuid`` joining a group at ``at``. The id is derived from all of
    them: the same join always names the same event; leaving and joining again is a new one."""
    event, _ = _JOINED[kind]
    digest = hashlib.sha256(f"{account_id}|{event}|{group_id}|{contact_uuid}|{sortable(at)}".encode())
    return ContactEvent(event=event, account_id=account_id, contact_uuid=contact_uuid, group_id=group_id,
                        occurred_at=ensure_utc(at), id="evt_" + digest.hexdigest()[:24])


def event_id(account_id: str, *parts: object) -> str:
    """The same report (account and what names it) always gets the same id."""
    digest = hashlib.sha256("|".join(map(str, (account_id, *parts))).encode())
    return "evt_" + digest.hexdigest()[:24]


def changed(kind: ContactEventKind, account_id: str, contact_uuid: str, version: int, at: datetime) -> ContactEvent:
    """A contact created (version 1) or changed (each later version): one event per version, so
    the same change reported twice is the same event."""
    return ContactEvent(event=kind, account_id=account_id, contact_uuid=contact_uuid, group_id=None,
                        occurred_at=ensure_utc(at), id=event_id(account_id, kind.value, contact_uuid, version))


class ContactEventLog(Protocol):
    """The durable log (DynamoDB: adapters/dynamo_contacts.DynamoContactEventLog)."""

    def append(self, event: ContactEvent) -> bool:
        """Store an event not tied to another write; False when it is already stored."""

    def read(self, account_id: str, *, after: str | None, since: datetime | None,
             limit: int) -> tuple[list[ContactEvent], str | None]:
        """Events in time order after the opaque cursor ``after`` (or from ``since``), and the
        cursor of the next page (None at the end)."""


class ContactEventSink(Protocol):
    def emit(self, event: ContactEvent) -> None: ...


Listener = Callable[[list[ContactEvent]], None]  # a batch: one bulk add is one call


class ContactEvents:
    """Emitting and reading contact events. Writers that store an event inside their own
    transaction (memberships) call ``committed`` once it has committed; others call ``emit``."""

    def __init__(self, log: ContactEventLog) -> None:
        self._log = log
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """``listener`` sees every event emitted by this process after it is durable, a committed
        batch at a time. A failing listener does not undo the events (the log keeps them for a
        later catch-up)."""
        self._listeners.append(listener)

    def emit(self, event: ContactEvent) -> None:
        if self._log.append(event):
            self.committed([event])

    def committed(self, events: Iterable[ContactEvent]) -> None:
        batch = list(events)
        if not batch:
            return
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:  # the events are durable; a consumer catches up from the log
                _log.exception("contact event listener failed (events %s...)", batch[0].id)

    def since(self, account_id: str, *, cursor: str | None = None, since: datetime | None = None,
              limit: int = MAX_PAGE_SIZE) -> tuple[list[ContactEvent], str | None]:
        """An account's events in the order they happened, a page at a time."""
        return self._log.read(account_id, after=cursor, since=since, limit=limit)
