"""When an EventBridge Scheduler schedule fires: `at()`, `rate()` and `cron()` expressions, evaluated as
the Scheduler evaluates them.

- `at(2030-11-26T19:00:00)`: once, at that wall time in the schedule's time zone. StartDate and
  EndDate do not apply to one-time schedules.
- `rate(5 minutes)`: every period from the StartDate, or from the schedule's creation when it has none
  (the first invocation is immediate). A day is 24 hours, whatever the clocks do.
- `cron(minutes hours day-of-month month day-of-week year)`: AWS's six fields, in the schedule's zone.
  Numbers, names (JAN-DEC, SUN-SAT), `*`, ranges (wrapping ones too: FRI-MON), lists, steps (`*/15`,
  `5/10`, `1-30/2`), `?` (one of day-of-month and day-of-week must be `?`), `L` (last day of the month;
  `5L`, the month's last Thursday; `L` alone in day-of-week is SAT), `W` (`15W`, the weekday nearest the
  15th; `LW`, the month's last weekday) and `#` (`2#1`, the month's first Monday). Days of the week are
  numbered 1 = SUN to 7 = SAT. A local time the clocks skip (spring forward) does not fire; one they
  repeat (fall back) fires once, the first time.

Pure: no clock and no AWS here. Times in and out are aware datetimes; results are in UTC.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "At",
    "Cron",
    "Rate",
    "ScheduleExpressionError",
    "ScheduleTiming",
    "parse_expression",
]

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_YEARS = (1970, 2199)
_DST_SLACK = timedelta(hours=2)  # more than any zone's clock change: covers repeated local times


class ScheduleExpressionError(ValueError):
    """The expression, zone or dates are not ones EventBridge Scheduler accepts."""


# ---------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class At:
    """`at(...)`: one wall time, naive; the schedule's zone gives it meaning."""

    local: datetime


@dataclass(frozen=True)
class Rate:
    period: timedelta


