"""EventBridge Scheduler: the schedules that open and close shows, named after their event.

Create-or-update keeps every call idempotent: booking twice or moving a show names the same schedule.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from rooms.adapters import aws_session
from rooms.adapters.overload import overload_is_busy
from rooms.config import settings
from rooms.domain.events import ScheduleSpec

# Scheduler retries a failed invocation; after that the event goes to the dead-letter queue.
_RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10}


@overload_is_busy
class EventBridgeShowScheduler:
    def __init__(
        self,
        group: str | None = None,
        target_arn: str | None = None,
        role_arn: str | None = None,
        dead_letter_arn: str | None = None,
        client: Any = None,
    ) -> None:
        config = settings()
        self._group = group or config.schedule_group
        self._target_arn = target_arn or config.scheduler_target_arn
        self._role_arn = role_arn or config.scheduler_role_arn
        self._dead_letter_arn = dead_letter_arn if dead_letter_arn is not None else config.scheduler_dlq_arn
        self._client = client or aws_session.client(
            "scheduler",
            region_name=config.region,
            config=Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=2, read_timeout=5),
        )

    def put(self, spec: ScheduleSpec) -> None:
        """Create the schedule, or replace it when it exists (a moved show)."""
        request = self._request(spec)
        try:
            self._client.create_schedule(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConflictException":
                raise
            self._client.update_schedule(**request)

    def delete(self, name: str) -> None:
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise

    def _request(self, spec: ScheduleSpec) -> dict[str, Any]:
        target: dict[str, Any] = {
            "Arn": self._target_arn,
            "RoleArn": self._role_arn,
            "Input": json.dumps(spec.payload),
            "RetryPolicy": _RETRY_POLICY,
        }
        if self._dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self._dead_letter_arn}
        request: dict[str, Any] = {
            "Name": spec.name,
            "GroupName": self._group,
            "ScheduleExpression": spec.expression,
            "ScheduleExpressionTimezone": spec.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
            "State": "ENABLED",
            **self._completion(spec),
        }
        if spec.start_date is not None:
            request["StartDate"] = spec.start_date
        return request

    @staticmethod
    def _completion(spec: ScheduleSpec) -> dict[str, str]:
        # a one-time schedule deletes itself once it has fired; a recurring one lives with its show
        return {"ActionAfterCompletion": "DELETE" if spec.one_time else "NONE"}
