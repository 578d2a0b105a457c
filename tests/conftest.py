"""Shared fixtures. The environment is set before any `rooms` import: pynamodb reads its Meta at import."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SAMPLE_CALLER = "<the sample event's caller>"
pytest_plugins = ["tests.require_stack"]

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="Rooms",
    POWERTOOLS_SERVICE_NAME="rooms",
    POWERTOOLS_LOG_LEVEL="WARNING",
    ROOMS_TABLE_NAME="rooms-test-RoomsTable",
    ROOMS_IDEMPOTENCY_TABLE_NAME="rooms-test-IdempotencyTable",
    ROOMS_OVERFLOW_QUEUE_URL="",
    ROOMS_SWEEP_QUEUE_URL="",
    ROOMS_OVERFLOW_MAX_RECEIVE_COUNT="3",
    ROOMS_CURSOR_SECRET="the tests' cursor secret",
    # pushes go to moto's @connections API, named as the template's resources resolve in the tests
    ROOMS_WEBSOCKET_ENDPOINT="https://rooms-test-WebSocketApi.execute-api.us-east-1.amazonaws.com/dev",
)
for variable in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[variable]  # moto intercepts only AWS endpoints


@dataclass
class LambdaContext:
    function_name: str = "rooms-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:rooms-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/, so the samples are exercised and never rot."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name (every function's module is `app`)."""
    module_name = f"function_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def api_event(
    sample: str,
    *,
    sub: str | None = SAMPLE_CALLER,
    path: dict[str, str] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A sample API event with its path parameters, caller, body and query replaced."""
    event = copy.deepcopy(load_event(f"api/{sample}"))
    template = event["routeKey"].split(" ", 1)[1]
    params = {**event.get("pathParameters", {}), **(path or {})}
    raw_path = template
    for key, value in params.items():
        raw_path = raw_path.replace("{" + key + "}", value)
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    if params:
        event["pathParameters"] = params
    if sub is None:
        event["requestContext"].pop("authorizer", None)
    elif sub != SAMPLE_CALLER and "authorizer" in event["requestContext"]:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    if body is not None:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if headers:
        event["headers"].update({name.lower(): value for name, value in headers.items()})
    if query is not None:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return event


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with the tables and queues that template.yaml declares, named as the test environment expects."""
    import boto3
    from moto import mock_aws

    from rooms.adapters import aws_session
    from rooms.config import settings
    from rooms_local.naming import LocalNaming
    from rooms_local.template import load_template

    template = load_template(ROOT / "template.yaml", naming=LocalNaming(stack="rooms-test"))
    with mock_aws():
        aws_session.reset()  # a session made before moto was imported would reach AWS itself
        dynamodb = boto3.client("dynamodb")
        for table in template.tables.values():
            dynamodb.create_table(**table.create_kwargs)
        sqs = boto3.client("sqs")
        urls = {
            logical_id: sqs.create_queue(QueueName=queue.name)["QueueUrl"]
            for logical_id, queue in template.queues.items()
        }
        os.environ["ROOMS_OVERFLOW_QUEUE_URL"] = urls["OverflowQueue"]
        os.environ["ROOMS_SWEEP_QUEUE_URL"] = urls["SweepQueue"]
        settings.cache_clear()
        fresh_api_services()
        fresh_scheduler_services(monkeypatch)
        yield urls
    settings.cache_clear()
    load_function("api").app.dependency_overrides.clear()


def fresh_api_services() -> None:
    """The API function on services of this test's own, built on its next request from the settings then
    in force: its composition root overridden (app.dependency_overrides), as a test swaps any dependency."""
    from rooms.api.deps import ApiServices, api_services

    services = ApiServices()
    load_function("api").app.dependency_overrides[api_services] = lambda: services


def fresh_scheduler_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler function on services of this test's own, built on first use from the settings then in force."""
    from rooms.scheduled import ScheduledServices

    monkeypatch.setattr(load_function("scheduler"), "services", ScheduledServices())


@pytest.fixture
def call_api(aws: dict[str, str], lambda_context: LambdaContext) -> Callable[..., tuple[int, Any]]:
    """Invoke the API function with a sample event; returns (status, parsed body)."""
    api = load_function("api")

    def call(sample: str, **kwargs: Any) -> tuple[int, Any]:
        response = api.lambda_handler(api_event(sample, **kwargs), lambda_context)
        body = response.get("body")
        return response["statusCode"], json.loads(body) if body else None

    return call


@pytest.fixture(scope="session")
def needs_java() -> None:
    """Skip, with the reason, where DynamoDB Local cannot run (a failure where the stack is required)."""
    from rooms_local.dynamodb_local import DynamoDBLocalError, find_jar

    if shutil.which("java") is None:
        pytest.skip("no Java runtime for DynamoDB Local")
    try:
        find_jar()
    except DynamoDBLocalError as error:
        pytest.skip(str(error))
