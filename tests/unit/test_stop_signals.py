"""How the driver reads stop signals: once means "after this batch", a second direct one "now".

Each case runs in a child Python (``os._exit`` would end the test process) that installs the
job's handlers, holds the signals blocked while they are sent, so that they are pending together
as when a whole process group is signalled, then lets them in.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from ridestream.errors import EXIT_STOPPED

CHILD = """
import os, signal, sys
from ridestream.runner import stop_on_signals
requested = stop_on_signals("job")
signals = [getattr(signal, name) for name in sys.argv[1:]]
signal.pthread_sigmask(signal.SIG_BLOCK, signals)
for number in signals:
    os.kill(os.getpid(), number)
signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
print("requested" if requested.is_set() else "not requested", flush=True)
"""


def run_child(*signals: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, *signals], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("direct", ["SIGTERM", "SIGINT"])
def test_a_group_signal_and_the_wrappers_forward_together_ask_for_one_clean_stop(direct):
    child = run_child("SIGUSR1", direct)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "requested"
    assert child.stderr.count("stopping after the current batch") == 1, child.stderr
    assert "stopping now" not in child.stderr


def test_a_second_signal_to_the_driver_stops_it_now():
    child = run_child("SIGINT", "SIGTERM")
    assert child.returncode == EXIT_STOPPED, child.stderr
    assert "stopping after the current batch" in child.stderr
    assert "job: stopping now" in child.stderr
    assert "requested" not in child.stdout
