"""When contact runs are due: properties of the due-time computation over many zones, windows
and delays (never before trigger + delay, always inside the window, monotonic, the first
opening), and the DST, series, recurring and anniversary rules, case by case."""
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from automations.domain import timing
from automations.domain.contact_rules import ClockTime, Delay, Recurrence, SendWindow

FAST = settings(max_examples=300, deadline=None)
# Zones with DST on both hemispheres, a half-hour zone, one without DST, and one whose change is at midnight.
ZONES = [ZoneInfo(z) for z in ("America/New_York", "Europe/Amsterdam", "Australia/Sydney", "Asia/Kolkata",
                               "Asia/Tokyo", "America/Santiago", "Australia/Lord_Howe", "UTC")]

# The 2026 DST changes of the zones above, in UTC: most examples land within a day of one.
CHANGES = [datetime(*p, tzinfo=UTC) for p in ((2026, 3, 8, 7), (2026, 11, 1, 6), (2026, 3, 29, 1), (2026, 10, 25, 1),
                                               (2026, 4, 4, 16), (2026, 10, 3, 16), (2026, 4, 5, 3), (2026, 9, 6, 4),
                                               (2026, 4, 4, 15), (2026, 10, 3, 15, 30))]
instants = st.one_of(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)).map(lambda d: d.replace(tzinfo=UTC)),
    st.tuples(st.sampled_from(CHANGES), st.integers(-36 * 60, 36 * 60)).map(lambda c: c[0] + timedelta(minutes=c[1])),
)
delays = st.builds(Delay, st.integers(0, 30), st.integers(0, 23), st.integers(0, 59))
clock_times = st.integers(0, 24 * 60 - 1).map(ClockTime)
windows = st.tuples(clock_times, clock_times).filter(lambda w: w[0] != w[1]).map(lambda w: SendWindow(*w))


def local_minute(instant, zone):
    return timing.wall_time(instant, zone)[1]


@FAST
@given(instants, delays, st.none() | windows, st.sampled_from(ZONES))
def test_never_before_trigger_plus_delay_and_always_inside_the_window(at, delay, window, zone):
    due = timing.due_at(at, delay, window, zone)
    assert due >= at + delay.total
    if window is None:
        assert due == at + delay.total
    else:
        assert window.admits(local_minute(due, zone))


@FAST
@given(instants, instants, delays, st.none() | windows, st.sampled_from(ZONES))
def test_monotonic_a_later_trigger_is_never_due_earlier(a, b, delay, window, zone):
    first, second = sorted((a, b))
    assert timing.due_at(first, delay, window, zone) <= timing.due_at(second, delay, window, zone)


@FAST
@given(instants, windows, st.sampled_from(ZONES))
def test_held_until_the_first_opening_no_later(at, window, zone):
    """Between the earliest possible time and the due time, no minute is inside the window."""
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


def test_recurring_cron_expressions():
    assert timing.recurring_cron(Recurrence("daily", ClockTime(9 * 60 + 5))) == "cron(5 9 ? * * *)"
    assert timing.recurring_cron(Recurrence("daily", ClockTime(9 * 60), True)) == "cron(0 9 ? * MON-FRI *)"
    assert timing.recurring_cron(Recurrence("wednesday", ClockTime(18 * 60))) == "cron(0 18 ? * WED *)"
    assert timing.recurring_cron(Recurrence(15, ClockTime(0))) == "cron(0 0 15 * ? *)"
    # The 31st: candidate days 28-31, the rule picks each month's last day up to the 31st.
    assert timing.recurring_cron(Recurrence(31, ClockTime(0))) == "cron(0 0 28-31 * ? *)"
    assert Recurrence(31, ClockTime(0)).occurs_on(date(2027, 2, 28))
    assert not Recurrence(31, ClockTime(0)).occurs_on(date(2027, 3, 30))


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
