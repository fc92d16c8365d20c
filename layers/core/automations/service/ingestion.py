"""Event ingestion: every event about a contact that can start automations takes one path.

Events come from three places: the native ``POST /v1/events``, the host application's events on
the product's EventBridge bus, and the contact changes this product makes itself (a contact
created or updated through /v1/contacts, a contact joining a list or community). The first and
the last are put on the ingestion queue here; the bus's rule targets the same queue; the one
ingestion function reads it and hands each event to the run engine (``deliver``). A join is
written with its membership in one transaction (service/events.py); once committed, joins go on
the queue a hundred to a message and reach the engine together (``deliver_joins``), so adding
1,000 members holds the request only for its writes and one SendMessageBatch.

Every event has a deterministic id, derived from what it reports (or from the id its sender gave
it), and the run engine is idempotent on it: an event delivered twice (an SQS redelivery, a
retried request with the same id) creates no second run.

A message starts at most RUNS_PER_MESSAGE runs: a hundred joins on a list with five automations
would be five hundred, an event that fifty automations listen to fifty. Where it stops (an
account, automation and how many of its runs) goes back on the queue with the message, as
``after``, and that message goes on from there; a redelivery of either makes no run twice."""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automations import clock, telemetry
from automations.clock import ensure_utc
from automations.domain import events as names
from automations.domain.contact_events import ContactEvent, event_id
from automations.domain.events import Event
from automations.domain.contacts import is_uuid
from automations.domain.run import MAX_DATA_BYTES, data_size
from automations.errors import NotFound, Problems

if TYPE_CHECKING:
    from automations.ports import EventQueue, RunStarts

MAX_BATCH = 100  # events per POST /v1/events
RUNS_PER_MESSAGE = 100  # a put and a schedule each: about 4 s, inside the ingestion's reserve
_log = logging.getLogger(__name__)


def check_event(name: Any, contact_uuid: Any, data: Any, problems: Problems, where: str = "") -> None:
    """What every event must be, wherever it comes from."""
    names.check_event_name(name, problems, f"{where}event")
    if not is_uuid(contact_uuid):
        problems.add(f"{where}contact_uuid", "Contact uuid: must be a contact's uuid")
    if data is not None and not isinstance(data, dict):
        problems.add(f"{where}data", "Data: must be an object")
    elif data is not None and data_size(data) > MAX_DATA_BYTES:
        problems.add(f"{where}data", f"Data: must not be larger than {MAX_DATA_BYTES // 1024} KB as JSON")


class EventIngestion:
    def __init__(self, queue: EventQueue, launcher: Callable[[], RunStarts]) -> None:
        self._queue = queue
        self._launcher = launcher  # built on first delivery: publishing never needs it

    # -- in ------------------------------------------------------------------------------------
    def submit(self, events: Sequence[Event]) -> None:
        """Queue events that a surface has checked (``check_event``)."""
        self._queue.send(events)

    def contact_changed(self, change: ContactEvent) -> None:
        """``contact_created`` / ``contact_updated`` (already durable in the contact event log,
        written with the contact)."""
        self.submit([Event(change.account_id, change.id, change.event.value, change.contact_uuid, None,
                           change.occurred_at)])

    def joined(self, joins: Sequence[ContactEvent]) -> None:
        """Contacts that joined lists or communities (already durable in the event log)."""
        self._queue.send_joins(joins)

    # -- out -----------------------------------------------------------------------------------
    def deliver_joins(self, joins: list[ContactEvent], after: dict[str, Any] | None = None) -> list:
        """The runs a batch of joins starts (none twice: the run ids come from the join ids), at
        most RUNS_PER_MESSAGE; the rest go on in a message of their own."""
        started = self._launcher().on_contact_events(joins, after=after, limit=RUNS_PER_MESSAGE)
        if started.rest is not None:
            self._queue.send_joins(joins, after=started.rest)
        return started.runs

    def deliver(self, event: Event, after: dict[str, Any] | None = None) -> list:
        """The runs the event starts (none twice), at most RUNS_PER_MESSAGE; the rest go on in a
        message of their own. An event for a contact that does not exist (deleted since, or
        never there) starts nothing: retrying cannot change that."""
        ids = {"account_id": event.account_id, "event_id": event.id, "event": event.name}
        try:
            started = self._launcher().on_event(event.account_id, event.name, event.contact_uuid, data=event.data,
                                                  event_id=event.id, occurred_at=event.occurred_at, after=after,
                                                  limit=RUNS_PER_MESSAGE)
        except NotFound as missing:
            _log.warning("event %s (%s) dropped: %s", event.id, event.name, missing.message)
            dropped("unknown_contact", **ids)
            return []
        if started.rest is not None:
            self._queue.send([event], after=started.rest)
            return started.runs
        telemetry.count("EventsAccepted", **ids)
        telemetry.measure("IngestionLag", max(0.0, (clock.now() - event.occurred_at).total_seconds()), "Seconds", **ids)
        return started.runs


def dropped(reason: str, **properties: Any) -> None:
    """An event the ingestion could not use, counted by why (a small, fixed set of reasons)."""
    telemetry.count("EventsDropped", dimension=("reason", reason), **properties)


def new_event(account_id: str, name: str, contact_uuid: str, data: Any, *, named_by: Sequence[object],
              occurred_at: datetime | None = None) -> Event:
    """An event from outside; ``named_by`` is what identifies it (the sender's own id, or the
    request and position it arrived in)."""
    return Event(account_id, event_id(account_id, *named_by), name, contact_uuid, data,
                 ensure_utc(occurred_at) if occurred_at else clock.now())
