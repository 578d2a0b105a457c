"""Runs one function like Lambda does: a pool of processes, each one "instance" serving one
invocation at a time. Instances start on demand (cold starts included), are reused while warm,
and the number of processes is the function's concurrency.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .lambda_runtime import WorkerSpec, serve
from .template import FunctionSpec

INIT_TIMEOUT_S = 30.0  # Lambda allows 10 s; first imports on a cold laptop can take longer
# Synchronous invoke payload quotas ("6 MB"); Lambda allows 100 bytes more for the response.
REQUEST_LIMIT_BYTES = 6 * 1024 * 1024
RESPONSE_LIMIT_BYTES = REQUEST_LIMIT_BYTES + 100


class LambdaError(Exception):
    """The function failed: `error_type`, `error_message` and the handler's `stack_trace` text."""

    def __init__(self, function_name: str, error_type: str, error_message: str, stack_trace: str = ""):
        super().__init__(f"{function_name}: {error_type}: {error_message}\n{stack_trace}".rstrip())
        self.function_name = function_name
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace


class LambdaTimeout(LambdaError):
    """The invocation ran past the function's Timeout; its instance was killed."""


class TooManyRequests(Exception):
    """Every instance is busy and the pool throttles instead of queueing (throttle=True)."""


class RequestTooLarge(Exception):
    """The event is over Lambda's synchronous request payload limit (RequestEntityTooLargeException)."""


