"""The hot-key report: what a window of metered DynamoDB requests puts on each partition key on AWS.

Pure: lists of `Charge` and call counts in, figures out; it never talks to DynamoDB.

A partition key here is (table, index, key value): the base table's key or a GSI's. AWS serves about
1,000 WCU/s and 3,000 RCU/s per partition key, so the figure that decides a ceiling is the units the
hottest key takes per call of an operation. Throttled charges (what a refused request would have used)
are reported beside the consumed units, never in them.

Units per call on a key come two ways. Over the window: the key's units in it / the calls in it, exact
for a short burst of one operation (each measured operation). Paced, what the ceilings use, from long
windows whose calls' answer times are known (the storm, the heartbeats): the most a key took over any
stretch of consecutive calls (a twentieth of them, at least 100), per call of that stretch. A
time-bucketed key (a heartbeat-expiry bucket) takes every call while its bucket is current, then none,
and a local run slower than AWS spreads the same calls over more buckets: over the window such a key
looks cooler than at AWS's pace, over a stretch inside its bucket it is right. A storm's phases (the
room item takes every admission, then the tickets take every queued join) show the same way, while
the overflow worker's batches, bursts of seats a second or so behind the joins, are smoothed over the
stretch; the worker's tail after the last join belongs to the last stretch.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rooms_local.capacity.ledger import Charge

KEY_WCU_PER_S = 1000.0  # what one partition key takes on AWS, table or GSI
KEY_RCU_PER_S = 3000.0
TOP_KEYS = 10
STRETCHES = 20  # a paced figure's stretch is a twentieth of the window's calls...
MIN_STRETCH_CALLS = 100  # ...and at least this many, so a batch's burst is shared by the calls around it


@dataclass(frozen=True)
class KeyRef:
    """One partition key: of the base table (index None) or of one of its GSIs."""

    table: str
    index: str | None
    partition_key: str

    @property
    def order(self) -> tuple[str, str, str]:
        """A total order (None does not compare with text)."""
        return (self.table, self.index or "", self.partition_key)

    @property
    def label(self) -> str:
        return f"{self.table}{'/' + self.index if self.index else ''} {self.partition_key}"

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "index": self.index, "partition_key": self.partition_key}


def key_of(charge: Charge) -> KeyRef:
    return KeyRef(charge.table, charge.index, charge.partition_key)


def second_of(charge: Charge) -> int:
    return math.floor(charge.at)


@dataclass
class Units:
    """Units on one key (or in one second): consumed, and what throttled requests would have used."""

    wcu: float = 0.0
    rcu: float = 0.0
    throttled_wcu: float = 0.0
    throttled_rcu: float = 0.0

    def add(self, charge: Charge) -> None:
        if charge.throttled:
            self.throttled_wcu += charge.wcu
            self.throttled_rcu += charge.rcu
        else:
            self.wcu += charge.wcu
            self.rcu += charge.rcu


def per_second(charges: Iterable[Charge]) -> dict[int, dict[KeyRef, Units]]:
    """Units per wall-clock second (floor of `at`), per partition key."""
    seconds: dict[int, dict[KeyRef, Units]] = defaultdict(lambda: defaultdict(Units))
    for charge in charges:
        seconds[second_of(charge)][key_of(charge)].add(charge)
    return {second: dict(keys) for second, keys in sorted(seconds.items())}


@dataclass
class KeyUsage:
    """A key over a window: totals, its peak second, and which DynamoDB operations charged it."""

    key: KeyRef
    total: Units = field(default_factory=Units)
    peak_wcu_per_s: float = 0.0
    peak_rcu_per_s: float = 0.0
    by_operation: dict[str, Units] = field(default_factory=lambda: defaultdict(Units))
    requests: Counter[str] = field(default_factory=Counter)  # requests per DynamoDB operation
    series: dict[int, Units] = field(default_factory=lambda: defaultdict(Units))  # per second

    @property
    def pressure(self) -> float:
        """How near its peak second came to AWS's per-key limit (1.0 = at the limit)."""
        return max(self.peak_wcu_per_s / KEY_WCU_PER_S, self.peak_rcu_per_s / KEY_RCU_PER_S)


