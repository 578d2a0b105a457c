"""The celebrity-storm simulation behind ``rooms simulate``."""

from rooms_client.simulate.chart import render_chart, render_html, write_outputs
from rooms_client.simulate.config import ARRIVALS, TRANSPORTS, StormConfig
from rooms_client.simulate.invariants import InvariantResult, check_invariants
from rooms_client.simulate.report import compare, format_comparison, format_report, summarize
from rooms_client.simulate.results import RoomFinal, Sample, StormResult, UserResult
from rooms_client.simulate.runner import run_storm

__all__ = [
    "ARRIVALS",
    "TRANSPORTS",
    "InvariantResult",
    "RoomFinal",
    "Sample",
    "StormConfig",
    "StormResult",
    "UserResult",
    "check_invariants",
    "compare",
    "format_comparison",
    "format_report",
    "render_chart",
    "render_html",
    "run_storm",
    "summarize",
    "write_outputs",
]
