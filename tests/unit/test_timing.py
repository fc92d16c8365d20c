"""When contact runs are due: properties of the due-time computation (never before trigger +
delay, always inside the window, monotonic, the first opening), of recurring firings (every
occurrence exactly once, a skipped time at the moved instant, a repeated one at its first) and
of date-field anniversaries (each exactly once, in its planning span), over every zone of the tz
database that changes its clocks between 2026 and 2030; and the rules case by case."""
import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automations.domain import timing
from automations.domain.contact_rules import (
    WEEKDAYS, ActionKind, ClockTime, ContactRule, DateFieldTrigger, Delay, Recurrence, RuleAction, SendWindow,
)
from automations.domain.contacts import GroupKind
from automations.domain.model import Trigger

FAST = settings(max_examples=300, deadline=None)
SPAN = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))


def _changes(zone: ZoneInfo) -> list[tuple[datetime, timedelta, timedelta]]:
    """(instant, offset before, offset after) of each change of ``zone``'s clocks in SPAN, to
    the minute: found week by week, then by bisection (no zone changes twice in a week)."""
    found, at = [], SPAN[0]
    while at < SPAN[1]:
        then = at + timedelta(days=7)
        before, after = at.astimezone(zone).utcoffset(), then.astimezone(zone).utcoffset()
        if before != after:
            low, high = at, then
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if middle.astimezone(zone).utcoffset() == before else (low, middle)
            found.append((high.replace(second=0, microsecond=0), before, after))
        at = then
    return found


@functools.cache
def _changing_zones() -> dict[str, list[tuple[datetime, timedelta, timedelta]]]:
    return {name: changes for name in sorted(available_timezones()) if (changes := _changes(ZoneInfo(name)))}


CHANGING = _changing_zones()
# Every changing zone, plus odd fixed offsets (Kathmandu +05:45) and zones that never change.
ZONES = [ZoneInfo(z) for z in (*CHANGING, "Asia/Kathmandu", "Asia/Kolkata", "Asia/Tokyo", "UTC")]
CHANGES = [(ZoneInfo(name), change) for name, changes in CHANGING.items() for change in changes]


def test_the_zones_include_every_kind_of_change():
    for name in ("America/New_York", "Europe/Amsterdam", "Australia/Sydney", "America/Havana", "America/Santiago",
                 "Africa/Cairo", "Australia/Lord_Howe", "Pacific/Chatham"):
        assert name in CHANGING, name
    assert len(CHANGING) > 150  # the tz database's, not a hand-picked few
    lord_howe = CHANGING["Australia/Lord_Howe"][0]
    assert abs(lord_howe[2] - lord_howe[1]) == timedelta(minutes=30)
    havana_2027 = [c for c in CHANGING["America/Havana"] if c[0].year == 2027 and c[2] > c[1]]
    assert havana_2027[0][0].astimezone(ZoneInfo("America/Havana")).time() == time(1, 0)  # midnight is skipped


# An instant anywhere, or one within a day and a half of some zone's change (in that zone).
moments = st.one_of(
    st.tuples(st.sampled_from(ZONES), st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31))
              .map(lambda d: d.replace(tzinfo=UTC))),
    st.tuples(st.sampled_from(CHANGES), st.integers(-36 * 60 * 60, 36 * 60 * 60)).map(
        lambda c: (c[0][0], c[0][1][0] + timedelta(seconds=c[1]))),
)
instants = moments.map(lambda m: m[1])
delays = st.builds(Delay, st.integers(0, 30), st.integers(0, 23), st.integers(0, 59))
clock_times = st.integers(0, 24 * 60 - 1).map(ClockTime)
windows = st.tuples(clock_times, clock_times).filter(lambda w: w[0] != w[1]).map(lambda w: SendWindow(*w))


def local_minute(instant, zone):
    return timing.wall_time(instant, zone)[1]


@FAST
@given(moments, delays, st.none() | windows)
def test_never_before_trigger_plus_delay_and_always_inside_the_window(moment, delay, window):
    zone, at = moment
    due = timing.due_at(at, delay, window, zone)
    assert due >= at + delay.total
    if window is None:
        assert due == at + delay.total
    else:
        assert window.admits(local_minute(due, zone))


@FAST
@given(moments, instants, delays, st.none() | windows)
def test_monotonic_a_later_trigger_is_never_due_earlier(moment, b, delay, window):
    zone, a = moment
    first, second = sorted((a, b))
    assert timing.due_at(first, delay, window, zone) <= timing.due_at(second, delay, window, zone)


