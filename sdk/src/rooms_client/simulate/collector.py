"""Keep the load generator's own garbage collector from stalling the storm it measures.

CPython collects its oldest generation each time it has grown by a quarter. A storm's heap grows all
along (each user's client, socket and results), so full collections came again and again: in a
12,000-user storm on two cores each stalled every user's event loop for 1 to 3 s, and those stalls were
most of the seat latency's p99. During the storm only the young generations are collected, which
keeps short-lived garbage in check; the old one is collected once, at the end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_NEVER = 1 << 30  # young collections between two full ones: more than any storm makes


@contextmanager
def no_full_collections() -> Iterator[None]:
    young, middle, old = gc.get_threshold()
    gc.freeze()  # what the storm starts with (modules, tokens) is not scanned again during it
    gc.set_threshold(young, middle, _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)
        gc.unfreeze()
        gc.collect()