def key_usage(charges: Iterable[Charge]) -> list[KeyUsage]:
    """Every key charged in the window, hottest first (by its peak second against AWS's limits)."""
    usage: dict[KeyRef, KeyUsage] = {}
    seen_requests: set[tuple[KeyRef, int, str]] = set()
    for charge in charges:
        key = key_of(charge)
        entry = usage.get(key) or usage.setdefault(key, KeyUsage(key))
        entry.total.add(charge)
        entry.by_operation[charge.operation].add(charge)
        entry.series[second_of(charge)].add(charge)
        if (key, charge.request_id, charge.operation) not in seen_requests:
            seen_requests.add((key, charge.request_id, charge.operation))
            entry.requests[charge.operation] += 1
    for entry in usage.values():
        entry.peak_wcu_per_s = max((units.wcu for units in entry.series.values()), default=0.0)
        entry.peak_rcu_per_s = max((units.rcu for units in entry.series.values()), default=0.0)
    return sorted(usage.values(), key=lambda e: (-e.pressure, -(e.total.wcu + e.total.rcu), e.key.order))


@dataclass(frozen=True)
class HottestKey:
    """The key that takes the most of one kind of unit per call, and how much."""

    key: KeyRef | None
    per_call: float

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key.as_json() if self.key else None, "per_call": _round(self.per_call)}


@dataclass(frozen=True)
class OperationCost:
    """What one product operation costs per call, from a window that holds only its calls."""

    name: str
    calls: int
    wcu_total: float  # consumed units per call, every key
    rcu_total: float
    throttled_wcu: float  # per call, what refused requests would have used
    throttled_rcu: float
    wcu_hottest: HottestKey  # per call on the key that takes the most: its units in the window / the calls
    rcu_hottest: HottestKey
    wcu_hottest_paced: HottestKey  # per call on the key that takes the most over a stretch of calls
    rcu_hottest_paced: HottestKey
    requests_per_call: dict[str, float]  # DynamoDB requests per call, per DynamoDB operation

    @property
    def wcu_hottest_key(self) -> float:
        return self.wcu_hottest.per_call

    @property
    def rcu_hottest_key(self) -> float:
        return self.rcu_hottest.per_call

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "wcu_total": _round(self.wcu_total),
            "rcu_total": _round(self.rcu_total),
            "wcu_hottest_key": _round(self.wcu_hottest.per_call),
            "wcu_hottest_key_name": self.wcu_hottest.key.as_json() if self.wcu_hottest.key else None,
            "rcu_hottest_key": _round(self.rcu_hottest.per_call),
            "rcu_hottest_key_name": self.rcu_hottest.key.as_json() if self.rcu_hottest.key else None,
            "paced": {
                "wcu_hottest_key": self.wcu_hottest_paced.as_json(),
                "rcu_hottest_key": self.rcu_hottest_paced.as_json(),
            },
            "throttled_wcu": _round(self.throttled_wcu),
            "throttled_rcu": _round(self.throttled_rcu),
            "requests_per_call": {op: _round(n) for op, n in sorted(self.requests_per_call.items())},
        }


def stretch_calls(calls: int) -> int:
    """How many consecutive calls one stretch of a paced figure spans."""
    return min(calls, max(MIN_STRETCH_CALLS, math.ceil(calls / STRETCHES)))