def parse_expression(text: str) -> At | Rate | Cron:
    """The expression, or ScheduleExpressionError saying what is wrong with it."""
    match = re.fullmatch(r"\s*(at|rate|cron)\((.*)\)\s*", text)
    if not match:
        raise ScheduleExpressionError(f"{text!r}: expected at(...), rate(...) or cron(...)")
    kind, body = match.group(1), match.group(2).strip()
    if kind == "at":
        try:
            return At(datetime.strptime(body, "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            raise ScheduleExpressionError(f"{text!r}: expected at(yyyy-mm-ddThh:mm:ss)") from None
    if kind == "rate":
        parts = body.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1 or parts[1] not in _RATE_UNITS:
            raise ScheduleExpressionError(f"{text!r}: expected rate(N minutes|hours|days) with N >= 1")
        return Rate(timedelta(seconds=int(parts[0]) * _RATE_UNITS[parts[1]]))
    return Cron.parse(body)


# ---------------------------------------------------------------------- cron
DayRule = Callable[[date], bool]


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_of_month: tuple[DayRule, ...] | None  # None: `?`
    day_of_week: tuple[DayRule, ...] | None
    text: str

    @classmethod
    def parse(cls, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError(f"cron({body}): expected 6 fields, minutes hours dom month dow year")
        minute, hour, dom, month, dow, year = (field.upper() for field in fields)
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(f"cron({body}): exactly one of day-of-month and day-of-week must be ?")
        try:
            return cls(
                minutes=_values(minute, 0, 59),
                hours=_values(hour, 0, 23),
                months=_values(month, 1, 12, _MONTHS),
                years=_values(year, *_YEARS),
                day_of_month=None if dom == "?" else tuple(_dom_rule(item) for item in dom.split(",")),
                day_of_week=None if dow == "?" else tuple(_dow_rule(item) for item in dow.split(",")),
                text=f"cron({body})",
            )
        except ScheduleExpressionError as error:
            raise ScheduleExpressionError(f"cron({body}): {error}") from None

    def day_matches(self, day: date) -> bool:
        rules = self.day_of_month if self.day_of_month is not None else self.day_of_week
        assert rules is not None
        return any(rule(day) for rule in rules)

    def local_times(self, start: datetime, *, backwards: bool = False) -> Iterator[datetime]:
        """Naive local minutes matching the fields, from `start` (a naive minute) on, or back from it."""

        def order(values: tuple[int, ...]) -> tuple[int, ...]:
            return values[::-1] if backwards else values

        def reached(candidate: tuple[int, ...], bound: tuple[int, ...]) -> bool:
            return candidate >= bound if not backwards else candidate <= bound

        first = (start.year, start.month, start.day, start.hour, start.minute)
        for year in order(self.years):
            if not reached((year,), first[:1]):
                continue
            for month in order(self.months):
                if not reached((year, month), first[:2]):
                    continue
                last = calendar.monthrange(year, month)[1]
                days = range(last, 0, -1) if backwards else range(1, last + 1)
                for day in days:
                    if not reached((year, month, day), first[:3]) or not self.day_matches(date(year, month, day)):
                        continue
                    for hour in order(self.hours):
                        if not reached((year, month, day, hour), first[:4]):
                            continue
                        for minute in order(self.minutes):
                            if reached((year, month, day, hour, minute), first):
                                yield datetime(year, month, day, hour, minute)


def _number(text: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleExpressionError(f"{text!r} is not a number{' or a name' if names else ''}")
    value = int(text)
    if not low <= value <= high:
        raise ScheduleExpressionError(f"{value} is outside {low}-{high}")
    return value


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> tuple[int, ...]:
    """The sorted values of a numeric field: `*`, N, A-B (wrapping if A > B), lists, and /steps."""
    found: set[int] = set()
    for item in field.split(","):
        found.update(_item_values(item, low, high, names))
    if not found:
        raise ScheduleExpressionError(f"{field!r} matches nothing")
    return tuple(sorted(found))


def _item_values(item: str, low: int, high: int, names: dict[str, int] | None) -> list[int]:
    base, _, step_text = item.partition("/")
    step = _number(step_text, 1, high - low + 1) if step_text else 1
    if base == "*":
        first, last = low, high
    elif "-" in base:
        a, b = base.split("-", 1)
        first, last = _number(a, low, high, names), _number(b, low, high, names)
    else:
        first = _number(base, low, high, names)
        last = high if step_text else first  # "5/10": from 5 to the end, every 10
    span = list(range(first, last + 1)) if first <= last else [*range(first, high + 1), *range(low, last + 1)]
    return span[::step]


def _weekday(day: date) -> int:
    """AWS numbering: 1 = SUN ... 7 = SAT."""
    return (day.weekday() + 1) % 7 + 1


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, target: int) -> bool:
    """`15W`: the weekday nearest the 15th, without leaving the month."""
    last = _last_day(day)
    target = min(target, last)
    wanted = date(day.year, day.month, target)
    if wanted.weekday() == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        wanted = wanted - timedelta(days=1) if target > 1 else wanted + timedelta(days=2)
    elif wanted.weekday() == 6:  # Sunday: the Monday after, or the Friday before on the last day
        wanted = wanted + timedelta(days=1) if target < last else wanted - timedelta(days=2)
    return day == wanted


def _dom_rule(item: str) -> DayRule:
    if item == "*":
        return lambda day: True
    if item == "L":
        return lambda day: day.day == _last_day(day)
    if item == "LW":
        return lambda day: _nearest_weekday(day, _last_day(day))
    if item.endswith("W"):
        target = _number(item[:-1], 1, 31)
        return lambda day: _nearest_weekday(day, target)
    values = frozenset(_item_values(item, 1, 31, None))
    return lambda day: day.day in values


def _dow_rule(item: str) -> DayRule:
    if item == "L":
        return lambda day: _weekday(day) == 7
    if item.endswith("L"):  # "5L": the month's last Thursday
        weekday = _number(item[:-1], 1, 7, _WEEKDAYS)
        return lambda day: _weekday(day) == weekday and day.day + 7 > _last_day(day)
    if "#" in item:  # "2#1": the month's first Monday
        weekday_text, _, nth_text = item.partition("#")
        weekday, nth = _number(weekday_text, 1, 7, _WEEKDAYS), _number(nth_text, 1, 5)
        return lambda day: _weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    values = frozenset(_item_values(item, 1, 7, _WEEKDAYS))
    return lambda day: _weekday(day) in values


# ---------------------------------------------------------------------- timing
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleExpressionError(f"{name!r} is not an IANA time zone") from None


def localize(naive: datetime, tz: ZoneInfo) -> datetime | None:
    """The aware time of a local wall time (the first one when the clocks repeat it), None if skipped."""
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive.replace(fold=0):
        return None
    return aware


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError(f"{when!r} needs a time zone")
    return when.astimezone(UTC)


@dataclass(frozen=True)
class ScheduleTiming:
    """When one schedule fires: its expression in its zone, within its start and end dates.

    `anchor` is where a rate without a StartDate counts from (the schedule's creation).
    """

    expression: At | Rate | Cron
    tz: ZoneInfo
    start: datetime | None = None
    end: datetime | None = None
    anchor: datetime | None = None

    @classmethod
    def of(
        cls,
        expression: str,
        timezone: str | None = "UTC",
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        created: datetime | None = None,
    ) -> ScheduleTiming:
        parsed = parse_expression(expression)
        if isinstance(parsed, Rate) and start is None and created is None:
            raise ScheduleExpressionError("a rate schedule without a StartDate needs its creation time")
        return cls(
            parsed,
            zone(timezone),
            _utc(start) if start else None,
            _utc(end) if end else None,
            _utc(created) if created else None,
        )

    @property
    def one_time(self) -> bool:
        return isinstance(self.expression, At)

    @property
    def at(self) -> datetime | None:
        """A one-time schedule's only occurrence (UTC)."""
        if not isinstance(self.expression, At):
            return None
        aware = localize(self.expression.local, self.tz)
        if aware is None:  # a skipped wall time: the same instant a clock that did not jump shows
            aware = self.expression.local.replace(tzinfo=self.tz, fold=0)
        return aware.astimezone(UTC)

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after `after`, or None when there is none."""
        after = _utc(after)
        expression = self.expression
        if isinstance(expression, At):
            at = self.at
            return at if at is not None and at > after else None
        if self.start is not None and after < self.start:
            after = self.start - timedelta(microseconds=1)
        found: datetime | None
        if isinstance(expression, Rate):
            anchor = self._rate_anchor()
            steps = 0 if after < anchor else (after - anchor) // expression.period + 1
            found = anchor + steps * expression.period
        else:
            found = self._cron_search(after, backwards=False)
        if found is None or (self.end is not None and found > self.end):
            return None
        return found

    def last_at_or_before(self, until: datetime) -> datetime | None:
        """The latest occurrence at or before `until`, or None when there is none."""
        until = _utc(until)
        expression = self.expression
        if isinstance(expression, At):
            at = self.at
            return at if at is not None and at <= until else None
        if self.end is not None and until > self.end:
            until = self.end
        found: datetime | None
        if isinstance(expression, Rate):
            anchor = self._rate_anchor()
            found = None if until < anchor else anchor + ((until - anchor) // expression.period) * expression.period
        else:
            found = self._cron_search(until, backwards=True)
        if found is None or (self.start is not None and found < self.start):
            return None
        return found

    def occurrences(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Every occurrence in (after, until], in order."""
        current = self.next_after(after)
        while current is not None and current <= _utc(until):
            yield current
            current = self.next_after(current)

    def _rate_anchor(self) -> datetime:
        anchor = self.start or self.anchor
        assert anchor is not None
        return anchor

    def _cron_search(self, bound: datetime, *, backwards: bool) -> datetime | None:
        cron = self.expression
        assert isinstance(cron, Cron)
        local = bound.astimezone(self.tz).replace(tzinfo=None, second=0, microsecond=0, fold=0)
        # Start a little beyond the bound's wall time: where the clocks go back, an earlier instant
        # can have a later wall time. The UTC comparison below does the exact cut.
        start = local + _DST_SLACK if backwards else local
        for naive in cron.local_times(start, backwards=backwards):
            aware = localize(naive, self.tz)
            if aware is None:
                continue  # skipped by the clocks going forward: no invocation
            utc = aware.astimezone(UTC)
            if (utc <= bound) if backwards else (utc > bound):
                return utc
        return None
