"""Native API shapes (/v1/events) and the translation of the ingestion queue's messages: the
product's own (``Event.to_message``) and the EventBridge events its bus's rule delivers (the host
application's: detail-type = event name, detail = {account_id, contact_uuid, data, event_id?})."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from automations.clock import parse_iso
from automations.errors import Problems
from automations.service.events import ContactEvent
from automations.service.ingestion import JOINS, MAX_BATCH, Event, check_event, new_event

_log = logging.getLogger(__name__)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(description="a Piggy event (contact_updated, ...) or the host's own, with a dot: shop.order_placed")
    contact_uuid: str = Field(description="the contact the event is about")
    data: dict[str, Any] | None = Field(None, description="available to the automation as data.* and run.data.*")
    id: str | None = Field(None, min_length=1, max_length=200,
                           description="your id for the event: the same id sent again starts nothing twice")
    occurred_at: AwareDatetime | None = Field(None, description="when it happened (default: when it arrived)")


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    event_ids: list[str] = Field(description="in the order sent; each event's runs are created asynchronously")


def events_in(account_id: str, body: EventIn | EventBatchIn, request_id: str) -> list[Event]:
    """The events of a request, all checked first (422 names every problem)."""
    batch = isinstance(body, EventBatchIn)
    items: Sequence[EventIn] = body.events if batch else [body]
    problems = Problems()
    for index, item in enumerate(items):
        check_event(item.event, item.contact_uuid, item.data, problems, f"events.{index}." if batch else "")
    problems.raise_if_any()
    return [new_event(account_id, item.event, item.contact_uuid, item.data,
                      named_by=("client", item.id) if item.id else ("request", request_id, index),
                      occurred_at=item.occurred_at)
            for index, item in enumerate(items)]


def event_from_message(message: Any) -> Event | None:
    """An ingestion queue message as an event; None (logged) when it cannot be one, since no
    retry would make it one."""
    if isinstance(message, dict) and "detail-type" in message:
        return _from_eventbridge(message)
    try:
        return Event.from_message(message)
    except (KeyError, TypeError, ValueError):
        _log.error("ingestion queue message is not an event: %.200r", message)
        return None


def joins_from_message(message: dict[str, Any]) -> list[ContactEvent]:
    """The joins a queue message carries; those that cannot be read are logged and left out
    (no retry would make them readable)."""
    joins = []
    for item in message.get(JOINS) if isinstance(message.get(JOINS), list) else []:
        try:
            joins.append(ContactEvent.from_dict(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            _log.error("ingestion queue join is not a join: %.200r", item)
    return joins


def _from_eventbridge(envelope: dict[str, Any]) -> Event | None:
    detail = envelope.get("detail") if isinstance(envelope.get("detail"), dict) else {}
    name, account_id, contact_uuid, data = (envelope.get("detail-type"), detail.get("account_id"),
                                            detail.get("contact_uuid"), detail.get("data"))
    problems = Problems()
    check_event(name, contact_uuid, data, problems)
    if not isinstance(account_id, str) or not account_id:
        problems.add("account_id", "Account id: the detail must name the account")
    sender_id = detail.get("event_id")
    if problems.errors:
        _log.error("EventBridge event %s refused: %s", envelope.get("id"), "; ".join(e.message for e in problems.errors))
        return None
    # The sender's own id when it gives one (so a re-sent event is the same event), else EventBridge's.
    named_by = ("host", sender_id) if isinstance(sender_id, str) and sender_id else ("eventbridge", envelope.get("id"))
    sent_at = envelope.get("time")
    try:
        occurred_at = parse_iso(sent_at) if isinstance(sent_at, str) else None
    except ValueError:
        occurred_at = None
    return new_event(account_id, name, contact_uuid, data, named_by=named_by, occurred_at=occurred_at)