def operation_cost(
    name: str, charges: Sequence[Charge], calls: int, *, call_times: Sequence[float] | None = None
) -> OperationCost:
    """Per call of `name`, from the charges of a window holding exactly `calls` calls of it; with the
    calls' answer times (`time.time()`), the paced figures too (else they are the window's)."""
    if calls <= 0:
        raise ValueError(f"{name}: a window needs at least one call, got {calls}")
    if call_times is not None and len(call_times) != calls:
        raise ValueError(f"{name}: {len(call_times)} call times for {calls} calls")
    total = Units()
    requests: dict[str, set[int]] = defaultdict(set)
    for charge in charges:
        total.add(charge)
        requests[charge.operation].add(charge.request_id)
    usage = key_usage(charges)
    whole = {unit: _hottest(usage, unit, calls) for unit in ("wcu", "rcu")}
    paced = whole if call_times is None else _hottest_paced(charges, usage, sorted(call_times))
    return OperationCost(
        name=name,
        calls=calls,
        wcu_total=total.wcu / calls,
        rcu_total=total.rcu / calls,
        throttled_wcu=total.throttled_wcu / calls,
        throttled_rcu=total.throttled_rcu / calls,
        wcu_hottest=whole["wcu"],
        rcu_hottest=whole["rcu"],
        wcu_hottest_paced=paced["wcu"],
        rcu_hottest_paced=paced["rcu"],
        requests_per_call={op: len(ids) / calls for op, ids in requests.items()},
    )


def _hottest(usage: Sequence[KeyUsage], unit: str, calls: int) -> HottestKey:
    best = HottestKey(None, 0.0)
    for entry in usage:  # in a fixed order: ties go to the hotter-ranked key
        per_call = getattr(entry.total, unit) / calls
        if per_call > best.per_call:
            best = HottestKey(entry.key, per_call)
    return best


