"""EventBridge Scheduler: one-time schedules only, in UTC: one per delayed run, and one per
firing of a recurring or date-field automation (each firing plans the next). Names are derived
from what they schedule, so a retried or concurrent create meets the first (ConflictException,
or ClientToken on a retried request) and there is never a second schedule for one run or one
firing."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters.aws import has_code
from automations.clock import ensure_utc
from automations.domain.messages import BucketDispatch, Expansion, QueueMessage, RunReference
from automations.domain.model import Automation
from automations.domain.run import Run
from automations.domain.timing import Firing

# Scheduler retries a failed invocation with backoff for up to a day, then dead-letters it; the
# hourly sweep re-drives a run still "scheduled" after that too.
RETRY_POLICY = {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 86_400}


def run_schedule_name(run: Run) -> str:
    """"run_" + 24 hex (within Scheduler's 64 characters); a re-planned run's schedule names its
    move, so a move is never taken for the schedule of the time it moved from."""
    return f"{run.id}-moved{run.moves}" if run.moves else run.id


def retry_schedule_name(run: Run) -> str:
    """The attempt and the lease's end (Unix seconds): a run a throttle hands on by a schedule has
    its attempt given back, and must not take an earlier retry's name, which is also the
    ClientToken (whose pattern, [a-zA-Z0-9-_]+, is narrower than a name's: no "."); 53 characters
    and one more for each further digit of a moved run's move count, within Scheduler's 64."""
    return f"{run_schedule_name(run)}-retry{run.attempts}-{int(run.lease_until.timestamp())}"


def bucket_schedule_name(minute: datetime, shard: int) -> str:
    """The schedule of the time bucket (minute, DueIndex shard)."""
    return f"due_{minute:%Y%m%d%H%M}_{shard}"


def firing_schedule_name(automation: Automation, firing: Firing) -> str:
    digest = hashlib.sha256(f"{automation.account_id}|{automation.id}".encode()).hexdigest()[:32]
    return f"rule_{digest}.{firing.day.isoformat()}"  # 48 characters


def at_expression(when: datetime) -> str:
    """``at()`` in UTC, to the second: rounded up, so a schedule never fires before ``when``."""
    when = ensure_utc(when)
    if when.microsecond:
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


class EventBridgeRunScheduler:
    """``client`` gives the Scheduler client, made at the first schedule: the run engine is wired
    on paths that schedule nothing (the executor's first run, mostly)."""

    def __init__(self, client: Callable[[], Any], *, group: str, executor_arn: str, expander_arn: str, role_arn: str,
                 dead_letter_arn: str) -> None:
        self._scheduler = client
        self._group = group
        self._executor = executor_arn
        self._expander = expander_arn
        self._role = role_arn
        self._dead_letter = dead_letter_arn

    def _target(self, arn: str, message: QueueMessage) -> dict:
        return {"Arn": arn, "RoleArn": self._role, "Input": message.to_json(),
                "RetryPolicy": RETRY_POLICY, "DeadLetterConfig": {"Arn": self._dead_letter}}

    def schedule(self, run: Run) -> None:
        self._once(run_schedule_name(run), run.due_at, RunReference(run.account_id, run.id),
                   f"run {run.id} of automation {run.automation_id}")

    def schedule_retry(self, run: Run) -> None:
        self._once(retry_schedule_name(run), run.lease_until,
                   RunReference(run.account_id, run.id), f"run {run.id} of automation {run.automation_id}")

    def schedule_bucket(self, minute: datetime, shard: int, at: datetime) -> None:
        """The schedule of a time bucket (service/time_buckets.py): its dispatcher, at ``at``."""
        self._once(bucket_schedule_name(minute, shard), at, BucketDispatch(minute, shard),
                   f"runs due at {minute:%Y-%m-%d %H:%M} UTC in shard {shard}")

    def _once(self, name: str, when: datetime, message: QueueMessage, description: str) -> None:
        try:
            self._scheduler().create_schedule(
                Name=name, GroupName=self._group, ClientToken=name,  # these names hold no "." (tokens cannot)
                **self._at(when),  # due_at is already DST-correct
                Target=self._target(self._executor, message), Description=description)
        except ClientError as e:
            if not has_code(e, "ConflictException"):  # scheduled already: the same run, the same name
                raise

    @staticmethod
    def _at(when) -> dict:
        return dict(ScheduleExpression=at_expression(when), ScheduleExpressionTimezone="UTC",
                    FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE")

    def unschedule(self, run: Run) -> None:
        self._delete(run_schedule_name(run))

    def put_firing(self, automation: Automation, firing: Firing) -> bool:
        definition = dict(
            Name=firing_schedule_name(automation, firing), GroupName=self._group, **self._at(firing.at),
            State="ENABLED",  # an update replaces the whole definition
            Target=self._target(self._expander, Expansion(automation.account_id, automation.id, firing.day)),
            Description=f"{automation.trigger} automation {automation.id}, firing of {firing.day.isoformat()}")
        try:  # an update in the common case (every hour's check finds it there): one call
            self._scheduler().update_schedule(**definition)
            return False
        except ClientError as e:
            if not has_code(e, "ResourceNotFoundException"):
                raise
        try:
            self._scheduler().create_schedule(**definition)
        except ClientError as e:
            if not has_code(e, "ConflictException"):  # created concurrently: the same definition
                raise
        return True

    def delete_firing(self, automation: Automation, firing: Firing) -> None:
        self._delete(firing_schedule_name(automation, firing))

    def _delete(self, name: str) -> None:
        try:
            self._scheduler().delete_schedule(Name=name, GroupName=self._group)
        except ClientError as e:
            if not has_code(e, "ResourceNotFoundException"):
                raise
