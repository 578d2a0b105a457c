"""Cold starts as Lambda pays them, each as a ratio to a bare `import boto3` measured in the same run.

Every case is a fresh `python -S -c` process, timed whole (interpreter start to exit), as Lambda's init:
the function's code directory is the working directory (`app` imports from it, as from /var/task), the
layer's package is on the path (as /opt/python), and beside it only what a function can import there:
the layer's pinned requirements and the SDK the runtime ships (boto3, botocore and their dependencies,
at this environment's versions), installed once into build/ (not this virtualenv, whose test and dev
packages the X-Ray SDK would find and patch too). The environment is the template's: its Globals and
the function's own variables, intrinsics replaced by names of the same shape, plus what the Lambda
runtime sets. Tracing is on as `Tracing: Active` has it (LAMBDA_TASK_ROOT and a sampled trace id, no
POWERTOOLS_TRACE_DISABLED), so the X-Ray SDK's patching is paid at import and its subsegments on the
request; they go to a daemon address on the loopback that nothing listens on.

Cases: the baseline; a reference, the floor of the API's framework (a one-route Powertools HTTP API with
validation, Logger, Metrics and Tracer, nothing of ours); each function's handler module imported; and
the API's first request, the sample `GET /rooms/{room_id}` of events/api (it builds the room service and
its stores, makes the DynamoDB client and reads the room once: a 404 here, which the run checks) and
`GET /openapi.json` (the one route that needs the OpenAPI models).
DynamoDB is a stub on the loopback that answers every call with an empty JSON object at once, so the
request pays the building of its clients and one local round trip: no network, no TLS handshake, which
on AWS add their own milliseconds on top. One warm-up round writes the bytecode caches; then `--rounds`
interleaved rounds (each case once a round, the order rotating), and the medians are reported.

    .venv/bin/python bench/coldstart.py              # 9 rounds, about a minute
    .venv/bin/python bench/coldstart.py --rounds 3   # a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "rooms"
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Lambda's: X-Ray subsegments are sent by UDP to the daemon; on the loopback they reach no one
XRAY_DAEMON = "127.0.0.1:2000"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
GOALS = {"import": 1.5, "first request": 2.5}
# what the Lambda Python runtime ships beside the layer (layers/rooms/requirements.txt leaves them out)
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")

_REQUEST = """
import json, sys
import app

class Context:
    function_name = "rooms-coldstart"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:rooms-coldstart"
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self):
        return 10_000

with open(sys.argv[1]) as file:
    response = app.lambda_handler(json.load(file), Context())
print("STATUS", response["statusCode"])
"""

# The floor under any API function built like this one: Powertools' HTTP resolver with validation, one
# route with a pydantic answer, Logger, Metrics and a Tracer patching botocore; no code of ours.
_FRAMEWORK_FLOOR = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

logger, metrics, tracer = Logger(), Metrics(), Tracer(patch_modules=["botocore"])
app = APIGatewayHttpResolver(enable_validation=True)

class RoomOut(BaseModel):
    room_id: str

@app.get("/rooms/<room_id>")
def get_room(room_id: str) -> RoomOut:
    return RoomOut(room_id=room_id)
"""


@dataclass(frozen=True)
class Intrinsic:
    """A CloudFormation intrinsic as written (`!Ref X`, `!GetAtt X.Arn`, `!Sub ...`)."""

    tag: str
    value: Any


