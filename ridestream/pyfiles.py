"""Zip the ridestream package for ``spark-submit --py-files``, so executors import the same code.

``python -m ridestream.pyfiles`` writes ``$RIDESTREAM_HOME/dist/ridestream.zip`` and prints its
path; ``spark-submit.sh`` passes it with every job. On a cluster (standalone, YARN, Kubernetes)
that is how the job's own modules reach the executors' Python workers; locally it is harmless.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from ridestream.paths import PROJECT_ROOT, ridestream_home


def build_zip(target: Path | None = None) -> Path:
    """Write the zip of the ``ridestream`` package (sources only) and return its path."""
    target = target or ridestream_home() / "dist" / "ridestream.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".tmp")
    package = PROJECT_ROOT / "ridestream"
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(package.rglob("*.py")):
            archive.write(source, source.relative_to(PROJECT_ROOT))
    staging.replace(target)  # atomic: a running job never sees half a zip
    return target


def main() -> int:
    """Build the zip and print its path."""
    print(build_zip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
