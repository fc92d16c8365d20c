"""Event names an automation can be triggered by. Pure.

A name without a dot is one of Piggy's events (the list in its docs and webhooks); a name with a
dot (``shop.order_placed``) is the host application's own event, free-form within 1-100 of
``[A-Za-z0-9_.-]``. Event automations on a Piggy event are the "Piggy kind": the Piggy surface
shows them, so an unknown dot-less name is refused rather than stored for a client to trip on."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations.clock import parse_iso, sortable
from automations.errors import Problems

PIGGY_EVENTS = (
    "contact_created", "contact_updated", "credit_reception_created", "physical_reward_reception_created",
    "prepaid_transaction_created", "voucher_created", "voucher_updated", "voucher_redeemed",
    "form_submission_completed", "referral_completed", "contact_identifier_created", "reward_updated",
    "promotion_updated",
)
# The one Piggy event whose automations may be run through Piggy's API.
RUNNABLE_PIGGY_EVENT = "contact_updated"
MAX_EVENT_NAME = 100
_HOST_EVENT = re.compile(r"[A-Za-z0-9_.\-]{1,%d}" % MAX_EVENT_NAME)


def is_piggy_event(name: Any) -> bool:
    return name in PIGGY_EVENTS


def check_event_name(name: Any, problems: Problems, field_name: str = "trigger_config.event") -> None:
    if not isinstance(name, str) or not name:
        problems.add(field_name, "Event: must be an event name")
    elif "." not in name:
        if not is_piggy_event(name):
            problems.add(field_name, f'Event: "{name}" is not a Piggy event ({", ".join(PIGGY_EVENTS)}); '
                                     "the host application's own events have a dot in their name, "
                                     "like shop.order_placed")
    elif not _HOST_EVENT.fullmatch(name):
        problems.add(field_name, f"Event: a host application's event name is 1 to {MAX_EVENT_NAME} letters, "
                                 "digits, dots, underscores or dashes")


# -- on the ingestion queue -------------------------------------------------------------------------
JOINS = "joins"  # the key of a queue message carrying a batch of list and community joins
JOINS_PER_MESSAGE = 100  # about 25 KB, well inside SQS's 256 KB
AFTER = "after"  # the key of where a message that met RUNS_PER_MESSAGE goes on from


@dataclass(frozen=True)
class Event:
    """An event about one contact, on its way to the run engine."""

    account_id: str
    id: str
    name: str
    contact_uuid: str
    data: Any
    occurred_at: datetime

    def to_message(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "id": self.id, "event": self.name, "contact_uuid": self.contact_uuid,
                "data": self.data, "occurred_at": sortable(self.occurred_at)}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Event:
        return cls(account_id=message["account_id"], id=message["id"], name=message["event"],
                   contact_uuid=message["contact_uuid"], data=message.get("data"),
                   occurred_at=parse_iso(message["occurred_at"]))
