"""Promotion windows: cron matching, allow/deny, rollbacks, daylight saving, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factory_assets.common.errors import InputError
from factory_assets.policy.cron import parse_cron
from factory_assets.policy.durations import parse_duration
from factory_assets.policy.windows import decide, parse_windows

BERLIN_WEEKEND = {
    "kind": "deny",
    "schedule": "0 16 * * FRI",
    "duration": "64h",
    "timeZone": "Europe/Berlin",
}
WORKING_HOURS = {
    "kind": "allow",
    "schedule": "0 9 * * MON-FRI",
    "duration": "8h",
    "timeZone": "Europe/Berlin",
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def windows(*items: dict):
    return parse_windows(list(items), field="environments.prod.windows")


# ----------------------------------------------------------------------------------------------
# cron
# ----------------------------------------------------------------------------------------------


def test_cron_reads_names_ranges_steps_and_lists():
    cron = parse_cron("*/15 9-17/4 * jan-MAR,DEC mon-fri")
    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == {9, 13, 17}
    assert cron.months == {1, 2, 3, 12}
    assert cron.weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("0 0 * * 7").weekdays == {0} == parse_cron("0 0 * * SUN").weekdays
    assert parse_cron("5/20 * * * *").minutes == {5, 25, 45}


def test_cron_day_of_month_or_day_of_week_when_both_are_restricted():
    both = parse_cron("0 9 1 * MON")  # the 1st of the month and every Monday
    assert both.next_after(datetime(2027, 3, 1, 9, 0)) == datetime(2027, 3, 8, 9, 0)
    assert both.next_after(datetime(2027, 3, 29, 9, 0)) == datetime(2027, 4, 1, 9, 0)
    only_days = parse_cron("0 9 1 * *")
    assert only_days.next_after(datetime(2027, 3, 1, 9, 0)) == datetime(2027, 4, 1, 9, 0)


def test_cron_finds_a_leap_day_years_ahead():
    assert parse_cron("0 0 29 FEB *").next_after(datetime(2025, 3, 1)) == datetime(2028, 2, 29)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0 16 * FRI", "5-field cron"),
        ("0 16 * * FRY", "day-of-week: 'FRY' is not a number or a name SUN-SAT"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("0 17-9 * * *", "hour: range '17-9' runs backwards"),
        ("*/0 * * * *", "minute: step '0' is not a positive number"),
        ("0 0 30 FEB *", "never matches"),
        ("0 0 , * *", "day-of-month: empty item"),
    ],
)
def test_cron_refuses_what_is_not_a_schedule(text: str, problem: str):
    with pytest.raises(ValueError) as caught:
        parse_cron(text)
    assert problem in str(caught.value)


def test_durations():
    assert parse_duration("64h") == timedelta(hours=64)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("30", "0m", "1.5h", "30 min", "", 30):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


# ----------------------------------------------------------------------------------------------
# decide
# ----------------------------------------------------------------------------------------------


def test_a_deny_window_holds_a_promotion_until_it_ends():
    deny = windows(BERLIN_WEEKEND)
    # Friday 2026-12-04 15:59 Berlin (CET, UTC+1): still allowed
    assert decide(deny, utc(2026, 12, 4, 14, 59)).allowed
    held = decide(deny, utc(2026, 12, 4, 15, 0))  # Friday 16:00 Berlin
    assert not held.allowed
    assert held.until == utc(2026, 12, 7, 7, 0)  # Monday 08:00 Berlin
    assert held.reason == "outside its window until Mon 08:00"
    assert decide(deny, utc(2026, 12, 7, 6, 59)).until == utc(2026, 12, 7, 7, 0)
    assert decide(deny, utc(2026, 12, 7, 7, 0)).allowed


def test_outside_the_allow_windows_a_promotion_waits_for_the_next_one():
    allow = windows(WORKING_HOURS)
    assert decide(allow, utc(2026, 12, 8, 8, 0)).allowed  # Tuesday 09:00 Berlin
    evening = decide(allow, utc(2026, 12, 8, 16, 0))  # Tuesday 17:00 Berlin: closed
    assert (evening.allowed, evening.until) == (False, utc(2026, 12, 9, 8, 0))
    assert evening.reason == "outside its window until Wed 09:00"
    friday_night = decide(allow, utc(2026, 12, 11, 20, 0))
    assert friday_night.until == utc(2026, 12, 14, 8, 0)  # Monday 09:00


def test_a_deny_window_wins_over_an_allow_window_and_the_wait_follows_both():
    both = windows(
        WORKING_HOURS,
        {**BERLIN_WEEKEND, "schedule": "0 12 * * FRI", "duration": "68h"},  # Fri 12:00-Mon 08:00
    )
    lunch = decide(both, utc(2026, 12, 11, 11, 30))  # Friday 12:30 Berlin: inside both
    # the deny ends Monday 08:00, when no allow window is open: Monday 09:00
    assert (lunch.allowed, lunch.until) == (False, utc(2026, 12, 14, 8, 0))
    assert lunch.reason == "outside its window until Mon 09:00"


def test_a_rollback_passes_a_window_unless_the_window_says_rollbacks_deny():
    at = utc(2026, 12, 5, 12, 0)  # Saturday
    assert not decide(windows(BERLIN_WEEKEND), at).allowed
    assert decide(windows(BERLIN_WEEKEND), at, rollback=True).allowed
    strict = windows({**BERLIN_WEEKEND, "rollbacks": "deny"})
    held = decide(strict, at, rollback=True)
    assert (held.allowed, held.until) == (False, utc(2026, 12, 7, 7, 0))


def test_a_deny_window_across_the_spring_change_ends_at_monday_eight_on_the_clock():
    # Berlin springs forward on Sunday 2027-03-28 (02:00 CET -> 03:00 CEST): the window from
    # Friday 16:00 CET (15:00 UTC) for 64h ends Monday 08:00 CEST, which is 06:00 UTC; adding
    # 64 absolute hours (Argo CD's way) would end it at 07:00 UTC, 09:00 on the clock.
    deny = windows(BERLIN_WEEKEND)
    start = decide(deny, utc(2027, 3, 26, 15, 0))
    assert (start.allowed, start.until) == (False, utc(2027, 3, 29, 6, 0))
    assert start.reason == "outside its window until Mon 08:00"
    assert decide(deny, utc(2027, 3, 26, 14, 59)).allowed
    assert not decide(deny, utc(2027, 3, 29, 5, 59)).allowed
    assert decide(deny, utc(2027, 3, 29, 6, 0)).allowed


def test_a_deny_window_across_the_autumn_change_ends_at_monday_eight_on_the_clock():
    # Berlin falls back on Sunday 2027-10-31 (03:00 CEST -> 02:00 CET): Friday 16:00 CEST is
    # 14:00 UTC, Monday 08:00 CET is 07:00 UTC (64 absolute hours would end at 06:00 UTC).
    deny = windows(BERLIN_WEEKEND)
    assert decide(deny, utc(2027, 10, 29, 13, 59)).allowed
    held = decide(deny, utc(2027, 10, 29, 14, 0))
    assert (held.allowed, held.until) == (False, utc(2027, 11, 1, 7, 0))
    assert held.reason == "outside its window until Mon 08:00"
    assert not decide(deny, utc(2027, 11, 1, 6, 30)).allowed
    assert decide(deny, utc(2027, 11, 1, 7, 0)).allowed


def test_an_allow_window_opening_on_a_skipped_hour_opens_with_the_offset_before_the_jump():
    # 02:30 does not exist in Berlin on 2027-03-28; it reads as 02:30 CET = 01:30 UTC.
    allow = windows({**WORKING_HOURS, "schedule": "30 2 * * SUN", "duration": "1h"})
    waiting = decide(allow, utc(2027, 3, 27, 12, 0))
    assert waiting.until == utc(2027, 3, 28, 1, 30)
    assert waiting.reason == "outside its window until Sun 03:30"  # summer time on the clock
    assert decide(allow, utc(2027, 3, 28, 2, 29)).allowed  # open for one hour: until 04:30
    assert not decide(allow, utc(2027, 3, 28, 2, 30)).allowed


def test_a_window_in_another_zone_and_a_wait_of_more_than_a_week_names_the_date():
    yearly = windows(
        {"kind": "allow", "schedule": "0 10 1 JAN *", "duration": "1d", "timeZone": "UTC"}
    )
    wait = decide(yearly, utc(2027, 6, 1))
    assert wait.until == utc(2028, 1, 1, 10, 0)
    assert wait.reason == "outside its window until Sat 01 Jan 2028 10:00"


def test_a_schedule_that_reopens_before_it_closes_keeps_the_window_open():
    hourly = windows({"kind": "deny", "schedule": "0 * * * *", "duration": "90m"})
    held = decide(hourly, utc(2027, 1, 1))
    assert not held.allowed and held.until is None
    assert held.reason == "outside its window: no window lets it go"


def test_no_windows_allow_everything():
    assert decide((), utc(2027, 1, 1)).allowed
    assert decide(parse_windows(None), utc(2027, 1, 1)).allowed


def test_decide_needs_an_aware_time():
    with pytest.raises(ValueError, match="aware"):
        decide(windows(BERLIN_WEEKEND), datetime(2027, 1, 1))


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "field", "problem"),
    [
        ("friday", "environments.prod.windows", "expected a list of windows"),
        (["friday"], "environments.prod.windows.0", "expected a mapping"),
        ([{**BERLIN_WEEKEND, "kind": "block"}], "windows.0.kind", "expected 'allow' or 'deny'"),
        ([{**BERLIN_WEEKEND, "schedule": "fri 16:00"}], "windows.0.schedule", "5-field cron"),
        ([{**BERLIN_WEEKEND, "duration": "64"}], "windows.0.duration", "a duration such as"),
        (
            [WORKING_HOURS, {**BERLIN_WEEKEND, "timeZone": "Europe/Berlinn"}],
            "windows.1.timeZone",
            "not a time zone",
        ),
        ([{**BERLIN_WEEKEND, "timeZone": "../etc/passwd"}], "windows.0.timeZone", "IANA"),
        ([{**BERLIN_WEEKEND, "rollbacks": True}], "windows.0.rollbacks", "'allow' or 'deny'"),
        ([{**BERLIN_WEEKEND, "timezone": "UTC"}], "windows.0.timezone", "unknown key"),
        ([{"kind": "deny", "schedule": "0 16 * * FRI"}], "windows.0.duration", "required"),
    ],
)
def test_a_bad_window_names_the_file_the_field_and_what_was_expected(items, field, problem):
    with pytest.raises(InputError) as caught:
        parse_windows(items, field="environments.prod.windows")
    assert caught.value.path == "factory.yaml"
    assert caught.value.field.endswith(field) and problem in caught.value.problem, str(caught.value)
