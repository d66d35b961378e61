"""The registry's command line: ``python -m ridestream.registry``."""

import subprocess
import sys


def test_help_names_the_options_and_exits_zero():
    result = subprocess.run(
        [sys.executable, "-m", "ridestream.registry", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for option in ("--port", "--bootstrap-servers", "--topic"):
        assert option in result.stdout


def test_missing_options_are_refused_by_name():
    result = subprocess.run(
        [sys.executable, "-m", "ridestream.registry", "--port", "8081"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "the following arguments are required: --bootstrap-servers" in result.stderr
    assert "Traceback" not in result.stderr
