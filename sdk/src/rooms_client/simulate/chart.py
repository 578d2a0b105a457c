"""The storm's files: occupancy over time as a PNG, a self-contained HTML page, the summary as JSON."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from rooms_client.simulate.report import format_report
from rooms_client.simulate.results import StormResult

MAX_LEGEND_ROOMS = 12


def occupancy_series(result: StormResult) -> dict[str, tuple[list[float], list[int]]]:
    """Room id -> (times, occupancies); a room is 0 in the samples taken before it existed."""
    order = {room.room_id: room.index for room in result.rooms}
    for sample in result.samples:
        for room_id in sample.occupancy:
            order.setdefault(room_id, len(order))
    times = [sample.at for sample in result.samples]
    return {
        room_id: (times, [sample.occupancy.get(room_id, 0) for sample in result.samples])
        for room_id in sorted(order, key=lambda room_id: order[room_id])
    }


def render_chart(result: StormResult) -> bytes:
    """The PNG: one step line per room, and the capacity as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 5), dpi=100)
    try:
        series = occupancy_series(result)
        for room_id, (times, values) in series.items():
            # a legend of a hundred rooms hides the chart: name the rooms only while they are few
            label = room_id if len(series) <= MAX_LEGEND_ROOMS else None
            axes.step(times, values, where="post", label=label)
        axes.axhline(result.config.capacity, linestyle="--", color="grey", linewidth=1, label="capacity")
        axes.set_xlabel("seconds since the storm started")
        axes.set_ylabel("occupancy")
        axes.set_title(f"{result.config.users} users into rooms of {result.config.capacity}")
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        axes.grid(alpha=0.3)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(summary: dict[str, Any], png: bytes) -> str:
    columns = ["room_id", "index", "admitted", "participants", "capacity", "status"]
    rooms = _table(
        ["room", "index", "admitted", "final participants", "capacity", "status"],
        [[room[column] for column in columns] for room in summary["rooms"]],
    )
    latency = _table(
        ["latency (ms)", "n", "p50", "p95", "p99", "max"],
        [
            [name, s["count"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]]
            for name, s in summary["latency"].items()
        ],
    )
    checks = _table(
        ["invariant", "status", "what", "detail"],
        [[c["name"], c["status"].upper(), c["title"], c["detail"]] for c in summary["invariants"]],
    )
    verdict = "All invariants hold." if summary["ok"] else "An invariant was violated."
    image = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rooms storm {html.escape(summary["family_id"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>Rooms storm: {html.escape(verdict)}</h1>
<img alt="occupancy of each room over time" src="data:image/png;base64,{image}">
<h2>Rooms</h2>{rooms}
<h2>Latency</h2>{latency}
<h2>Invariants</h2>{checks}
<h2>Report</h2><pre>{html.escape(format_report(summary))}</pre>
</body></html>
"""


def write_outputs(result: StormResult, summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """occupancy.png, report.html and summary.json in ``out_dir`` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = render_chart(result)
    paths = [out_dir / "occupancy.png", out_dir / "report.html", out_dir / "summary.json"]
    paths[0].write_bytes(png)
    paths[1].write_text(render_html(summary, png), encoding="utf-8")
    paths[2].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return paths
