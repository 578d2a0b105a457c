"""The template reader: the real template.yaml, read generically, and a fake one for each feature."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from rooms_local.cfn_yaml import load_yaml
from rooms_local.intrinsics import Resolver, TemplateError, parameter_values
from rooms_local.naming import LocalNaming
from rooms_local.template import load_template

REAL_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
NAMING = LocalNaming(stack="t", sqs_endpoint="http://127.0.0.1:4566")


def _raw_resources(kind: str) -> dict[str, Any]:
    document = load_yaml(REAL_TEMPLATE)
    return {key: res for key, res in document["Resources"].items() if res["Type"] == kind and "Condition" not in res}


def _unresolved(value: Any) -> list[Any]:
    """Intrinsics left anywhere inside `value`."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            return [value]
        return [found for item in value.values() for found in _unresolved(item)]
    if isinstance(value, list | tuple):
        return [found for item in value for found in _unresolved(item)]
    return []


# ---------------------------------------------------------------------- the real template
@pytest.fixture(scope="module")
def real() -> Any:
    return load_template(REAL_TEMPLATE, naming=NAMING)


def test_every_table_of_the_real_template_is_read_and_resolved(real: Any) -> None:
    # GIVEN every AWS::DynamoDB::Table in template.yaml
    declared = _raw_resources("AWS::DynamoDB::Table")
    # THEN each becomes create_table kwargs with the local name and nothing left to resolve
    assert set(real.tables) == set(declared)
    for logical_id, table in real.tables.items():
        props = declared[logical_id]["Properties"]
        assert table.name == f"t-{logical_id}"
        assert table.create_kwargs["TableName"] == table.name
        assert table.create_kwargs["KeySchema"] == props["KeySchema"]
        assert table.create_kwargs["AttributeDefinitions"] == props["AttributeDefinitions"]
        assert [i["IndexName"] for i in table.create_kwargs.get("GlobalSecondaryIndexes", [])] == [
            i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])
        ]
        ttl = props.get("TimeToLiveSpecification")
        assert table.ttl_attribute == (ttl["AttributeName"] if ttl and ttl["Enabled"] else None)
        assert not _unresolved(table.create_kwargs)


def test_every_queue_of_the_real_template_has_its_redrive_resolved(real: Any) -> None:
    declared = _raw_resources("AWS::SQS::Queue")
    assert set(real.queues) == set(declared)
    for logical_id, queue in real.queues.items():
        assert queue.url == f"http://127.0.0.1:4566/123456789012/t-{logical_id}"
        assert queue.arn == f"arn:aws:sqs:us-east-1:123456789012:t-{logical_id}"
        if "RedrivePolicy" in declared[logical_id]["Properties"]:
            assert queue.redrive is not None
            assert queue.redrive.dead_letter_id in real.queues  # the DLQ is one of ours
            assert queue.redrive.max_receive_count >= 1
    # The overflow queue's DLQ and its receive count come from the template's parameter.
    overflow = real.queues["OverflowQueue"]
    assert overflow.redrive.dead_letter_id == "OverflowDeadLetterQueue"
    assert overflow.redrive.max_receive_count == int(real.parameters["OverflowMaxReceiveCount"])


