"""What a run sends: an email, an SMS, a webhook call or an event. Its id is deterministic (the
run's id and the action's index), and it is stored before it is sent, so a retried run finds it
and never sends twice."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DeliveryStatus(StrEnum):
    PENDING = "pending"      # stored, not yet attempted
    SENDING = "sending"      # claimed by one sender
    SENT = "sent"
    FAILED = "failed"        # gave up after retries, or nothing to send to
    SKIPPED = "skipped"      # nothing to send to (e.g. a ticket without requester)
    # Handed to the provider by a sender that stopped before recording the answer: never sent
    # again (that could send it twice), and shown as such.
    UNCONFIRMED = "unconfirmed"


UNCONFIRMED_REASON = "the sender stopped before recording the provider's answer; not sent again"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"
    EVENT = "event"


def delivery_id(run_id: str, action_index: int, part: int = 0) -> str:
    return f"{run_id}.{action_index}.{part}"


def announcement_id(run_id: str) -> str:
    """The delivery that announces a run's success (``automation.run.succeeded``)."""
    return f"{run_id}.succeeded"


@dataclass(frozen=True)
class Delivery:
    account_id: str
    id: str
    run_id: str
    channel: Channel
    recipient: str  # email address, phone number, webhook id or event bus detail-type
    subject: str
    body: str
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    provider_id: str | None = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    claimed_at: datetime | None = None  # when a sender last took it (pending -> sending)


class TransientDeliveryError(Exception):
    """Worth retrying later (a timeout, a 5xx, throttling)."""


class Throttled(TransientDeliveryError):
    """The provider asks us to slow down: the send waits, and the wait is not a failed attempt."""


class PermanentDeliveryError(Exception):
    """Retrying cannot help (no such webhook, a 4xx, a refused address)."""
