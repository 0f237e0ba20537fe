"""``python -m bench`` in its smallest configuration: one CPU figure and one count of
round trips, each line in the issue's format, the count a positive whole number, and
nothing it started left running (the session's own check)."""

from __future__ import annotations

import os
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


@pytest.mark.skipif(os.geteuid() != 0, reason="py-spy reads another process's memory: root only")
def test_the_profile_shows_where_a_loaded_process_spends_its_time():
    done = subprocess.run(
        [sys.executable, "-m", "bench.profile", "--load", "healthz", "--seconds", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    head, *rows = done.stdout.strip().splitlines()
    requests = re.fullmatch(r"profile healthz: (\d+) requests in 3 s, .+, (\d+) samples", head)
    assert requests and int(requests[1]) > 0 and int(requests[2]) > 0, head
    shares = {}
    for row in rows:
        share, part = re.fullmatch(r" *(\d+\.\d) %  (.+)", row).groups()  # type: ignore[union-attr]
        shares[part] = float(share)
    assert sum(shares.values()) == pytest.approx(100, abs=1)
    # a health check is an HTTP request and a ping: both libraries show
    assert shares.get("Tornado", 0) > 0 and shares.get("PyMongo", 0) > 0, shares
