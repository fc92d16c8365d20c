"""When a contact run is due: delays, send windows, series steps, recurring and date rules, in a
time zone, across DST changes. Pure.

Choices (the README repeats them):
- A delay is elapsed time ("2 days 3 hours" is 51 hours), so a run is never due before its
  trigger plus its delay, whatever the clocks do in between.
- Wall-clock times (window edges, send times, recurring times) are read in the zone given: the
  contact's own timezone where it has one, else the account's.
- A wall-clock time the spring change skips moves forward by the gap (a 02:30 send time becomes
  03:30), except a window's opening, which opens when the clocks jump (03:00); a time the autumn
  change repeats means its first occurrence, so it fires once."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from automations.domain.contact_rules import WEEKEND, WEEKDAYS, ClockTime, Delay, Recurrence, SendWindow
from automations.domain.model import Automation

# A series step with no send time of its own goes at 10:00 (VipeCloud's rule).
DEFAULT_STEP_TIME = ClockTime(10 * 60)


def delay_and_window(automation: Automation) -> tuple[Delay, SendWindow | None]:
    """A contact automation's delay and send window (every contact trigger's config has both)."""
    config = automation.trigger_config or {}
    delay, window = config.get("delay") or {}, config.get("window")
    return (Delay(delay.get("days", 0), delay.get("hours", 0), delay.get("minutes", 0)),
            SendWindow(ClockTime.parse(window["from"]), ClockTime.parse(window["to"])) if window else None)


def instant_of(day: date, at: ClockTime, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``at`` on ``day`` in ``zone``. ``fold=0`` is exactly the rule above:
    for a skipped time it applies the offset from before the change (moving it forward by the
    gap), for a repeated one it picks the first occurrence."""
    wall = datetime.combine(day, time(at.minutes // 60, at.minutes % 60), tzinfo=zone)
    return wall.astimezone(timezone.utc)


def wall_time(instant: datetime, zone: ZoneInfo) -> tuple[date, ClockTime]:
    local = instant.astimezone(zone)
    return local.date(), ClockTime(local.hour * 60 + local.minute)


def into_window(instant: datetime, window: SendWindow | None, zone: ZoneInfo) -> datetime:
    """``instant`` if the window admits it, else the window's next opening."""
    if window is None:
        return instant
    day, at = wall_time(instant, zone)
    if window.admits(at):
        return instant
    if window.start < window.end and at >= window.end:
        day += timedelta(days=1)  # after today's close: tomorrow's opening
    # A window crossing midnight rejects only times between its end and its start: today's opening.
    for _ in range(3):  # a tiny window can lie wholly inside a skipped hour: then the next day's
        opening = _opening(day, window, zone)
        if opening is not None and opening >= instant:
            return opening
        day += timedelta(days=1)
    raise ValueError(f"no opening of {window} in {zone} after {instant}")  # pragma: no cover (impossible)


def _opening(day: date, window: SendWindow, zone: ZoneInfo) -> datetime | None:
    """The first instant of ``day`` the window admits from its start. An opening the spring
    change skips opens when the clocks jump (a window is open from then), not an hour later."""
    wall = datetime.combine(day, time(window.start.minutes // 60, window.start.minutes % 60))
    first, last = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1))
    probe = first  # equal for an ordinary time; for a skipped one, the span around the jump
    while not window.admits(wall_time(probe, zone)[1]):
        probe += timedelta(minutes=1)
        if probe > last:
            return None
    return probe


def due_at(triggered_at: datetime, delay: Delay, window: SendWindow | None, zone: ZoneInfo) -> datetime:
    """Trigger time plus delay, held until the send window opens."""
    return into_window(triggered_at.astimezone(timezone.utc) + delay.total, window, zone)


def series_step_due(previous: datetime, delay_days: int, at: ClockTime | None, weekdays_only: bool,
                    zone: ZoneInfo) -> datetime:
    """A series step's due time, ``delay_days`` calendar days after the previous step (the first
    step: after the series started). A step with neither a delay nor a send time goes with the
    previous one; otherwise at its send time (10:00 without one), never before the previous
    step, and on a weekday when it must be."""
    if delay_days == 0 and at is None and not weekdays_only:
        return previous
    day, _ = wall_time(previous, zone)
    day += timedelta(days=delay_days)
    send_time = at or DEFAULT_STEP_TIME
    for _ in range(10):
        if weekdays_only and weekday_name(day) in WEEKEND:
            day += timedelta(days=1)
            continue
        due = instant_of(day, send_time, zone)
        if due >= previous:
            return due
        day += timedelta(days=1)
    raise ValueError("no step time found")  # pragma: no cover (at most 3 days are ever skipped)


def weekday_name(day: date) -> str:
    return WEEKDAYS[(day.weekday() + 1) % 7]


def recurring_cron(recurrence: Recurrence) -> str:
    """An EventBridge Scheduler cron expression that fires at least on every day the recurrence
    occurs (the target checks ``Recurrence.occurs_on``, which knows last-of-month days and
    weekday-only rules; cron's L is not needed)."""
    minute, hour = recurrence.at.minutes % 60, recurrence.at.minutes // 60
    if isinstance(recurrence.day, int):
        days = str(recurrence.day) if recurrence.day <= 28 else "28-31"
        return f"cron({minute} {hour} {days} * ? *)"
    if recurrence.day in WEEKDAYS:
        return f"cron({minute} {hour} ? * {recurrence.day[:3].upper()} *)"
    return f"cron({minute} {hour} ? * {'MON-FRI' if recurrence.weekday_only else '*'} *)"


def anniversary_on(held: date, local_day: date) -> bool:
    """Whether a date held in a contact's field (a birthday) comes round on ``local_day``: same
    month and day; 29 February comes round on 28 February in other years."""
    if (held.month, held.day) == (local_day.month, local_day.day):
        return True
    leap = local_day.year % 4 == 0 and (local_day.year % 100 != 0 or local_day.year % 400 == 0)
    return (held.month, held.day) == (2, 29) and not leap and (local_day.month, local_day.day) == (2, 28)


def zone_of(*names: str | None) -> ZoneInfo:
    """The first of ``names`` that is a known zone (a contact's, then the account's); else UTC."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (KeyError, ValueError):
                continue
    return ZoneInfo("UTC")
