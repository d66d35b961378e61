"""Check a job's command line before spark-submit starts a JVM (``spark-submit.sh`` runs it).

    python -m ridestream.precheck jobs/ride_windows.py [flags]

Exits 0 when the job may start, and otherwise with the code and the one line the job itself
would give (:func:`ridestream.runner.check_before_start`): a refusal takes a second, not the
JVM's start. ``--help`` prints the job's help here. A file that is not one of the project's
jobs (``jobs/<name>.py`` for a module ``ridestream.jobs.<name>``) is not checked: exit 0.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ridestream.errors import run_main


def main(argv: list[str]) -> None:
    """Check ``argv`` (a job file, then its flags) and exit with the job's code for it."""
    if not argv:
        sys.exit("usage: python -m ridestream.precheck jobs/<name>.py [flags]")
    path, flags = Path(argv[0]), argv[1:]
    if path.parent.name != "jobs" or path.suffix != ".py":
        sys.exit(0)
    try:
        module = importlib.import_module(f"ridestream.jobs.{path.stem}")
    except ModuleNotFoundError:
        sys.exit(0)
    job = getattr(module, "JOB", None)
    if job is None:
        sys.exit(0)
    from ridestream import runner

    def check() -> int:
        runner.check_before_start(job, flags)
        return 0

    run_main(check, job.name)


if __name__ == "__main__":
    main(sys.argv[1:])
