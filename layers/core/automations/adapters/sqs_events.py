"""The ingestion queue (SQS): events waiting for the ingestion function."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from automations.adapters.sqs import send_all
from automations.domain.contact_events import ContactEvent
from automations.domain.events import AFTER, JOINS, JOINS_PER_MESSAGE, Event


class SqsEventQueue:
    def __init__(self, client: Callable[[], object], queue_url: Callable[[], str]) -> None:
        # Both resolved on first send: functions that never publish need neither.
        self._client = client
        self._url = queue_url

    def send(self, events: Sequence[Event], after: dict[str, Any] | None = None) -> None:
        bodies = [json.dumps({**event.to_message(), **({AFTER: after} if after else {})}, separators=(",", ":"))
                  for event in events]
        if bodies:
            send_all(self._client(), self._url(), bodies, "events")

    def send_joins(self, joins: Sequence[ContactEvent], after: dict[str, Any] | None = None) -> None:
        per_message = len(joins) if after else JOINS_PER_MESSAGE  # going on: the joins of one message, together
        bodies = [json.dumps({JOINS: [join.to_dict() for join in joins[start:start + per_message]],
                              **({AFTER: after} if after else {})}, separators=(",", ":"))
                  for start in range(0, len(joins), per_message)]
        if bodies:
            send_all(self._client(), self._url(), bodies, "joins")