def test_every_function_and_route_of_the_real_template_is_found(real: Any) -> None:
    declared = _raw_resources("AWS::Serverless::Function")
    assert set(real.functions) == set(declared)
    globals_env = load_yaml(REAL_TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    for logical_id, spec in real.functions.items():
        props = declared[logical_id]["Properties"]
        assert spec.code_dir == (REAL_TEMPLATE.parent / props["CodeUri"]).resolve()
        assert spec.handler == "app.lambda_handler"
        assert set(globals_env) <= set(spec.environment)  # Globals merged in
        assert all(isinstance(value, str) for value in spec.environment.values())
        assert not _unresolved(spec.environment)
        events = props.get("Events", {})
        http = {name for name, event in events.items() if event["Type"] == "HttpApi"}
        sqs = {name for name, event in events.items() if event["Type"] == "SQS"}
        assert {route.event_name for route in spec.http_routes} == http
        assert {event.event_name for event in spec.sqs_events} == sqs
        for route in spec.http_routes:
            raw = events[route.event_name]["Properties"]
            assert (route.method, route.path) == (raw["Method"], raw["Path"])
            public = raw.get("Auth", {}).get("Authorizer") == "NONE"
            assert (route.authorizer is None) == public


def test_real_function_environment_points_at_local_resources(real: Any) -> None:
    env = real.functions["ApiFunction"].environment
    assert env["ROOMS_TABLE_NAME"] == real.tables["RoomsTable"].name
    assert env["ROOMS_OVERFLOW_QUEUE_URL"] == real.queues["OverflowQueue"].url
    assert env["ROOMS_MAX_CAPACITY"] == str(real.parameters["MaxRoomCapacity"])


def test_real_sqs_event_settings_come_from_the_template(real: Any) -> None:
    # every SQS-triggered function is picked up: the overflow worker and the sweeper, each on its queue
    events = {event.function_id: event for event in real.sqs_events}
    assert {function: event.queue_id for function, event in events.items()} == {
        "OverflowWorkerFunction": "OverflowQueue",
        "SweeperFunction": "SweepQueue",
    }
    concurrency = {"OverflowWorkerFunction": "OverflowWorkerConcurrency", "SweeperFunction": "SweeperConcurrency"}
    for function, event in events.items():
        raw = _raw_resources("AWS::Serverless::Function")[function]["Properties"]["Events"][event.event_name]
        props = raw["Properties"]
        assert event.batch_size == props["BatchSize"]
        assert event.batching_window_s == props.get("MaximumBatchingWindowInSeconds", 0)
        assert event.report_batch_item_failures is True
        assert props["ScalingConfig"]["MaximumConcurrency"] == {"Ref": concurrency[function]}
        assert event.maximum_concurrency == int(real.parameters[concurrency[function]])
    # the minute run finds the sweep queue by the scheduler's environment
    assert real.functions["SchedulerFunction"].environment["ROOMS_SWEEP_QUEUE_URL"] == real.queues["SweepQueue"].url


def test_parameters_can_be_overridden_and_are_checked() -> None:
    template = load_template(REAL_TEMPLATE, parameters={"OverflowMaxReceiveCount": 2}, naming=NAMING)
    redrive = template.queues["OverflowQueue"].redrive
    assert redrive is not None
    assert redrive.max_receive_count == 2
    assert template.functions["OverflowWorkerFunction"].environment["ROOMS_OVERFLOW_MAX_RECEIVE_COUNT"] == "2"
    with pytest.raises(TemplateError, match="MinValue"):
        load_template(REAL_TEMPLATE, parameters={"OverflowMaxReceiveCount": 0})
    with pytest.raises(TemplateError, match="unknown parameters"):
        load_template(REAL_TEMPLATE, parameters={"Nope": 1})


def test_conditions_switch_resources_and_branches(real: Any) -> None:
    assert real.conditions["UseCognito"] is True
    external = load_template(
        REAL_TEMPLATE, parameters={"JwtIssuer": "https://id.example", "JwtAudience": "app"}, naming=NAMING
    )
    assert external.conditions["UseCognito"] is False
    assert "UserPool" not in external.refs
    authorizer = next(iter(external.http_apis["HttpApi"].authorizers.values()))
    assert (authorizer.issuer, authorizer.audience) == ("https://id.example", ("app",))


# ---------------------------------------------------------------------- the YAML loader
def test_short_tags_become_the_long_json_form() -> None:
    text = """
    A: !Ref X
    B: !GetAtt Res.Attr.Sub
    C: !Sub "${AWS::Region}-x"
    D: !Sub ["${a}", {a: !Ref Y}]
    E: !If [Cond, 1, 2]
    F: !Equals [a, b]
    G: !FindInMap [M, k, v]
    H: !Join [",", [a, !Ref Z]]
    I: !Select [0, !Split [",", "a,b"]]
    J: !GetAtt [Res, Attr]
    K: 2010-09-09
    L: !Not [!Condition C1]
    """
    from rooms_local.cfn_yaml import CfnLoader

    loaded = yaml.load(text.replace("\n    ", "\n"), Loader=CfnLoader)
    assert loaded["A"] == {"Ref": "X"}
    assert loaded["B"] == {"Fn::GetAtt": ["Res", "Attr.Sub"]}
    assert loaded["C"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert loaded["D"] == {"Fn::Sub": ["${a}", {"a": {"Ref": "Y"}}]}
    assert loaded["E"] == {"Fn::If": ["Cond", 1, 2]}
    assert loaded["F"] == {"Fn::Equals": ["a", "b"]}
    assert loaded["G"] == {"Fn::FindInMap": ["M", "k", "v"]}
    assert loaded["H"] == {"Fn::Join": [",", ["a", {"Ref": "Z"}]]}
    assert loaded["I"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert loaded["J"] == {"Fn::GetAtt": ["Res", "Attr"]}
    assert loaded["K"] == "2010-09-09"  # not a date
    assert loaded["L"] == {"Fn::Not": [{"Condition": "C1"}]}


# ---------------------------------------------------------------------- intrinsics
def _resolver(document: dict[str, Any], **overrides: Any) -> Resolver:
    return Resolver(document, parameter_values(document, overrides), NAMING)


DOCUMENT: dict[str, Any] = {
    "Parameters": {
        "Env": {"Type": "String", "Default": "dev"},
        "Zones": {"Type": "CommaDelimitedList", "Default": "a,b"},
    },
    "Conditions": {"IsDev": {"Fn::Equals": [{"Ref": "Env"}, "dev"]}, "NotDev": {"Fn::Not": [{"Condition": "IsDev"}]}},
    "Mappings": {"Sizes": {"dev": {"Mem": 128}}},
    "Resources": {
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
        "T": {"Type": "AWS::DynamoDB::Table"},
        "Gone": {"Type": "AWS::SQS::Queue", "Condition": "NotDev"},
    },
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "Env"}, "dev"),
        ({"Ref": "Zones"}, ["a", "b"]),
        ({"Ref": "AWS::StackName"}, "t"),
        ({"Ref": "T"}, "t-T"),
        ({"Ref": "Q"}, "http://127.0.0.1:4566/123456789012/t-Q.fifo"),
        ({"Fn::GetAtt": ["Q", "QueueName"]}, "t-Q.fifo"),
        ({"Fn::GetAtt": "T.Arn"}, "arn:aws:dynamodb:us-east-1:123456789012:table/t-T"),
        (
            {"Fn::Sub": "${Env}/${T}/${Q.Arn}/${!Literal}/${AWS::Region}"},
            f"dev/t-T/{NAMING.arn('sqs', 't-Q.fifo')}/${{Literal}}/us-east-1",
        ),
        ({"Fn::Sub": ["${x}-${Env}", {"x": {"Ref": "T"}}]}, "t-T-dev"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Env"}, 3]]}, "a-dev-3"),
        ({"Fn::Select": [1, {"Ref": "Zones"}]}, "b"),
        ({"Fn::Select": [0, {"Fn::Split": ["/", "x/y"]}]}, "x"),
        ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Mem"]}, 128),
        ({"Fn::If": ["IsDev", "yes", "no"]}, "yes"),
        ({"Fn::If": ["NotDev", "yes", "no"]}, "no"),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"Fn::ToJsonString": {"a": [1]}}, '{"a":[1]}'),
        ({"k": {"Fn::If": ["NotDev", 1, {"Ref": "AWS::NoValue"}]}, "j": [1, {"Ref": "AWS::NoValue"}]}, {"j": [1]}),
    ],
)
def test_intrinsics_resolve(expression: Any, expected: Any) -> None:
    assert _resolver(DOCUMENT).resolve(expression) == expected