class _TemplateLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Intrinsic:
    if isinstance(node, yaml.ScalarNode):
        return Intrinsic(suffix, loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return Intrinsic(suffix, loader.construct_sequence(node, deep=True))
    return Intrinsic(suffix, loader.construct_mapping(node, deep=True))  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    module: str  # the handler's module, `app` of `app.lambda_handler`
    environment: dict[str, str]


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "baseline", "import" or "first request"
    function: Function
    code: str
    args: tuple[str, ...] = ()
    status: int | None = None  # the answer a request must get: an error path would be cheaper


def load_functions(path: Path = ROOT / "template.yaml") -> dict[str, Function]:
    """The template's functions, each with the environment Lambda would give it."""
    template = yaml.load(path.read_text(), Loader=_TemplateLoader)  # our own loader, SafeLoader's rules
    stack = "rooms-coldstart"
    resolve = _Resolver(template, stack)
    site = lambda_site()
    globals_ = template.get("Globals", {}).get("Function", {})
    shared = globals_.get("Environment", {}).get("Variables", {})
    functions = {}
    for logical_id, declared in template["Resources"].items():
        if declared.get("Type") != "AWS::Serverless::Function":
            continue
        properties = declared["Properties"]
        variables = {**shared, **properties.get("Environment", {}).get("Variables", {})}
        environment = {name: resolve(value) for name, value in variables.items()}
        code_dir = ROOT / properties["CodeUri"]
        module = properties.get("Handler", globals_.get("Handler", "")).rpartition(".")[0]
        tracing = properties.get("Tracing", globals_.get("Tracing"))
        environment.update(_runtime_environment(stack, logical_id, code_dir, site, traced=tracing == "Active"))
        functions[logical_id] = Function(logical_id, code_dir, module, environment)
    return functions


class _Resolver:
    """Intrinsics to values of the shape the code reads: parameters' defaults, queue URLs, table names, ARNs."""

    def __init__(self, template: dict[str, Any], stack: str) -> None:
        self._parameters = template.get("Parameters", {})
        self._resources = template.get("Resources", {})
        self._stack = stack

    def __call__(self, value: Any) -> str:
        if not isinstance(value, Intrinsic):
            return str(value)
        if value.tag == "Ref":
            return self._ref(str(value.value))
        if value.tag == "GetAtt":
            return self._arn(str(value.value).split(".")[0])
        if value.tag == "Sub":  # e.g. a secret resolved at deploy: any string of the kind
            return f"{self._stack}-sub"
        raise ValueError(f"no stand-in for !{value.tag} {value.value}")

    def _ref(self, name: str) -> str:
        if name in self._parameters:
            return str(self._parameters[name].get("Default", ""))
        kind = self._resources.get(name, {}).get("Type", "")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self._stack}-{name}"
        return f"{self._stack}-{name}"

    def _arn(self, name: str) -> str:
        kind = self._resources.get(name, {}).get("Type", "")
        service = {"AWS::SQS::Queue": "sqs", "AWS::IAM::Role": "iam"}.get(kind, "lambda")
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{self._stack}-{name}"


def lambda_site() -> Path:
    """The layer's requirements and the runtime's SDK alone in one directory, installed on first use."""
    runtime = [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_PACKAGES]
    requirements = (LAYER / "requirements.txt").read_text() + "\n".join(runtime) + "\n"
    target = ROOT / "build" / f"coldstart-site-{hashlib.sha256(requirements.encode()).hexdigest()[:12]}"
    if target.exists():
        return target
    target.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        listed = Path(scratch) / "requirements.txt"
        listed.write_text(requirements)
        site = Path(scratch) / "site"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
        subprocess.run([*command, "-r", str(listed)], check=True)
        shutil.move(site, target)
    return target


def _runtime_environment(stack: str, logical_id: str, code_dir: Path, site: Path, *, traced: bool) -> dict[str, str]:
    """What the Lambda runtime sets for every function (credentials are stand-ins: nothing reaches AWS)."""
    environment = {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": f"{stack}-{logical_id}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
        "AWS_ACCESS_KEY_ID": "ASIACOLDSTART",
        "AWS_SECRET_ACCESS_KEY": "coldstart",
        "AWS_SESSION_TOKEN": "coldstart",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "LAMBDA_RUNTIME_DIR": str(code_dir),
        "AWS_XRAY_DAEMON_ADDRESS": XRAY_DAEMON,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(LAYER), str(site)]),
    }
    if traced:
        environment["_X_AMZN_TRACE_ID"] = TRACE_ID
    return environment


