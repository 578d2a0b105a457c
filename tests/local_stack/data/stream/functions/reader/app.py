"""Records every batch's keys; reports a record whose item says `poison` as failed."""

import json
import os


def lambda_handler(event, context):
    keys = [record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]]
    with open(os.environ["RECORDS_FILE"], "a") as out:
        out.write(json.dumps({"keys": keys, "names": [r["eventName"] for r in event["Records"]]}) + "\n")
    failed = [
        {"itemIdentifier": record["dynamodb"]["SequenceNumber"]}
        for record in event["Records"]
        if "poison" in record["dynamodb"].get("NewImage", {})
    ]
    return {"batchItemFailures": failed}
