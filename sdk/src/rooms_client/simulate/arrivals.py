"""Arrival curves: when each simulated user taps "join", in seconds from the start."""

from __future__ import annotations

import random

from rooms_client.simulate.config import Arrival


def arrival_offsets(curve: Arrival, users: int, duration: float, rng: random.Random) -> list[float]:
    """Sorted offsets in [0, duration].

    burst: everyone at once (the celebrity walks in); linear: evenly spread; poisson: a Poisson
    process conditioned on ``users`` arrivals, i.e. sorted uniform draws over the window.
    """
    if curve == "burst" or duration <= 0:
        return [0.0] * users
    if curve == "linear":
        return [duration * i / users for i in range(users)]
    if curve == "poisson":
        return sorted(rng.uniform(0.0, duration) for _ in range(users))
    raise ValueError(f"unknown arrival curve {curve!r}")
