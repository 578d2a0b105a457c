"""The whole local stack from template.yaml: DynamoDB Local, a moto server, the tables, queues, schedules
and event buses, a process pool per function, the HTTP gateway, the SQS and stream pollers and the scheduler
that fires the schedules. No Docker, no AWS account.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cfn_yaml import load_yaml
from .clock import SchedulerClock
from .connections_api import ConnectionsApi
from .dynamodb_local import REPO_ROOT, DynamoDBLocal
from .gateway import Gateway
from .lambda_pool import LambdaPool, lambda_environment
from .moto_server import MotoServer
from .naming import DEFAULT_REGION, DEFAULT_STACK, LocalNaming
from .ports import free_port
from .provision import (
    client,
    provision_event_buses,
    provision_queues,
    provision_schedule_groups,
    provision_schedules,
    provision_tables,
)
from .scheduler_runner import SchedulerRunner
from .sqs_source import SqsEventSource
from .stream_source import StreamEventSource
from .template import StreamEventSpec, Template, load_template
from .tokens import AUDIENCE, ISSUER, JWKS_PATH
from .ws_server import IDLE_TIMEOUT_S, MAX_DURATION_S, WebSocketServer

if TYPE_CHECKING:
    from .capacity.faults import FaultConfig
    from .capacity.meter import CapacityMeter

log = logging.getLogger(__name__)
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
# Template parameters that name the token issuer: the stack is deployed with the local one (the dev tokens'
# issuer and audience, its key set on the gateway) unless the caller passes any of them.
ISSUER_PARAMETERS = ("JwtIssuer", "JwtAudience", "JwksUrl")


class LocalStack:
    """Start with `with LocalStack() as stack:`; every process it started stops on exit.

    `visibility_timeout` overrides every queue's VisibilityTimeout (tests want retries in seconds);
    keep it above the batching window plus the handler's duration, or a message is received twice
    while its batch is still in flight, as it would be on AWS. `max_instances` is each function's
    concurrency unless the template reserves one, and `environment` adds variables to every function.

    The scheduler fires the schedules moto holds (the template's and those the functions create) on its
    own clock: `clock_speed=60` makes it run 60 times faster than real time from the moment the stack
    is up (a show booked 2 minutes ahead opens 2 seconds later), 0 freezes it, and `advance_clock()`
    jumps it ahead. The functions keep the real clock. `schedules` (default: as `pollers`) turns the
    scheduler off; `scheduler_retry_delay` is the first retry's backoff, in real seconds.

    `capacity_model=True` puts the capacity meter between the functions and DynamoDB Local: every request
    is billed as AWS would (WCU/RCU per partition key of the table and its GSIs) in `stack.meter.ledger`,
    and `dynamodb_endpoint` (what the functions and `client("dynamodb")` use) is the meter's. With
    `throughput_scale` (which implies the meter) it also throttles as AWS does, at 1,000 WCU/s and
    3,000 RCU/s per key times the scale. `faults` injects DynamoDB failures in the meter (which it then
    implies) and SQS send failures in the moto server.

    The template's WebSocket API is served at `ws_url` (`ws_port`, 0 = a free one) with its @connections
    API at `connections_url`, where the functions' ROOMS_WEBSOCKET_ENDPOINT (any execute-api URL of the
    template's APIs) points. `ws_idle_timeout` and `ws_max_duration` are API Gateway's 10 minutes and
    2 hours unless tests want them shorter. The template's JwtIssuer, JwtAudience and JwksUrl parameters
    default to the local issuer: the dev tokens', with its key set at `<api_url>/.well-known/jwks.json`.

    A function's DynamoDB stream event reads DynamoDB Local's stream of its table (rooms_local.stream_source),
    and the template's EventBridge buses are made in moto, which delivers to the rules put on them.

    `warm=True` starts every function's instances (`max_instances`, or its reserved concurrency) while the
    stack comes up, as a deployed stack that has served before has them: the first storm then does not
    pay a dozen process start-ups on a busy machine (seconds each on 2 cores). Off, instances start on
    demand, as Lambda's cold starts (bench/coldstart.py measures one).
    """

    def __init__(
        self,
        template_path: str | Path | None = None,
        *,
        stack_name: str = DEFAULT_STACK,
        port: int = 0,
        parameters: Mapping[str, Any] | None = None,
        visibility_timeout: int | None = None,
        max_instances: int = 4,
        environment: Mapping[str, str] | None = None,
        pollers: bool = True,
        region: str = DEFAULT_REGION,
        clock_speed: float = 1.0,
        schedules: bool | None = None,
        scheduler_retry_delay: float = 1.0,
        capacity_model: bool = False,
        throughput_scale: float | None = None,
        faults: FaultConfig | None = None,
        ws_port: int = 0,
        ws_idle_timeout: float = IDLE_TIMEOUT_S,
        ws_max_duration: float = MAX_DURATION_S,
        warm: bool = False,
    ):
        if clock_speed < 0:
            raise ValueError("clock_speed must be >= 0")
        self.template_path = Path(template_path or DEFAULT_TEMPLATE)
        self.stack_name = stack_name
        self.port = port
        self.parameters = dict(parameters or {})
        self.visibility_timeout = visibility_timeout
        self.max_instances = max_instances
        self.extra_environment = dict(environment or {})
        self.run_pollers = pollers
        self.region = region
        self.clock_speed = clock_speed
        self.run_schedules = pollers if schedules is None else schedules
        self.scheduler_retry_delay = scheduler_retry_delay
        if throughput_scale is not None and throughput_scale <= 0:
            raise ValueError("throughput_scale must be > 0")
        self.throughput_scale = throughput_scale
        self.faults = faults
        self.capacity_model = capacity_model or throughput_scale is not None or bool(faults and faults.dynamodb)
        self.ws_port = ws_port
        self.ws_idle_timeout = ws_idle_timeout
        self.ws_max_duration = ws_max_duration
        self.warm = warm
        self.pools: dict[str, LambdaPool] = {}
        self.sources: list[SqsEventSource] = []
        self.stream_sources: list[StreamEventSource] = []
        self.startup_seconds = 0.0
        self._template: Template | None = None
        self._gateway: Gateway | None = None
        self._websocket: WebSocketServer | None = None
        self._connections: ConnectionsApi | None = None
        self._dynamodb: DynamoDBLocal | None = None
        self._moto: MotoServer | None = None
        self._meter: CapacityMeter | None = None
        self._clock: SchedulerClock | None = None
        self._scheduler: SchedulerRunner | None = None
        self._cleanup = contextlib.ExitStack()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        if self._dynamodb is not None:
            raise RuntimeError("a LocalStack starts once; make a new one")
        started = time.perf_counter()
        atexit.register(self.stop)  # also on an unhandled exception or sys.exit
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        log.info("local stack %s up in %.1f s at %s", self.stack_name, self.startup_seconds, self.api_url)
        return self

    def _start(self) -> None:
        # The JVM is the slow one: everything that does not need DynamoDB happens while it boots.
        self._dynamodb = DynamoDBLocal()
        self._cleanup.callback(self._dynamodb.stop)
        self._dynamodb.start()
        self._moto = MotoServer(faults=self.faults)
        self._cleanup.callback(self._moto.stop)
        self._moto.start()
        self._moto.wait_ready()

        port = self.port or free_port()
        ws_port, connections_port = self.ws_port or free_port(), free_port()
        naming = LocalNaming(
            stack=self.stack_name,
            region=self.region,
            sqs_endpoint=self.moto_endpoint,
            api_endpoint=f"http://127.0.0.1:{port}",
            websocket_endpoint=f"ws://127.0.0.1:{ws_port}",
            connections_endpoint=f"http://127.0.0.1:{connections_port}",
        )
        parameters = {**self._issuer_parameters(f"http://127.0.0.1:{port}{JWKS_PATH}"), **self.parameters}
        template = self._template = load_template(self.template_path, parameters=parameters, naming=naming)
        provision_queues(template, self.moto_endpoint, self.region, self.visibility_timeout)
        provision_schedule_groups(template, self.moto_endpoint, self.region)
        provision_schedules(template, self.moto_endpoint, self.region)
        provision_event_buses(template, self.moto_endpoint, self.region)
        self._dynamodb.wait_ready()
        provision_tables(template, self._dynamodb.endpoint, self.region)
        if self.capacity_model:
            from .capacity.meter import CapacityMeter  # only a metered stack pays for importing it

            self._meter = CapacityMeter.for_template(
                template, self._dynamodb.endpoint, throughput_scale=self.throughput_scale, faults=self.faults
            )
            self._cleanup.callback(self._meter.stop)  # stops after the functions that use it
            self._meter.start()
        self._start_functions(template)
        self._gateway = Gateway(template.routes, template.http_apis, self.pools, port=port, account_id=naming.account)
        self._cleanup.callback(self._gateway.stop)
        self._gateway.start()
        for api in template.websocket_apis.values():  # the template reader allows one
            self._websocket = WebSocketServer(
                api,
                self.pools,
                port=ws_port,
                account_id=naming.account,
                region=self.region,
                idle_timeout_s=self.ws_idle_timeout,
                max_duration_s=self.ws_max_duration,
            )
            self._connections = ConnectionsApi(self._websocket, port=connections_port)
            self._cleanup.callback(self._connections.stop)  # after the sockets: a $disconnect may push
            self._cleanup.callback(self._websocket.stop)  # before the functions stop: $disconnect runs
            self._connections.start()
            self._websocket.start()
        for source in self.sources:
            self._cleanup.callback(source.request_stop)  # runs first on stop: no new batches
            source.start()
        for stream in self.stream_sources:
            self._cleanup.callback(stream.join)
            self._cleanup.callback(stream.request_stop)
            stream.start()
        # The scheduler's clock starts now, when everything is up: "2 minutes from now" is 2 minutes away.
        self._clock = SchedulerClock(self.clock_speed)
        if self.run_schedules:
            self._scheduler = SchedulerRunner(
                moto_endpoint=self.moto_endpoint,
                functions={pool.spec.name: pool for pool in self.pools.values()},
                clock=self._clock,
                region=self.region,
                retry_delay_s=self.scheduler_retry_delay,
            )
            self._cleanup.callback(self._scheduler.stop)  # runs first on stop: nothing new fires
            self._scheduler.start()

    def _issuer_parameters(self, jwks_url: str) -> dict[str, str]:
        """The local issuer for the template's issuer parameters, unless the caller chose an issuer."""
        if any(name in self.parameters for name in ISSUER_PARAMETERS):
            return {}
        declared = load_yaml(self.template_path).get("Parameters") or {}
        local = {"JwtIssuer": ISSUER, "JwtAudience": AUDIENCE, "JwksUrl": jwks_url}
        return {name: value for name, value in local.items() if name in declared}

    def _start_functions(self, template: Template) -> None:
        """A process pool per function, and the SQS pollers that feed them (started last)."""
        for logical_id, spec in template.functions.items():
            if spec.code_dir is None:
                log.warning("%s has no local CodeUri; it will not run", logical_id)
                continue
            # reserved concurrency caps a function on AWS; here it never raises the machine's cap
            instances = min(spec.reserved_concurrency or self.max_instances, self.max_instances)
            pool = LambdaPool(spec, self.function_env(logical_id), max_instances=instances)
            self.pools[logical_id] = pool
            self._cleanup.callback(pool.close)
        for event in template.sqs_events:
            if event.enabled and self.run_pollers and event.function_id in self.pools:
                pool = self.pools[event.function_id]
                source = SqsEventSource(
                    event,
                    template.queues[event.queue_id],
                    pool,
                    moto_endpoint=self.moto_endpoint,
                    region=self.region,
                    concurrency=min(event.maximum_concurrency or pool.max_instances, pool.max_instances),
                )
                self.sources.append(source)
                if self.visibility_timeout is not None and self.visibility_timeout <= event.batching_window_s:
                    log.warning(
                        "visibility timeout %s s <= %s's batching window: expect duplicate deliveries",
                        self.visibility_timeout,
                        event.function_id,
                    )
                self._cleanup.callback(source.join)
        for stream_event in template.stream_events:
            if stream_event.enabled and self.run_pollers and stream_event.function_id in self.pools:
                self.stream_sources.append(self._stream_source(template, stream_event))
        if self.warm:
            self._warm_pools()

    def _stream_source(self, template: Template, event: StreamEventSpec) -> StreamEventSource:
        # the stream is DynamoDB Local's own: reading it is not billed on AWS, so never through the meter
        return StreamEventSource(
            event,
            template.tables[event.table_id].name,
            self.pools[event.function_id],
            dynamodb_endpoint=self.dynamodb_local_endpoint,
            moto_endpoint=self.moto_endpoint,
            region=self.region,
            on_failure=template.queues[event.on_failure_queue_id] if event.on_failure_queue_id else None,
        )

    def _warm_pools(self) -> None:
        """Every pool's instances, started side by side (each waits on its processes' init)."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.pools))) as starting:
            started = sum(starting.map(lambda pool: pool.warm(), self.pools.values()))
        log.info("%d function instances started warm", started)

    def stop(self) -> None:
        """Stop the scheduler, pollers, WebSocket API (its connections' $disconnect run), gateway, function
        processes, moto and java, in that order. Idempotent."""
        atexit.unregister(self.stop)
        self._cleanup.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ what tests use
    @property
    def template(self) -> Template:
        if self._template is None:
            raise RuntimeError("the stack is not started")
        return self._template

    @property
    def api_url(self) -> str:
        return self._gateway.url if self._gateway else ""

    @property
    def ws_url(self) -> str:
        """Where clients open the template's WebSocket API (`ws://127.0.0.1:<port>/<stage>`), or ""."""
        return self._websocket.url if self._websocket else ""

    @property
    def connections_url(self) -> str:
        """The WebSocket API's @connections endpoint (an apigatewaymanagementapi client's endpoint_url), or ""."""
        return self._connections.url if self._connections else ""

    @property
    def dynamodb_endpoint(self) -> str:
        """Where DynamoDB clients go: the capacity meter when it runs, else DynamoDB Local."""
        if self._meter is not None:
            return self._meter.endpoint
        return self._dynamodb.endpoint if self._dynamodb else ""

    @property
    def dynamodb_local_endpoint(self) -> str:
        """DynamoDB Local itself, behind the meter: what is read here is neither billed nor throttled."""
        return self._dynamodb.endpoint if self._dynamodb else ""

    @property
    def meter(self) -> CapacityMeter | None:
        """The running capacity meter (its `ledger` holds every charge), or None without capacity_model."""
        return self._meter

    @property
    def moto_endpoint(self) -> str:
        return self._moto.endpoint if self._moto else ""

    @property
    def endpoints(self) -> dict[str, str]:
        """The variables that point AWS SDKs (boto3, pynamodb through botocore) at this stack."""
        return {
            "AWS_ENDPOINT_URL": self.moto_endpoint,  # anything not named below
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint,
            "AWS_ENDPOINT_URL_SQS": self.moto_endpoint,
            "AWS_ENDPOINT_URL_SCHEDULER": self.moto_endpoint,
        }

    @property
    def env(self) -> dict[str, str]:
        """Endpoints, region and dummy credentials, plus each resource's local `Ref` by logical id
        (table names, queue URLs...)."""
        return {
            **self.endpoints,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            **self.template.refs,
        }

    @property
    def process_ids(self) -> list[int]:
        """PIDs of the processes this stack runs now: java, moto, and each function instance."""
        return [pid for pids in self.processes_by_part().values() for pid in pids]

    def processes_by_part(self) -> dict[str, list[int]]:
        """The PIDs of `process_ids`, by what they run: DynamoDB Local, moto, the function instances (the
        gateway, the WebSocket server and the SQS pollers are threads of this process)."""
        dynamodb = self._dynamodb.pid if self._dynamodb else None
        moto = self._moto.pid if self._moto else None
        return {
            "dynamodb_local": [dynamodb] if dynamodb is not None else [],
            "moto": [moto] if moto is not None else [],
            "functions": [pid for pool in self.pools.values() for pid in pool.pids],
        }

    def function_env(self, logical_id: str) -> dict[str, str]:
        """Every variable the function's instances see (the template's, resolved, and Lambda's)."""
        spec = self.template.functions[logical_id]
        return {**lambda_environment(spec, self.endpoints, self.region), **self.extra_environment}

    @property
    def scheduler(self) -> SchedulerRunner:
        """The runner firing schedules: its `invocations`, `failures`, `wait_idle()`..."""
        if self._scheduler is None:
            raise RuntimeError("the scheduler is not running (the stack is not started, or schedules=False)")
        return self._scheduler

    def scheduler_now(self) -> datetime:
        """Now, on the scheduler's clock (UTC)."""
        if self._clock is None:
            raise RuntimeError("the stack is not started")
        return self._clock.now()

    def advance_clock(self, seconds: float, *, wait: bool = True, timeout: float = 120.0) -> datetime:
        """Jump the scheduler's clock `seconds` ahead; everything due by then fires (a recurring
        schedule once, for its latest occurrence). With `wait`, return once those first attempts are
        done. Returns the new scheduler time."""
        if self._clock is None:
            raise RuntimeError("the stack is not started")
        if self._scheduler is not None:
            return self._scheduler.advance(seconds, wait=wait, timeout=timeout)
        return self._clock.advance(seconds)

    def client(self, service: str) -> Any:
        """A boto3 client for this stack: DynamoDB Local for dynamodb, moto for the rest."""
        endpoint = self.dynamodb_endpoint if service in ("dynamodb", "dynamodbstreams") else self.moto_endpoint
        return client(service, endpoint, self.region)

    def invoke(self, logical_id: str, event: Mapping[str, Any]) -> Any:
        """Invoke a function directly, as `aws lambda invoke` would."""
        return self.pools[logical_id].invoke(event)

    def wait_idle(self, timeout: float = 30.0, poll_s: float = 0.1) -> None:
        """Wait until no invocation runs and every queue a function consumes is empty (in flight
        included, so failed messages are retried or dead-lettered first) and no scheduled delivery is
        in flight or waiting for a retry, and every table stream a function reads has been delivered. Dead-letter
        queues and other unconsumed queues are not waited for."""
        deadline = time.monotonic() + timeout
        sqs = self.client("sqs")
        quiet_checks = 0
        while quiet_checks < 2:  # twice in a row: a message may be between two hops
            pending = self._pending(sqs)
            quiet_checks = quiet_checks + 1 if not pending else 0
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"local stack still busy after {timeout} s: {pending}")
            time.sleep(poll_s)

    def _pending(self, sqs: Any) -> dict[str, int]:
        pending = {f"{name} invocations": pool.busy for name, pool in self.pools.items() if pool.busy}
        if self._scheduler is not None and self._scheduler.pending:
            pending["scheduled deliveries"] = self._scheduler.pending
        for source in self.sources:
            attributes = sqs.get_queue_attributes(
                QueueUrl=source.queue.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            count = sum(int(value) for value in attributes.values()) + source.in_flight
            if count:
                pending[source.queue.logical_id] = count
        for stream in self.stream_sources:
            if not stream.sync():
                pending[f"{stream.event.table_id} stream"] = 1
        return pending
