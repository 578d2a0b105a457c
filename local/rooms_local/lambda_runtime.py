"""The inside of one local "Lambda instance": a process that imports the handler once and serves
invocations one at a time, like the Python runtime does. Standard library only, so it adds nothing
to the handler's cold start.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

# Kept from the parent's environment: what the interpreter and tools need, no AWS settings.
_KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")


@dataclass(frozen=True)
class WorkerSpec:
    function_name: str
    function_arn: str
    handler: str  # "app.lambda_handler"
    code_dir: str
    layer_dirs: tuple[str, ...]
    memory_mb: int
    environment: dict[str, str]


class LambdaContext:
    """The attributes and method of the runtime's context object that handlers use."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(self, spec: WorkerSpec, request_id: str, deadline_ms: int):
        self.function_name = spec.function_name
        self.memory_limit_in_mb = spec.memory_mb
        self.invoked_function_arn = spec.function_arn
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        self.log_stream_name = f"local/[$LATEST]{os.getpid()}"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": "".join(traceback.format_exception(error)),
    }


def _enter_lambda_environment(spec: WorkerSpec) -> None:
    # A clean environment like Lambda's: a developer's real AWS profile must never leak in.
    kept = {key: value for key, value in os.environ.items() if key in _KEPT_VARIABLES or key.startswith("COVERAGE_")}
    os.environ.clear()
    os.environ.update(kept)
    os.environ.update(spec.environment)
    time.tzset()  # Lambda runs in UTC; TZ comes with the environment
    sys.path[:0] = [spec.code_dir, *spec.layer_dirs]  # the code dir, then the layers (/opt/python)
    os.chdir(spec.code_dir)


def serve(conn: Connection, spec: WorkerSpec) -> None:
    """Process entry point: init (import the handler), then invoke per message until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us
    try:
        _enter_lambda_environment(spec)
        module_name, _, function_name = spec.handler.rpartition(".")
        handler = getattr(importlib.import_module(module_name), function_name)
    except BaseException as error:
        conn.send(("init_error", _error(error, "Runtime.ImportModuleError")))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        request_id, event_json, deadline_ms = message
        reply, exiting = _invoke(handler, spec, request_id, event_json, deadline_ms)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        conn.send(reply)
        if exiting:
            return


def _invoke(
    handler: Any, spec: WorkerSpec, request_id: str, event_json: str, deadline_ms: int
) -> tuple[tuple[str, Any], bool]:
    context = LambdaContext(spec, request_id, deadline_ms)
    try:
        result = handler(json.loads(event_json), context)
    except SystemExit as error:  # the runtime process ends, and Lambda reports it
        return ("error", _error(error, "Runtime.ExitError")), True
    except Exception as error:
        return ("error", _error(error)), False
    try:
        return ("ok", json.dumps(result)), False
    except (TypeError, ValueError) as error:
        return ("error", _error(error, "Runtime.MarshalError")), False
