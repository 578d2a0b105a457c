"""Reading the JSON lines a test function appends while the stack runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def written_records(path: Path) -> list[Any]:
    """Every complete line so far: a writer's buffered `write` of a long line can land in pieces, so a
    reader polling mid-write may see a line without its newline yet; it is read on the next poll."""
    if not path.exists():
        return []
    complete, _, _ = path.read_text().rpartition("\n")
    return [json.loads(line) for line in complete.splitlines()]
