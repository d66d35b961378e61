"""The code style is checked by the suite, so it cannot drift between reviews."""

import subprocess
import sys

from ridestream.paths import PROJECT_ROOT


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
