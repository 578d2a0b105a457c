"""Percentiles and latency summaries, without numpy."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: int) -> float | None:
    """The q-th percentile (1..99) with linear interpolation between ranks; None for no values."""
    if len(values) < 2:  # quantiles needs two points before Python 3.13
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99 and max, in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 1)

    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
        "p95_ms": ms(percentile(seconds, 95)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }
