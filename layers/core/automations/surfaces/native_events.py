"""Native API shapes for POST /v1/events (queue messages are read back in queue_events.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field

from automations.errors import Problems
from automations.domain.events import Event
from automations.service.ingestion import MAX_BATCH, check_event, new_event
from automations.surfaces.native_models import Input, Model


def _iso_text(value: Any) -> Any:
    """The document promises ISO 8601 text: pydantic alone would read a number as Unix time."""
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 date and time")
    return value


IsoInstant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class EventIn(Input):
    event: str = Field(description="a Piggy event (contact_updated, ...) or the host's own, with a dot: shop.order_placed")
    contact_uuid: str = Field(description="the contact the event is about")
    data: dict[str, Any] | None = Field(None, description="available to the automation as data.* and run.data.*")
    id: str | None = Field(None, min_length=1, max_length=200,
                           description="your id for the event: the same id sent again starts nothing twice")
    occurred_at: IsoInstant | None = Field(None, description="when it happened (default: when it arrived)")


class EventBatchIn(Input):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(Model):
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
