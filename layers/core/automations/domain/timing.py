"""When a contact run is due: delays, send windows, series steps, recurring and date rules, in a
time zone, across DST changes. Pure.

Choices (docs/run-engine.md repeats them):
- A delay is elapsed time ("2 days 3 hours" is 51 hours), so a run is never due before its
  trigger plus its delay, whatever the clocks do in between.
- Wall-clock times (window edges, send times, recurring times) are read in the zone given: the
  contact's own timezone where it has one, else the account's.
- A wall-clock time the spring change skips moves forward by the gap (a 02:30 send time becomes
  03:30), except a window's opening, which opens when the clocks jump (03:00); a time the autumn
  change repeats means its first occurrence, so it fires once (a window, though, is open
  whenever the clock reads inside it, in the repeated hour too).
- A window is [from, to).
- Recurring and date-field rules fire on instants computed here (``Firing``), never on a
  scheduler's reading of local time, so no occurrence is skipped or repeated."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from automations.domain.contact_rules import WEEKEND, WEEKDAYS, ClockTime, ContactRule, Delay, SendWindow
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
    # Today's opening if it is still to come (an autumn day can open twice: the repeated hour
    # passes the opening again), else the next day's; a tiny window can lie wholly inside a
    # skipped hour, so that a day has none.
    for offset in range(4):
        opening = _opening(day + timedelta(days=offset), window, zone, instant)
        if opening is not None:
            # Unless the autumn change turns the clocks back into the window before that.
            change = _clocks_change(zone, instant, opening)
            return change if change is not None and window.admits(wall_time(change, zone)[1]) else opening
    raise ValueError(f"no opening of {window} in {zone} after {instant}")  # pragma: no cover (impossible)


def _clocks_change(zone: ZoneInfo, start: datetime, end: datetime) -> datetime | None:
    """The instant in (start, end] at which ``zone``'s clocks change, if they do (asked of a few
    days at most: a zone changes at most once in them). Bisected to the second, as tz changes are."""
    offset = start.astimezone(zone).utcoffset()
    if end.astimezone(zone).utcoffset() == offset:
        return None
    low, high = start, end  # the offset is the old one at low, the new one at high
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        low, high = (middle, high) if middle.astimezone(zone).utcoffset() == offset else (low, middle)
    whole = high.replace(microsecond=0)  # the change is on a whole second: this one or high itself
    return whole if whole > low and whole.astimezone(zone).utcoffset() != offset else high


def _opening(day: date, window: SendWindow, zone: ZoneInfo, not_before: datetime) -> datetime | None:
    """The first instant of ``day`` from ``not_before`` at which the window opens. An opening
    the spring change skips opens when the clocks jump (a window is open from then), not an
    hour later; one the autumn change repeats opens at both of its instants."""
    wall = datetime.combine(day, time(window.start.minutes // 60, window.start.minutes % 60))
    readings = sorted({wall.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1)})
    if all(r.astimezone(zone).replace(tzinfo=None) == wall for r in readings):
        return next((r for r in readings if r >= not_before), None)
    probe = readings[0]  # skipped: the span around the jump
    while not window.admits(wall_time(probe, zone)[1]):
        probe += timedelta(minutes=1)
        if probe > readings[-1]:
            return None
    return probe if probe >= not_before else None


def due_at(triggered_at: datetime, delay: Delay, window: SendWindow | None, zone: ZoneInfo) -> datetime:
    """Trigger time plus delay, held until the send window opens."""
    return into_window(triggered_at.astimezone(timezone.utc) + delay.total, window, zone)


def send_at(not_before: datetime, window: SendWindow | None, zone: ZoneInfo, now: datetime) -> datetime:
    """When a waiting run goes, as its window and zone are ``now``: the first instant the window
    admits in ``zone`` from ``not_before`` (its trigger plus its delay), and not before ``now``.
    A changed window or zone re-plans a run to it, and the executor holds a run to it."""
    return into_window(max(not_before, now), window, zone)


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


# A date-field rule's schedule plans each UTC day this long before the day starts, so the day's
# first sends are planned before they are due.
PLANNING_LEAD = timedelta(hours=1)


@dataclass(frozen=True, order=True)
class Firing:
    """One firing of a recurring or date-field rule's schedule: at ``at`` (UTC), for ``day``. A
    recurring rule fires once on each day it occurs (a local date in the rule's zone), at its
    time; a date-field rule fires once per UTC day, ``PLANNING_LEAD`` before the day, to plan
    the anniversaries that come round in it. Every firing is one instant on one fixed grid, so
    a firing is never skipped or repeated whatever the clocks do."""

    at: datetime
    day: date


def firing_on(rule: ContactRule, zone: ZoneInfo, day: date) -> Firing | None:
    """The rule's firing for ``day``, if it has one (a recurring rule's time is read in ``zone``)."""
    if rule.recurrence is None:
        return Firing(datetime.combine(day, time(), timezone.utc) - PLANNING_LEAD, day)
    return Firing(instant_of(day, rule.recurrence.at, zone), day) if rule.recurrence.occurs_on(day) else None


def next_firing(rule: ContactRule, zone: ZoneInfo, after: datetime) -> Firing:
    """The rule's first firing after ``after``."""
    day = after.astimezone(zone if rule.recurrence else timezone.utc).date() - timedelta(days=1)
    for _ in range(_FIRING_SEARCH_DAYS):
        firing = firing_on(rule, zone, day)
        if firing is not None and firing.at > after:
            return firing
        day += timedelta(days=1)
    raise ValueError(f"no firing of {rule} after {after}")  # pragma: no cover (monthly is the sparsest)


