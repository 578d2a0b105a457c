"""Runs moto's ThreadedMotoServer (SQS, EventBridge Scheduler and the rest) in a child process.

A child process, not a thread of ours: moto's backends are process-global, so a test using
`mock_aws` in the same process would otherwise reset or intercept the local stack's queues.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capacity.faults import FaultConfig


class MotoServerError(RuntimeError):
    """The moto server did not start."""


def _serve(conn: Connection, host: str, port: int, faults: FaultConfig | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    from moto.server import ThreadedMotoServer

    from .moto_sqs_lock import install

    install()
    if faults is not None:
        from .capacity.faults import install_sqs_faults

        install_sqs_faults(faults)  # SQS send failures at the configured rate

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
        conn.send(server.get_host_and_port())
    except Exception as error:
        conn.send(repr(error))
        return
    with contextlib.suppress(EOFError):
        conn.recv()  # returns when the parent dies (EOF); stop() terminates us before that


class MotoServer:
    """moto on 127.0.0.1; `endpoint` is its URL once started. Port 0 picks a free one; `faults` makes its
    SQS sends fail at `faults.sqs_send_failure_rate`."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", faults: FaultConfig | None = None):
        self.host = host
        self.port = port
        self.endpoint = ""
        context: Any = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child_conn, host, port, faults), name="rooms-local-moto", daemon=True
        )
        self._child_conn = child_conn

    def start(self) -> None:
        """Launch the child and return at once; `wait_ready()` blocks until it listens."""
        self._process.start()
        self._child_conn.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not self._conn.poll(timeout):
            self.stop()
            raise MotoServerError("moto server did not start in time")
        try:
            answer = self._conn.recv()
        except EOFError:
            self._process.join(1)
            raise MotoServerError(
                f"moto server exited (code {self._process.exitcode}); if the main module starts the stack,"
                " it must do so under `if __name__ == '__main__':` (multiprocessing spawn re-imports it)"
            ) from None
        if isinstance(answer, str):
            raise MotoServerError(f"moto server failed: {answer}")
        self.host, self.port = answer[0], int(answer[1])
        self.endpoint = f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process.is_alive() else None

    def stop(self, timeout: float = 5.0) -> None:
        # Its state is in memory only, so there is nothing to drain: terminate, then kill.
        if self._process.pid is None:
            return
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout)
        self._conn.close()

    def __enter__(self) -> MotoServer:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
