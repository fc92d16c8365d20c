"""An account's business hours: a weekly schedule of wall-clock intervals in an IANA zone, and
the business time between two instants, which Zendesk's ``*_business_hours`` operators count.

Business time is the measure of the instants whose local wall clock reads inside one of that
day's intervals. Across a DST change this is exact: on the spring-forward day an interval
covering the skipped hour is an hour shorter, on the fall-back day an interval covering the
repeated hour counts it twice. Work is per local day and interval (O(days)), never per minute.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Schedule = tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Monday = 0): (start, end) minutes

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
DEFAULT_SCHEDULE: Schedule = tuple(((9 * 60, 17 * 60),) if d < 5 else () for d in range(7))

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
# Walks give up beyond this span and report the instant as unreachable: a threshold that far
# away decides nothing for real tickets, and it bounds the work of absurd condition values.
HORIZON = timedelta(days=366 * 100)


def problems(data: Any) -> list[str]:
    """What is wrong with business hours given as ``to_dict`` writes them (``schedule`` may be
    left out for the default Monday to Friday, 09:00 to 17:00)."""
    if not isinstance(data, dict):
        return ["business hours must be an object with timezone and schedule"]
    found = []
    zone = data.get("timezone")
    if not isinstance(zone, str) or not zone:
        found.append("timezone must be an IANA time zone name such as Europe/Amsterdam")
    else:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            found.append(f"timezone {zone!r} is not a known IANA time zone")
    schedule = data.get("schedule", DEFAULT_SCHEDULE)
    if not isinstance(schedule, (list, tuple)) or len(schedule) != 7:
        return found + ["schedule must list 7 days, Monday first"]
    for name, day in zip(DAY_NAMES, schedule):
        if not isinstance(day, (list, tuple)) or not all(_is_pair(i) for i in day):
            found.append(f"{name}: each interval must be [start minute, end minute]")
            continue
        previous_end = 0
        for start, end in sorted(day):
            if not 0 <= start < end <= MINUTES_PER_DAY:
                found.append(f"{name}: interval {_hhmm(start)}-{_hhmm(end)} must start before it ends, "
                             f"within 00:00-24:00")
            elif start < previous_end:
                found.append(f"{name}: interval {_hhmm(start)}-{_hhmm(end)} overlaps the one before it")
            previous_end = max(previous_end, end)
    return found


def _is_pair(item: Any) -> bool:
    return (isinstance(item, (list, tuple)) and len(item) == 2
            and all(isinstance(m, int) and not isinstance(m, bool) for m in item))


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True)
class BusinessHours:
    timezone: str = "UTC"
    schedule: Schedule = DEFAULT_SCHEDULE
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        found = problems(self.to_dict())
        if found:
            raise ValueError("; ".join(found))
        object.__setattr__(self, "schedule", tuple(tuple(sorted(map(tuple, day))) for day in self.schedule))
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BusinessHours:
        found = problems(data)
        if found:
            raise ValueError("; ".join(found))
        return cls(data["timezone"], tuple(tuple(map(tuple, day)) for day in data.get("schedule", DEFAULT_SCHEDULE)))

    def to_dict(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "schedule": [[list(i) for i in day] for day in self.schedule]}

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """Business time elapsed from ``start`` to ``end`` (zero when ``end`` is not later)."""
        if end <= start:
            return _ZERO
        total = _ZERO
        for day in self._days(self._local_date(start) - _DAY, self._local_date(end) + _DAY):
            for begin, finish in self._pieces(day):
                begin, finish = max(begin, start), min(finish, end)
                if finish > begin:
                    total += finish - begin
        return total

    def hours_between(self, start: datetime, end: datetime) -> int:
        """Whole business hours elapsed from ``start`` to ``end`` (1.9 hours is 1)."""
        return self.business_time(start, end) // timedelta(hours=1)

    def instant_before(self, end: datetime, duration: timedelta) -> datetime | None:
        """The latest instant t with ``business_time(t, end) >= duration``; None when there is
        none within HORIZON. Since business time only grows as t moves back, "at least d of
        business time before end" is exactly "t <= instant_before(end, d)"."""
        if duration <= _ZERO:
            return end
        if duration > HORIZON:
            return None
        remaining = duration
        stop = self._local_date(end - HORIZON)
        day = self._local_date(end) + _DAY
        while day >= stop:
            for begin, finish in reversed(self._pieces(day)):
                finish = min(finish, end)
                if finish <= begin:
                    continue
                if finish - begin >= remaining:
                    return finish - remaining
                remaining -= finish - begin
            day -= _DAY
        return None

    def instant_after(self, start: datetime, duration: timedelta) -> datetime | None:
        """The earliest instant t with ``business_time(start, t) >= duration``; None when there
        is none within HORIZON."""
        if duration <= _ZERO:
            return start
        if duration > HORIZON:
            return None
        remaining = duration
        stop = self._local_date(start + HORIZON)
        day = self._local_date(start) - _DAY
        while day <= stop:
            for begin, finish in self._pieces(day):
                begin = max(begin, start)
                if finish <= begin:
                    continue
                if finish - begin >= remaining:
                    return begin + remaining
                remaining -= finish - begin
            day += _DAY
        return None

    def _local_date(self, when: datetime) -> date:
        return when.astimezone(self._zone).date()

    @staticmethod
    def _days(first: date, last: date) -> Iterator[date]:
        day = first
        while day <= last:
            yield day
            day += _DAY

    def _pieces(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC spans, in time order, during which the wall clock on ``day`` reads inside
        one of its intervals."""
        midnight = datetime.combine(day, time())
        pieces: list[tuple[datetime, datetime]] = []
        for start, end in self.schedule[day.weekday()]:
            pieces += self._spans(midnight + timedelta(minutes=start), midnight + timedelta(minutes=end))
        if len(pieces) > 1:
            pieces.sort()  # on a fall-back day the spans of two intervals interleave
        return pieces

    def _spans(self, wall_start: datetime, wall_end: datetime) -> list[tuple[datetime, datetime]]:
        """The instants whose wall clock reads in [wall_start, wall_end) (naive local times).
        While the UTC offset is constant that is one span; across a change of offset it is the
        part before the change at the old offset plus the part after it at the new one."""
        # Every instant showing a wall time w lies within a day of w read as UTC.
        low, high = wall_start.replace(tzinfo=UTC) - _DAY, wall_end.replace(tzinfo=UTC) + _DAY
        before, after = self._offset(low), self._offset(high)
        if before == after:  # real zones never change offset twice within three days
            return [(wall_start.replace(tzinfo=UTC) - before, wall_end.replace(tzinfo=UTC) - before)]
        switch = self._switch(low, high, before)
        spans = []
        for offset, lo, hi in ((before, low, switch), (after, switch, high)):
            begin = max(wall_start.replace(tzinfo=UTC) - offset, lo)
            finish = min(wall_end.replace(tzinfo=UTC) - offset, hi)
            if finish > begin:
                spans.append((begin, finish))
        return spans

    def _offset(self, instant: datetime) -> timedelta:
        return instant.astimezone(self._zone).utcoffset()  # type: ignore[return-value]

    def _switch(self, low: datetime, high: datetime, before: timedelta) -> datetime:
        """The instant the offset changes from ``before``, between low and high (zone
        transitions fall on whole seconds)."""
        lo, hi = int(low.timestamp()), int(high.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._offset(datetime.fromtimestamp(mid, UTC)) == before:
                lo = mid
            else:
                hi = mid
        return datetime.fromtimestamp(hi, UTC)
