"""Fires the schedules that the moto server's EventBridge Scheduler holds, as EventBridge Scheduler would.

moto stores schedules (the API function creates shows' schedules there; the stack creates the
template's) but never fires them. This thread lists them every `poll_interval_s`, works out on the
scheduler clock which occurrences are due, and delivers each one once:

- Target.Arn names a function of the stack (it gets Target.Input as its event) or a queue on moto (Input
  is the message body). `<aws.scheduler.scheduled-time>`, `<aws.scheduler.execution-id>`,
  `<aws.scheduler.schedule-arn>` and `<aws.scheduler.attempt-number>` in Input are substituted.
- Occurrences are delivered in the order of their scheduled times (those due at the same time
  together), and never twice. When several occurrences of one recurring schedule are due at once (the
  clock jumped, or a slow target held the runner up), only the latest is delivered.
- A failed delivery (the handler raised or timed out) is retried with exponential backoff per
  Target.RetryPolicy: at most `max_retry_attempts` retries, and none once the event is older than
  MaximumEventAgeInSeconds on the scheduler clock. Then it is recorded in `failures` and sent to
  Target.DeadLetterConfig's queue. (On AWS the Scheduler invokes Lambda asynchronously, so a handler
  error is retried by Lambda and never reaches the Scheduler's dead-letter queue; locally it does, so a
  failing scheduled action is never silent.)
- ActionAfterCompletion DELETE deletes a one-time schedule once its occurrence is done, and a recurring
  one once its EndDate has passed. A DISABLED schedule does not fire, and what it missed is not replayed
  when it is enabled again. FlexibleTimeWindow is ignored: everything fires at its scheduled time.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from .clock import SchedulerClock
from .provision import client
from .schedule_expressions import ScheduleExpressionError, ScheduleTiming

log = logging.getLogger(__name__)

# What moto puts in a schedule created without a RetryPolicy, and what AWS defaults to.
_DEFAULT_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
_HISTORY = 10_000  # invocations and failures remembered (a fast clock fires a lot)
_ERROR_TEXT = 1000  # characters of an error message kept in a dead-letter message attribute


class Invoker(Protocol):
    def invoke(self, event: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class ScheduledInvocation:
    """One attempt to deliver one occurrence of a schedule."""

    schedule_arn: str
    group: str
    name: str
    scheduled_time: datetime  # the occurrence, on the scheduler clock (UTC)
    attempt: int
    execution_id: str
    target_arn: str
    payload: str  # Input, context attributes substituted
    fired_at: datetime  # scheduler clock
    error: str | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def event(self) -> Any:
        """The payload as the target received it (parsed JSON when it is JSON)."""
        return _event(self.payload)


@dataclass(frozen=True)
class ScheduledFailure:
    """An occurrence whose every attempt failed."""

    schedule_arn: str
    group: str
    name: str
    scheduled_time: datetime
    attempts: int
    error_code: str
    error_message: str
    exhausted: str  # MaximumRetryAttempts | MaximumEventAgeInSeconds | NotRetryable
    payload: str
    dead_letter_arn: str | None  # where it was sent, if anywhere


@dataclass
class _Tracked:
    """What the runner knows of one schedule."""

    detail: dict[str, Any]  # get_schedule's answer
    version: Any  # LastModificationDate: a change means get_schedule again
    timing: ScheduleTiming | None  # None when its expression cannot fire
    cursor: datetime  # recurring: occurrences at or before it are done
    fired: set[datetime] = field(default_factory=set)  # one-time: occurrences done


@dataclass(frozen=True)
class _Firing:
    key: tuple[str, str]  # (group, name)
    detail: dict[str, Any]  # the schedule when the occurrence fell due
    scheduled_time: datetime
    one_time: bool
    attempt: int = 1
    not_before: float = 0.0  # time.monotonic() of a retry


@dataclass(frozen=True)
class _Outcome:
    invocation: ScheduledInvocation
    error_code: str | None = None
    retryable: bool = True


class _NotDeliverable(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class SchedulerRunner:
    """Delivers the schedules held by the moto server at `moto_endpoint` to `functions` (by function name)."""

    def __init__(
        self,
        *,
        moto_endpoint: str,
        functions: Mapping[str, Invoker],
        clock: SchedulerClock | None = None,
        region: str = "us-east-1",
        poll_interval_s: float = 0.25,
        retry_delay_s: float = 1.0,
        max_retry_delay_s: float = 30.0,
        max_retry_attempts: int = 10,
        workers: int = 8,
    ):
        self.functions = dict(functions)
        self.clock = clock or SchedulerClock()
        self.poll_interval_s = poll_interval_s
        self.retry_delay_s = retry_delay_s
        self.max_retry_delay_s = max_retry_delay_s
        self.max_retry_attempts = max_retry_attempts
        # Clients are made here, in one thread: creating them is not thread-safe; using them is.
        self._scheduler = client("scheduler", moto_endpoint, region)
        self._sqs = client("sqs", moto_endpoint, region)
        self._queue_urls: dict[str, str] = {}
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._retries: list[_Firing] = []
        self._executing = 0
        self._invocations: deque[ScheduledInvocation] = deque(maxlen=_HISTORY)
        self._failures: deque[ScheduledFailure] = deque(maxlen=_HISTORY)
        self._lock = threading.Condition()
        self._ticks_started = 0
        self._ticks_done = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix="scheduler-target")
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SchedulerRunner:
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop firing; a delivery in flight is abandoned after `timeout` (its target is going away)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ what tests use
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, seconds: float, *, wait: bool = True, timeout: float = 120.0) -> datetime:
        """Move the clock `seconds` ahead; with `wait`, return once what fell due has been delivered
        (first attempts; retries follow on their backoff)."""
        now = self.clock.advance(seconds)
        if wait:
            self.sync(timeout)
        return now

    def sync(self, timeout: float = 120.0) -> None:
        """Return after a whole pass (list, fire what is due, settle) that started after this call."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._ticks_started + 1
            self._wake.set()
            while self._ticks_done < target:
                remaining = deadline - time.monotonic()
                if self._stop.is_set():
                    raise RuntimeError("the scheduler runner is stopped")
                if remaining <= 0:
                    raise TimeoutError(f"the scheduler did not complete a pass in {timeout} s")
                self._lock.wait(min(remaining, 0.5))

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Wait until nothing is being delivered and no retry is waiting."""
        deadline = time.monotonic() + timeout
        while True:
            self.sync(max(deadline - time.monotonic(), 0.1))
            if not self.pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.pending} scheduled deliveries still pending after {timeout} s")
            time.sleep(0.05)

    @property
    def pending(self) -> int:
        """Occurrences being delivered, or waiting for a retry."""
        with self._lock:
            return self._executing + len(self._retries)

    @property
    def invocations(self) -> list[ScheduledInvocation]:
        """Every attempt so far (the latest 10,000), oldest first."""
        with self._lock:
            return list(self._invocations)

    @property
    def failures(self) -> list[ScheduledFailure]:
        with self._lock:
            return list(self._failures)

    def invocations_of(self, name: str) -> list[ScheduledInvocation]:
        return [invocation for invocation in self.invocations if invocation.name == name]

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._ticks_started += 1
            try:
                self._tick()
            except Exception:
                if self._stop.is_set():
                    break  # moto or a pool went away under us while stopping
                log.exception("scheduler pass failed")
            finally:
                with self._lock:
                    self._ticks_done += 1
                    self._lock.notify_all()
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()

    def _tick(self) -> None:
        now = self.clock.now()
        self._refresh(now)
        firings = [firing for key, tracked in self._tracked.items() for firing in self._due(key, tracked, now)]
        monotonic = time.monotonic()
        with self._lock:
            firings += [retry for retry in self._retries if retry.not_before <= monotonic]
            self._retries = [retry for retry in self._retries if retry.not_before > monotonic]
            self._executing += len(firings)
        undelivered = len(firings)
        try:
            # in order of scheduled time; the occurrences due at the same time together
            firings.sort(key=lambda firing: (firing.scheduled_time, firing.key))
            for _, together in itertools.groupby(firings, key=lambda firing: firing.scheduled_time):
                batch = list(together)
                if self._stop.is_set():
                    return
                for firing, outcome in zip(batch, self._executor.map(self._attempt, batch), strict=True):
                    self._settle(firing, outcome)
                with self._lock:
                    self._executing -= len(batch)  # after settling: a retry is queued by then
                undelivered -= len(batch)
        finally:
            with self._lock:
                self._executing -= undelivered  # what stopping (or an error) left undelivered
        self._delete_expired(now)

    def _refresh(self, now: datetime) -> None:
        """List every schedule; read again the ones that are new or changed; forget the deleted ones."""
        seen: set[tuple[str, str]] = set()
        for page in self._scheduler.get_paginator("list_schedules").paginate():
            for summary in page.get("Schedules", []):
                key = (summary["GroupName"], summary["Name"])
                version = summary.get("LastModificationDate")
                tracked = self._tracked.get(key)
                if tracked is not None and tracked.version == version:
                    seen.add(key)
                    continue
                try:
                    detail = self._scheduler.get_schedule(Name=key[1], GroupName=key[0])
                except ClientError as error:
                    if _code(error) == "ResourceNotFoundException":
                        continue  # deleted since the listing
                    raise
                detail.pop("ResponseMetadata", None)
                seen.add(key)
                self._track(key, detail, version, now)
        for key in set(self._tracked) - seen:
            del self._tracked[key]

    def _track(self, key: tuple[str, str], detail: dict[str, Any], version: Any, now: datetime) -> None:
        # The schedule exists on the scheduler clock from its (last) change: a rate without StartDate
        # counts from there, and nothing before it is owed.
        changed = detail.get("LastModificationDate") or detail.get("CreationDate")
        since = min(self.clock.to_virtual(changed), now) if isinstance(changed, datetime) else now
        timing: ScheduleTiming | None
        try:
            timing = ScheduleTiming.of(
                detail["ScheduleExpression"],
                detail.get("ScheduleExpressionTimezone"),
                start=detail.get("StartDate"),
                end=detail.get("EndDate"),
                created=since,
            )
        except ScheduleExpressionError as error:
            log.warning("schedule %s/%s will not fire: %s", key[0], key[1], error)
            timing = None
        previous = self._tracked.get(key)
        if previous is None:
            self._tracked[key] = _Tracked(detail, version, timing, since - timedelta(microseconds=1))
        else:
            self._tracked[key] = _Tracked(detail, version, timing, previous.cursor, previous.fired)

    def _due(self, key: tuple[str, str], tracked: _Tracked, now: datetime) -> list[_Firing]:
        timing = tracked.timing
        if timing is None:
            return []
        if (tracked.detail.get("State") or "ENABLED") != "ENABLED":
            tracked.cursor = max(tracked.cursor, now)  # missed while disabled: not replayed
            return []
        if timing.one_time:
            at = timing.at
            if at is None or at > now or at in tracked.fired:
                return []
            tracked.fired.add(at)
            return [_Firing(key, tracked.detail, at, one_time=True)]
        first = timing.next_after(tracked.cursor)
        if first is None or first > now:
            return []
        latest = timing.last_at_or_before(now) or first
        if latest != first:
            log.debug("schedule %s/%s: occurrences %s to %s due at once; firing the latest", *key, first, latest)
        tracked.cursor = latest
        return [_Firing(key, tracked.detail, latest, one_time=False)]

    # ------------------------------------------------------------------ delivery
    def _attempt(self, firing: _Firing) -> _Outcome:
        """One delivery attempt (in a worker thread)."""
        detail, target = firing.detail, firing.detail["Target"]
        execution_id = secrets.token_hex(8)
        payload = render_input(
            target.get("Input"),
            schedule_arn=detail.get("Arn", ""),
            scheduled_time=firing.scheduled_time,
            execution_id=execution_id,
            attempt=firing.attempt,
        )
        invocation = ScheduledInvocation(
            schedule_arn=detail.get("Arn", ""),
            group=firing.key[0],
            name=firing.key[1],
            scheduled_time=firing.scheduled_time,
            attempt=firing.attempt,
            execution_id=execution_id,
            target_arn=target["Arn"],
            payload=payload,
            fired_at=self.clock.now(),
        )
        try:
            result = self._deliver(target["Arn"], payload)
        except _NotDeliverable as error:
            return _Outcome(replace(invocation, error=f"{error.code}: {error}"), error.code, retryable=False)
        except Exception as error:
            code = str(getattr(error, "error_type", None) or type(error).__name__)
            message = str(getattr(error, "error_message", None) or error)
            return _Outcome(replace(invocation, error=f"{code}: {message}"), code)
        return _Outcome(replace(invocation, result=result))

    def _deliver(self, arn: str, payload: str) -> Any:
        parts = arn.split(":")
        service = parts[2] if len(parts) > 5 else ""
        if service == "lambda" and parts[5] == "function" and len(parts) > 6:
            invoker = self.functions.get(parts[6])
            if invoker is None:
                raise _NotDeliverable("ResourceNotFoundException", f"no function {parts[6]} in this stack")
            return invoker.invoke(_event(payload))
        if service == "sqs":
            self._sqs.send_message(QueueUrl=self._queue_url(arn), MessageBody=payload)
            return None
        raise _NotDeliverable("ValidationException", f"{arn}: only functions and queues are local targets")

    def _settle(self, firing: _Firing, outcome: _Outcome) -> None:
        invocation = outcome.invocation
        with self._lock:
            self._invocations.append(invocation)
        name = "/".join(firing.key)
        if invocation.ok:
            log.info("schedule %s fired for %s (attempt %d)", name, firing.scheduled_time, firing.attempt)
            self._completed(firing)
            return
        if self._stop.is_set():
            return
        policy = {**_DEFAULT_RETRY_POLICY, **(firing.detail["Target"].get("RetryPolicy") or {})}
        retries = min(int(policy["MaximumRetryAttempts"]), self.max_retry_attempts)
        age = (self.clock.now() - firing.scheduled_time).total_seconds()
        too_old = age >= float(policy["MaximumEventAgeInSeconds"])
        if outcome.retryable and firing.attempt <= retries and not too_old:
            delay = min(self.retry_delay_s * 2 ** (firing.attempt - 1), self.max_retry_delay_s)
            log.warning(
                "schedule %s, attempt %d failed (%s); retry in %.1f s", name, firing.attempt, invocation.error, delay
            )
            with self._lock:
                self._retries.append(replace(firing, attempt=firing.attempt + 1, not_before=time.monotonic() + delay))
            return
        exhausted = (
            "NotRetryable"
            if not outcome.retryable
            else "MaximumEventAgeInSeconds"
            if too_old
            else "MaximumRetryAttempts"
        )
        failure = ScheduledFailure(
            schedule_arn=invocation.schedule_arn,
            group=firing.key[0],
            name=firing.key[1],
            scheduled_time=firing.scheduled_time,
            attempts=firing.attempt,
            error_code=outcome.error_code or "Error",
            error_message=invocation.error or "",
            exhausted=exhausted,
            payload=invocation.payload,
            dead_letter_arn=self._dead_letter(firing, outcome, exhausted),
        )
        with self._lock:
            self._failures.append(failure)
        log.error(
            "schedule %s failed for %s after %d attempt(s) (%s): %s; dead-lettered to %s",
            name,
            firing.scheduled_time,
            firing.attempt,
            exhausted,
            invocation.error,
            failure.dead_letter_arn,
        )
        self._completed(firing)

    def _dead_letter(self, firing: _Firing, outcome: _Outcome, exhausted: str) -> str | None:
        """Send the dead-letter event, as the Scheduler does: the payload, the reasons as attributes."""
        target = firing.detail["Target"]
        arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not arn:
            return None
        invocation = outcome.invocation
        attributes = {
            "ERROR_CODE": outcome.error_code or "Error",
            "ERROR_MESSAGE": (invocation.error or "")[:_ERROR_TEXT],
            "EXHAUSTED_RETRY_CONDITION": exhausted,
            "RETRY_ATTEMPTS": str(firing.attempt - 1),
            "SCHEDULE_ARN": invocation.schedule_arn,
            "TARGET_ARN": target["Arn"],
        }
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url(arn),
                MessageBody=invocation.payload,
                MessageAttributes={
                    key: {"DataType": "String", "StringValue": value or "-"} for key, value in attributes.items()
                },
            )
        except Exception:
            log.exception("could not dead-letter %s to %s", "/".join(firing.key), arn)
            return None
        return str(arn)

    def _completed(self, firing: _Firing) -> None:
        """ActionAfterCompletion DELETE: a one-time schedule goes once its occurrence is done, unless it
        was moved meanwhile (then it fires again at its new time)."""
        if not firing.one_time or firing.detail.get("ActionAfterCompletion") != "DELETE":
            return
        self._delete_if_unchanged(firing.key, firing.detail["ScheduleExpression"])

    def _delete_expired(self, now: datetime) -> None:
        """ActionAfterCompletion DELETE on a recurring schedule whose EndDate has passed."""
        with self._lock:
            retrying = {retry.key for retry in self._retries}
        for key, tracked in list(self._tracked.items()):
            timing = tracked.timing
            if (
                timing is None
                or timing.one_time
                or timing.end is None
                or timing.end > now
                or key in retrying
                or tracked.detail.get("ActionAfterCompletion") != "DELETE"
                or timing.next_after(tracked.cursor) is not None
            ):
                continue
            self._delete_if_unchanged(key, tracked.detail["ScheduleExpression"])
            self._tracked.pop(key, None)

    def _delete_if_unchanged(self, key: tuple[str, str], expression: str) -> None:
        group, name = key
        try:
            current = self._scheduler.get_schedule(Name=name, GroupName=group)
            if current["ScheduleExpression"] == expression:
                self._scheduler.delete_schedule(Name=name, GroupName=group)
                log.info("schedule %s/%s deleted after completion", group, name)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise

    def _queue_url(self, arn: str) -> str:
        if arn not in self._queue_urls:
            parts = arn.split(":")
            if len(parts) != 6:
                raise _NotDeliverable("ValidationException", f"{arn} is not a queue ARN")
            account, name = parts[4], parts[5]
            self._queue_urls[arn] = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return self._queue_urls[arn]


def render_input(
    text: str | None, *, schedule_arn: str, scheduled_time: datetime, execution_id: str, attempt: int
) -> str:
    """Target.Input with the Scheduler's context attributes substituted (`{}` when there is no Input)."""
    values = {
        "<aws.scheduler.schedule-arn>": schedule_arn,
        "<aws.scheduler.scheduled-time>": scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": execution_id,
        "<aws.scheduler.attempt-number>": str(attempt),
    }
    rendered = "{}" if text is None else text
    for placeholder, value in values.items():
        rendered = rendered.replace(placeholder, value)
    return rendered


def _event(payload: str) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
