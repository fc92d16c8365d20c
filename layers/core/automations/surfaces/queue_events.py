"""Messages on the ingestion queue, read back into events: the product's own (from /v1/events
and contact changes), batches of list and community joins, and the host application's events as
the bus rule delivers them. Kept apart from the /v1/events models, so the ingestion function
imports no pydantic."""
from __future__ import annotations

import logging
from typing import Any

from automations.clock import parse_iso
from automations.errors import Problems
from automations.domain.contact_events import ContactEvent
from automations.domain.events import AFTER, JOINS, Event
from automations.service.ingestion import check_event, new_event

_log = logging.getLogger(__name__)


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


def after_from_message(message: dict[str, Any]) -> dict[str, Any] | None:
    """Where a message that met its limit of runs goes on from (domain/events.py AFTER): for joins the
    account, automation and runs of it done, for an event the automation. None when the message
    has none, or one that cannot be read (logged): the message is then taken from its start,
    which makes no run twice."""
    after = message.get(AFTER)
    if after is None:
        return None
    keys = {"account_id", "automation_id", "runs"} if JOINS in message else {"automation_id"}
    if (isinstance(after, dict) and set(after) == keys and all(_whole(after[k]) for k in keys - {"account_id"})
            and isinstance(after.get("account_id", ""), str)):
        return after
    _log.error("ingestion queue message goes on from an unreadable position, taken from its start: %.200r", after)
    return None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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