def cases(functions: dict[str, Function]) -> list[Case]:
    api = functions["ApiFunction"]
    found = [
        Case("bare import boto3", "baseline", api, "import boto3"),
        Case("floor: a one-route Powertools API", "reference", api, _FRAMEWORK_FLOOR),
    ]
    for function in functions.values():
        found.append(Case(f"{function.logical_id} import", "import", function, f"import {function.module}"))
    # the stub holds no room: the room is read, and not found
    for sample, status in (("get_room", 404), ("openapi", 200)):
        event = ROOT / "events" / "api" / f"{sample}.json"
        route = json.loads(event.read_text())["routeKey"]
        found.append(Case(f"ApiFunction + {route}", "first request", api, _REQUEST, (str(event),), status))
    return found


class _DynamoStub(BaseHTTPRequestHandler):
    """Answers every DynamoDB call at once with `{}`: no item, nothing unprocessed."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextmanager
def dynamodb_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DynamoStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_case(case: Case, endpoint: str) -> tuple[float, float]:
    """One fresh process: its wall time and its CPU time (user + system), in milliseconds.

    A failed process, or a request that did not answer, fails the run.
    """
    environment = {**case.function.environment, "AWS_ENDPOINT_URL_DYNAMODB": endpoint}
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-S", "-c", case.code, *case.args],
        cwd=case.function.code_dir,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = (time.perf_counter() - started) * 1000
    cpu = (_children_cpu() - cpu_before) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{case.name} failed:\n{done.stderr[-3000:]}")
    if case.status is not None and f"STATUS {case.status}" not in done.stdout:
        raise RuntimeError(f"{case.name} did not answer {case.status}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def measure(all_cases: Sequence[Case], rounds: int) -> dict[str, Timings]:
    timings = {case.name: Timings() for case in all_cases}
    with dynamodb_stub() as endpoint:
        for case in all_cases:  # warm-up: bytecode caches written, files in the page cache
            run_case(case, endpoint)
        for round_ in range(rounds):
            shift = round_ % len(all_cases)
            for case in [*all_cases[shift:], *all_cases[:shift]]:
                wall, cpu = run_case(case, endpoint)
                timings[case.name].wall.append(wall)
                timings[case.name].cpu.append(cpu)
    return timings


def report(all_cases: Sequence[Case], timings: dict[str, Timings]) -> tuple[str, dict[str, Any]]:
    """Medians and ratios to the baseline: of wall time (what a cold start waits), and of CPU time, which
    other work on the machine disturbs less (a check on the first: they should tell the same story)."""
    wall_baseline = statistics.median(timings[all_cases[0].name].wall)
    cpu_baseline = statistics.median(timings[all_cases[0].name].cpu)
    lines = [f"{'case':<40} {'wall ms':>8} {'x boto3':>8} {'cpu ms':>8} {'x boto3':>8}  goal (wall)"]
    figures: dict[str, Any] = {}
    for case in all_cases:
        wall = statistics.median(timings[case.name].wall)
        cpu = statistics.median(timings[case.name].cpu)
        ratio = wall / wall_baseline
        goal = GOALS.get(case.kind)
        verdict = "" if goal is None else f"<= {goal}x {'ok' if ratio <= goal else 'MISSED'}"
        lines.append(f"{case.name:<40} {wall:>8.0f} {ratio:>8.2f} {cpu:>8.0f} {cpu / cpu_baseline:>8.2f}  {verdict}")
        figures[case.name] = {
            "wall_ms": round(wall, 1),
            "wall_ratio": round(ratio, 3),
            "cpu_ms": round(cpu, 1),
            "cpu_ratio": round(cpu / cpu_baseline, 3),
            "runs_wall_ms": [round(run, 1) for run in timings[case.name].wall],
        }
    return "\n".join(lines), figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds after the warm-up (default 9)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    all_cases = cases(load_functions())
    started = time.perf_counter()
    timings = measure(all_cases, args.rounds)
    table, figures = report(all_cases, timings)
    print(table)
    print(f"{args.rounds} rounds of {len(all_cases)} processes in {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
