"""The hourly sweep's messages and counts: what the coordinator and the workers pass each other
on their queues (each a dataclass travelling as one message of JSON), and what a pass did."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from automations.domain.messages import QueueMessage


@dataclass(frozen=True)
class SweepTask(QueueMessage):
    """One worker message: a shard of one account's tickets, from ``start`` on."""

    sweep_id: str
    cycle: str
    now: str  # the cycle's reference instant, ISO-8601
    account_id: str
    shard: int
    start: dict[str, Any] | None = None


SWEEP, HOURLY_CHECK = "sweep", "hourly_check"  # what a fan-out gives each account


@dataclass(frozen=True)
class FanOut(QueueMessage):
    """One coordinator message: what is left of an hour's pass over every account, the accounts
    after ``after`` (all of them when None). ``purpose`` says what each account gets: its sweep
    tasks (SWEEP), or its hourly check queued (HOURLY_CHECK)."""

    purpose: str
    sweep_id: str
    cycle: str
    now: str  # the cycle's reference instant, ISO-8601
    after: str | None = None


@dataclass
class SweepStats:
    tickets_evaluated: int = 0
    automations_fired: int = 0
    tickets_updated: int = 0
    notifications_sent: int = 0
    firings_failed: int = 0  # recorded as failed runs (GET /v1/runs?status=failed), with the reason
    tickets_failed: int = 0  # tickets the sweep could not handle at all this cycle (logged with their ids)
    shards_started: int = 0  # tasks the coordinator sent (a page resent after a crash counts again, as do its tasks)
    shards_done: int = 0  # tasks that reached the end of their shard: fewer than started means some failed

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
