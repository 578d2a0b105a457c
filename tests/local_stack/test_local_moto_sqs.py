"""The local moto server's SQS loses nothing under concurrent senders, receivers and deleters.

Stock moto's queues are not thread-safe: with frequent thread switches, deletes racing sends lose
messages or fail with ReceiptHandleIsInvalid. The moto server of the local stack installs
`rooms_local.moto_sqs_lock`; this drives moto's SQS backend the way the server's threads do.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.sqs.models import sqs_backends

from rooms_local import moto_sqs_lock

pytestmark = pytest.mark.xdist_group("local_stack")
SENDERS, PER_SENDER, RECEIVERS = 8, 100, 4


@pytest.fixture
def fast_thread_switching() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # makes the races of an unlocked queue show up in a second
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_no_message_is_lost_when_deletes_race_sends(fast_thread_switching: None) -> None:
    # GIVEN moto's SQS with the local stack's lock, and a queue
    moto_sqs_lock.install()
    backend = sqs_backends["123456789012"]["us-east-1"]
    backend.create_queue("rooms-local-race")
    expected = {f"{sender}-{n}" for sender in range(SENDERS) for n in range(PER_SENDER)}
    received: set[str] = set()
    lock = threading.Lock()
    sending_done = threading.Event()

    def send(sender: int) -> None:
        for n in range(PER_SENDER):
            backend.send_message("rooms-local-race", f"{sender}-{n}")

    def receive(_: int) -> None:
        # WHEN receivers delete what they get while senders keep sending
        idle_polls = 0
        while idle_polls < 50:
            messages = backend.receive_message("rooms-local-race", 10, 0, 30)
            idle_polls = idle_polls + 1 if not messages and sending_done.is_set() else 0
            for message in messages:
                assert message.receipt_handle is not None
                backend.delete_message("rooms-local-race", message.receipt_handle)
                with lock:
                    received.add(message.body)

    with ThreadPoolExecutor(SENDERS + RECEIVERS) as pool:
        receivers = [pool.submit(receive, n) for n in range(RECEIVERS)]
        for future in [pool.submit(send, n) for n in range(SENDERS)]:
            future.result()
        sending_done.set()
        for future in receivers:
            future.result()  # an unlocked queue raises ReceiptHandleIsInvalid here
    # THEN every message sent was received and deleted once: none vanished
    assert received == expected
