"""`rooms-local token`, and `rooms-local up` started as a real process, then stopped with SIGTERM:
every process it started (java, moto, function instances) must be gone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rooms_local.cli import main
from rooms_local.tokens import verify_token


def test_token_prints_a_token_the_gateway_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "user-42", "--ttl", "60"]) == 0
    claims = verify_token(capsys.readouterr().out.strip())
    assert claims["sub"] == "user-42"
    assert claims["token_use"] == "access"
    assert 55 <= claims["exp"] - claims["iat"] <= 60


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.stack
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists child processes through /proc")
def test_up_serves_prints_what_to_export_and_stops_everything_on_sigterm(
    needs_java: None, fake_template: Path, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "rooms_local", "up", "--port", "0", "--stack", "cli"]
    command += ["--template", str(fake_template), "--param", "Stage=test"]
    env = {**os.environ, "RECORDS_FILE": str(tmp_path / "records")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120  # a safety net: the loop ends at the banner
        while not any("Ctrl-C to stop" in line for line in lines) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        url = re.search(r"Rooms local API: (http://127\.0\.0\.1:\d+)", output)
        assert url, output
        assert "export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:" in output
        assert f"export ROOMS_API_URL={url.group(1)}" in output  # what `rooms` and the SDK read
        assert "curl -i -X GET" in output and "Authorization: Bearer " in output
        assert httpx.get(f"{url.group(1)}/items/1").status_code == 401
        assert httpx.get(f"{url.group(1)}/health").status_code == 200  # starts an ApiFunction instance
        children = _children(process.pid)
        assert len(children) >= 3  # java, moto and that instance
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0
    deadline = time.monotonic() + 60  # a safety net: the loop ends when the processes are gone
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
