"""Where the project lives and where it keeps what it downloads and creates.

Everything ridestream downloads or writes at run time (connector jars, the Ivy cache, broker data,
checkpoints, Delta tables, logs) goes under one directory, ``RIDESTREAM_HOME``, which defaults to
``.ridestream/`` in the checkout and is git-ignored. Point it somewhere else to start from empty.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if not PROJECT_ROOT.is_dir():
    # Imported from the --py-files zip (spark-submit puts it first on the driver's path): the
    # schemas and profiles are still in the checkout, which bootstrap.sh exports.
    PROJECT_ROOT = Path(os.environ.get("RIDESTREAM_ROOT", Path.cwd()))
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
CONF_DIR = PROJECT_ROOT / "conf"


def ridestream_home() -> Path:
    """Return the directory for downloaded and generated files (``$RIDESTREAM_HOME``)."""
    home = os.environ.get("RIDESTREAM_HOME")
    return Path(home).expanduser().resolve() if home else PROJECT_ROOT / ".ridestream"


def java_options() -> list[str]:
    """Return the extra JVM options for every JVM ridestream starts (``$RIDESTREAM_JAVA_OPTIONS``).

    They go to the Spark driver (``spark-submit.sh`` and the session builder) and to the embedded
    Kafka brokers. Unset by default; ``test.sh`` sets JIT and GC options for short-lived JVMs.
    """
    return shlex.split(os.environ.get("RIDESTREAM_JAVA_OPTIONS", ""))


def display_path(path: Path | str) -> str:
    """Return ``path`` as a user would type it here: relative to the working directory if inside."""
    text = str(path)
    if "://" in text:
        return text
    try:
        return str(Path(text).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return text
