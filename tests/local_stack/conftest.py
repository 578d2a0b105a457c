"""A throwaway SAM project (template, two tiny handlers, a layer) for the local stack's own tests,
so they do not depend on the real handlers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

FAKE_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: test, AllowedValues: [test, prod]}
  MaxReceives: {Type: Number, Default: 2, MinValue: 1}
  BatchWindow: {Type: Number, Default: 1}
  Issuer: {Type: String, Default: ""}
Conditions:
  UseBuiltInIssuer: !Equals [!Ref Issuer, ""]
  IsProd: !Equals [!Ref Stage, prod]
Mappings:
  Sizes:
    test: {Memory: 256}
    prod: {Memory: 1024}
Globals:
  Function:
    Runtime: python3.11
    Timeout: 5
    MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
    Layers: [!Ref SharedLayer]
    Environment:
      Variables:
        TABLE_NAME: !Ref ItemsTable
        QUEUE_URL: !Ref WorkQueue
        QUEUE_ARN: !GetAtt WorkQueue.Arn
        GREETING: global
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !If [UseBuiltInIssuer, !Sub "https://issuer.${AWS::Region}.example/${Stage}", !Ref Issuer]
              audience: [local]
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared/
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/api/
      Handler: app.lambda_handler
      Environment:
        Variables:
          GREETING: own
          STAGE_LABEL: !Sub "${Stage}-${AWS::StackName}"
          EXTRA: !If [IsProd, prod-only, !Ref AWS::NoValue]
      Events:
        Echo: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: "/items/{item_id}"}}
        EchoAny: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: ANY, Path: "/items/{item_id}/{proxy+}"}}
        Special: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /items/special}}
        Put: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: POST, Path: /items}}
        Admin:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: DELETE, Path: "/items/{item_id}", Auth: {AuthorizationScopes: [admin]}}
        Health:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /health, Auth: {Authorizer: NONE}}
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.lambda_handler
      Timeout: 3
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: !Ref BatchWindow
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 2}
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn
        maxReceiveCount: !Ref MaxReceives
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  ProdOnlyQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd
  ItemsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema: [{AttributeName: gsi1pk, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  Shows:
    Type: AWS::Scheduler::ScheduleGroup
    Properties:
      Name: !Sub rooms-${Stage}
"""

API_HANDLER = """\
import json
import os

import boto3
import shared_lib  # from the layer

_COLD = True


def lambda_handler(event, context):
    global _COLD
    cold, _COLD = _COLD, False
    if event.get("rawPath") == "/items" and event["requestContext"]["http"]["method"] == "POST":
        item = json.loads(event["body"])
        boto3.client("dynamodb").put_item(
            TableName=os.environ["TABLE_NAME"], Item={"pk": {"S": item["id"]}, "sk": {"S": "item"}}
        )
        for body in item.get("messages", []):
            boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=body)
        return {"statusCode": 201, "body": json.dumps({"id": item["id"]})}
    if event.get("rawPath", "").endswith("/boom"):
        raise ValueError("boom " + shared_lib.marker())
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({
            "event": event,
            "cold": cold,
            "pid": os.getpid(),
            "env": {k: os.environ.get(k) for k in ("GREETING", "TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB")},
            "function_name": context.function_name,
        }),
    }
"""

WORKER_HANDLER = """\
import json
import os


def lambda_handler(event, context):
    failures = []
    with open(os.environ["RECORDS_FILE"], "a") as out:
        out.write(json.dumps({"size": len(event["Records"]), "records": event["Records"]}) + "\\n")
    for record in event["Records"]:
        if "poison" in record["body"]:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""


def write_project(root: Path) -> Path:
    """Write the fake project under `root`; returns the template's path."""
    files = {
        "template.yaml": FAKE_TEMPLATE,
        "functions/api/app.py": API_HANDLER,
        "functions/worker/app.py": WORKER_HANDLER,
        "layers/shared/shared_lib.py": "def marker():\n    return 'from-layer'\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "template.yaml"


@pytest.fixture(scope="session")
def fake_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("project"))
