"""Contact events (their shape: domain/contact_events.py): emitted and read here.

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

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from automations.domain.contact_events import ContactEvent
from automations.paging import MAX_PAGE_SIZE

if TYPE_CHECKING:
    from automations.ports import ContactEventLog

_log = logging.getLogger(__name__)


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
