"""EventBridge Scheduler: a one-time schedule per delayed run, a recurring one per recurring or
date-field automation. Names are derived from what they schedule, so a retried or concurrent
create meets the first (ConflictException, or ClientToken on a retried request) and there is
never a second schedule for one run."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from botocore.exceptions import ClientError

from automations.adapters.dynamo import _is
from automations.clock import ensure_utc
from automations.domain.model import Automation
from automations.domain.run import Run
from automations.service.time_buckets import bucket_task

# Scheduler retries a failed invocation with backoff for up to a day, then dead-letters it; the
# hourly sweep re-drives a run still "scheduled" after that too.
RETRY_POLICY = {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 86_400}


def run_schedule_name(run: Run) -> str:
    return run.id  # "run_" + 24 hex: within Scheduler's 64 characters


def recurring_schedule_name(automation: Automation) -> str:
    digest = hashlib.sha256(f"{automation.account_id}|{automation.id}".encode()).hexdigest()[:32]
    return f"rule_{digest}"


class EventBridgeRunScheduler:
    def __init__(self, client, *, group: str, executor_arn: str, expander_arn: str, role_arn: str,
                 dead_letter_arn: str) -> None:
        self._scheduler = client
        self._group = group
        self._executor = executor_arn
        self._expander = expander_arn
        self._role = role_arn
        self._dead_letter = dead_letter_arn

    def _target(self, arn: str, payload: dict) -> dict:
        return {"Arn": arn, "RoleArn": self._role, "Input": json.dumps(payload, separators=(",", ":")),
                "RetryPolicy": RETRY_POLICY, "DeadLetterConfig": {"Arn": self._dead_letter}}

    def schedule(self, run: Run) -> None:
        self._once(run_schedule_name(run), run.due_at, {"account_id": run.account_id, "run_id": run.id},
                   f"run {run.id} of automation {run.automation_id}")

    def schedule_retry(self, run: Run) -> None:
        self._once(f"{run_schedule_name(run)}.retry{run.attempts}", run.lease_until,
                   {"account_id": run.account_id, "run_id": run.id}, f"run {run.id} of automation {run.automation_id}")

    def schedule_bucket(self, minute: datetime, shard: int, at: datetime) -> None:
        """The schedule of a time bucket (service/time_buckets.py): its dispatcher, at ``at``."""
        self._once(f"due_{minute:%Y%m%d%H%M}_{shard}", at, bucket_task(minute, shard),
                   f"runs due at {minute:%Y-%m-%d %H:%M} UTC in shard {shard}")

    def _once(self, name: str, when: datetime, payload: dict, description: str) -> None:
        at = ensure_utc(when).strftime("%Y-%m-%dT%H:%M:%S")
        try:
            self._scheduler.create_schedule(
                Name=name, GroupName=self._group, ClientToken=name,
                ScheduleExpression=f"at({at})", ScheduleExpressionTimezone="UTC",  # due_at is already DST-correct
                FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
                Target=self._target(self._executor, payload), Description=description)
        except ClientError as e:
            if not _is(e, "ConflictException"):  # scheduled already: the same run, the same name
                raise

    def unschedule(self, run: Run) -> None:
        self._delete(run_schedule_name(run))

    def put_recurring(self, automation: Automation, expression: str, timezone: str) -> None:
        definition = dict(
            Name=recurring_schedule_name(automation), GroupName=self._group, ScheduleExpression=expression,
            ScheduleExpressionTimezone=timezone, FlexibleTimeWindow={"Mode": "OFF"},
            State="ENABLED" if automation.active else "DISABLED",
            Target=self._target(self._expander, {"account_id": automation.account_id,
                                                 "automation_id": automation.id}),
            Description=f"{automation.trigger} automation {automation.id}")
        try:  # an update in the common case (every hour's reconcile): one call
            self._scheduler.update_schedule(**definition)
        except ClientError as e:
            if not _is(e, "ResourceNotFoundException"):
                raise
            try:
                self._scheduler.create_schedule(**definition)
            except ClientError as again:
                if not _is(again, "ConflictException"):  # created concurrently: the same definition
                    raise

    def delete_recurring(self, automation: Automation) -> None:
        self._delete(recurring_schedule_name(automation))

    def _delete(self, name: str) -> None:
        try:
            self._scheduler.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as e:
            if not _is(e, "ResourceNotFoundException"):
                raise
