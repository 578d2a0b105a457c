"""The storm keeps its own collector from full collections, and leaves the process as it found it."""

from __future__ import annotations

import gc

import pytest

from rooms_client.simulate.collector import no_full_collections


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_during_the_storm_the_old_generation_waits_and_young_cycles_are_still_collected() -> None:
    before = gc.get_threshold()
    with no_full_collections():
        young, middle, old = gc.get_threshold()
        # GIVEN the storm's collector: the young generations as before, the old one out of reach
        assert (young, middle) == before[:2] and old > 10**8
        assert gc.get_freeze_count() > 0  # what existed before the storm is set aside
        # WHEN a young cycle becomes garbage
        Cycle()
        # THEN a young collection still finds it
        assert gc.collect(0) >= 1
    # AND after the storm the thresholds are back and nothing is left frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_an_error_in_the_storm_still_restores_the_collector() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), no_full_collections():
        raise RuntimeError("the storm failed")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
