"""A 5-field cron schedule (minute hour day-of-month month day-of-week), matched in wall time.

The grammar Argo CD's sync windows use (robfig/cron's standard parser, as Vixie cron): each
field a comma list of `*`, `N`, `A-B`, optionally `/STEP` (`N/STEP` runs from N to the field's
end); months JAN-DEC and weekdays SUN-SAT by name (any case), Sunday also 7. When both
day-of-month and day-of-week are restricted, a day matches either (`0 9 1 * MON`: the 1st and
every Monday), as cron does. No dependency: croniter is not in the environment, and this is
the whole of what the windows need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {3: {n: i + 1 for i, n in enumerate(_MONTHS)}, 4: {n: i for i, n in enumerate(_DAYS)}}
EXPECTED = (
    "a 5-field cron schedule (minute hour day-of-month month day-of-week), e.g. '0 16 * * FRI'"
)
# A schedule that matches nowhere in this many days (`0 0 30 FEB *`) never matches.
HORIZON_DAYS = 366 * 8 + 1


def _value(text: str, index: int) -> int:
    names = _NAMES.get(index, {})
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        hint = {3: " or a name JAN-DEC", 4: " or a name SUN-SAT"}.get(index, "")
        raise ValueError(f"{FIELDS[index]}: {text!r} is not a number{hint}")
    low, high = _BOUNDS[index]
    if not low <= int(text) <= high:
        raise ValueError(f"{FIELDS[index]}: {text} is outside {low}-{high}")
    return int(text)


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    found: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"{FIELDS[index]}: step {step_text!r} is not a positive number")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _value(first, index), _value(last, index)
            if start > end:
                raise ValueError(f"{FIELDS[index]}: range {span!r} runs backwards")
        elif span:
            start = _value(span, index)
            end = high if step_text else start
        else:
            raise ValueError(f"{FIELDS[index]}: empty item in {text!r}")
        found.update(range(start, end + 1, step))
    if index == 4 and 7 in found:  # Sunday is 0 and 7
        found = (found - {7}) | {0}
    return frozenset(found)


@dataclass(frozen=True)
class Cron:
    """A parsed schedule; `text` is what the user wrote."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month starts with `*`
    any_weekday: bool  # day-of-week starts with `*`

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def times(self) -> list[time]:
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching wall time strictly after `moment` (naive), or None."""
        day = moment.date()
        for _ in range(HORIZON_DAYS):
            if self.day_matches(day):
                for at in self.times():
                    candidate = datetime.combine(day, at)
                    if candidate > moment:
                        return candidate
            day += timedelta(days=1)
        return None

    def between(self, after: datetime, upto: datetime) -> list[datetime]:
        """Every matching wall time in (after, upto], oldest first (naive datetimes)."""
        found = []
        day = after.date()
        while day <= upto.date():
            if self.day_matches(day):
                for at in self.times():
                    candidate = datetime.combine(day, at)
                    if after < candidate <= upto:
                        found.append(candidate)
            day += timedelta(days=1)
        return found


def parse_cron(text: object) -> Cron:
    """A Cron from `0 16 * * FRI`; a ValueError names the field and what was expected."""
    if not isinstance(text, str) or len(text.split()) != 5:
        raise ValueError(f"expected {EXPECTED}, got {text!r}")
    parts = text.split()
    sets = [_field(part, index) for index, part in enumerate(parts)]
    cron = Cron(text, *sets, any_day=parts[2].startswith("*"), any_weekday=parts[4].startswith("*"))
    if cron.next_after(datetime(2000, 1, 1)) is None:
        raise ValueError(f"{text!r} never matches a day of the calendar")
    return cron
