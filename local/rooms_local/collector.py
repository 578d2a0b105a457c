"""The local stack's process collects its oldest generation on a timer, not each time its heap grows.

The process stands in for API Gateway, Lambda's SQS pollers and the @connections API, which never pause
on AWS. CPython collects the oldest generation whenever it has grown by a quarter, and a storm's heap
grows all along (a socket per listener): in a 12,000-user storm on two cores, measured, a full collection
came every few seconds and each stalled every request, socket and poller of the process for 0.3 to 1 s.
Young generations are still collected as before; the oldest every `interval` seconds, so a garbage cycle
that grew old waits that long at most.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable

_NEVER = 1 << 30  # young collections between two automatic full ones: more than any run makes


def collect_oldest_on_a_timer(
    interval: float, stop: threading.Event, wait: Callable[[float], bool] | None = None
) -> threading.Thread:
    """From now until `stop` is set: no automatic full collection, one every `interval` seconds instead.

    `wait(interval)` returns True once stopped (by default `stop.wait`); the collector is then as before."""
    gc.freeze()  # what the stack started with (botocore's models, the template) is never garbage
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    wait = wait or stop.wait

    def run() -> None:
        while not wait(interval):
            gc.collect()
        gc.set_threshold(young, middle, oldest)
        gc.unfreeze()

    thread = threading.Thread(target=run, name="full-collections", daemon=True)
    thread.start()
    return thread
