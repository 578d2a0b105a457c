"""Functions run in processes like Lambda instances: clean environment, context, errors, concurrency."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rooms_local.lambda_pool import LambdaError, LambdaPool, LambdaTimeout, TooManyRequests, lambda_environment
from rooms_local.template import FunctionSpec

HANDLER = """\
import os
import sys
import time

STARTED_AT = time.time()  # init runs once per instance


def lambda_handler(event, context):
    action = event.get("action")
    if action == "fail":
        raise KeyError("no such room")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        sys.exit(3)
    if action == "unserializable":
        return {"when": object()}
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


def _spec(code_dir: Path, timeout_s: int = 3) -> FunctionSpec:
    return FunctionSpec(
        logical_id="EchoFunction",
        name="t-EchoFunction",
        arn="arn:aws:lambda:us-east-1:123456789012:function:t-EchoFunction",
        code_dir=code_dir,
        handler="app.lambda_handler",
        runtime="python3.11",
        timeout_s=timeout_s,
        memory_mb=256,
        environment={"GREETING": "hello", "TABLE_NAME": "t-Table"},
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


def test_each_process_runs_one_invocation_so_concurrency_is_the_process_count(pool: LambdaPool) -> None:
    results: list[dict[str, object]] = []

    def call() -> None:
        results.append(pool.invoke({"action": "sleep", "seconds": 0.3}))

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len({result["pid"] for result in results}) == 2  # max_instances
    assert 0.6 <= elapsed < 1.5  # two waves of two parallel calls
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


def test_throttling_when_asked_instead_of_queueing(code_dir: Path) -> None:
    spec = _spec(code_dir)
    with LambdaPool(spec, lambda_environment(spec, {}), max_instances=1, throttle=True) as pool:
        pool.invoke({})
        busy = threading.Thread(target=pool.invoke, args=({"action": "sleep", "seconds": 0.5},))
        busy.start()
        time.sleep(0.2)
        with pytest.raises(TooManyRequests):
            pool.invoke({})
        busy.join()


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
