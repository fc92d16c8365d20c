"""Schedules fired on the local clock, since moto never fires any: the template's ScheduleV2 and
Schedule events, and the EventBridge Scheduler schedules the product creates at runtime.

Each schedule has a next due instant; a tick fires every schedule whose instant the clock has
reached, once, however far the clock jumped (a missed schedule fires once, as after an outage),
and computes the next instant from the new time. A clock moved backwards re-anchors recurring
schedules at the new time, so tests can travel to any date and still see them fire."""
from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import boto3
from botocore.exceptions import ClientError

from automations.clock import Clock, iso_z
from automations_local import LOGGER_NAME
from automations_local.background import BackgroundLoop
from automations_local.lambdas import invoke, invoke_async
from automations_local.template import ACCOUNT_ID, Function, FunctionEvent, Template

log = logging.getLogger(LOGGER_NAME)

TICK_INTERVAL_S = 0.5
QUIET_AFTER_CLOCK_MOVE_S = 2.0


class ScheduleExpressionError(ValueError):
    """An expression AWS would refuse, or one this emulator does not support."""


# --- expressions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneTime:
    """at(yyyy-mm-ddThh:mm:ss) in a timezone."""

    instant: datetime

    def first_due(self, anchor: datetime) -> datetime:
        return self.instant  # a past instant is due at once, as a late Scheduler delivery would be

    def next_due(self, due: datetime, now: datetime) -> datetime | None:
        return None


@dataclass(frozen=True)
class Rate:
    period: timedelta

    def first_due(self, anchor: datetime) -> datetime:
        return anchor + self.period

    def next_due(self, due: datetime, now: datetime) -> datetime:
        """One period on, keeping the cadence; after missed periods (a clock jump), one period
        from the new time, so that a test knows when the next one comes."""
        following = due + self.period
        return following if following > now else now + self.period