def _hottest_paced(charges: Sequence[Charge], usage: Sequence[KeyUsage], ends: list[float]) -> dict[str, HottestKey]:
    """The key that took the most over a stretch of consecutive calls, per call of it. A stretch holds
    the charges answered after the call before it and up to its last call's answer (the first from the
    window's start, the last to its end)."""
    size = stretch_calls(len(ends))
    starts = list(range(0, len(ends) - size + 1, max(1, size // 10)))
    if starts[-1] != len(ends) - size:
        starts.append(len(ends) - size)
    stretches = [
        (ends[i - 1] if i else -math.inf, ends[i + size - 1] if i + size < len(ends) else math.inf) for i in starts
    ]
    by_key: dict[KeyRef, list[Charge]] = defaultdict(list)
    for charge in charges:
        if not charge.throttled:
            by_key[key_of(charge)].append(charge)
    best: dict[str, HottestKey] = {}
    for unit in ("wcu", "rcu"):
        hottest = HottestKey(None, 0.0)
        for entry in sorted(usage, key=lambda e: (-getattr(e.total, unit), e.key.order)):
            if getattr(entry.total, unit) / size <= hottest.per_call:
                break  # no stretch of a cooler key can beat it
            ordered = sorted(by_key[entry.key], key=lambda c: c.at)
            times = [c.at for c in ordered]
            cumulative = [0.0, *itertools.accumulate(getattr(c, unit) for c in ordered)]
            peak = max(
                cumulative[bisect.bisect_right(times, hi)] - cumulative[bisect.bisect_right(times, lo)]
                for lo, hi in stretches
            )
            if peak / size > hottest.per_call:
                hottest = HottestKey(entry.key, peak / size)
        best[unit] = hottest
    return best


@dataclass(frozen=True)
class Ceiling:
    """A rate or a population AWS's per-key limits allow, and the key and unit that set it."""

    value: float  # math.inf when no key was charged
    unit: str  # "wcu" or "rcu": the one that binds
    key: KeyRef | None
    per_call: float

    def as_json(self) -> dict[str, Any]:
        return {
            "value": None if math.isinf(self.value) else _round(self.value),
            "unit": self.unit,
            "key": self.key.as_json() if self.key else None,
            "per_call": _round(self.per_call),
        }


def _binding(cost: OperationCost, calls_per_second_at_limit: float) -> Ceiling:
    """The lower of the WCU and RCU bounds; `calls_per_second_at_limit` turns calls/s into the ceiling."""
    bounds = []
    paced = (("wcu", KEY_WCU_PER_S, cost.wcu_hottest_paced), ("rcu", KEY_RCU_PER_S, cost.rcu_hottest_paced))
    for unit, limit, hot in paced:
        rate = limit / hot.per_call if hot.per_call > 0 else math.inf
        bounds.append(Ceiling(rate * calls_per_second_at_limit, unit, hot.key, hot.per_call))
    return min(bounds, key=lambda ceiling: ceiling.value)


def family_joins_ceiling(storm: OperationCost) -> Ceiling:
    """Joins per second into one room family: min(1,000 WCU/s, 3,000 RCU/s) / the hottest key's units per join
    (paced), from a join storm into one family (every key, the table's and each GSI's)."""
    return _binding(storm, 1.0)


def platform_listeners_ceiling(heartbeats: OperationCost, interval_seconds: float) -> Ceiling:
    """Concurrent listeners on the platform, each heartbeating every `interval_seconds`: L listeners make
    L / interval heartbeats a second, so L = limit x interval / the hottest key's units per heartbeat (paced)."""
    if interval_seconds <= 0:
        raise ValueError("the heartbeat interval must be positive")
    return _binding(heartbeats, interval_seconds)


def hot_keys_json(usage: Sequence[KeyUsage], top: int = TOP_KEYS) -> list[dict[str, Any]]:
    start = min((second for entry in usage for second in entry.series), default=0)
    return [
        {
            **entry.key.as_json(),
            "peak_wcu_per_s": _round(entry.peak_wcu_per_s),
            "peak_rcu_per_s": _round(entry.peak_rcu_per_s),
            "wcu": _round(entry.total.wcu),
            "rcu": _round(entry.total.rcu),
            "throttled_wcu": _round(entry.total.throttled_wcu),
            "throttled_rcu": _round(entry.total.throttled_rcu),
            "operations": {
                op: {"requests": entry.requests[op], "wcu": _round(units.wcu), "rcu": _round(units.rcu)}
                for op, units in sorted(entry.by_operation.items())
            },
            # [seconds since the window's first charge, wcu, rcu], one row per second the key was charged
            "series": [
                [second - start, _round(units.wcu), _round(units.rcu)] for second, units in sorted(entry.series.items())
            ],
        }
        for entry in usage[:top]
    ]


def window_json(charges: Sequence[Charge], top: int = TOP_KEYS) -> dict[str, Any]:
    """A window's hot keys and totals (consumed and throttled)."""
    total = Units()
    for charge in charges:
        total.add(charge)
    seconds = (max(c.at for c in charges) - min(c.at for c in charges)) if charges else 0.0
    return {
        "seconds": _round(seconds),
        "requests": len({c.request_id for c in charges}),
        "wcu": _round(total.wcu),
        "rcu": _round(total.rcu),
        "throttled_wcu": _round(total.throttled_wcu),
        "throttled_rcu": _round(total.throttled_rcu),
        "hot_keys": hot_keys_json(key_usage(charges), top),
    }


def report_document(
    *,
    operations: Mapping[str, OperationCost],
    storm: OperationCost,
    storm_charges: Sequence[Charge],
    heartbeats: OperationCost,
    heartbeat_charges: Sequence[Charge],
    heartbeat_interval_seconds: float,
    parameters: Mapping[str, Any],
    top: int = TOP_KEYS,
) -> dict[str, Any]:
    """The JSON document: ceilings, per operation, the storm's and the heartbeat window's hot keys."""
    joins = family_joins_ceiling(storm)
    listeners = platform_listeners_ceiling(heartbeats, heartbeat_interval_seconds)
    storm_window = window_json(storm_charges, top)
    heartbeat_window = window_json(heartbeat_charges, top)
    return {
        "parameters": dict(parameters),
        "key_limits": {"wcu_per_s": KEY_WCU_PER_S, "rcu_per_s": KEY_RCU_PER_S},
        "ceilings": {
            "family_joins_per_s": None if math.isinf(joins.value) else _round(joins.value),
            "platform_listeners": None if math.isinf(listeners.value) else math.floor(listeners.value),
            "family_joins": joins.as_json(),
            "platform_listeners_detail": {
                **listeners.as_json(),
                "heartbeat_interval_seconds": heartbeat_interval_seconds,
            },
        },
        "per_operation": {name: cost.as_json() for name, cost in operations.items()},
        "storm": {"per_join": storm.as_json(), **storm_window},
        "heartbeat_window": {"per_heartbeat": heartbeats.as_json(), **heartbeat_window},
        # the top keys of the storm and of the heartbeat window together, hottest first
        "hot_keys": sorted(
            [{"window": "storm", **k} for k in storm_window["hot_keys"]]
            + [{"window": "heartbeats", **k} for k in heartbeat_window["hot_keys"]],
            key=lambda k: max(k["peak_wcu_per_s"] / KEY_WCU_PER_S, k["peak_rcu_per_s"] / KEY_RCU_PER_S),
            reverse=True,
        )[:top],
    }


def format_report(document: Mapping[str, Any]) -> str:
    """The document as a readable text table."""
    lines = []
    ceilings = document["ceilings"]
    joins, listeners = ceilings["family_joins"], ceilings["platform_listeners_detail"]
    lines.append("Ceilings on AWS (1,000 WCU/s and 3,000 RCU/s per partition key)")
    lines.append(
        f"  joins/s into one room family   {_figure(ceilings['family_joins_per_s']):>12}   {_binds(joins)} per join"
    )
    lines.append(
        f"  listeners on the platform      {_figure(ceilings['platform_listeners']):>12}"
        f"   {_binds(listeners)} per heartbeat, every {listeners['heartbeat_interval_seconds']:g} s"
    )
    lines.append("")
    lines.append("Per call: units in all, and on the key that takes the most (over the window; * paced)")
    lines.append(
        f"  {'operation':<20}{'calls':>7}{'WCU':>9}{'RCU':>9}{'WCU hot':>9}{'RCU hot':>9}"
        f"{'WCU hot*':>10}{'RCU hot*':>10}  key (WCU hot)"
    )
    rows = {**document["per_operation"], "storm (per join)": document["storm"]["per_join"]}
    rows["heartbeats (window)"] = document["heartbeat_window"]["per_heartbeat"]
    for name, cost in rows.items():
        paced = cost["paced"]
        lines.append(
            f"  {name:<20}{cost['calls']:>7}{cost['wcu_total']:>9.2f}{cost['rcu_total']:>9.2f}"
            f"{cost['wcu_hottest_key']:>9.2f}{cost['rcu_hottest_key']:>9.2f}"
            f"{paced['wcu_hottest_key']['per_call']:>10.2f}{paced['rcu_hottest_key']['per_call']:>10.2f}"
            f"  {_key_label(cost['wcu_hottest_key_name'])}"
        )
    for title, window in (("storm", document["storm"]), ("heartbeat window", document["heartbeat_window"])):
        lines.append("")
        throttled = f", throttled {window['throttled_wcu']:g} WCU {window['throttled_rcu']:g} RCU"
        lines.append(
            f"Hot keys of the {title} ({window['seconds']:g} s, {window['requests']} requests, "
            f"{window['wcu']:g} WCU, {window['rcu']:g} RCU{throttled if _throttled(window) else ''})"
        )
        lines.append(f"  {'peak WCU/s':>10}{'peak RCU/s':>11}{'WCU':>10}{'RCU':>10}  key  (operations)")
        for key in window["hot_keys"]:
            operations = ", ".join(f"{op} {n['requests']}" for op, n in key["operations"].items())
            lines.append(
                f"  {key['peak_wcu_per_s']:>10g}{key['peak_rcu_per_s']:>11g}{key['wcu']:>10g}{key['rcu']:>10g}"
                f"  {_key_label(key)}  ({operations})"
            )
    return "\n".join(lines)


def _throttled(window: Mapping[str, Any]) -> bool:
    return bool(window["throttled_wcu"] or window["throttled_rcu"])


def _figure(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:,.0f}"


def _binds(ceiling: Mapping[str, Any]) -> str:
    return f"{ceiling['unit'].upper()}: {ceiling['per_call']:g} on {_key_label(ceiling['key'])}"


def _key_label(key: Mapping[str, Any] | None) -> str:
    if key is None:
        return "-"
    return KeyRef(key["table"], key["index"], key["partition_key"]).label


def _round(value: float) -> float:
    return round(value, 4)
