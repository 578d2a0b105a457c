"""Records every event; replies to `echo`, pushes through @connections on `push`, refuses `?refuse`."""

import json
import os

import boto3


def lambda_handler(event, context):
    with open(os.environ["RECORDS_FILE"], "a") as out:
        out.write(json.dumps(event) + "\n")
    request = event["requestContext"]
    if request["eventType"] == "CONNECT":
        refused = "refuse" in (event.get("queryStringParameters") or {})
        return {"statusCode": 403 if refused else 200}
    if request["eventType"] == "DISCONNECT":
        return {"statusCode": 200}
    body = json.loads(event["body"]) if not event["isBase64Encoded"] else {}
    if body.get("action") == "push":
        client = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WS_ENDPOINT"])
        client.post_to_connection(ConnectionId=request["connectionId"], Data=b'{"pushed": true}')
        return {"statusCode": 200}
    if body.get("action") == "boom":
        raise ValueError("boom")
    reply = {"route": request["routeKey"], "body": event["body"], "user": request["authorizer"]["user_id"]}
    return {"statusCode": 200, "body": json.dumps(reply)}
