from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automations.domain.business_hours import DEFAULT_SCHEDULE, BusinessHours, problems

NY = ZoneInfo("America/New_York")
AMS = ZoneInfo("Europe/Amsterdam")
ALL_DAY = tuple(((0, 24 * 60),) for _ in range(7))
OVERNIGHT = tuple(((0, 6 * 60), (22 * 60, 24 * 60)) for _ in range(7))  # 22:00-06:00 every night


def at(zone, *args):
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def test_default_is_monday_to_friday_nine_to_five():
    hours = BusinessHours()
    assert hours.hours_between(at(UTC, 2026, 6, 15, 9), at(UTC, 2026, 6, 15, 17)) == 8
    assert hours.hours_between(at(UTC, 2026, 6, 15, 0), at(UTC, 2026, 6, 22, 0)) == 40
    assert hours.schedule == DEFAULT_SCHEDULE


def test_weekend_is_skipped():
    hours = BusinessHours()
    # Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday
    assert hours.hours_between(at(UTC, 2026, 6, 12, 16), at(UTC, 2026, 6, 15, 10)) == 2
    assert hours.hours_between(at(UTC, 2026, 6, 13, 0), at(UTC, 2026, 6, 14, 23, 59)) == 0


def test_whole_hours_round_down_and_reversed_spans_are_zero():
    hours = BusinessHours()
    assert hours.hours_between(at(UTC, 2026, 6, 15, 9), at(UTC, 2026, 6, 15, 10, 59, 59)) == 1
    assert hours.hours_between(at(UTC, 2026, 6, 15, 12), at(UTC, 2026, 6, 15, 9)) == 0
    assert hours.business_time(at(UTC, 2026, 6, 15, 9), at(UTC, 2026, 6, 15, 9, 30)) == timedelta(minutes=30)


def test_intervals_are_wall_clock_times_in_the_zone():
    hours = BusinessHours("Europe/Amsterdam")
    # 09:00-17:00 in Amsterdam (UTC+2 in June) is 07:00-15:00 UTC
    assert hours.hours_between(at(UTC, 2026, 6, 15, 5), at(UTC, 2026, 6, 15, 8)) == 1
    assert hours.hours_between(at(UTC, 2026, 6, 15, 14), at(UTC, 2026, 6, 15, 18)) == 1


def test_new_york_spring_forward_weekend():
    hours = BusinessHours("America/New_York")
    # Friday 16:00 EST to Monday 10:00 EDT across 2026-03-08: 65 calendar hours, 2 business
    start, end = at(NY, 2026, 3, 6, 16), at(NY, 2026, 3, 9, 10)
    assert end - start == timedelta(hours=65)
    assert hours.hours_between(start, end) == 2
    # Monday opens at 09:00 EDT = 13:00 UTC, an hour earlier in UTC than the Friday before
    assert hours.business_time(at(UTC, 2026, 3, 9, 13), at(UTC, 2026, 3, 9, 14)) == timedelta(hours=1)
    assert hours.business_time(at(UTC, 2026, 3, 6, 13), at(UTC, 2026, 3, 6, 14)) == timedelta(0)


def test_new_york_fall_back_weekend():
    hours = BusinessHours("America/New_York")
    start, end = at(NY, 2026, 10, 30, 16), at(NY, 2026, 11, 2, 10)
    assert end - start == timedelta(hours=67)
    assert hours.hours_between(start, end) == 2


@pytest.mark.parametrize(("zone", "day", "length"), [
    ("America/New_York", (2026, 3, 8), 23), ("America/New_York", (2026, 11, 1), 25),
    ("Europe/Amsterdam", (2026, 3, 29), 23), ("Europe/Amsterdam", (2026, 10, 25), 25),
    ("Europe/Amsterdam", (2026, 6, 14), 24),
])
def test_a_whole_local_day_lasts_as_long_as_the_clock_says(zone, day, length):
    hours = BusinessHours(zone, ALL_DAY)
    tz = ZoneInfo(zone)
    next_day = date(*day) + timedelta(days=1)
    start, end = at(tz, *day), at(tz, next_day.year, next_day.month, next_day.day)
    assert hours.hours_between(start, end) == length


