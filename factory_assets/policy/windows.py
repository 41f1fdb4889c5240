"""Promotion windows: when a ready request may land, in the shape of Argo CD's sync windows.

    windows:
      - {kind: deny,  schedule: "0 16 * * FRI",    duration: 64h, timeZone: Europe/Berlin}
      - {kind: allow, schedule: "0 9 * * MON-FRI", duration: 8h,  timeZone: Europe/Berlin}

A window opens at each time its `schedule` matches, in the wall time of `timeZone` (an IANA
zone, read with the standard library's `zoneinfo`), and stays open for `duration`. As in Argo
CD, a promotion may go when no deny window is open and, if there are allow windows, one of
them is. Unlike Argo CD, which adds the duration in absolute time, the duration is added in
wall time: "Friday 16:00 for 64h" ends Monday 08:00 on the clock in Berlin also across a
change to or from daylight saving time, which is what the person who wrote it reads.

A rollback passes every window unless the window says `rollbacks: deny` (restoring service
should not wait for Monday); `--force` passes every window (the caller records who and why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from factory_assets.common.errors import InputError
from factory_assets.policy.cron import Cron, parse_cron
from factory_assets.policy.durations import describe, parse_duration

Kind = Literal["allow", "deny"]
KEYS = ("kind", "schedule", "duration", "timeZone", "rollbacks")
# How many window edges one decision follows (a deny ending inside another deny, then an
# allow opening, ...) before it calls the windows closed for good.
MAX_STEPS = 200
# Wall time and UTC disagree by at most a zone's offset change (one hour, rarely two): wall
# ranges are widened by this much and each opening is then judged by its instants.
SLACK = timedelta(hours=3)
# A window that reopens this many times in a row before it closes is taken as never closing.
MAX_OPENINGS = 1000
FOREVER = datetime.max.replace(tzinfo=UTC)


def parse_zone(name: object) -> ZoneInfo:
    """An IANA time zone (`Europe/Berlin`, `UTC`); a ValueError says what was expected."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"expected an IANA time zone such as Europe/Berlin or UTC, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone this system knows (expected an IANA name such as "
            "Europe/Berlin or UTC)"
        ) from None


