"""Physical names, ARNs and URLs that the template's resources get in a local stack.

CloudFormation would generate them; locally they are `<stack>-<LogicalId>`, so they are predictable
and two stacks can share nothing by accident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_STACK = "rooms-local"
DEFAULT_REGION = "us-east-1"
# moto's default account: ARNs that moto returns (queues, schedule groups) carry it.
DEFAULT_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class LocalNaming:
    stack: str = DEFAULT_STACK
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    # moto builds queue URLs from the endpoint the client used, so the URL depends on it.
    sqs_endpoint: str = "http://127.0.0.1:5000"
    api_endpoint: str = "http://127.0.0.1:8080"
    # a WebSocket API: where clients connect (wss:// on AWS) and its @connections API (https:// on AWS)
    websocket_endpoint: str = "ws://127.0.0.1:8081"
    connections_endpoint: str = "http://127.0.0.1:8082"

    def name(self, logical_id: str, resource_type: str, properties: dict[str, Any]) -> str:
        name = f"{self.stack}-{logical_id}"
        # SQS insists that FIFO queue names end in .fifo.
        if resource_type == "AWS::SQS::Queue" and str(properties.get("FifoQueue", "")).lower() == "true":
            name += ".fifo"
        return name

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def queue_url(self, name: str) -> str:
        return f"{self.sqs_endpoint.rstrip('/')}/{self.account}/{name}"

    def attributes(self, logical_id: str, resource_type: str, properties: dict[str, Any]) -> dict[str, str]:
        """`Ref` (under the key "Ref") and the `Fn::GetAtt` attributes of one resource (after the SAM transform)."""
        name = self.name(logical_id, resource_type, properties)
        service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "local"
        match resource_type:
            case "AWS::DynamoDB::Table":
                arn = self.arn("dynamodb", f"table/{name}")
                return {"Ref": name, "Arn": arn, "StreamArn": f"{arn}/stream/local"}
            case "AWS::SQS::Queue":
                url = self.queue_url(name)
                return {"Ref": url, "Arn": self.arn("sqs", name), "QueueName": name, "QueueUrl": url}
            case "AWS::Scheduler::ScheduleGroup":
                return {"Ref": name, "Arn": self.arn("scheduler", f"schedule-group/{name}")}
            case "AWS::Scheduler::Schedule":
                return {"Ref": name, "Arn": self.arn("scheduler", f"schedule/default/{name}")}
            case "AWS::Lambda::Function":
                return {"Ref": name, "Arn": self.arn("lambda", f"function:{name}")}
            case "AWS::Lambda::LayerVersion":
                return {"Ref": self.arn("lambda", f"layer:{name}:1")}
            case "AWS::ApiGatewayV2::Api":
                websocket = properties.get("ProtocolType") == "WEBSOCKET"
                endpoint = self.websocket_endpoint if websocket else self.api_endpoint
                return {"Ref": name, "ApiEndpoint": endpoint, "ApiId": name}
            case "AWS::SNS::Topic":
                arn = self.arn("sns", name)
                return {"Ref": arn, "TopicArn": arn, "TopicName": name}
            case "AWS::Events::EventBus":
                return {"Ref": name, "Arn": self.arn("events", f"event-bus/{name}"), "Name": name}
            case "AWS::IAM::Role":
                return {"Ref": name, "Arn": f"arn:aws:iam::{self.account}:role/{name}", "RoleId": name}
            case _:
                return {"Ref": name, "Arn": self.arn(service, name)}

    def local_api_urls(self, text: str, api_ids: Mapping[str, bool]) -> str:
        """Point the AWS URLs of these APIs (id -> is a WebSocket API) in `text` at their local servers.

        On AWS an API's host is `<id>.execute-api.<region>.<suffix>`; a WebSocket API answers its
        clients there over wss:// and its @connections management API over https://."""
        if not api_ids:
            return text
        ids = "|".join(sorted(map(re.escape, api_ids), key=len, reverse=True))
        host = re.compile(rf"\b(https|wss)://({ids})\.execute-api\.{re.escape(self.region)}\.amazonaws\.com(?:\.cn)?")

        def local(match: re.Match[str]) -> str:
            scheme, api_id = match.groups()
            if not api_ids[api_id]:
                return self.api_endpoint if scheme == "https" else match.group(0)
            return self.websocket_endpoint if scheme == "wss" else self.connections_endpoint

        return host.sub(local, text)