# AWS cron fields: minutes hours day-of-month month day-of-week year.
_MONTHS = {name: number for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_FIELDS = (("minutes", 0, 59, {}), ("hours", 0, 23, {}), ("day-of-month", 1, 31, {}),
           ("month", 1, 12, _MONTHS), ("day-of-week", 1, 7, _WEEKDAYS), ("year", 1970, 2199, {}))


@dataclass(frozen=True)
class Cron:
    """cron(minutes hours day-of-month month day-of-week year) in a timezone. A local time that
    the spring DST change skips does not fire; one the autumn change repeats fires once."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None  # None: "?"
    months: frozenset[int]
    weekdays: frozenset[int] | None  # AWS numbering: 1 = Sunday
    years: frozenset[int]
    zone: ZoneInfo

    def first_due(self, anchor: datetime) -> datetime | None:
        return self.after(anchor)

    def next_due(self, due: datetime, now: datetime) -> datetime | None:
        return self.after(now)

    def after(self, instant: datetime) -> datetime | None:
        day = instant.astimezone(self.zone).date()
        # Bounded: years and months that cannot match are skipped in one step each, so even a
        # date that never exists (31 April) ends at the year field's limit well within this.
        for _ in range(50_000):
            if day.year > 2199:
                return None
            if day.year not in self.years:
                day = date(day.year + 1, 1, 1)
            elif day.month not in self.months:
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            else:
                found = self._on(day, instant)
                if found is not None:
                    return found
                day += timedelta(days=1)
        return None

    def _on(self, day: date, instant: datetime) -> datetime | None:
        if self.days is not None and day.day not in self.days:
            return None
        if self.weekdays is not None and day.isoweekday() % 7 + 1 not in self.weekdays:
            return None
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
                utc = wall.astimezone(timezone.utc)
                if utc.astimezone(self.zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
                    continue  # skipped by the spring change
                if utc > instant:
                    return utc
        return None


Expression = OneTime | Rate | Cron

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)")
_AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")
_CRON = re.compile(r"cron\((.*)\)")


def parse_expression(expression: str, zone_name: str | None = None) -> Expression:
    """A schedule expression as EventBridge Scheduler reads it; raises ScheduleExpressionError."""
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleExpressionError(f"unknown ScheduleExpressionTimezone {zone_name!r}") from None
    text = (expression or "").strip()
    if match := _RATE.fullmatch(text):
        value, unit = int(match.group(1)), match.group(2).rstrip("s")
        if value < 1:
            raise ScheduleExpressionError(f"{text}: the rate must be positive")
        return Rate(timedelta(**{f"{unit}s": value}))
    if match := _AT.fullmatch(text):
        try:
            wall = datetime.fromisoformat(match.group(1))
        except ValueError:
            raise ScheduleExpressionError(f"{text}: not a date and time") from None
        return OneTime(wall.replace(tzinfo=zone).astimezone(timezone.utc))
    if match := _CRON.fullmatch(text):
        return _cron(match.group(1).split(), zone, text)
    raise ScheduleExpressionError(f"{text!r} is not at(...), rate(...) or cron(...)")


def _cron(parts: list[str], zone: ZoneInfo, text: str) -> Cron:
    if len(parts) != 6:
        raise ScheduleExpressionError(f"{text}: a cron expression has 6 fields")
    if (parts[2] == "?") == (parts[4] == "?"):
        raise ScheduleExpressionError(f"{text}: exactly one of day-of-month and day-of-week must be ?")
    values = [None if part == "?" else _cron_field(part, *spec, text) for part, spec in zip(parts, _FIELDS)]
    minutes, hours, days, months, weekdays, years = values
    return Cron(tuple(sorted(minutes)), tuple(sorted(hours)), days, months, weekdays, years, zone)


def _cron_field(text: str, name: str, low: int, high: int, names: dict[str, int], expression: str) -> frozenset[int]:
    def number(token: str) -> int:
        value = names.get(token.upper()) if token.isalpha() else int(token) if token.isdigit() else None
        if value is None or not low <= value <= high:
            raise ScheduleExpressionError(f"{expression}: {token!r} in {name} (L, W and # are not supported locally)")
        return value

    chosen: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ScheduleExpressionError(f"{expression}: bad step {step_text!r} in {name}")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (number(token) for token in span.split("-", 1))
            if start > end:
                raise ScheduleExpressionError(f"{expression}: wrap-around range {span!r} in {name}")
        else:
            start = number(span)
            end = high if step else start
        chosen.update(range(start, end + 1, step or 1))
    return frozenset(chosen)


# --- schedules -----------------------------------------------------------------------------------


@dataclass
class Schedule:
    """A schedule the emulator fires, from the template or from the Scheduler API."""

    name: str
    group: str | None
    source: str  # "template" | "scheduler"
    function: Function
    expression: Expression
    payload: Callable[[datetime], Any]  # the event for an invocation due at that instant
    next_due: datetime | None = None
    start: datetime | None = None  # StartDate / EndDate of a Scheduler schedule
    end: datetime | None = None
    delete_after: bool = False  # ActionAfterCompletion: DELETE
    event: FunctionEvent | None = None  # the template event it comes from
    version: tuple = ()  # what identifies this definition of a Scheduler schedule

    def anchor(self, instant: datetime) -> None:
        self.next_due = self.expression.first_due(max(instant, self.start) if self.start else instant)

    def is_due(self, now: datetime) -> bool:
        return self.next_due is not None and self.next_due <= now and (self.end is None or self.next_due <= self.end)


def _template_schedules(template: Template) -> list[Schedule]:
    """ScheduleV2 (EventBridge Scheduler) and Schedule (EventBridge rule) events of the template."""
    schedules = []
    for event in template.events("ScheduleV2", "Schedule"):
        properties = event.properties
        if properties.get("State") == "DISABLED" or properties.get("Enabled") is False:
            continue
        text = properties.get("ScheduleExpression") or properties.get("Schedule")
        expression = parse_expression(text, properties.get("ScheduleExpressionTimezone"))  # loud: a template bug
        name = properties.get("Name") or f"{event.function_id}{event.name}"
        if "Input" in properties:
            payload = _constant(_input(properties["Input"]))
        elif event.type == "ScheduleV2":
            payload = _constant({})
        else:
            payload = _scheduled_event(template, name)
        schedules.append(Schedule(name, properties.get("GroupName"), "template", template.functions[event.function_id],
                                  expression, payload, event=event))
    return schedules


def _constant(value: Any) -> Callable[[datetime], Any]:
    return lambda due: value


def _input(text: Any) -> Any:
    """A target's Input: JSON text is parsed; anything else is passed as it is."""
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _scheduled_event(template: Template, rule: str) -> Callable[[datetime], dict]:
    """An EventBridge rule's "Scheduled Event", stamped with the due instant."""
    def payload(due: datetime) -> dict:
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                "account": ACCOUNT_ID, "time": iso_z(due), "region": template.region,
                "resources": [f"arn:aws:events:{template.region}:{ACCOUNT_ID}:rule/{rule}"], "detail": {}}
    return payload