@dataclass(frozen=True)
class Window:
    """One allow or deny window (see the module docstring)."""

    kind: Kind
    schedule: Cron
    duration: timedelta
    zone: ZoneInfo
    rollbacks: Literal["allow", "deny"] = "allow"

    def describe(self) -> str:
        return f"{self.kind} {self.schedule.text!r} for {describe(self.duration)} ({self.zone.key})"

    def _wall(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def _instant(self, wall: datetime) -> datetime:
        # A wall time that does not exist (skipped by a spring-forward) reads with the offset
        # before the jump (02:30 is 03:30 summer time), and one that occurs twice (the hour a
        # fall-back repeats) as its first occurrence: zoneinfo's fold=0.
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def _closes(self, moment: datetime) -> datetime | None:
        """When the openings that cover `moment` close (the latest of them), or None."""
        wall = self._wall(moment)
        ends = []
        for start in self.schedule.between(wall - self.duration - SLACK, wall + SLACK):
            opens = self._instant(start)
            # from the clock's reading of the opening: a skipped 02:30 opens at 03:30 summer
            # time and a 1h window then closes at 04:30, not at the same instant it opened
            closes = self._instant(self._wall(opens) + self.duration)
            if opens <= moment < closes:
                ends.append(closes)
        return max(ends, default=None)

    def is_open(self, moment: datetime) -> bool:
        return self._closes(moment) is not None

    def open_until(self, moment: datetime) -> datetime | None:
        """When the window closes if it is open at `moment` (UTC), else None; an opening that
        starts before the previous one ends (`0 * * * *` for 90m) keeps it open."""
        end = self._closes(moment)
        if end is None:
            return None
        for _ in range(MAX_OPENINGS):
            later = self._closes(end)
            if later is None:
                return end
            end = later
        return FOREVER

    def next_opening(self, moment: datetime) -> datetime | None:
        """The first time after `moment` (UTC) at which the window opens, or None (never)."""
        wall = self._wall(moment) - SLACK  # a repeated hour: the match may be behind the clock
        for _ in range(MAX_STEPS):
            start = self.schedule.next_after(wall)
            if start is None:
                return None
            if self._instant(start) > moment:
                return self._instant(start)
            wall = start
        return None

    def applies_to(self, *, rollback: bool) -> bool:
        return not rollback or self.rollbacks == "deny"


@dataclass(frozen=True)
class Decision:
    """Whether a promotion may go at `at`; if not, until when and which window says so."""

    allowed: bool
    at: datetime
    until: datetime | None = None  # when it may go (None while allowed, or never)
    window: Window | None = None  # the window that decides the wait (its zone formats `until`)
    reason: str = ""  # "outside its window until Mon 08:00"


def when(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`Mon 08:00` in the window's zone; a week or more away, with the date."""
    local = moment.astimezone(zone)
    if moment - now >= timedelta(days=6):
        return f"{local:%a %d %b %Y %H:%M}"
    return f"{local:%a %H:%M}"


def decide(windows: Sequence[Window], at: datetime, *, rollback: bool = False) -> Decision:
    """May a promotion (or a rollback) go at `at`? If not, the first instant it may."""
    if at.tzinfo is None:
        raise ValueError("decide needs an aware datetime (UTC)")
    at = at.astimezone(UTC)
    rules = [w for w in windows if w.applies_to(rollback=rollback)]
    denies = [w for w in rules if w.kind == "deny"]
    allows = [w for w in rules if w.kind == "allow"]
    moment, decider = at, None
    for _ in range(MAX_STEPS):
        closing = [(end, w) for w in denies if (end := w.open_until(moment)) is not None]
        if closing:
            moment, decider = max(closing, key=lambda pair: pair[0])
            if moment == FOREVER:
                break
            continue
        if allows and not any(w.is_open(moment) for w in allows):
            opening = [(start, w) for w in allows if (start := w.next_opening(moment)) is not None]
            if not opening:
                break
            moment, decider = min(opening, key=lambda pair: pair[0])
            continue
        if moment == at:
            return Decision(True, at)
        text = f"outside its window until {when(moment, decider.zone, at)}"
        return Decision(False, at, moment, decider, text)
    last = decider or (denies or allows)[0]
    return Decision(False, at, None, last, "outside its window: no window lets it go")


def parse_window(data: object) -> Window:
    """One window from its mapping; a `BadWindow` names the key and what was expected."""
    if not isinstance(data, dict):
        raise BadWindow(None, f"expected a mapping with {', '.join(KEYS)}, got {data!r}")
    for key in data:
        if key not in KEYS:
            raise BadWindow(key, f"unknown key (expected {', '.join(KEYS)})")
    for key in ("kind", "schedule", "duration"):
        if key not in data:
            raise BadWindow(key, "required")
    kind, rollbacks = data["kind"], data.get("rollbacks", "allow")
    if kind not in ("allow", "deny"):
        raise BadWindow("kind", f"expected 'allow' or 'deny', got {kind!r}")
    if rollbacks not in ("allow", "deny"):
        raise BadWindow("rollbacks", f"expected 'allow' or 'deny', got {rollbacks!r}")
    values = {}
    for key, parse in (
        ("schedule", parse_cron),
        ("duration", parse_duration),
        ("timeZone", parse_zone),
    ):
        try:
            values[key] = parse(data.get(key, "UTC") if key == "timeZone" else data[key])
        except ValueError as exc:
            raise BadWindow(key, str(exc)) from None
    return Window(kind, values["schedule"], values["duration"], values["timeZone"], rollbacks)


class BadWindow(ValueError):
    """A window that does not parse: which key (None: the item itself) and what is wrong."""

    def __init__(self, key: str | None, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


def parse_windows(
    data: object, *, path: Path | str = "factory.yaml", field: str = "windows"
) -> tuple[Window, ...]:
    """Every window of a list; an InputError names the file, `field.N.key` and the problem."""
    if data is None:
        return ()
    if not isinstance(data, (list, tuple)):
        raise InputError(path, field, "expected a list of windows (kind, schedule, duration, ...)")
    found = []
    for index, item in enumerate(data):
        try:
            found.append(parse_window(item))
        except BadWindow as exc:
            where = f"{field}.{index}" + (f".{exc.key}" if exc.key else "")
            raise InputError(path, where, exc.problem) from None
    return tuple(found)