def last_firing(rule: ContactRule, zone: ZoneInfo, until: datetime) -> Firing:
    """The rule's last firing at or before ``until``."""
    day = until.astimezone(zone if rule.recurrence else timezone.utc).date() + timedelta(days=2)
    for _ in range(_FIRING_SEARCH_DAYS):
        firing = firing_on(rule, zone, day)
        if firing is not None and firing.at <= until:
            return firing
        day -= timedelta(days=1)
    raise ValueError(f"no firing of {rule} until {until}")  # pragma: no cover (monthly is the sparsest)


_FIRING_SEARCH_DAYS = 40  # a monthly rule fires at least once in any 31 days (plus a day either side)


def planned_span(firing: Firing) -> tuple[datetime, datetime]:
    """The instants a date-field rule's firing plans: its UTC day, [start, end)."""
    start = datetime.combine(firing.day, time(), timezone.utc)
    return start, start + timedelta(days=1)


def anniversaries_between(held: date, at: ClockTime, zone: ZoneInfo, start: datetime,
                          end: datetime) -> list[tuple[date, datetime]]:
    """The (local day, instant) of each time the date held in a contact's field comes round at
    ``at`` in ``zone`` within [start, end). Consecutive spans plan each anniversary exactly once."""
    day, last = start.astimezone(zone).date() - timedelta(days=1), end.astimezone(zone).date() + timedelta(days=1)
    found = []
    while day <= last:
        instant = instant_of(day, at, zone)
        if anniversary_on(held, day) and start <= instant < end:
            found.append((day, instant))
        day += timedelta(days=1)
    return found


def anniversary_on(held: date, local_day: date) -> bool:
    """Whether a date held in a contact's field (a birthday) comes round on ``local_day``: same
    month and day; 29 February comes round on 28 February in other years."""
    if (held.month, held.day) == (local_day.month, local_day.day):
        return True
    leap = local_day.year % 4 == 0 and (local_day.year % 100 != 0 or local_day.year % 400 == 0)
    return (held.month, held.day) == (2, 29) and not leap and (local_day.month, local_day.day) == (2, 28)


def zone_of(*names: str | None) -> ZoneInfo:
    """The first of ``names`` that is a known zone (a contact's, then the account's); else UTC."""
    return next((zone for zone in map(known_zone, names) if zone is not None), ZoneInfo("UTC"))


def known_zone(name: str | None) -> ZoneInfo | None:
    """The zone named ``name``; None for none or an unknown name."""
    if name:
        try:
            return ZoneInfo(name)
        except (KeyError, ValueError):
            return None
    return None