def test_parameter_overrides_flow_into_conditions() -> None:
    resolver = _resolver(DOCUMENT, Env="prod")
    assert resolver.conditions() == {"IsDev": False, "NotDev": True}
    assert resolver.enabled("Gone")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ({"Ref": "Missing"}, "unknown resource or parameter"),
        ({"Ref": "Gone"}, "condition switched off"),
        ({"Fn::ImportValue": "x"}, "cannot be resolved locally"),
        ({"Fn::If": ["NoSuchCondition", 1, 2]}, "unknown condition"),
    ],
)
def test_unresolvable_intrinsics_say_why(expression: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        _resolver(DOCUMENT).resolve(expression)


# ---------------------------------------------------------------------- the fake template's features
def test_fake_template_globals_layers_and_events(fake_template: Path) -> None:
    template = load_template(fake_template, naming=NAMING)
    api = template.functions["ApiFunction"]
    assert api.environment["GREETING"] == "own"  # the function's value wins over Globals
    assert api.environment["TABLE_NAME"] == "t-ItemsTable"  # and Globals' others are kept
    assert api.environment["STAGE_LABEL"] == "test-t"
    assert "EXTRA" not in api.environment  # AWS::NoValue
    assert (api.memory_mb, api.timeout_s) == (256, 5)  # FindInMap in Globals; Globals' Timeout
    assert api.layer_dirs == ((fake_template.parent / "layers/shared").resolve(),)
    assert template.functions["WorkerFunction"].timeout_s == 3
    routes = {route.route_key: route for route in template.routes}
    assert routes["GET /health"].authorizer is None
    assert routes["GET /items/{item_id}"].authorizer == "Jwt"
    assert routes["DELETE /items/{item_id}"].scopes == ("admin",)
    assert set(template.schedule_groups) == {"Shows"}
    assert set(template.queues) == {"WorkQueue", "WorkDeadLetterQueue"}  # ProdOnlyQueue is off
    (work,) = template.sqs_events
    assert (work.batch_size, work.batching_window_s, work.maximum_concurrency) == (5, 1.0, 2)
    table = template.tables["ItemsTable"]
    assert table.create_kwargs["GlobalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert "ProvisionedThroughput" not in table.create_kwargs
    assert table.ttl_attribute == "expires_at"
    assert json.loads(json.dumps(table.create_kwargs)) == table.create_kwargs  # plain data, boto3-ready


# ---------------------------------------------------------------------- the transform keeps what the stack ran
BEFORE = Path(__file__).parent / "data" / "template_before.json"


def _plain(value: Any) -> Any:
    """Specs as the JSON the hand-written reader's output was kept in (paths relative to the repo)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value.relative_to(REAL_TEMPLATE.parent))
    return value.isoformat() if isinstance(value, datetime) else value


def test_the_transformed_template_builds_what_the_hand_written_reader_built() -> None:
    # GIVEN what the reader that re-implemented SAM built from template.yaml, kept before it was removed
    before = json.loads(BEFORE.read_text())
    # WHEN the same template is read after AWS's own SAM transform
    naming = LocalNaming(stack="t", sqs_endpoint="http://127.0.0.1:4566", api_endpoint="http://127.0.0.1:8080")
    after = load_template(REAL_TEMPLATE, naming=naming)
    # THEN the routes, authorizers, queues, event sources, schedules, tables and functions are the same
    later = ("/bans", "/moderators/", "/groups", "/speakers/")  # came with moderation, groups and speakers
    routes = [route for route in _plain(after.routes) if not any(part in route["path"] for part in later)]
    assert routes == before["routes"]  # in the order the template declares them
    for api in before["http_apis"].values():
        del api["default_authorizer"]  # SAM writes the default into each route, compared above
    assert _plain(after.http_apis) == before["http_apis"]
    queues = _plain(after.queues)
    del queues["LifecycleDeadLetterQueue"]  # came with lifecycle events
    assert queues == before["queues"]
    assert _plain(after.sqs_events) == before["sqs_events"]
    assert _plain(after.schedules) == before["schedules"]
    assert _plain(after.schedule_groups) == before["schedule_groups"]
    tables = _plain(after.tables)
    assert tables["RoomsTable"]["create_kwargs"].pop("StreamSpecification") == {  # came with lifecycle events
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert tables == before["tables"]
    functions = {
        key: {name: value for name, value in _plain(spec).items() if name in before["functions"][key]}
        for key, spec in after.functions.items()
        if key in before["functions"]  # the WebSocket API's functions came after it was kept
    }
    for spec in [*functions.values(), *before["functions"].values()]:
        spec["environment"].pop("ROOMS_CURSOR_SECRET", None)  # generated anew for each stack
        for name in ("ROOMS_WEBSOCKET_ENDPOINT", "ROOMS_PRESENCE_GRACE_SECONDS"):  # came with the WebSocket API
            spec["environment"].pop(name, None)
    for name in ("ROOMS_REBALANCE_MIN_STAY_SECONDS", "ROOMS_REBALANCE_MOVE_INTERVAL_SECONDS"):  # came with rebalancing
        functions["SchedulerFunction"]["environment"].pop(name)
    api_environment = functions["ApiFunction"]["environment"]
    api_environment.pop("ROOMS_SWEEP_QUEUE_URL")  # came with immediate promotion
    api_environment.pop("ROOMS_DYNAMODB_MAX_ATTEMPTS")  # came with the client-facing functions' retry budget
    for name in ("ROOMS_MEDIA_PROVIDER", "ROOMS_LIVEKIT_URL", "ROOMS_LIVEKIT_API_KEY", "ROOMS_LIVEKIT_API_SECRET"):
        api_environment.pop(name)  # came with media tokens
    assert functions == before["functions"]


def test_a_batch_over_ten_without_a_batching_window_is_refused_as_lambda_refuses_it(tmp_path: Path) -> None:
    # the overflow worker's 50 messages a batch need a window of at least 1 s on AWS; 0 would not deploy
    text = REAL_TEMPLATE.read_text().replace("MaximumBatchingWindowInSeconds: 1", "MaximumBatchingWindowInSeconds: 0")
    variant = tmp_path / "template.yaml"
    variant.write_text(text)
    with pytest.raises(TemplateError, match="BatchSize over 10"):
        load_template(variant, naming=NAMING)


def test_a_key_twice_in_one_mapping_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    # a function with two Environment blocks: CloudFormation refuses it, so the local stack does too
    variant = tmp_path / "template.yaml"
    variant.write_text(
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Environment: {Variables: {A: !Ref B}}\n"
        "      Environment: {Variables: {C: d}}\n"
    )
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'Environment'"):
        load_yaml(variant)


def test_livekit_media_needs_its_server_and_its_secret_cannot_be_resolved_locally() -> None:
    naming = LocalNaming(stack="t")
    # the template's rule refuses the provider without its server, key and secret, as CloudFormation would
    with pytest.raises(TemplateError, match="LiveKitNeedsItsServer"):
        load_template(REAL_TEMPLATE, naming=naming, parameters={"MediaProvider": "livekit"})
    # the API secret is a Secrets Manager secret made outside the stack: the local stack says so, not ""
    complete = {"MediaProvider": "livekit", "LiveKitUrl": "wss://m", "LiveKitApiKey": "k", "LiveKitApiSecretName": "lk"}
    with pytest.raises(TemplateError, match="cannot be resolved locally"):
        load_template(REAL_TEMPLATE, naming=naming, parameters=complete)
    # without a provider the API is told none, and no secret
    environment = load_template(REAL_TEMPLATE, naming=naming).functions["ApiFunction"].environment
    assert environment["ROOMS_MEDIA_PROVIDER"] == "none" and environment["ROOMS_LIVEKIT_API_SECRET"] == ""