@FAST
@given(moments, windows)
def test_held_until_the_first_opening_no_later(moment, window):
    """Between the earliest possible time and the due time, no minute is inside the window."""
    zone, at = moment
    due = timing.into_window(at, window, zone)
    probe = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    steps = 0
    while probe < due and steps < 3 * 24 * 60:
        assert not window.admits(local_minute(probe, zone)), (probe, due)
        probe += timedelta(minutes=1)
        steps += 1


NY = ZoneInfo("America/New_York")
NINE_TO_FIVE = SendWindow(ClockTime(9 * 60), ClockTime(17 * 60))


def ny(*parts):
    return datetime(*parts, tzinfo=NY)


def test_before_the_window_waits_for_the_opening_and_after_it_for_tomorrows():
    assert timing.due_at(ny(2026, 3, 2, 7, 0), Delay(), NINE_TO_FIVE, NY) == ny(2026, 3, 2, 9, 0)
    assert timing.due_at(ny(2026, 3, 2, 12, 0), Delay(), NINE_TO_FIVE, NY) == ny(2026, 3, 2, 12, 0)
    assert timing.due_at(ny(2026, 3, 2, 17, 0), Delay(), NINE_TO_FIVE, NY) == ny(2026, 3, 3, 9, 0)


def test_a_window_across_midnight():
    night = SendWindow(ClockTime(22 * 60), ClockTime(6 * 60))
    assert timing.due_at(ny(2026, 3, 2, 23, 30), Delay(), night, NY) == ny(2026, 3, 2, 23, 30)
    assert timing.due_at(ny(2026, 3, 3, 5, 59), Delay(), night, NY) == ny(2026, 3, 3, 5, 59)
    assert timing.due_at(ny(2026, 3, 3, 6, 0), Delay(), night, NY) == ny(2026, 3, 3, 22, 0)


def test_a_window_opening_in_the_skipped_spring_hour_opens_when_the_clocks_do():
    # 2026-03-08: New York skips 02:00-03:00.
    early = SendWindow(ClockTime(2 * 60 + 30), ClockTime(5 * 60))
    assert timing.due_at(ny(2026, 3, 8, 1, 0), Delay(), early, NY) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


