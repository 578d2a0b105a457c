"""A plain-text progress bar on stderr: redrawn in place on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Progress:
    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    enabled: bool = True
    width: int = 30
    log_every: float = 2.0
    seated: int = 0
    queued: int = 0
    failed: int = 0
    requests: int = 0
    started: float = field(default_factory=time.monotonic)
    _last_line: float = 0.0

    @property
    def done(self) -> int:
        return self.seated + self.failed

    def line(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.started)
        filled = int(self.width * self.done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        return (
            f"[{bar}] {self.done}/{self.total} done | seated {self.seated} queued {self.queued} "
            f"failed {self.failed} | {self.requests / elapsed:.0f} req/s | {elapsed:.1f} s"
        )

    def draw(self, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.stream.isatty():
            self.stream.write("\r" + self.line() + ("\n" if final else ""))
            self.stream.flush()
            return
        now = time.monotonic()
        if final or now - self._last_line >= self.log_every:
            self._last_line = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()