def test_overnight_shift_across_dst():
    hours = BusinessHours("America/New_York", OVERNIGHT)
    # 22:00 to 06:00 is 7 real hours on the spring-forward night and 9 on the fall-back night
    assert hours.hours_between(at(NY, 2026, 3, 7, 22), at(NY, 2026, 3, 8, 6)) == 7
    assert hours.hours_between(at(NY, 2026, 10, 31, 22), at(NY, 2026, 11, 1, 6)) == 9
    assert hours.hours_between(at(NY, 2026, 6, 1, 22), at(NY, 2026, 6, 2, 6)) == 8
    # the daytime in between counts nothing
    assert hours.hours_between(at(NY, 2026, 6, 2, 6), at(NY, 2026, 6, 2, 22)) == 0


def test_interval_inside_the_skipped_hour_is_empty_and_the_repeated_hour_counts_twice():
    sundays_two_to_three = tuple(((120, 180),) if d == 6 else () for d in range(7))
    hours = BusinessHours("Europe/Amsterdam", sundays_two_to_three)
    week = timedelta(days=7)
    assert hours.business_time(at(AMS, 2026, 3, 29), at(AMS, 2026, 3, 29) + timedelta(days=1)) == timedelta(0)
    assert hours.business_time(at(AMS, 2026, 3, 22), at(AMS, 2026, 3, 22) + week) == timedelta(hours=1)
    assert hours.business_time(at(AMS, 2026, 10, 25), at(AMS, 2026, 10, 25) + timedelta(days=1)) == timedelta(hours=2)


def test_instant_before_and_after_walk_business_time():
    hours = BusinessHours("America/New_York")
    monday_ten = at(NY, 2026, 3, 9, 10)
    # two business hours back from Monday 10:00 EDT is Friday 16:00 EST
    assert hours.instant_before(monday_ten, timedelta(hours=2)) == at(NY, 2026, 3, 6, 16)
    assert hours.instant_after(at(NY, 2026, 3, 6, 16), timedelta(hours=2)) == monday_ten
    assert hours.instant_before(monday_ten, timedelta(0)) == monday_ten
    # the hour after Friday 17:00 has no business time; the earliest instant is at once
    assert hours.instant_after(at(NY, 2026, 3, 6, 17), timedelta(hours=1)) == at(NY, 2026, 3, 9, 10)


def test_no_business_hours_at_all():
    hours = BusinessHours("UTC", ((),) * 7)
    assert hours.hours_between(at(UTC, 2026, 1, 1), at(UTC, 2026, 3, 1)) == 0
    assert hours.instant_before(at(UTC, 2026, 3, 1), timedelta(hours=1)) is None
    assert hours.instant_after(at(UTC, 2026, 3, 1), timedelta(hours=1)) is None


def test_ten_years():
    hours = BusinessHours("Europe/Amsterdam")
    first = date(2016, 1, 1)
    weekdays = sum((first + timedelta(days=n)).weekday() < 5 for n in range((date(2026, 1, 1) - first).days))
    # both ends are at 01:00 local time, outside business hours
    assert hours.hours_between(at(UTC, 2016, 1, 1), at(UTC, 2026, 1, 1)) == 8 * weekdays


def test_dict_round_trip():
    hours = BusinessHours("Europe/Amsterdam", OVERNIGHT)
    assert BusinessHours.from_dict(hours.to_dict()) == hours
    assert hours.to_dict()["schedule"][0] == [[0, 360], [1320, 1440]]
    assert BusinessHours.from_dict({"timezone": "UTC"}) == BusinessHours()


