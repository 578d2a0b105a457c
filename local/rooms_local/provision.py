"""Creates the template's tables in DynamoDB Local and its queues, schedule groups, schedules and event buses
in moto."""

from __future__ import annotations

import json
from typing import Any

import boto3

from .template import Template


def client(service: str, endpoint: str, region: str = "us-east-1") -> Any:
    """A boto3 client with dummy credentials, so nothing local can ever reach a real account."""
    factory: Any = boto3.client  # one call site for every service: the typed overloads do not help
    return factory(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def provision_tables(template: Template, dynamodb_endpoint: str, region: str = "us-east-1") -> None:
    dynamodb = client("dynamodb", dynamodb_endpoint, region)
    for table in template.tables.values():
        dynamodb.create_table(**table.create_kwargs)
    for table in template.tables.values():
        # DynamoDB Local creates tables synchronously, but the waiter keeps this true elsewhere too.
        dynamodb.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 0.1})
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
            )


def provision_queues(
    template: Template,
    moto_endpoint: str,
    region: str = "us-east-1",
    visibility_timeout: int | None = None,
) -> None:
    """Create every queue, then attach redrive policies (the dead-letter queue must exist first).

    `visibility_timeout` replaces every queue's VisibilityTimeout, so tests see retries in seconds.
    """
    sqs = client("sqs", moto_endpoint, region)
    for queue in template.queues.values():
        attributes = dict(queue.attributes)
        if visibility_timeout is not None:
            attributes["VisibilityTimeout"] = str(visibility_timeout)
        url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        if url != queue.url:
            raise RuntimeError(f"moto named queue {queue.logical_id} {url}, the template resolved {queue.url}")
    for queue in template.queues.values():
        if queue.redrive:
            policy = {
                "deadLetterTargetArn": queue.redrive.dead_letter_arn,
                "maxReceiveCount": queue.redrive.max_receive_count,
            }
            sqs.set_queue_attributes(QueueUrl=queue.url, Attributes={"RedrivePolicy": json.dumps(policy)})


def provision_schedule_groups(template: Template, moto_endpoint: str, region: str = "us-east-1") -> None:
    scheduler = client("scheduler", moto_endpoint, region)
    for group in template.schedule_groups.values():
        scheduler.create_schedule_group(Name=group.name)


def provision_schedules(template: Template, moto_endpoint: str, region: str = "us-east-1") -> None:
    """The schedules the template declares (its functions' ScheduleV2 events...), as CloudFormation
    would create them; their groups must exist first."""
    scheduler = client("scheduler", moto_endpoint, region)
    for schedule in template.schedules.values():
        scheduler.create_schedule(**schedule.create_kwargs())


def provision_event_buses(template: Template, moto_endpoint: str, region: str = "us-east-1") -> None:
    events = client("events", moto_endpoint, region)
    for bus in template.event_buses.values():
        events.create_event_bus(Name=bus.name)


def provision(
    template: Template,
    *,
    dynamodb_endpoint: str,
    moto_endpoint: str,
    region: str = "us-east-1",
    visibility_timeout: int | None = None,
) -> None:
    """Create every table, queue, schedule group and schedule the template declares."""
    provision_tables(template, dynamodb_endpoint, region)
    provision_queues(template, moto_endpoint, region, visibility_timeout)
    provision_schedule_groups(template, moto_endpoint, region)
    provision_schedules(template, moto_endpoint, region)
    provision_event_buses(template, moto_endpoint, region)
