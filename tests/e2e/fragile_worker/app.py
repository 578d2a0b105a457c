"""The real overflow worker (functions/overflow_worker/app.py, loaded from its file) in a Lambda instance
that dies, for the end-to-end test of users whose request kills the worker (tests/e2e/test_lost_user.py).

Nothing of the worker's code changes: the instance exits (os._exit, as a kill or an out-of-memory does)
while the worker is seating a request of a user listed in FRAGILE_WORKER_DOOMED, and exits during init
while the file FRAGILE_WORKER_DIE_AT_INIT exists. The test edits those files to break and heal it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

if Path(os.environ["FRAGILE_WORKER_DIE_AT_INIT"]).exists():
    os._exit(3)  # the instance dies while it starts: the handler never runs

_spec = importlib.util.spec_from_file_location("overflow_worker_app", os.environ["FRAGILE_WORKER_REAL_HANDLER"])
assert _spec is not None and _spec.loader is not None
_real = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_real)
_rooms = _real.service._rooms
_seat_batch = _rooms.seat_batch


def _doomed() -> set[str]:
    listed = Path(os.environ["FRAGILE_WORKER_DOOMED"])
    return set(listed.read_text().split()) if listed.exists() else set()


def _seat_batch_or_die(room: Any, requests: Any, now: Any) -> Any:
    if _doomed() & {request.user_id for request in requests}:
        os._exit(137)  # killed mid-batch: no answer, no partial batch response, the batch comes back
    return _seat_batch(room, requests, now)


_rooms.seat_batch = _seat_batch_or_die
lambda_handler = _real.lambda_handler
