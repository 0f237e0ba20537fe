"""``python -m bench`` in its smallest configuration: one CPU figure and one count of
round trips, each line in the issue's format, the count a positive whole number, and
nothing it started left running (the session's own check)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from harness.settings import ROOT

pytestmark = pytest.mark.integration

LINE = re.compile(
    r"^bench (?P<name>[a-z0-9_]+): (?P<taskhub>.+) vs (?P<baseline>.+) = "
    r"(?P<value>\d+(?:\.\d+)?)(?: (?:ms|%))? \(target <= \d+(?:\.\d+)?(?: (?:ms|%))?\)$"
)


def test_the_smallest_run_prints_each_figure_in_the_issues_format():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", "get_tasks_cpu,post_task_round_trips"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("bench ")]
    figures = {}
    for line in lines:
        match = LINE.match(line)
        assert match, f"not in the issue's format: {line!r}"
        figures[match["name"]] = match
    assert list(figures) == ["get_tasks_cpu", "post_task_round_trips"], done.stdout
    assert done.stdout.rstrip().endswith(lines[-1])  # the figures end the output

    cpu = figures["get_tasks_cpu"]
    taskhub_ms, baseline_ms = (
        float(cpu[side].removesuffix(" ms")) for side in ("taskhub", "baseline")
    )
    assert taskhub_ms > 0 and baseline_ms > 0
    assert float(cpu["value"]) == pytest.approx(taskhub_ms / baseline_ms, abs=0.01)

    trips = figures["post_task_round_trips"]
    counts = [trips[side].removesuffix(" round trips") for side in ("taskhub", "baseline")]
    for count in [*counts, trips["value"]]:
        assert count.isdigit() and int(count) > 0, trips.group(0)
    assert trips["value"] == counts[0]
