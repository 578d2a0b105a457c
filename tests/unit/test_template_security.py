"""template.yaml against AWS's serverless security baseline: throttling, reserved concurrency, logs,
alarm actions, deletion protection, least-privilege roles, queue policies, CORS and the issuer rule.

Settings are read from the raw template and, where a parameter or condition decides them, resolved
the way CloudFormation would by the local stack's resolver.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rooms_local.cfn_yaml import load_yaml
from rooms_local.intrinsics import NO_VALUE, Resolver, TemplateError, parameter_values
from rooms_local.naming import LocalNaming
from rooms_local.template import load_template
from tests.conftest import ROOT

TEMPLATE = ROOT / "template.yaml"
DOCUMENT = load_yaml(TEMPLATE)
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
# CloudFormation keeps at least this much of an account's Lambda concurrency unreserved.
MIN_UNRESERVED = 100
DEFAULT_ACCOUNT_CONCURRENCY = 1000


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {key: res for key, res in RESOURCES.items() if res["Type"] == kind}


def props(logical_id: str) -> dict[str, Any]:
    return RESOURCES[logical_id]["Properties"]


def resolver(**parameters: str) -> Resolver:
    return Resolver(DOCUMENT, parameter_values(DOCUMENT, parameters), LocalNaming())


def default(parameter: str) -> Any:
    return DOCUMENT["Parameters"][parameter]["Default"]


def statements(policies: list[Any]) -> list[dict[str, Any]]:
    """The inline statements of a SAM function's Policies or an IAM role's Policies."""
    found = []
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            found += policy["Statement"]
        elif isinstance(policy, dict) and "PolicyDocument" in policy:
            found += policy["PolicyDocument"]["Statement"]
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


def function_statements(logical_id: str) -> list[dict[str, Any]]:
    function = props(logical_id)
    if "Role" in function:
        role_id = function["Role"]["Fn::GetAtt"][0]
        return statements(props(role_id)["Policies"])
    return statements(function.get("Policies", []))


def dynamodb_grants(logical_id: str) -> dict[str, set[str]]:
    """DynamoDB actions a function may call, by the logical id of the table they are granted on."""
    grants: dict[str, set[str]] = {}
    for statement in function_statements(logical_id):
        dynamo = {action for action in actions(statement) if action.startswith("dynamodb:")}
        if not dynamo:
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            table = resource["Fn::GetAtt"][0] if "Fn::GetAtt" in resource else resource["Fn::Sub"].split(".")[0][2:]
            grants.setdefault(table, set()).update(dynamo)
    return grants


# ---------------------------------------------------------------------- 14: throttling and concurrency
def test_the_api_stage_throttles_every_route_by_parameters() -> None:
    routes = props("HttpApi")["DefaultRouteSettings"]
    assert routes == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    for name in routes.values():
        parameter = DOCUMENT["Parameters"][name["Ref"]]
        assert parameter["Type"] == "Number"
        assert parameter["MinValue"] >= 1
        assert parameter["Default"] >= parameter["MinValue"]


# Each SQS consumer and the parameter that sizes both its reservation and its queue's maximum concurrency.
CONSUMERS = {"OverflowWorkerFunction": "OverflowWorkerConcurrency", "SweeperFunction": "SweeperConcurrency"}


def test_the_consumers_and_the_scheduler_have_reserved_concurrency_an_api_flood_cannot_take() -> None:
    template = load_template(TEMPLATE)
    scheduler = template.functions["SchedulerFunction"]
    assert scheduler.reserved_concurrency == int(default("SchedulerConcurrency"))
    reserved = scheduler.reserved_concurrency
    for function, parameter in CONSUMERS.items():
        consumer = template.functions[function]
        assert consumer.reserved_concurrency == int(default(parameter))
        # Lambda's rule: the queue must not drive more than the function may run
        (event,) = consumer.sqs_events
        assert event.maximum_concurrency is not None
        assert event.maximum_concurrency <= consumer.reserved_concurrency
        reserved += consumer.reserved_concurrency
    # the defaults fit an account with the default quota, with the 100 unreserved Lambda insists on
    assert reserved + MIN_UNRESERVED <= DEFAULT_ACCOUNT_CONCURRENCY
    assert template.functions["ApiFunction"].reserved_concurrency is None  # it takes the unreserved pool


def test_reservations_can_be_switched_off_for_a_small_account_and_follow_their_parameters() -> None:
    small = load_template(TEMPLATE, parameters={"ReserveConcurrency": "false"})
    assert small.functions["SchedulerFunction"].reserved_concurrency is None
    for function, parameter in CONSUMERS.items():
        assert small.functions[function].reserved_concurrency is None
        assert small.functions[function].sqs_events[0].maximum_concurrency == int(default(parameter))
    larger = load_template(
        TEMPLATE,
        parameters={"OverflowWorkerConcurrency": "40", "SweeperConcurrency": "30", "SchedulerConcurrency": "8"},
    )
    for function, concurrency in (("OverflowWorkerFunction", 40), ("SweeperFunction", 30)):
        assert larger.functions[function].reserved_concurrency == concurrency
        assert larger.functions[function].sqs_events[0].maximum_concurrency == concurrency
    assert larger.functions["SchedulerFunction"].reserved_concurrency == 8
    for parameter in CONSUMERS.values():
        with pytest.raises(TemplateError, match="MinValue"):  # SQS's maximum concurrency starts at 2
            load_template(TEMPLATE, parameters={parameter: "1"})


# ---------------------------------------------------------------------- 15: logs and alarm actions
def test_the_api_writes_json_access_logs_to_a_group_with_retention() -> None:
    settings = props("HttpApi")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(settings["Format"])
    assert {"requestId", "ip", "requestTime", "routeKey", "status", "integrationError", "user"} <= fields.keys()
    assert all(value.startswith("$context.") for value in fields.values())
    assert RESOURCES["ApiAccessLogGroup"]["Type"] == "AWS::Logs::LogGroup"


def test_every_function_logs_to_its_own_group_and_every_group_expires() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    used = [props(key)["LoggingConfig"]["LogGroup"]["Ref"] for key in of_type("AWS::Serverless::Function")]
    assert len(set(used)) == len(used) == len(of_type("AWS::Serverless::Function"))
    assert set(used) <= groups.keys()
    assert all(group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for group in groups.values())
    retention = DOCUMENT["Parameters"]["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]


def test_every_alarm_notifies_the_stack_topic_or_the_given_one_and_says_when_it_is_over() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert alarms
    own, given = resolver(), resolver(AlarmTopicArn="arn:aws:sns:us-east-1:123456789012:ops")
    for alarm in alarms.values():
        for key in ("AlarmActions", "OKActions"):
            assert own.resolve(alarm["Properties"][key]) == [own.ref("AlarmTopic")]
            assert given.resolve(alarm["Properties"][key]) == ["arn:aws:sns:us-east-1:123456789012:ops"]
    assert not given.enabled("AlarmTopic")


def test_an_alarm_email_is_subscribed_only_to_the_stack_topic() -> None:
    subscription = props("AlarmEmailSubscription")
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", {"Ref": "AlarmEmail"})
    assert subscription["TopicArn"] == {"Ref": "AlarmTopic"}
    assert not resolver().enabled("AlarmEmailSubscription")
    assert resolver(AlarmEmail="ops@example.com").enabled("AlarmEmailSubscription")
    both = resolver(AlarmEmail="ops@example.com", AlarmTopicArn="arn:aws:sns:us-east-1:123456789012:ops")
    assert not both.enabled("AlarmEmailSubscription")


# ---------------------------------------------------------------------- 16: data, roles, queues, CORS, issuer
def test_both_tables_have_deletion_protection() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    assert tables.keys() == {"RoomsTable", "IdempotencyTable"}
    for table in tables.values():
        assert table["Properties"]["DeletionProtectionEnabled"] == {"Ref": "TableDeletionProtection"}
    assert default("TableDeletionProtection") == "true"


def test_no_function_may_scan_or_batch_write_or_use_a_crud_template() -> None:
    text = TEMPLATE.read_text()
    assert "DynamoDBCrudPolicy" not in text
    granted = {action for key in of_type("AWS::Serverless::Function") for action in _all_actions(key)}
    assert not {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:*"} & granted


def _all_actions(logical_id: str) -> set[str]:
    return {action for statement in function_statements(logical_id) for action in actions(statement)}


ITEMS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "ApiFunction",
            {
                "RoomsTable": ITEMS | {"dynamodb:DeleteItem", "dynamodb:Query"},
                "IdempotencyTable": {
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                },
            },
        ),
        # its pushes read a user's connections (Query) and forget a gone one (DeleteItem)
        ("OverflowWorkerFunction", {"RoomsTable": ITEMS | {"dynamodb:DeleteItem", "dynamodb:Query"}}),
        (
            "SweeperFunction",
            {
                "RoomsTable": {
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                }
            },
        ),
        ("SchedulerFunction", {"RoomsTable": ITEMS | {"dynamodb:DeleteItem", "dynamodb:Query"}}),
    ],
)
def test_each_function_gets_exactly_the_dynamodb_actions_it_calls(function: str, expected: dict[str, set[str]]) -> None:
    assert dynamodb_grants(function) == expected


# the functions that read a user's live connections (pk CONN#<user>): the one Query on the table itself
READS_CONNECTIONS = {
    "ApiFunction",
    "ConnectionFunction",
    "OverflowWorkerFunction",
    "SchedulerFunction",
    "SweeperFunction",
}


def test_queries_are_granted_on_the_indexes_only_but_a_users_connections() -> None:
    # the sweeper reads the expiry index and the promotion candidates only; the others query several
    scoped = {"SweeperFunction": {"${RoomsTable.Arn}/index/gsi2", "${RoomsTable.Arn}/index/gsi1"}}
    table = {"Fn::GetAtt": ["RoomsTable", "Arn"]}
    for function in of_type("AWS::Serverless::Function"):
        for statement in function_statements(function):
            if "dynamodb:Query" not in actions(statement):
                continue
            if statement["Resource"] == table:
                assert function in READS_CONNECTIONS, function
                continue
            assert actions(statement) == {"dynamodb:Query"}
            assert statement["Resource"]["Fn::Sub"] in scoped.get(function, {"${RoomsTable.Arn}/index/*"})


def test_pushes_may_manage_the_stages_connections_only() -> None:
    stage = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${Stage}"
    route = f"{stage}/POST/@connections/*"
    for function in of_type("AWS::Serverless::Function"):
        for statement in function_statements(function):
            if any(action.startswith("execute-api:") for action in actions(statement)):
                assert actions(statement) == {"execute-api:ManageConnections"}
                assert statement["Resource"] == {"Fn::Sub": route}


@pytest.mark.parametrize(
    ("function", "role_id", "queue", "log_group"),
    [
        ("OverflowWorkerFunction", "OverflowWorkerRole", "OverflowQueue", "OverflowWorkerLogGroup"),
        ("SweeperFunction", "SweeperRole", "SweepQueue", "SweeperLogGroup"),
    ],
)
def test_each_consumer_takes_its_one_queue_with_its_own_role(
    function: str, role_id: str, queue: str, log_group: str
) -> None:
    consumer = props(function)
    assert consumer["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "Policies" not in consumer  # SAM would ignore them beside a Role
    role = props(role_id)
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert not any("SQS" in str(arn) for arn in role.get("ManagedPolicyArns", []))
    (sqs,) = [statement for statement in function_statements(function) if "sqs:" in str(statement)]
    assert actions(sqs) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
    assert sqs["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    (logs,) = [statement for statement in function_statements(function) if "logs:" in str(statement)]
    assert logs["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
    # no wildcard but the one in the pushes' route: any connection of the stage's WebSocket API
    pushes = [statement for statement in function_statements(function) if "execute-api:" in str(statement)]
    others = [statement for statement in function_statements(function) if statement not in pushes]
    assert all("*" not in str(statement["Resource"]) for statement in others)


def test_every_queue_refuses_requests_without_tls() -> None:
    policies = of_type("AWS::SQS::QueuePolicy").values()
    for queue in of_type("AWS::SQS::Queue"):
        (policy,) = [p["Properties"] for p in policies if {"Ref": queue} in p["Properties"]["Queues"]]
        assert policy["PolicyDocument"]["Statement"] == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": {"Fn::GetAtt": [queue, "Arn"]},
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]


@pytest.mark.parametrize(
    ("source", "dead_letters"), [("OverflowQueue", "OverflowDeadLetterQueue"), ("SweepQueue", "SweepDeadLetterQueue")]
)
def test_dead_letter_queues_take_messages_from_their_source_queue_only(source: str, dead_letters: str) -> None:
    template = load_template(TEMPLATE)
    queue = template.queues[source]
    assert queue.redrive is not None and queue.redrive.dead_letter_id == dead_letters
    allowed = json.loads(template.queues[dead_letters].attributes["RedriveAllowPolicy"])
    assert allowed == {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}
    # on AWS the ARN is built from the queue's fixed name: it must be the name the local stack uses too
    assert resolver().resolve(props(source)["QueueName"]) == queue.name
    scheduler_dlq = template.queues["SchedulerDeadLetterQueue"].attributes["RedriveAllowPolicy"]
    assert json.loads(scheduler_dlq) == {"redrivePermission": "denyAll"}


def test_every_dead_letter_queue_rings_an_alarm() -> None:
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in of_type("AWS::CloudWatch::Alarm").values()
    }
    assert {"OverflowDeadLetterQueue", "SweepDeadLetterQueue", "SchedulerDeadLetterQueue"} <= alarmed


def test_a_redrive_that_the_dead_letter_queue_does_not_allow_fails_as_on_aws(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    source = ":${AWS::StackName}-OverflowQueue"  # the DLQ's allowed source
    assert text.count(source) == 1
    template = tmp_path / "template.yaml"
    template.write_text(text.replace(source, ":${AWS::StackName}-SomeOtherQueue"))
    with pytest.raises(TemplateError, match="OverflowQueue: the RedriveAllowPolicy of OverflowDeadLetterQueue"):
        load_template(template)


def test_cors_is_off_by_default_and_allows_exactly_the_given_origins() -> None:
    cors = props("HttpApi")["CorsConfiguration"]
    assert default("CorsAllowedOrigins") == ""
    assert resolver().resolve(cors) is NO_VALUE
    allowed = resolver(CorsAllowedOrigins="https://app.example.com,https://admin.example.com").resolve(cors)
    assert allowed["AllowOrigins"] == ["https://app.example.com", "https://admin.example.com"]
    assert {"authorization", "content-type", "idempotency-key"} == set(allowed["AllowHeaders"])
    assert "AllowCredentials" not in allowed


def test_an_external_issuer_without_an_audience_is_refused() -> None:
    with pytest.raises(TemplateError, match="JwtAudience"):
        load_template(TEMPLATE, parameters={"JwtIssuer": "https://id.example"})
    external = load_template(TEMPLATE, parameters={"JwtIssuer": "https://id.example", "JwtAudience": "app"})
    assert external.http_apis["HttpApi"].authorizers["RoomsJwt"].audience == ("app",)
    assert load_template(TEMPLATE).conditions["UseCognito"] is True  # Cognito needs no audience parameter