def test_problems_are_listed():
    found = problems({"timezone": "Mars/Olympus", "schedule": [
        [[600, 540]], [[540, 720], [700, 800]], [], [], [], [], [[0, 1441]]]})
    assert found == [
        "timezone 'Mars/Olympus' is not a known IANA time zone",
        "monday: interval 10:00-09:00 must start before it ends, within 00:00-24:00",
        "tuesday: interval 11:40-13:20 overlaps the one before it",
        "sunday: interval 00:00-24:01 must start before it ends, within 00:00-24:00",
    ]
    assert problems({"timezone": "UTC", "schedule": [[]] * 6}) == ["schedule must list 7 days, Monday first"]
    assert problems({"timezone": "UTC", "schedule": [[["9", "17"]]] + [[]] * 6}) == [
        "monday: each interval must be [start minute, end minute]"]
    assert problems({"schedule": [[]] * 7}) == ["timezone must be an IANA time zone name such as Europe/Amsterdam"]
    assert problems([]) == ["business hours must be an object with timezone and schedule"]
    assert problems({"timezone": "UTC", "schedule": [[[0, 60], [60, 120]]] + [[]] * 6}) == []
    with pytest.raises(ValueError, match="overlaps"):
        BusinessHours("UTC", (((0, 60), (30, 90)),) + ((),) * 6)


# Brute force: count the minutes whose local wall clock reads inside that day's intervals.
CALENDARS = [
    BusinessHours("America/New_York"),
    BusinessHours("Europe/Amsterdam", OVERNIGHT),
    BusinessHours("America/New_York", tuple(((60, 150), (150, 200), (600, 700)) for _ in range(7))),
    BusinessHours("Australia/Lord_Howe", tuple(((90, 180),) if d % 2 else ((0, 1440),) for d in range(7))),
    BusinessHours("Asia/Kolkata", ALL_DAY),
]
TRANSITIONS = [at(UTC, 2026, 3, 8, 7), at(UTC, 2026, 11, 1, 6), at(UTC, 2026, 3, 29, 1), at(UTC, 2026, 10, 25, 1),
               at(UTC, 2026, 4, 4, 15), at(UTC, 2026, 10, 3, 15), at(UTC, 2026, 6, 17, 12)]


def brute_minutes(hours: BusinessHours, start: datetime, end: datetime) -> int:
    zone = ZoneInfo(hours.timezone)
    count, minute = 0, start
    while minute < end:
        local = minute.astimezone(zone)
        of_day = local.hour * 60 + local.minute
        count += any(s <= of_day < e for s, e in hours.schedule[local.weekday()])
        minute += timedelta(minutes=1)
    return count


spans = st.tuples(st.sampled_from(CALENDARS), st.sampled_from(TRANSITIONS),
                  st.integers(-48 * 60, 48 * 60), st.integers(0, 60 * 60))


@settings(max_examples=150, deadline=None)
@given(spans)
def test_business_time_matches_minute_by_minute_count(span):
    hours, anchor, offset, length = span
    start = anchor + timedelta(minutes=offset)
    end = start + timedelta(minutes=length)
    assert hours.business_time(start, end) == timedelta(minutes=brute_minutes(hours, start, end))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CALENDARS), st.sampled_from(TRANSITIONS), st.integers(-72 * 60, 72 * 60),
       st.integers(0, 200 * 3600))
def test_walks_invert_business_time(hours, anchor, offset, seconds):
    when = anchor + timedelta(minutes=offset)
    duration = timedelta(seconds=seconds)
    tick = timedelta(microseconds=1)
    before = hours.instant_before(when, duration)
    assert hours.business_time(before, when) == duration
    assert duration == timedelta(0) or hours.business_time(before + tick, when) < duration
    after = hours.instant_after(when, duration)
    assert hours.business_time(when, after) == duration
    assert duration == timedelta(0) or hours.business_time(when, after - tick) < duration
