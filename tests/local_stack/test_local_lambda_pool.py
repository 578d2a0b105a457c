"""Functions run in processes like Lambda instances: clean environment, context, errors, concurrency."""

from __future__ import annotations

import os
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rooms_local.lambda_pool import (
    REQUEST_LIMIT_BYTES,
    RESPONSE_LIMIT_BYTES,
    LambdaError,
    LambdaPool,
    LambdaTimeout,
    RequestTooLarge,
    TooManyRequests,
    lambda_environment,
)
from rooms_local.template import FunctionSpec

SAFETY_S = 60.0  # how long a wait may take before the test gives up: only a broken pool gets there

HANDLER = """\
import atexit
import os
import sys
import time
from pathlib import Path

STARTED_AT = time.time()  # init runs once per instance
EXITS = os.environ.get("EXITS_DIR")
if EXITS:  # a normal exit runs this; SIGTERM does not
    atexit.register(lambda: Path(EXITS, str(os.getpid())).touch())


def lambda_handler(event, context):
    action = event.get("action")
    if action == "fail":
        raise KeyError("no such room")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "hold":  # say we are in, then wait until the test opens the gate
        Path(event["entered"], str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while not Path(event["gate"]).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    if action == "exit":
        sys.exit(3)
    if action == "unserializable":
        return {"when": object()}
    if action == "big":
        return "a" * event["size"]
    return {
        "pid": os.getpid(),
        "started_at": STARTED_AT,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
        },
        "event": event,
    }
"""


def _spec(code_dir: Path, timeout_s: int = 3, environment: dict[str, str] | None = None) -> FunctionSpec:
    return FunctionSpec(
        logical_id="EchoFunction",
        name="t-EchoFunction",
        arn="arn:aws:lambda:us-east-1:123456789012:function:t-EchoFunction",
        code_dir=code_dir,
        handler="app.lambda_handler",
        runtime="python3.11",
        timeout_s=timeout_s,
        memory_mb=256,
        environment={"GREETING": "hello", "TABLE_NAME": "t-Table", **(environment or {})},
        layer_dirs=(),
        reserved_concurrency=None,
    )


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("echo")
    (directory / "app.py").write_text(HANDLER)
    return directory


