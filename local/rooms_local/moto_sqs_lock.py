"""Makes the moto server's SQS safe under concurrent requests, as SQS is.

Stock moto mutates a queue's message list without a lock: a DeleteMessage rebuilds the list while a
concurrent SendMessage appends to the old one, and that message is lost (seen here in 12,000-user
storms: one user queued and never seated); ReceiveMessage can also fail with "Set changed size during
iteration". Every mutation of a queue is therefore serialised by one re-entrant lock, which a long
poll releases while it sleeps so senders can add the message it waits for.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.RLock()


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return locked


def _release_while_waiting(wait: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(wait)
    def waiting(*args: Any, **kwargs: Any) -> Any:
        depth = 0
        while True:  # give the lock up entirely: receive_message may hold it more than once
            try:
                _lock.release()
            except RuntimeError:
                break
            depth += 1
        try:
            return wait(*args, **kwargs)
        finally:
            for _ in range(depth):
                _lock.acquire()

    return waiting


def install() -> None:
    """Patch moto's SQS models in this process (the moto server's child); idempotent."""
    from moto.sqs import models

    if getattr(models.Queue.add_message, "__rooms_locked__", False):
        return
    for owner, names in (
        (models.Queue, ("add_message", "delete_message")),
        (
            models.SQSBackend,
            (
                "send_message",
                "send_message_batch",
                "receive_message",
                "delete_message",
                "delete_message_batch",
                "change_message_visibility",
                "change_message_visibility_batch",
                "purge_queue",
            ),
        ),
    ):
        for name in names:
            method = getattr(owner, name)
            locked = _serialised(method)
            locked.__rooms_locked__ = True  # type: ignore[attr-defined]
            setattr(owner, name, locked)
    models.Queue.wait_for_messages = _release_while_waiting(models.Queue.wait_for_messages)  # type: ignore[method-assign]
