"""The local Scheduler: when at(), rate() and cron() schedules fire (zones, DST, start and end dates),
and a stack that fires what moto holds: payloads, no double fire, delete after completion, retries then
the dead-letter queue. The stack's clock is frozen, so only `advance_clock` moves time."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rooms.domain.events import Recurrence, cron_expression
from rooms_local import LocalStack
from rooms_local.cli import _parser as cli_parser
from rooms_local.clock import SchedulerClock
from rooms_local.naming import LocalNaming
from rooms_local.schedule_expressions import Cron, ScheduleExpressionError, ScheduleTiming, parse_expression
from rooms_local.scheduler_runner import render_input
from rooms_local.template import load_template
from tests.local_stack.records import written_records

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fires(expression: str, after: datetime, until: datetime, timezone: str = "UTC", **dates: Any) -> list[datetime]:
    return list(ScheduleTiming.of(expression, timezone, **dates).occurrences(after, until))


# ---------------------------------------------------------------------- expressions
@pytest.mark.parametrize(
    "expression",
    [
        "every(5 minutes)",
        "at(2030-11-26 20:00)",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "rate(five minutes)",
        "cron(0 20 * * ?)",  # five fields
        "cron(0 20 * * * *)",  # neither day field is ?
        "cron(0 20 ? * ? *)",  # both are
        "cron(60 20 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 20 32 * ? *)",
        "cron(0 20 ? * 8 *)",
        "cron(0 20 ? FOO * *)",
        "cron(0 20 * * ? 1969)",
    ],
)
def test_expressions_the_scheduler_refuses_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        ScheduleTiming.of(expression, "UTC", created=utc(2030, 1, 1))


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ScheduleExpressionError, match="Mars/Olympus"):
        ScheduleTiming.of("cron(0 20 * * ? *)", "Mars/Olympus")


def test_at_is_a_wall_time_in_the_schedule_zone_and_fires_once() -> None:
    # GIVEN a show at 20:00 in Paris (UTC+1 in November), and the same as the API books it, in UTC
    paris = ScheduleTiming.of("at(2030-11-26T20:00:00)", PARIS)
    booked = ScheduleTiming.of("at(2030-11-26T19:00:00)", "UTC")
    # THEN both fire at 19:00 UTC, once; StartDate and EndDate do not apply to one-time schedules
    assert paris.one_time and paris.at == booked.at == utc(2030, 11, 26, 19)
    assert paris.next_after(utc(2030, 11, 1)) == utc(2030, 11, 26, 19)
    assert paris.next_after(utc(2030, 11, 26, 19)) is None
    assert paris.last_at_or_before(utc(2030, 11, 26, 18, 59)) is None
    ignored = ScheduleTiming.of("at(2030-11-26T20:00:00)", PARIS, end=utc(2030, 1, 1))
    assert ignored.next_after(utc(2030, 11, 1)) == utc(2030, 11, 26, 19)


def test_rate_counts_from_the_start_date_or_else_from_creation() -> None:
    # GIVEN a rate without StartDate: it fires at its creation, then every period
    created = utc(2030, 1, 1, 12) + timedelta(seconds=30)
    assert fires("rate(5 minutes)", utc(2030, 1, 1), utc(2030, 1, 1, 12, 12), created=created) == [
        created,
        created + timedelta(minutes=5),
        created + timedelta(minutes=10),
    ]
    # AND with StartDate and EndDate: from the start, up to and including the end
    start, end = utc(2030, 1, 2, 8), utc(2030, 1, 2, 11)
    assert fires("rate(1 hour)", utc(2030, 1, 1), utc(2030, 2, 1), start=start, end=end, created=created) == [
        utc(2030, 1, 2, hour) for hour in (8, 9, 10, 11)
    ]
    timing = ScheduleTiming.of("rate(1 hour)", start=start, end=end)
    assert timing.last_at_or_before(utc(2030, 1, 2, 9, 59)) == utc(2030, 1, 2, 9)
    assert timing.last_at_or_before(utc(2030, 1, 9)) == end
    assert timing.last_at_or_before(utc(2030, 1, 2, 7)) is None


def test_a_rate_in_days_is_24_hours_across_a_dst_change() -> None:
    # GIVEN a daily rate started at 12:00 Paris time the day before clocks go forward (2030-03-31)
    start = datetime(2030, 3, 30, 12, tzinfo=ZoneInfo(PARIS))
    found = fires("rate(1 day)", utc(2030, 3, 1), utc(2030, 4, 2), PARIS, start=start)
    # THEN it keeps 24-hour steps: 12:00 then 13:00 local
    assert [when.astimezone(ZoneInfo(PARIS)).hour for when in found] == [12, 13, 13]


def test_a_daily_cron_keeps_its_wall_time_across_dst() -> None:
    # GIVEN the API's daily show at 20:00 Paris time, as the domain writes its expression
    expression = cron_expression(utc(2030, 3, 29, 19), PARIS, Recurrence.DAILY)
    assert expression == "cron(0 20 * * ? *)"
    # THEN it fires at 20:00 local on both sides of the change: 19:00 UTC, then 18:00 UTC
    assert fires(expression, utc(2030, 3, 29), utc(2030, 4, 1), PARIS) == [
        utc(2030, 3, 29, 19),
        utc(2030, 3, 30, 19),
        utc(2030, 3, 31, 18),
    ]


def test_a_weekly_cron_fires_on_its_day_only() -> None:
    # GIVEN the API's weekly show, Thursdays 20:00 in New York (2030-11-28 is a Thursday)
    expression = cron_expression(utc(2030, 11, 29, 1), NEW_YORK, Recurrence.WEEKLY)
    assert expression == "cron(0 20 ? * THU *)"
    found = fires(expression, utc(2030, 11, 1), utc(2030, 12, 31), NEW_YORK)
    assert [when.astimezone(ZoneInfo(NEW_YORK)).strftime("%a %d %H:%M") for when in found] == [
        "Thu 07 20:00",
        "Thu 14 20:00",
        "Thu 21 20:00",
        "Thu 28 20:00",
        "Thu 05 20:00",
        "Thu 12 20:00",
        "Thu 19 20:00",
        "Thu 26 20:00",
    ]
    # AND days of the week count from 1 = SUN, as AWS numbers them: 5 is Thursday
    assert fires("cron(0 20 ? * 5 *)", utc(2030, 11, 1), utc(2030, 12, 31), NEW_YORK) == found


def test_a_wall_time_the_clocks_skip_does_not_fire_and_a_repeated_one_fires_once() -> None:
    # GIVEN 02:30 every day in Paris: clocks jump 02:00 -> 03:00 on 2030-03-31, and 03:00 -> 02:00 on 2030-10-27
    spring = fires("cron(30 2 * * ? *)", utc(2030, 3, 30), utc(2030, 4, 2), PARIS)
    autumn = fires("cron(30 2 * * ? *)", utc(2030, 10, 26), utc(2030, 10, 29), PARIS)
    # THEN the skipped day has no invocation, and the repeated hour fires the first time only
    assert spring == [utc(2030, 3, 30, 1, 30), utc(2030, 4, 1, 0, 30)]
    assert autumn == [utc(2030, 10, 26, 0, 30), utc(2030, 10, 27, 0, 30), utc(2030, 10, 28, 1, 30)]
    # AND the backward search finds the first pass from inside the second
    timing = ScheduleTiming.of("cron(30 2 * * ? *)", PARIS)
    assert timing.last_at_or_before(utc(2030, 10, 27, 1, 10)) == utc(2030, 10, 27, 0, 30)
    # AND every-minute crons step through the repeated hour without firing any minute twice
    minutes = fires("cron(* 2 * * ? *)", utc(2030, 10, 26, 23), utc(2030, 10, 27, 3), PARIS)
    assert len(minutes) == len(set(minutes)) == 60


@pytest.mark.parametrize(
    ("expression", "count", "first"),
    [
        ("cron(0/20 9-10 1 * ? *)", 6, ["01 09:00", "01 09:20", "01 09:40", "01 10:00", "01 10:20", "01 10:40"]),
        ("cron(15,45 9 1,3 * ? *)", 4, ["01 09:15", "01 09:45", "03 09:15", "03 09:45"]),
        ("cron(0 9 ? * MON-FRI *)", 23, ["01 09:00", "02 09:00", "03 09:00", "06 09:00"]),
        ("cron(0 9 ? * FRI-MON *)", 17, ["03 09:00", "04 09:00", "05 09:00", "06 09:00", "10 09:00"]),
        ("cron(0 9 ? * L *)", 4, ["04 09:00", "11 09:00"]),  # L alone: Saturday
        ("cron(0 9 ? * 2#1 *)", 1, ["06 09:00"]),  # the month's first Monday
        ("cron(0 9 ? * 6L *)", 1, ["31 09:00"]),  # its last Friday
        ("cron(0 9 L * ? *)", 1, ["31 09:00"]),
        ("cron(0 9 LW * ? *)", 1, ["31 09:00"]),
        ("cron(0 9 4W * ? *)", 1, ["03 09:00"]),  # the 4th is a Saturday: the Friday before
        ("cron(0 9 5W * ? *)", 1, ["06 09:00"]),  # the 5th is a Sunday: the Monday after
        ("cron(0 9 1 MAY ? 2030)", 1, ["01 09:00"]),
        ("cron(0 9 1 MAY ? 2031)", 0, []),
    ],
)
def test_cron_fields(expression: str, count: int, first: list[str]) -> None:
    # May 2030: Wednesday the 1st to Friday the 31st
    found = fires(expression, utc(2030, 5, 1) - timedelta(seconds=1), utc(2030, 5, 31, 23, 59))
    assert len(found) == count
    assert [when.strftime("%d %H:%M") for when in found[: len(first)]] == first


def test_cron_honours_start_and_end_dates() -> None:
    found = fires(
        "cron(0 * * * ? *)", utc(2030, 1, 1), utc(2030, 1, 2), start=utc(2030, 1, 1, 5), end=utc(2030, 1, 1, 8)
    )
    assert found == [utc(2030, 1, 1, hour) for hour in (5, 6, 7, 8)]


def test_cron_is_parsed_into_its_fields() -> None:
    cron = parse_expression("cron(0/15 8-9 ? JAN,JUL MON *)")
    assert isinstance(cron, Cron)
    assert (cron.minutes, cron.hours, cron.months) == ((0, 15, 30, 45), (8, 9), (1, 7))
    assert cron.day_of_month is None and cron.day_of_week is not None


# ---------------------------------------------------------------------- clock and payload
def test_the_clock_runs_fast_from_its_start_and_jumps_ahead() -> None:
    clock = SchedulerClock(speed=3600)
    before = datetime.now(UTC)
    time.sleep(0.05)
    assert clock.now() - before >= timedelta(minutes=2)  # 0.05 s real: 3 minutes of clock
    moved = clock.advance(86400)
    assert moved - before > timedelta(days=1)
    # a real instant from before the clock started is not scaled
    assert clock.to_virtual(before - timedelta(seconds=10)) > before + timedelta(days=1) - timedelta(seconds=11)
    frozen = SchedulerClock(speed=0)
    first = frozen.now()
    time.sleep(0.02)
    assert frozen.now() == first
    with pytest.raises(ValueError):
        frozen.advance(-1)


def test_context_attributes_are_substituted() -> None:
    text = json.dumps(
        {
            "when": "<aws.scheduler.scheduled-time>",
            "id": "<aws.scheduler.execution-id>",
            "arn": "<aws.scheduler.schedule-arn>",
            "attempt": "<aws.scheduler.attempt-number>",
        }
    )
    rendered = render_input(
        text, schedule_arn="arn:s", scheduled_time=utc(2030, 1, 2, 3, 4), execution_id="x1", attempt=2
    )
    assert json.loads(rendered) == {"when": "2030-01-02T03:04:00Z", "id": "x1", "arn": "arn:s", "attempt": "2"}
    assert render_input(None, schedule_arn="a", scheduled_time=utc(2030, 1, 1), execution_id="x", attempt=1) == "{}"


# ---------------------------------------------------------------------- template and CLI
REAL_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_the_real_template_housekeeping_event_is_read_as_sam_expands_it() -> None:
    template = load_template(REAL_TEMPLATE, naming=LocalNaming(stack="t"))
    housekeeping = template.schedules["SchedulerFunctionHousekeeping"]
    assert housekeeping.function_id == "SchedulerFunction"
    assert (housekeeping.name, housekeeping.group) == ("SchedulerFunctionHousekeeping", "t-ShowScheduleGroup")
    assert (housekeeping.expression, housekeeping.timezone, housekeeping.state) == ("rate(1 minute)", "UTC", "ENABLED")
    assert housekeeping.target["Arn"] == template.functions["SchedulerFunction"].arn
    assert json.loads(housekeeping.target["Input"]) == {"action": "housekeeping"}
    assert housekeeping.target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 120}
    assert housekeeping.target["DeadLetterConfig"] == {"Arn": template.queues["SchedulerDeadLetterQueue"].arn}
    assert template.functions["SchedulerFunction"].schedule_events == (housekeeping,)


def test_schedule_resources_and_schedule_v2_options_are_read(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent(
            """\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: fn/
                  Handler: app.handler
                  Runtime: python3.11
                  Events:
                    Nightly:
                      Type: ScheduleV2
                      Properties:
                        ScheduleExpression: cron(0 3 * * ? *)
                        ScheduleExpressionTimezone: Europe/Paris
                        OmitName: true
                        State: DISABLED
                        StartDate: "2030-01-01T00:00:00Z"
                        Input: {"job": "nightly"}
              Reminder:
                Type: AWS::Scheduler::Schedule
                Properties:
                  ScheduleExpression: at(2030-06-01T09:00:00)
                  FlexibleTimeWindow: {Mode: "OFF"}
                  Target:
                    Arn: !GetAtt Fn.Arn
                    RoleArn: arn:aws:iam::123456789012:role/r
            """
        )
    )
    template = load_template(tmp_path / "template.yaml", naming=LocalNaming(stack="t"))
    nightly, reminder = template.schedules["FnNightly"], template.schedules["Reminder"]
    assert (nightly.name, nightly.group, nightly.state) == ("t-FnNightly", "default", "DISABLED")
    assert nightly.start_date == datetime(2030, 1, 1, tzinfo=UTC)
    assert json.loads(nightly.target["Input"]) == {"job": "nightly"}
    kwargs = nightly.create_kwargs()
    assert kwargs["ScheduleExpressionTimezone"] == "Europe/Paris" and kwargs["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert (reminder.name, reminder.function_id, reminder.target["Arn"]) == (
        "t-Reminder",
        None,
        "arn:aws:lambda:us-east-1:123456789012:function:t-Fn",
    )
    assert reminder.arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/t-Reminder"


def test_up_takes_a_clock_speed() -> None:
    assert cli_parser().parse_args(["up", "--clock-speed", "60"]).clock_speed == 60.0
    assert cli_parser().parse_args(["up"]).clock_speed == 1.0


# ---------------------------------------------------------------------- a stack firing schedules
TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::Scheduler::ScheduleGroup
  JobDeadLetterQueue:
    Type: AWS::SQS::Queue
  OutboxQueue:
    Type: AWS::SQS::Queue
  JobFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/job/
      Handler: app.lambda_handler
      Runtime: python3.11
      Timeout: 5
      Events:
        Tick:
          Type: ScheduleV2
          Properties:
            GroupName: !Ref Jobs
            ScheduleExpression: rate(1 hour)
            Input: '{"job": "tick", "at": "<aws.scheduler.scheduled-time>", "id": "<aws.scheduler.execution-id>"}'
            RetryPolicy: {MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60}
            DeadLetterConfig: {Arn: !GetAtt JobDeadLetterQueue.Arn}
"""

