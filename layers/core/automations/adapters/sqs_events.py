"""The ingestion queue (SQS): events waiting for the ingestion function."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from automations.adapters.sqs import send_all
from automations.domain.contact_events import ContactEvent
from automations.service.ingestion import JOINS, JOINS_PER_MESSAGE, Event


class SqsEventQueue:
    def __init__(self, client: Callable[[], object], queue_url: Callable[[], str]) -> None:
        # Both resolved on first send: functions that never publish need neither.
        self._client = client
        self._url = queue_url

    def send(self, events: Sequence[Event]) -> None:
        bodies = [json.dumps(event.to_message(), separators=(",", ":")) for event in events]
        if bodies:
            send_all(self._client(), self._url(), bodies, "events")

    def send_joins(self, joins: Sequence[ContactEvent]) -> None:
        bodies = [json.dumps({JOINS: [join.to_dict() for join in joins[start:start + JOINS_PER_MESSAGE]]},
                             separators=(",", ":")) for start in range(0, len(joins), JOINS_PER_MESSAGE)]
        if bodies:
            send_all(self._client(), self._url(), bodies, "joins")
