"""Scheduling at volume: one schedule per run while few are due, one per (minute, shard) when many.

EventBridge Scheduler invokes at most 1,000 targets a second, so a million runs due in one
minute would take 17 minutes to fire one schedule each. Runs are already kept in the DueIndex by
due time, in shards; so while a (minute, shard) holds at most PER_RUN_SCHEDULES runs, each gets
its own schedule (precise, as before), and the next one to fall in it makes one schedule for the
whole bucket instead. That schedule fires when the minute is over (a run is never sent early;
at most a minute late, Scheduler's own precision) and starts ``dispatch``, which reads the
bucket's runs from the DueIndex and queues them on the run queue, ten to a message batch, for
executors that take ten at a time. A bucket too big for one invocation is handed on through the
queue with where it stopped.

Exactly once holds as in per-run mode: the executor claims each run with a conditional write,
so a run that also had its own schedule, or is queued twice, runs once; a cancelled run is
skipped by the executor; a run whose bucket schedule was lost waits in the DueIndex for the
hourly re-drive, as a run whose own schedule was lost does.

Every scheduled run has a schedule: its own, or its bucket's. A run is numbered by the bucket's
counter when it is handed on; a redelivered hand-on (after a throttled CreateSchedule, say)
numbers its runs again, higher, so the counter counts hand-ons rather than runs, and a run can
be numbered past every "make the bucket's schedule" mark without ever meeting one. So the mark
is not a number: the counter item carries a flag, set once the bucket's schedule is made, and
every hand-on that puts a run past PER_RUN_SCHEDULES makes the schedule while the flag is unset.
A run past the threshold is therefore covered once its hand-on returns, however often it was
numbered, and one at or under it has its own schedule."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from automations.domain.messages import BucketDispatch, Continued, in_pages
from automations.domain.model import Automation
from automations.domain.run import Run
from automations.domain.timing import Firing

if TYPE_CHECKING:
    from automations.ports import BucketScheduler, BucketStore, RunQueue

PER_RUN_SCHEDULES = 100  # per (minute, shard): 3,200 a minute over the 32 shards, 53 a second
DISPATCH_PAGE = 100


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


class TimeBuckets:
    """A RunScheduler that picks per-run or bucket scheduling, and the buckets' dispatcher."""

    def __init__(self, scheduler: BucketScheduler, store: BucketStore, queue: RunQueue) -> None:
        self._scheduler = scheduler
        self._store = store
        self._queue = queue

    def schedule_all(self, runs: list[Run]) -> None:
        """Each bucket's counter moves once for all of ``runs`` in it; the runs it numbers up to
        PER_RUN_SCHEDULES get their own schedules, and any past it the bucket's (made unless the
        counter says it was). Raises (a throttle, an outage) before every run has a schedule:
        the caller's retry hands them on again."""
        buckets: dict[tuple[datetime, int], list[Run]] = {}
        for run in runs:
            buckets.setdefault((minute_of(run.due_at), self._store.due_shard(run)), []).append(run)
        for (minute, shard), members in buckets.items():
            last, bucket_made = self._store.count_due(minute, shard, len(members))
            own = max(0, min(len(members), PER_RUN_SCHEDULES - (last - len(members))))
            for run in members[:own]:
                self._scheduler.schedule(run)
            if own < len(members) and not bucket_made:
                self._scheduler.schedule_bucket(minute, shard, minute + timedelta(minutes=1))
                self._store.bucket_scheduled(minute, shard)

    # Retries, cancels and the firings of recurring and date-field rules: as they were.
    def schedule_retry(self, run: Run) -> None:
        self._scheduler.schedule_retry(run)

    def unschedule(self, run: Run) -> None:
        self._scheduler.unschedule(run)

    def put_firing(self, automation: Automation, firing: Firing) -> bool:
        return self._scheduler.put_firing(automation, firing)

    def delete_firing(self, automation: Automation, firing: Firing) -> None:
        self._scheduler.delete_firing(automation, firing)

    def dispatch(self, task: BucketDispatch, has_time: Callable[[], bool]) -> Continued[int]:
        """Queue the runs of one bucket for execution, handing the rest on when time runs short.
        Returns how many were queued."""
        return in_pages(task, self._dispatch_page, has_time=has_time, hand_on=self._queue.dispatch_later)

    def _dispatch_page(self, task: BucketDispatch) -> tuple[int, BucketDispatch | None]:
        refs, after = self._store.due_in_minute(task.shard, task.due_minute, DISPATCH_PAGE, task.after)
        if refs:
            self._queue.execute_soon(refs)
        return len(refs), replace(task, after=after) if after else None