def test_a_repeated_autumn_hour_means_its_first_occurrence():
    # 2026-11-01: New York repeats 01:00-02:00; 01:30 is 05:30 UTC (EDT), not 06:30 (EST).
    assert timing.instant_of(date(2026, 11, 1), ClockTime(90), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    # A window opening at 01:30 opens once that day.
    window = SendWindow(ClockTime(90), ClockTime(2 * 60 + 30))
    assert timing.due_at(ny(2026, 11, 1, 0, 0), Delay(), window, NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_the_repeated_autumn_hour_can_open_a_window_again():
    # 2026-11-01: New York's clocks go back from 02:00 EDT to 01:00 EST at 06:00 UTC.
    after_its_end = SendWindow(ClockTime(0), ClockTime(61))  # 01:30 EDT is past it; 01:00 EST is inside again
    assert timing.due_at(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), Delay(), after_its_end, NY) == \
        datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    short = SendWindow(ClockTime(61), ClockTime(90))  # 01:01 comes round twice: the second time too
    assert timing.due_at(datetime(2026, 11, 1, 5, 45, tzinfo=UTC), Delay(), short, NY) == \
        datetime(2026, 11, 1, 6, 1, tzinfo=UTC)


def test_a_delay_is_elapsed_time_across_dst():
    # Saturday 08:00 EDT + 2 days 3 hours = Monday 10:00 EST (51 hours; the clocks fell back).
    assert timing.due_at(ny(2026, 10, 31, 8, 0), Delay(2, 3, 0), NINE_TO_FIVE, NY) == ny(2026, 11, 2, 10, 0)
    # Across the spring change the same delay ends at 12:00 EDT.
    assert timing.due_at(ny(2026, 3, 7, 8, 0), Delay(2, 3, 0), NINE_TO_FIVE, NY) == ny(2026, 3, 9, 12, 0)


def test_series_steps():
    saturday = ny(2026, 10, 31, 8, 0)
    assert timing.series_step_due(saturday, 0, None, False, NY) == saturday  # goes with the previous step
    assert timing.series_step_due(saturday, 2, None, False, NY) == ny(2026, 11, 2, 10, 0)  # 10:00 default
    assert timing.series_step_due(saturday, 0, ClockTime(7 * 60), False, NY) == ny(2026, 11, 1, 7, 0)  # not before
    assert timing.series_step_due(saturday, 0, None, True, NY) == ny(2026, 11, 2, 10, 0)  # weekdays only: Monday
    friday = ny(2026, 11, 6, 15, 0)
    assert timing.series_step_due(friday, 1, ClockTime(9 * 60), True, NY) == ny(2026, 11, 9, 9, 0)


def test_monthly_rules_on_days_29_to_31_take_shorter_months_last_day():
    assert Recurrence(31, ClockTime(0)).occurs_on(date(2027, 2, 28))
    assert not Recurrence(31, ClockTime(0)).occurs_on(date(2027, 3, 30))
    assert Recurrence(31, ClockTime(0)).occurs_on(date(2027, 3, 31))


def test_anniversaries():
    assert timing.anniversary_on(date(1990, 3, 5), date(2027, 3, 5))
    assert not timing.anniversary_on(date(1990, 3, 5), date(2027, 3, 6))
    assert timing.anniversary_on(date(2000, 2, 29), date(2027, 2, 28))
    assert not timing.anniversary_on(date(2000, 2, 29), date(2028, 2, 28))
    assert timing.anniversary_on(date(2000, 2, 29), date(2028, 2, 29))
    assert not timing.anniversary_on(date(2000, 2, 28), date(2027, 3, 1))


def test_the_contacts_zone_wins_over_the_accounts():
    assert timing.zone_of("Asia/Tokyo", "America/New_York") == ZoneInfo("Asia/Tokyo")
    assert timing.zone_of(None, "America/New_York") == NY
    assert timing.zone_of("Mars/Olympus", None) == ZoneInfo("UTC")


# -- recurring firings and anniversaries, over every changing zone ---------------------------------
def expected_instant(day: date, at: ClockTime, zone: ZoneInfo) -> datetime:
    """The promised instant of ``at`` on ``day``, found from the offsets in force around it (not
    from zoneinfo's folds): a wall time that exists once is that instant; one the autumn change
    repeats, its first occurrence; one the spring change skips, moved forward by the gap (read
    with the offset from before the change)."""
    wall = datetime.combine(day, time(at.minutes // 60, at.minutes % 60))
    as_utc = wall.replace(tzinfo=UTC)
    offsets = {(as_utc + timedelta(hours=h)).astimezone(zone).utcoffset() for h in range(-28, 29, 7)}
    readings = [as_utc - offset for offset in offsets
                if (as_utc - offset).astimezone(zone).replace(tzinfo=None) == wall]
    return min(readings) if readings else as_utc - min(offsets)


def recurring(day, at: ClockTime, weekday_only=False) -> ContactRule:
    return ContactRule(Trigger.RECURRING, GroupKind.LIST, 1, RuleAction(ActionKind.SEND_EMAIL, template_id=1),
                       recurrence=Recurrence(day, at, weekday_only))


DATE_RULE = ContactRule(Trigger.DATE_FIELD, GroupKind.LIST, 1, RuleAction(ActionKind.SEND_EMAIL, template_id=1),
                        date_field=DateFieldTrigger(1, ClockTime(9 * 60)))


def chain(rule: ContactRule, zone: ZoneInfo, start: datetime, count: int) -> list[timing.Firing]:
    """The firings a chain of schedules makes: each firing plans the next after itself."""
    firings = [timing.next_firing(rule, zone, start)]
    while len(firings) < count:
        firings.append(timing.next_firing(rule, zone, firings[-1].at))
    return firings


def assert_each_occurrence_once_at_its_instant(rule: ContactRule, zone: ZoneInfo, firings: list[timing.Firing]):
    days = [f.day for f in firings]
    every_day = [firings[0].day + timedelta(days=n) for n in range((firings[-1].day - firings[0].day).days + 1)]
    assert days == [d for d in every_day if rule.recurrence.occurs_on(d)]  # none missed, none twice, in order
    for previous, firing in zip([None, *firings], firings):
        assert firing.at == expected_instant(firing.day, rule.recurrence.at, zone), (zone, firing)
        assert previous is None or previous.at < firing.at
        assert timing.last_firing(rule, zone, firing.at) == firing
        assert previous is None or timing.last_firing(rule, zone, firing.at - timedelta(microseconds=1)) == previous


def _around(change: tuple[datetime, timedelta, timedelta], zone: ZoneInfo) -> list[ClockTime]:
    """Times of day at and around a change: the last before it, and each edge of the skipped or
    repeated span."""
    instant, before, after = change
    first = (instant - timedelta(minutes=1)).astimezone(zone) + timedelta(minutes=1)  # read with the old offset
    span = abs(after - before)
    times = [first - timedelta(minutes=1), first, first + span - timedelta(minutes=1), first + span]
    return [ClockTime(t.hour * 60 + t.minute) for t in times]


@pytest.mark.parametrize("name", sorted(CHANGING))
def test_in_every_zone_a_daily_rule_fires_once_a_day_at_its_instant_across_every_change(name):
    zone = ZoneInfo(name)
    for change in CHANGING[name]:
        for at in _around(change, zone):
            firings = chain(recurring("daily", at), zone, change[0] - timedelta(hours=36), 4)
            assert firings[0].at < change[0] < firings[-1].at
            assert_each_occurrence_once_at_its_instant(recurring("daily", at), zone, firings)


@pytest.mark.parametrize("name", sorted(CHANGING))
def test_in_every_zone_each_anniversary_is_planned_once_at_its_instant_across_every_change(name):
    """Planning spans (UTC days) tile time: an anniversary on a change's local day, at a time
    around the change, is planned by exactly one span, at its promised instant."""
    zone = ZoneInfo(name)
    for change in CHANGING[name]:
        day = change[0].astimezone(zone).date()
        for at in _around(change, zone):
            planned = []
            for offset in range(-2, 3):
                firing = timing.firing_on(DATE_RULE, zone, change[0].date() + timedelta(days=offset))
                start, end = timing.planned_span(firing)
                found = timing.anniversaries_between(date(1990, day.month, day.day), at, zone, start, end)
                assert all(start <= instant < end for _, instant in found)
                planned += found
            assert planned == [(day, expected_instant(day, at, zone))], (name, change, at)


rules = st.one_of(
    st.builds(recurring, st.just("daily"), clock_times, st.booleans()),
    st.builds(recurring, st.sampled_from(WEEKDAYS), clock_times),
    st.builds(recurring, st.integers(1, 31), clock_times),
)


@settings(max_examples=400, deadline=None)
@given(moments, rules, st.integers(4, 12))
def test_a_chain_of_firings_fires_every_occurrence_once_at_its_instant(moment, rule, count):
    zone, start = moment
    firings = chain(rule, zone, start, count)
    assert firings[0].at > start and timing.last_firing(rule, zone, start) < firings[0]
    assert_each_occurrence_once_at_its_instant(rule, zone, firings)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CHANGES), st.integers(-24 * 60, 24 * 60), clock_times, st.sampled_from([1984, 2000]))
def test_anniversaries_near_a_change_are_planned_once_at_their_instant(zone_change, shift, at, year):
    """A week of consecutive planning spans around a change plans the anniversary falling
    near it exactly once, at its promised instant, inside the span that planned it."""
    zone, (instant, _, _) = zone_change
    day = (instant + timedelta(minutes=shift)).astimezone(zone).date()
    first = timing.next_firing(DATE_RULE, zone, instant - timedelta(days=4))
    planned = []
    for n in range(7):
        start, end = timing.planned_span(timing.firing_on(DATE_RULE, zone, first.day + timedelta(days=n)))
        found = timing.anniversaries_between(date(year, day.month, day.day), at, zone, start, end)
        assert all(start <= moment < end for _, moment in found)
        planned += found
    assert planned == [(day, expected_instant(day, at, zone))]


def test_a_date_field_rule_plans_every_utc_day_once_an_hour_before_it():
    firings = chain(DATE_RULE, ZoneInfo("Pacific/Chatham"), datetime(2027, 4, 1, tzinfo=UTC), 10)
    assert [f.day for f in firings] == [date(2027, 4, 2) + timedelta(days=n) for n in range(10)]
    assert all(f.at == datetime.combine(f.day, time(), UTC) - timing.PLANNING_LEAD for f in firings)
    assert timing.planned_span(firings[0]) == (datetime(2027, 4, 2, tzinfo=UTC), datetime(2027, 4, 3, tzinfo=UTC))
