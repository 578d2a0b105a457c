"""The local stack's process collects its oldest generation on a timer, not as its heap grows."""

from __future__ import annotations

import gc
import threading
from typing import Any

from rooms_local.collector import collect_oldest_on_a_timer


def test_full_collections_come_from_the_timer_alone_and_stopping_restores_the_collector() -> None:
    before = gc.get_threshold()
    full: list[int] = []
    seen_during: list[tuple[tuple[int, int, int], int]] = []

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["generation"])

    ticks = iter([False, False, True])  # two intervals run out, then the stack stops

    def wait(_: float) -> bool:
        seen_during.append((gc.get_threshold(), gc.get_freeze_count()))
        return next(ticks)

    gc.callbacks.append(on_collection)
    try:
        # GIVEN the timer started: WHEN two intervals pass and the stack stops
        collect_oldest_on_a_timer(600.0, threading.Event(), wait).join()
    finally:
        gc.callbacks.remove(on_collection)
    # THEN meanwhile the oldest generation was out of automatic reach and the start-up heap set aside
    thresholds, frozen = seen_during[0]
    assert thresholds[:2] == before[:2] and thresholds[2] > 10**8 and frozen > 0
    # AND there was one full collection per interval, and the collector is back as it was
    assert len(full) == 2
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
