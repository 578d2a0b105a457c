"""The real overflow worker (functions/overflow_worker/app.py, loaded from its file) in a Lambda instance
that dies, for the end-to-end test of users whose request kills the worker (tests/e2e/test_lost_user.py).

Nothing of the worker's code changes but its room store: the instance exits (os._exit, as a kill or an
out-of-memory does) while the worker is seating a request of a user listed in FRAGILE_WORKER_DOOMED, and
exits during init while the file FRAGILE_WORKER_DIE_AT_INIT exists. The test edits those files to break and heal it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from rooms.adapters.room_store import DynamoRoomStore
from rooms.config import settings
from rooms.overflow_service import OverflowService

if Path(os.environ["FRAGILE_WORKER_DIE_AT_INIT"]).exists():
    os._exit(3)  # the instance dies while it starts: the handler never runs

_spec = importlib.util.spec_from_file_location("overflow_worker_app", os.environ["FRAGILE_WORKER_REAL_HANDLER"])
assert _spec is not None and _spec.loader is not None
_real: Any = importlib.util.module_from_spec(_spec)  # the worker module: its `service` is replaced below
_spec.loader.exec_module(_real)


def _doomed() -> set[str]:
    listed = Path(os.environ["FRAGILE_WORKER_DOOMED"])
    return set(listed.read_text().split()) if listed.exists() else set()


class _FragileRoomStore(DynamoRoomStore):
    def seat_batch(self, room: Any, requests: Any, now: Any, *, whole: bool = False) -> Any:
        if _doomed() & {request.user_id for request in requests}:
            os._exit(137)  # killed mid-batch: no answer, no partial batch response, the batch comes back
        return super().seat_batch(room, requests, now, whole=whole)


# the real worker's use case, built over the fragile store and the worker's own ticket store
_real.service = OverflowService(_FragileRoomStore(), _real.adapters.tickets, settings().max_parallel_rooms)
lambda_handler = _real.lambda_handler