JOB_HANDLER = """\
import json
import os


def lambda_handler(event, context):
    with open(os.environ["RECORDS_FILE"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"done": event}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scheduled")
    (root / "functions/job").mkdir(parents=True)
    (root / "functions/job/app.py").write_text(textwrap.dedent(JOB_HANDLER))
    (root / "template.yaml").write_text(TEMPLATE)
    return root


@pytest.fixture(scope="module")
def records(project: Path) -> Path:
    return project / "records.jsonl"


@pytest.fixture(scope="module")
def stack(needs_java: None, project: Path, records: Path) -> Iterator[LocalStack]:
    # A frozen clock: only advance_clock moves the Scheduler's time, so every firing is deterministic.
    with LocalStack(
        project / "template.yaml",
        stack_name="sched",
        clock_speed=0,
        scheduler_retry_delay=0.05,
        environment={"RECORDS_FILE": str(records)},
    ) as running:
        running.scheduler.sync()
        yield running


def handled(records: Path) -> list[Any]:
    return written_records(records)


def at_expression(when: datetime, timezone: str = "UTC") -> str:
    return f"at({when.astimezone(ZoneInfo(timezone)):%Y-%m-%dT%H:%M:%S})"


def create(stack: LocalStack, name: str, expression: str, payload: Any, **extra: Any) -> None:
    target = {
        "Arn": extra.pop("TargetArn", stack.template.functions["JobFunction"].arn),
        "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
        "Input": json.dumps(payload),
        **extra.pop("Target", {}),
    }
    stack.client("scheduler").create_schedule(
        Name=name,
        GroupName=extra.pop("GroupName", "sched-Jobs"),
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=target,
        **extra,
    )


def names(stack: LocalStack) -> set[str]:
    return {s["Name"] for s in stack.client("scheduler").list_schedules(GroupName="sched-Jobs")["Schedules"]}


@pytest.mark.stack
@pytest.mark.xdist_group("local_stack")
def test_the_template_schedule_is_created_in_moto_and_fires_at_once_then_every_period(
    stack: LocalStack, records: Path
) -> None:
    # GIVEN the template's ScheduleV2 event: SAM names it <Function><Event>, in its group
    schedule = stack.client("scheduler").get_schedule(Name="JobFunctionTick", GroupName="sched-Jobs")
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert schedule["Target"]["Arn"] == stack.template.functions["JobFunction"].arn
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": stack.template.queues["JobDeadLetterQueue"].arn}
    # THEN without a StartDate it fired once as soon as the stack was up, context attributes substituted
    ticks = stack.scheduler.invocations_of("JobFunctionTick")
    assert len(ticks) == 1 and ticks[0].ok
    first = ticks[0].scheduled_time
    assert ticks[0].event == {"job": "tick", "at": first.strftime("%Y-%m-%dT%H:%M:%SZ"), "id": ticks[0].execution_id}
    assert [event for event in handled(records) if event.get("job") == "tick"] == [ticks[0].event]
    # WHEN the clock moves 59 minutes THEN nothing more; at the hour, the next occurrence
    stack.advance_clock(59 * 60)
    assert len(stack.scheduler.invocations_of("JobFunctionTick")) == 1
    stack.advance_clock(60)
    ticks = stack.scheduler.invocations_of("JobFunctionTick")
    assert [tick.scheduled_time for tick in ticks] == [first, first + timedelta(hours=1)]
    # WHEN it jumps 5 hours THEN only the latest occurrence fires, not a backlog of five
    stack.advance_clock(5 * 3600)
    ticks = stack.scheduler.invocations_of("JobFunctionTick")
    assert [tick.scheduled_time for tick in ticks][-1] == first + timedelta(hours=6)
    assert len(ticks) == 3
    assert len({tick.execution_id for tick in ticks}) == 3


@pytest.mark.stack
@pytest.mark.xdist_group("local_stack")
def test_a_one_time_schedule_fires_once_in_its_zone_then_deletes_itself(stack: LocalStack, records: Path) -> None:
    # GIVEN a one-time schedule 10 minutes ahead, written as a Paris wall time, deleted after completion
    when = (stack.scheduler_now() + timedelta(minutes=10)).replace(microsecond=0)
    payload = {"job": "once", "scheduled_time": "<aws.scheduler.scheduled-time>"}
    create(
        stack,
        "once",
        at_expression(when, PARIS),
        payload,
        ScheduleExpressionTimezone=PARIS,
        ActionAfterCompletion="DELETE",
    )
    # AND one that stays after completion
    create(stack, "once-kept", at_expression(when), {"job": "kept"}, ActionAfterCompletion="NONE")
    # WHEN 9 minutes pass THEN neither fired
    stack.advance_clock(9 * 60)
    assert not stack.scheduler.invocations_of("once") and {"once", "once-kept"} <= names(stack)
    # WHEN its time comes THEN each fires once, with its scheduled time, and "once" is gone
    stack.advance_clock(2 * 60)
    [fired] = stack.scheduler.invocations_of("once")
    assert fired.ok and fired.scheduled_time == when
    assert fired.event == {"job": "once", "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert {"job": "once", "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")} in handled(records)
    assert "once" not in names(stack) and "once-kept" in names(stack)
    # AND however far the clock goes, neither fires again
    stack.advance_clock(3 * 86400)
    assert len(stack.scheduler.invocations_of("once")) == len(stack.scheduler.invocations_of("once-kept")) == 1


@pytest.mark.stack
@pytest.mark.xdist_group("local_stack")
def test_a_moved_one_time_schedule_fires_at_its_new_time_only(stack: LocalStack) -> None:
    # GIVEN a one-time schedule in 10 minutes, moved to 30 minutes before it fires (a show moved)
    now = stack.scheduler_now().replace(microsecond=0)
    create(stack, "moved", at_expression(now + timedelta(minutes=10)), {"job": "moved"}, ActionAfterCompletion="DELETE")
    stack.advance_clock(60)
    stack.client("scheduler").update_schedule(
        Name="moved",
        GroupName="sched-Jobs",
        ScheduleExpression=at_expression(now + timedelta(minutes=30)),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": stack.template.functions["JobFunction"].arn, "RoleArn": "arn:aws:iam::123456789012:role/s"},
    )
    # THEN nothing at the old time; once at the new one (Input gone: the target gets {})
    stack.advance_clock(15 * 60)
    assert not stack.scheduler.invocations_of("moved")
    stack.advance_clock(15 * 60)
    [fired] = stack.scheduler.invocations_of("moved")
    assert fired.scheduled_time == now + timedelta(minutes=30) and fired.event == {}
    assert "moved" not in names(stack)


@pytest.mark.stack
@pytest.mark.xdist_group("local_stack")
def test_a_cron_schedule_fires_each_wall_time_in_its_window_once(stack: LocalStack) -> None:
    # GIVEN every 10 minutes of New York time, from 15 minutes from now to 45 minutes from now
    now = stack.scheduler_now()
    start, end = now + timedelta(minutes=15), now + timedelta(minutes=45)
    create(
        stack,
        "every-ten",
        "cron(0/10 * * * ? *)",
        {"job": "cron", "at": "<aws.scheduler.scheduled-time>"},
        ScheduleExpressionTimezone=NEW_YORK,
        StartDate=start,
        EndDate=end,
        ActionAfterCompletion="DELETE",
    )
    # WHEN the clock moves in 4-minute steps past the end date
    for _ in range(15):
        stack.advance_clock(4 * 60)
    # THEN it fired at each :x0 minute of the window, once each, and was deleted after its end date
    minutes = (start.replace(second=0, microsecond=0) + timedelta(minutes=n) for n in range(32))
    expected = [when for when in minutes if when.minute % 10 == 0 and start <= when <= end]
    assert len(expected) == 3
    fired = stack.scheduler.invocations_of("every-ten")
    assert [invocation.scheduled_time for invocation in fired] == expected
    assert [invocation.event["at"] for invocation in fired] == [
        when.strftime("%Y-%m-%dT%H:%M:%SZ") for when in expected
    ]
    assert "every-ten" not in names(stack)


@pytest.mark.stack
@pytest.mark.xdist_group("local_stack")
def test_a_failing_target_is_retried_per_policy_then_dead_lettered(stack: LocalStack) -> None:
    # GIVEN a one-time schedule whose target fails, 2 retries allowed, a dead-letter queue
    dlq = stack.template.queues["JobDeadLetterQueue"]
    payload = {"fail": True, "attempt": "<aws.scheduler.attempt-number>", "id": "<aws.scheduler.execution-id>"}
    target: dict[str, Any] = {"RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}}
    target["DeadLetterConfig"] = {"Arn": dlq.arn}
    when = stack.scheduler_now() + timedelta(minutes=1)
    create(stack, "failing", at_expression(when), payload, Target=target, ActionAfterCompletion="DELETE")
    # WHEN it falls due and the retries run their course
    stack.advance_clock(120)
    stack.scheduler.wait_idle(timeout=120)
    # THEN three attempts, each its own execution id and attempt number, then one recorded failure
    attempts = stack.scheduler.invocations_of("failing")
    assert [(a.attempt, a.event["attempt"], a.ok) for a in attempts] == [
        (1, "1", False),
        (2, "2", False),
        (3, "3", False),
    ]
    assert len({a.execution_id for a in attempts}) == 3 and all("asked to fail" in str(a.error) for a in attempts)
    [failure] = [f for f in stack.scheduler.failures if f.name == "failing"]
    assert (failure.attempts, failure.exhausted, failure.dead_letter_arn) == (3, "MaximumRetryAttempts", dlq.arn)
    # AND the dead-letter queue holds the payload, with why it failed
    sqs = stack.client("sqs")
    [message] = sqs.receive_message(QueueUrl=dlq.url, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"]) == attempts[-1].event
    attributes = {key: value["StringValue"] for key, value in message["MessageAttributes"].items()}
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "2" and attributes["ERROR_CODE"] == "RuntimeError"
    assert attributes["TARGET_ARN"] == stack.template.functions["JobFunction"].arn
    assert "failing" not in names(stack)  # deleted after its last attempt too
    sqs.delete_message(QueueUrl=dlq.url, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.stack
@pytest.mark.xdist_group("local_stack")
def test_a_queue_target_gets_the_input_and_a_disabled_schedule_nothing(stack: LocalStack) -> None:
    outbox = stack.template.queues["OutboxQueue"]
    when = stack.scheduler_now() + timedelta(minutes=1)
    create(
        stack,
        "to-queue",
        at_expression(when),
        {"job": "mail", "at": "<aws.scheduler.scheduled-time>"},
        TargetArn=outbox.arn,
    )
    create(stack, "disabled", "rate(1 minute)", {"job": "off"}, State="DISABLED")
    stack.advance_clock(5 * 60)
    [message] = stack.client("sqs").receive_message(QueueUrl=outbox.url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"]) == {"job": "mail", "at": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert not stack.scheduler.invocations_of("disabled")
    assert {failure.name for failure in stack.scheduler.failures} <= {"failing"}