def lambda_environment(spec: FunctionSpec, endpoints: Mapping[str, str], region: str = "us-east-1") -> dict[str, str]:
    """The variables a local instance of `spec` sees: the template's plus what Lambda itself sets."""
    return {
        **spec.environment,
        **endpoints,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "TZ": "UTC",
        # X-Ray has no daemon here; Powertools' Tracer would otherwise try to reach one.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


@dataclass
class _Instance:
    process: Any
    conn: Connection
    invocations: int = 0


class LambdaPool:
    """Up to `max_instances` processes running `spec`'s handler with `environment`."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        *,
        max_instances: int = 4,
        throttle: bool = False,
    ):
        if spec.code_dir is None:
            raise ValueError(f"{spec.logical_id}: only functions with a local CodeUri can run locally")
        self.spec = spec
        self.max_instances = max(1, max_instances)
        self.throttle = throttle
        self._worker_spec = WorkerSpec(
            function_name=spec.name,
            function_arn=spec.arn,
            handler=spec.handler,
            code_dir=str(spec.code_dir),
            layer_dirs=tuple(map(str, spec.layer_dirs)),
            memory_mb=spec.memory_mb,
            environment=dict(environment),
        )
        self._context: Any = multiprocessing.get_context("spawn")
        self._lock = threading.Condition()
        self._idle: list[_Instance] = []
        self._live: dict[int, _Instance] = {}
        self._starting = 0
        self._busy = 0
        self._closed = False
        self.cold_starts = 0

    @property
    def busy(self) -> int:
        """Invocations in flight."""
        return self._busy

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [instance.process.pid for instance in self._live.values()]

    @property
    def instances(self) -> int:
        return len(self._live)

    def invoke(self, event: Mapping[str, Any], *, timeout_s: float | None = None) -> Any:
        """Invoke synchronously and return the handler's JSON result; raise LambdaError on failure."""
        # Measured as Lambda receives it: compact UTF-8 JSON.
        event_json = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        if len(event_json.encode("utf-8")) > REQUEST_LIMIT_BYTES:
            raise RequestTooLarge(f"{self.spec.name}: request must be smaller than {REQUEST_LIMIT_BYTES} bytes")
        instance = self._acquire()
        healthy = False
        try:
            status, payload = self._exchange(instance, event_json, timeout_s or float(self.spec.timeout_s))
            # A handler error leaves the instance warm, as in Lambda; an exit does not.
            healthy = status == "ok" or payload["errorType"] != "Runtime.ExitError"
        finally:
            self._release(instance, healthy)
        if status == "ok" and len(payload) > RESPONSE_LIMIT_BYTES:  # ASCII JSON: characters are bytes
            message = f"Response payload size exceeded maximum allowed payload size ({RESPONSE_LIMIT_BYTES} bytes)."
            raise LambdaError(self.spec.name, "Function.ResponseSizeTooLarge", message)
        if status == "ok":
            return json.loads(payload)
        raise LambdaError(self.spec.name, payload["errorType"], payload["errorMessage"], payload["stackTrace"])

    def warm(self, count: int | None = None) -> int:
        """Start up to `count` instances (default: `max_instances`) now and keep them idle, so their cold
        start is paid before any traffic. Returns how many it started."""
        started = 0
        for _ in range(self.max_instances if count is None else count):
            with self._lock:
                if self._closed or len(self._live) + self._starting >= self.max_instances:
                    break
                self._starting += 1
            try:
                instance = self._start_instance()
            finally:
                with self._lock:
                    self._starting -= 1
            with self._lock:
                closed = self._closed
                if not closed:
                    self._live[id(instance)] = instance
                    self._idle.append(instance)
                    self._lock.notify()
            if closed:
                _stop(instance)
                break
            started += 1
        return started

    def _acquire(self) -> _Instance:
        with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError(f"{self.spec.name}: the pool is closed")
                if self._idle:
                    self._busy += 1
                    return self._idle.pop()  # the warmest instance, as Lambda prefers
                if len(self._live) + self._starting < self.max_instances:
                    self._starting += 1
                    self._busy += 1
                    break
                if self.throttle:
                    raise TooManyRequests(f"{self.spec.name}: all {self.max_instances} instances are busy")
                self._lock.wait()
        try:
            instance = self._start_instance()
        except BaseException:
            with self._lock:
                self._starting -= 1
                self._busy -= 1
                self._lock.notify()
            raise
        with self._lock:
            self._starting -= 1
            closed = self._closed
            if not closed:
                self._live[id(instance)] = instance
            else:
                self._busy -= 1
        if closed:  # close() ran while this instance started: it never joins the pool
            _stop(instance)
            raise RuntimeError(f"{self.spec.name}: the pool is closed")
        return instance

    def _release(self, instance: _Instance, healthy: bool) -> None:
        with self._lock:
            self._busy -= 1
            keep = healthy and not self._closed
            if keep:
                self._idle.append(instance)
            else:
                self._live.pop(id(instance), None)
            self._lock.notify()
        if not keep:
            _stop(instance, graceful=False)  # timed out or exited: Lambda discards the sandbox

    def _start_instance(self) -> _Instance:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(
            target=serve,
            args=(child_conn, self._worker_spec),
            name=f"lambda:{self.spec.logical_id}",
            daemon=True,
        )
        process.start()
        child_conn.close()
        instance = _Instance(process, parent_conn)
        self.cold_starts += 1
        if not parent_conn.poll(INIT_TIMEOUT_S):
            _stop(instance, graceful=False)
            raise LambdaError(self.spec.name, "Runtime.InitTimeout", f"init took over {INIT_TIMEOUT_S} s")
        try:
            status, payload = parent_conn.recv()
        except EOFError:
            _stop(instance, graceful=False)
            raise LambdaError(self.spec.name, "Runtime.ExitError", "the instance died during init") from None
        if status != "ready":
            _stop(instance, graceful=False)
            raise LambdaError(self.spec.name, payload["errorType"], payload["errorMessage"], payload["stackTrace"])
        return instance

    def _exchange(self, instance: _Instance, event_json: str, timeout_s: float) -> tuple[str, Any]:
        request_id = str(uuid.uuid4())
        deadline_ms = int((time.time() + timeout_s) * 1000)
        instance.invocations += 1
        try:
            instance.conn.send((request_id, event_json, deadline_ms))
            if not instance.conn.poll(timeout_s):
                raise LambdaTimeout(self.spec.name, "Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds")
            status, payload = instance.conn.recv()
        except (EOFError, OSError):
            raise LambdaError(self.spec.name, "Runtime.ExitError", "the instance exited") from None
        return status, payload

    def close(self, timeout: float = 5.0) -> None:
        """Stop every instance: idle ones are asked to exit (and given `timeout` to), busy ones are
        killed at once, so their invocations fail with Runtime.ExitError instead of running on."""
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            idle_ids = {id(instance) for instance in idle}
            busy = [instance for key, instance in self._live.items() if key not in idle_ids]
            self._live.clear()
            self._idle.clear()
            self._lock.notify_all()
        for instance in idle:
            _ask_to_exit(instance)
        for instance in busy:
            # The invoking thread owns the connection: it sees EOF, fails, and closes it on release.
            instance.process.terminate()
        for instance in idle:
            _end(instance.process, timeout, grace=timeout)
            instance.conn.close()
        for instance in busy:
            _end(instance.process, timeout)

    def __enter__(self) -> LambdaPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _ask_to_exit(instance: _Instance) -> None:
    if instance.process.is_alive():
        with contextlib.suppress(OSError):
            instance.conn.send(None)  # the runtime loop returns and the process exits normally


def _end(process: Any, timeout: float, *, grace: float = 0.0) -> None:
    """Give `process` `grace` seconds to exit by itself, then SIGTERM it, then SIGKILL it."""
    if grace:
        process.join(grace)
    if process.is_alive():
        process.terminate()
        process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(timeout)


def _stop(instance: _Instance, timeout: float = 2.0, graceful: bool = True) -> None:
    if graceful:
        _ask_to_exit(instance)
    _end(instance.process, timeout, grace=timeout if graceful else 0.0)
    instance.conn.close()
