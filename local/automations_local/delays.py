"""SQS message delays on the product's clock. moto holds a message sent with DelaySeconds back
for that many seconds of real time, whereas the local runtime's clock can be moved: a run queued
with a 60-second delay must come out when the local clock says a minute has passed, not when the
wall clock does, and a jump of an hour must release it at once."""
from __future__ import annotations

from datetime import UTC, datetime

from automations import clock


def _now_ms() -> float:
    return clock.now().timestamp() * 1000


def follow_the_clock() -> None:
    """Make moto's SQS (in this process: its server or mock_aws) measure message delays on the
    clock every piece of product code reads. Idempotent; only delays change (visibility
    timeouts, retention and timestamps stay on real time)."""
    from moto.sqs.models import Message

    if getattr(Message.delay, "follows_the_clock", False):
        return

    def delay(self, delay_seconds: int) -> None:
        self.delayed_until = _now_ms() + int(delay_seconds) * 1000

    delay.follows_the_clock = True
    Message.delay = delay
    Message.delayed = property(lambda self: _now_ms() < self.delayed_until)


def next_release(queue_name: str) -> datetime | None:
    """When the first message that ``queue_name`` holds back comes out, on the clock (None when
    it holds none back): a driver of the clock moves there, as time would."""
    from moto.sqs.models import sqs_backends

    held = [message.delayed_until for regions in sqs_backends.values() for backend in regions.values()
            if (queue := backend.queues.get(queue_name)) is not None
            for message in queue._messages if message.delayed]
    return datetime.fromtimestamp(min(held) / 1000, UTC) if held else None