# --- the scheduler -------------------------------------------------------------------------------


class LocalScheduler:
    """Fires due schedules against ``clock``: in the background while started, and on demand
    with ``tick()``."""

    def __init__(self, template: Template, clock: Clock, *, tick_interval_s: float = TICK_INTERVAL_S) -> None:
        self.template = template
        self.clock = clock
        session = boto3.session.Session(region_name=template.region)
        self._api = session.client("scheduler")
        self._lock = threading.RLock()
        self._last_now = clock.now()
        self.template_schedules = _template_schedules(template)
        for schedule in self.template_schedules:
            schedule.anchor(self._last_now)
        self._created: dict[tuple[str, str], Schedule] = {}  # (group, name) -> Scheduler API schedule
        self._completed: set[tuple] = set()  # versions of one-time schedules that fired
        self._refused: set[tuple] = set()  # versions already reported as unusable
        self._rewound_to: datetime | None = None  # where the clock was set back to, for the next tick
        self._quiet_until = 0.0
        self._loop = BackgroundLoop("automations-local-scheduler", self._tick_in_background, tick_interval_s,
                                    "the scheduler tick")

    # --- ticking ---------------------------------------------------------------------------

    def tick(self, *, unless_held: bool = False) -> list[dict]:
        """Fire everything due now; what was fired, in due order. ``unless_held``: the
        background's tick, which does nothing while held (see hold_background)."""
        with self._lock:
            now = self.clock.now()
            if unless_held and time.monotonic() < self._quiet_until:
                return []  # read after now: a clock moved after the hold was set is not seen here
            rewound, self._rewound_to = self._rewound_to, None
            if rewound is not None or now < self._last_now:
                self._rewind(min(rewound or now, now))
            # Scheduler schedules first seen now were created since the previous tick: anchor
            # them there, so a clock jump right after creating one does not skip its first run.
            self._sync_created(self._last_now)
            due = sorted((s for s in self._schedules() if s.is_due(now)), key=lambda s: s.next_due)
            fired = [self._fire(schedule, now) for schedule in due]
            self._last_now = now
            return fired

    def _tick_in_background(self) -> bool:
        self.tick(unless_held=True)
        return False  # every interval, however much fired

    def run_now(self, schedule: Schedule) -> Any:
        """Invoke a schedule's function now, as its run: the background will not fire it again
        until its next instant after now. Returns what the function returned; raises what it raised."""
        with self._lock:
            now = self.clock.now()
            schedule.next_due = schedule.expression.next_due(now, now)
            return invoke(schedule.function, schedule.payload(now), region=self.template.region)

    def clock_moved(self) -> None:
        """Tell the scheduler the clock was just moved. Set back, recurring schedules start again
        from the time it was set to (even if it moves forward again before the next tick);
        forward, nothing changes until a tick fires what became due."""
        now = self.clock.now()
        if now < self._last_now:
            self._rewound_to = now

    def _rewind(self, to: datetime) -> None:
        for schedule in self._schedules():
            if not isinstance(schedule.expression, OneTime):
                schedule.anchor(to)
        self._last_now = to

    def hold_background(self, seconds: float = QUIET_AFTER_CLOCK_MOVE_S) -> None:
        """Keep the background ticker from firing for a moment; called before moving the clock,
        so that a test that moves it and then ticks gets what the move made due in its own
        tick's answer (the effects would be the same, but the answer would be empty)."""
        self._quiet_until = time.monotonic() + seconds

    def _schedules(self) -> list[Schedule]:
        return [*self.template_schedules, *self._created.values()]

    def _fire(self, schedule: Schedule, now: datetime) -> dict:
        due = schedule.next_due
        record = {"schedule": schedule.name, "group": schedule.group, "source": schedule.source,
                  "function": schedule.function.logical_id, "due_at": iso_z(due), "fired_at": iso_z(now)}
        # Scheduler invokes Lambda asynchronously: a function error is Lambda's to retry and route
        # to the function's failure destination; the schedule's retry policy and dead-letter queue
        # cover only failures to invoke, which cannot happen to a function of the template.
        _, error = invoke_async(schedule.function, schedule.payload(due), region=self.template.region)
        if error is not None:
            record["error"] = f"{type(error).__name__}: {error}"
        schedule.next_due = schedule.expression.next_due(due, now)
        if isinstance(schedule.expression, OneTime):
            self._complete(schedule)
        return record

    # --- schedules created through the Scheduler API ----------------------------------------

    def _sync_created(self, anchor: datetime) -> None:
        listed = {}
        for page in self._api.get_paginator("list_schedules").paginate():
            for summary in page["Schedules"]:
                key = (summary["GroupName"], summary["Name"])
                listed[key] = (*key, summary["CreationDate"], summary["LastModificationDate"], summary["State"])
        for key in set(self._created) - set(listed):
            del self._created[key]
        # Remember completed and refused versions only while they are still listed.
        self._completed &= set(listed.values())
        self._refused &= set(listed.values())
        for key, version in listed.items():
            known = self._created.get(key)
            if known is not None and known.version == version:
                continue
            self._created.pop(key, None)
            if version[-1] != "ENABLED" or version in self._completed or version in self._refused:
                continue
            schedule = self._created_schedule(key, version)
            if schedule is not None:
                schedule.anchor(anchor)
                self._created[key] = schedule

    def _created_schedule(self, key: tuple[str, str], version: tuple) -> Schedule | None:
        group, name = key
        try:
            details = self._api.get_schedule(GroupName=group, Name=name)
        except ClientError:
            return None  # deleted since it was listed
        target = details.get("Target") or {}
        try:
            expression = parse_expression(details["ScheduleExpression"], details.get("ScheduleExpressionTimezone"))
            function = self._function_of(target.get("Arn", ""))
        except (ScheduleExpressionError, LookupError) as error:
            log.error("schedule %s/%s is skipped: %s", group, name, error)
            self._refused.add(version)
            return None
        payload = _constant(_input(target["Input"]) if "Input" in target else {})
        return Schedule(name, group, "scheduler", function, expression, payload,
                        start=details.get("StartDate"), end=details.get("EndDate"),
                        delete_after=details.get("ActionAfterCompletion") == "DELETE", version=version)

    def _function_of(self, arn: str) -> Function:
        """The template function a Lambda target ARN names (its ARN, name or logical id)."""
        name = arn.split(":")[6] if arn.startswith("arn:aws:lambda:") and arn.count(":") >= 6 else None
        for function in self.template.functions.values():
            if arn == self.template.arn(function.logical_id) or name in (function.name, function.logical_id):
                return function
        raise LookupError(f"target {arn!r} is not a function of the template")

    def _complete(self, schedule: Schedule) -> None:
        self._completed.add(schedule.version)
        self._created.pop((schedule.group, schedule.name), None)
        if schedule.delete_after:
            try:
                self._api.delete_schedule(GroupName=schedule.group, Name=schedule.name)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":  # gone already is fine
                    log.warning("could not delete fired schedule %s/%s: %s", schedule.group, schedule.name, error)

    # --- background ------------------------------------------------------------------------

    def start(self, *, paused: Callable[[], bool] | None = None) -> LocalScheduler:
        """Tick in the background; ``paused()`` true skips a round."""
        self._loop.start(paused)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._loop.stop(timeout_s)
