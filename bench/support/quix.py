"""Run the Quix Streams baseline (``quix_app.py``) in a virtualenv of its own.

Quix Streams is a baseline, not a dependency: it is installed, pinned, into
``$RIDESTREAM_HOME/bench/quixstreams-<version>`` the first time a benchmark needs it (about 15 s
and 130 MB from PyPI), never into the project's ``.venv``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from ridestream.paths import ridestream_home

QUIXSTREAMS_VERSION = "3.28.1"
APP = Path(__file__).with_name("quix_app.py")


@dataclass(frozen=True)
class QuixRun:
    """What the Quix app reported: messages processed, seconds first to last, windows emitted."""

    messages: int
    seconds: float
    windows: int
    rides_in_windows: int


def quix_python() -> Path:
    """Return the interpreter of the Quix Streams virtualenv, creating it on first use."""
    home = ridestream_home() / "bench" / f"quixstreams-{QUIXSTREAMS_VERSION}"
    python = home / "bin" / "python"
    stamp = home / ".installed"
    if stamp.exists():
        return python
    print(
        f"  installing quixstreams=={QUIXSTREAMS_VERSION} into {home} (first use, ~15 s)...",
        file=sys.stderr,
        flush=True,
    )
    venv.create(home, with_pip=True, clear=True)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"quixstreams=={QUIXSTREAMS_VERSION}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"pip could not install quixstreams=={QUIXSTREAMS_VERSION} into {home}; check the "
            f"network or skip this measurement (--only without 4):\n{result.stderr[-2000:]}"
        )
    stamp.write_text(QUIXSTREAMS_VERSION + "\n")
    return python


def run_quix(bootstrap_servers: str, topic: str, count: int, timeout_s: float) -> QuixRun:
    """Run the Quix app over the whole of ``topic`` (``count`` messages) and return its report."""
    result = subprocess.run(
        [str(quix_python()), str(APP), "--broker", bootstrap_servers, "--topic", topic,
         "--count", str(count)],
        capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"the Quix app failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    report = QuixRun(**json.loads(lines[-1]))
    if report.messages != count:
        raise RuntimeError(f"the Quix app processed {report.messages:,} of {count:,} messages")
    return report