@pytest.fixture(scope="module")
def pool(code_dir: Path) -> Iterator[LambdaPool]:
    spec = _spec(code_dir)
    endpoints = {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"}
    with LambdaPool(spec, lambda_environment(spec, endpoints), max_instances=2) as running:
        yield running


def test_instance_sees_a_lambda_like_environment_and_context(pool: LambdaPool, code_dir: Path) -> None:
    os.environ["ROOMS_LOCAL_TEST_LEAK"] = "parent-only"  # must not reach the function
    try:
        result = pool.invoke({"hello": "world"})
    finally:
        del os.environ["ROOMS_LOCAL_TEST_LEAK"]
    env = result["env"]
    assert env["GREETING"] == "hello"
    assert env["TABLE_NAME"] == "t-Table"
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "t-EchoFunction"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["AWS_ACCESS_KEY_ID"] == "local"
    assert "ROOMS_LOCAL_TEST_LEAK" not in env
    assert "AWS_PROFILE" not in env
    assert result["cwd"] == str(code_dir)
    context = result["context"]
    assert context["function_name"] == "t-EchoFunction"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:t-EchoFunction")
    assert 0 < context["remaining"] <= 3000
    assert result["event"] == {"hello": "world"}
    assert result["pid"] != os.getpid()


def test_instances_are_reused_warm(pool: LambdaPool) -> None:
    first = pool.invoke({})
    second = pool.invoke({})
    assert (first["pid"], first["started_at"]) == (second["pid"], second["started_at"])


def test_handler_errors_come_back_with_the_traceback_and_keep_the_instance(pool: LambdaPool) -> None:
    before = pool.invoke({})["pid"]
    with pytest.raises(LambdaError) as raised:
        pool.invoke({"action": "fail"})
    assert raised.value.error_type == "KeyError"
    assert "no such room" in raised.value.error_message
    assert 'raise KeyError("no such room")' in raised.value.stack_trace
    assert "Traceback" in str(raised.value)
    assert pool.invoke({})["pid"] == before  # still warm


def test_unserializable_results_are_a_marshal_error(pool: LambdaPool) -> None:
    with pytest.raises(LambdaError) as raised:
        pool.invoke({"action": "unserializable"})
    assert raised.value.error_type == "Runtime.MarshalError"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds; the deadline is only a safety net for a broken pool."""
    deadline = time.monotonic() + SAFETY_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


class Gate:
    """Invocations that hold until the test opens the gate: `entered` lists the pids inside."""

    def __init__(self, root: Path):
        self.entered = root / f"entered-{uuid.uuid4().hex}"
        self.entered.mkdir()
        self.gate = root / f"gate-{uuid.uuid4().hex}"

    @property
    def event(self) -> dict[str, str]:
        return {"action": "hold", "entered": str(self.entered), "gate": str(self.gate)}

    def inside(self) -> set[int]:
        return {int(path.name) for path in self.entered.iterdir()}

    def open(self) -> None:
        self.gate.touch()


def test_each_process_runs_one_invocation_so_concurrency_is_the_process_count(pool: LambdaPool, tmp_path: Path) -> None:
    # GIVEN four calls on a pool of two instances, each held inside the function
    gate = Gate(tmp_path)
    results: list[dict[str, object]] = []
    threads = [
        threading.Thread(target=lambda: results.append(pool.invoke(gate.event, timeout_s=SAFETY_S))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    try:
        # WHEN two of them are inside
        wait_for(lambda: len(gate.inside()) == 2, "two invocations to enter")
        # THEN the other two wait for an instance: no third process, no third invocation
        assert pool.instances == 2
        assert pool.busy == 2
        assert len(gate.inside()) == 2
    finally:
        gate.open()
        for thread in threads:
            thread.join()
    assert len(results) == 4
    assert len({result["pid"] for result in results}) == 2  # max_instances
    assert pool.instances == 2
    assert pool.busy == 0


def test_timeouts_and_exits_discard_the_instance(code_dir: Path) -> None:
    spec = _spec(code_dir)
    with LambdaPool(spec, lambda_environment(spec, {}), max_instances=1) as pool:
        before = pool.invoke({})["pid"]
        with pytest.raises(LambdaTimeout, match=r"Task timed out after 0\.30 seconds"):
            pool.invoke({"action": "sleep", "seconds": 5}, timeout_s=0.3)
        after_timeout = pool.invoke({})["pid"]
        assert after_timeout != before  # a fresh sandbox (cold start)
        with pytest.raises(LambdaError) as raised:
            pool.invoke({"action": "exit"})
        assert raised.value.error_type == "Runtime.ExitError"
        assert pool.invoke({})["pid"] != after_timeout


def test_throttling_when_asked_instead_of_queueing(code_dir: Path, tmp_path: Path) -> None:
    spec = _spec(code_dir)
    gate = Gate(tmp_path)
    with LambdaPool(spec, lambda_environment(spec, {}), max_instances=1, throttle=True) as pool:
        pool.invoke({})
        busy = threading.Thread(target=pool.invoke, args=(gate.event,), kwargs={"timeout_s": SAFETY_S})
        busy.start()
        try:
            wait_for(lambda: len(gate.inside()) == 1, "the first invocation to enter")
            with pytest.raises(TooManyRequests):
                pool.invoke({})
        finally:
            gate.open()
            busy.join()
        assert "pid" in pool.invoke({})  # free again once the first one is done


def test_import_errors_are_reported_on_invoke(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent("import no_such_module_here\n"))
    spec = _spec(tmp_path)
    with LambdaPool(spec, lambda_environment(spec, {})) as pool, pytest.raises(LambdaError) as raised:
        pool.invoke({})
    assert raised.value.error_type == "Runtime.ImportModuleError"
    assert "no_such_module_here" in raised.value.stack_trace
    assert pool.instances == 0


def test_close_stops_every_process(code_dir: Path) -> None:
    spec = _spec(code_dir)
    pool = LambdaPool(spec, lambda_environment(spec, {}), max_instances=2)
    pids = [pool.invoke({})["pid"]]
    pool.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(RuntimeError, match="closed"):
        pool.invoke({})


def test_close_asks_idle_instances_to_exit_and_kills_busy_ones(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN a pool with one instance held busy and one idle
    exits = tmp_path / "exits"
    exits.mkdir()
    spec = _spec(code_dir, environment={"EXITS_DIR": str(exits)})
    pool = LambdaPool(spec, lambda_environment(spec, {}), max_instances=2)
    gate = Gate(tmp_path)  # never opened: only close() can end the busy invocation
    outcome: list[BaseException] = []

    def hold() -> None:
        try:
            pool.invoke(gate.event, timeout_s=SAFETY_S)
        except BaseException as error:
            outcome.append(error)

    busy = threading.Thread(target=hold)
    busy.start()
    wait_for(lambda: len(gate.inside()) == 1, "the busy invocation to enter")
    (busy_pid,) = gate.inside()
    idle_pid = pool.invoke({})["pid"]
    assert idle_pid != busy_pid
    # WHEN the pool closes (a generous grace: the idle instance exits long before it ends)
    pool.close(timeout=SAFETY_S)
    busy.join(SAFETY_S)
    # THEN the idle instance exited normally (its exit hook ran), the busy one was killed,
    # and the busy invocation failed at once instead of running on
    assert {int(path.name) for path in exits.iterdir()} == {idle_pid}
    assert not busy.is_alive()
    (error,) = outcome
    assert isinstance(error, LambdaError) and error.error_type == "Runtime.ExitError"
    for pid in (idle_pid, busy_pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert pool.instances == 0 and pool.busy == 0


def test_close_stops_an_instance_still_starting(code_dir: Path, tmp_path: Path) -> None:
    slow_init = tmp_path / "slow_init"
    slow_init.mkdir()
    gate = Gate(tmp_path)
    (slow_init / "app.py").write_text(
        "import os, time\n"
        "from pathlib import Path\n"
        f"Path({str(gate.entered)!r}, str(os.getpid())).touch()\n"
        f"while not Path({str(gate.gate)!r}).exists():\n"
        "    time.sleep(0.01)\n"
        "def lambda_handler(event, context):\n"
        "    return {}\n"
    )
    spec = _spec(slow_init)
    pool = LambdaPool(spec, lambda_environment(spec, {}), max_instances=1)
    outcome: list[BaseException] = []

    def invoke() -> None:
        try:
            pool.invoke({})
        except BaseException as error:
            outcome.append(error)

    starting = threading.Thread(target=invoke)
    starting.start()
    wait_for(lambda: len(gate.inside()) == 1, "the instance to start its init")
    (pid,) = gate.inside()
    pool.close()
    gate.open()  # init finishes after close(): the instance must not join the closed pool
    starting.join(SAFETY_S)
    (error,) = outcome
    assert isinstance(error, RuntimeError) and "closed" in str(error)
    assert pool.instances == 0 and pool.busy == 0
    with pytest.raises(ProcessLookupError):  # stopped and reaped before invoke() raised
        os.kill(pid, 0)


def test_lambdas_payload_limits(pool: LambdaPool) -> None:
    # An event over 6 MB never reaches an instance: the Invoke API refuses it.
    with pytest.raises(RequestTooLarge):
        pool.invoke({"blob": "a" * REQUEST_LIMIT_BYTES})
    before = pool.invoke({})["pid"]
    # A result over the response limit is the function's error; its instance stays warm.
    with pytest.raises(LambdaError) as raised:
        pool.invoke({"action": "big", "size": RESPONSE_LIMIT_BYTES})
    assert raised.value.error_type == "Function.ResponseSizeTooLarge"
    assert pool.invoke({"action": "big", "size": RESPONSE_LIMIT_BYTES - 2}) == "a" * (RESPONSE_LIMIT_BYTES - 2)
    assert pool.invoke({})["pid"] == before


def test_a_warmed_pool_serves_its_first_invocations_without_a_cold_start(code_dir: Path) -> None:
    spec = _spec(code_dir)
    with LambdaPool(spec, lambda_environment(spec, {}), max_instances=2) as pool:
        assert pool.warm() == 2
        assert pool.warm() == 0  # already at its concurrency
        pids = set(pool.pids)
        assert pool.cold_starts == 2 and pool.instances == 2
        assert pool.invoke({})["pid"] in pids
        assert pool.cold_starts == 2
