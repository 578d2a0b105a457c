"""Where a local storm's CPU goes: the stack's own CPU per request, against the load generator's.

Starts the local stack in this process, runs `rooms simulate` in a process of its own (so its CPU is its
own), and reads the CPU time of every process of the stack before and after: DynamoDB Local (java), the
moto server, each function instance, and this process (the HTTP gateway, the WebSocket server, the SQS
pollers). Prints CPU milliseconds per request (HTTP requests and socket messages) for each part, and how
much of the machine the storm used: when stack and generator together use every core, the machine is
what bounds the local storm, not the design. Not a test: figures.

    .venv/bin/python bench/storm_cpu.py --users 3000 --capacity 1000 --transport socket
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rooms_local.stack import LocalStack  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "storm_cpu.json"
DEFAULT_OUT = ROOT / "bench" / "results" / "storm_cpu"  # the storm's own report, kept beside the figures
TICKS = os.sysconf("SC_CLK_TCK")
# the generator reports its own CPU: a child's is only known to its parent once it has been reaped
GENERATOR = (
    "import resource, sys\n"
    "from rooms_client.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(f'GENERATOR_CPU {usage.ru_utime + usage.ru_stime}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used; 0 for one that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_by_part(stack: LocalStack) -> dict[str, float]:
    by_part = {name: sum(process_cpu(pid) for pid in pids) for name, pids in stack.processes_by_part().items()}
    by_part["gateway_and_pollers"] = own_cpu()
    return by_part


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = str(args.out)
    with LocalStack(stack_name="storm-cpu", max_instances=args.instances) as stack:
        before = cpu_by_part(stack)
        argv = ["--api-url", stack.api_url, "--ws-url", stack.ws_url, "simulate", "--users", str(args.users)]
        argv += ["--capacity", str(args.capacity), "--transport", args.transport, "--no-progress", "--out", out]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", GENERATOR, *argv], capture_output=True, text=True, check=False, cwd=ROOT
        )
        elapsed = time.monotonic() - started
        after = cpu_by_part(stack)
        if done.returncode != 0:
            raise SystemExit(
                f"rooms simulate failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        generator = float(done.stderr.rsplit("GENERATOR_CPU ", 1)[1].split()[0])
        summary = json.loads((Path(out) / "summary.json").read_text())
    requests = int(summary["requests"]["total"])
    messages = int(summary["socket"]["sent"]) + int(summary["socket"]["received"]) if summary.get("socket") else 0
    stack_cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    total_stack = sum(stack_cpu.values())
    cores = os.cpu_count() or 1
    calls = requests + messages
    return {
        "users": args.users,
        "capacity": args.capacity,
        "transport": args.transport,
        "elapsed_seconds": round(elapsed, 1),
        "http_requests": requests,
        "socket_messages": messages,
        "stack_cpu_seconds": {name: round(value, 2) for name, value in stack_cpu.items()},
        "stack_cpu_ms_per_call": round(1000 * total_stack / calls, 2),
        "stack_cpu_ms_per_call_by_part": {name: round(1000 * value / calls, 2) for name, value in stack_cpu.items()},
        "generator_cpu_seconds": round(generator, 2),
        "generator_cpu_ms_per_call": round(1000 * generator / calls, 2),
        "machine_cores": cores,
        "machine_busy_share": round((total_stack + generator) / (elapsed * cores), 3),
        "queued_to_seated_p99_ms": summary["latency"].get("queued", {}).get("p99_ms"),
        "sockets_that_failed_to_open": summary.get("socket", {}).get("failed_opens"),
        "ok": summary["ok"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--transport", choices=["polling", "socket"], default="socket")
    parser.add_argument("--instances", type=int, default=4, help="instances per function")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where rooms simulate writes its report")
    args = parser.parse_args(argv)
    document = run(args)
    for key, value in document.items():
        print(f"{key:<32} {value}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if document["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
