"""The benchmarks still run (on a tiny input); their numbers are not asserted here."""

import subprocess
import sys

import pytest

from ridestream.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_the_producer_benchmark_runs_and_prints_its_ratio():
    result = subprocess.run(
        [sys.executable, "-m", "bench.produce", "--records", "3000", "--rounds", "1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ratio rides produce / ProducerPerformance:" in result.stdout
    assert "machine:" in result.stdout
