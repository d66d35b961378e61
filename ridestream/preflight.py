"""Checks a job makes before it starts a JVM: can it write where it must, does its checkpoint fit.

Each failure is a :class:`~ridestream.config.ConfigError` whose message names the fix, so the
user sees one line and exit code 2 instead of a Spark stack trace minutes later.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ridestream.errors import ConfigError

FINGERPRINT_FILE = "ridestream-query.json"


def check_writable(path: Path | str, what: str, flag: str) -> None:
    """Raise ConfigError unless ``path`` (a directory, created if missing) can be written."""
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        return  # remote storage (s3a://, abfss://, hdfs://): Spark's credentials decide
    directory = Path(text.removeprefix("file://"))
    probe = directory / f".ridestream-probe-{uuid.uuid4().hex}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"cannot write the {what} at {directory} ({reason}): choose a writable {flag}"
        ) from None


def check_writable_file(path: Path, what: str, flag: str) -> None:
    """Raise ConfigError unless the file at ``path`` can be appended to (created if missing)."""
    path = Path(path)
    check_writable(path.parent, f"directory of the {what}", flag)
    try:
        with path.open("a"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"cannot write the {what} at {path} ({reason}): choose a writable {flag}"
        ) from None


def check_checkpoint(
    directory: Path | str, query: str, shape: Mapping[str, Any], record: bool = True
) -> None:
    """Refuse a checkpoint written by a query of another shape; record the shape on first use.

    Spark detects some changes itself (state schema) but silently accepts others, such as a new
    window size over old state. ``shape`` holds what decides the query's state: windows, keys,
    watermark, source topic, shuffle partitions. With ``record`` False a new checkpoint is left
    as it is (a check before the job is known to start: a run that fails before its queries
    start must not claim the checkpoint for its shape).
    """
    text = str(directory)
    if "://" in text and not text.startswith("file://"):
        return
    location = Path(text.removeprefix("file://")) / query
    recorded = location / FINGERPRINT_FILE
    wanted = {key: shape[key] for key in sorted(shape)}
    if recorded.exists():
        try:
            previous = json.loads(recorded.read_text())
        except ValueError:
            previous = None
        if previous != wanted:
            changed = sorted(
                key
                for key in set(wanted) | set(previous or {})
                if (previous or {}).get(key) != wanted.get(key)
            )
            described = ", ".join(
                f"{key} {(previous or {}).get(key)!r} -> {wanted.get(key)!r}" for key in changed
            )
            raise ConfigError(
                f"the checkpoint {location} belongs to a query of another shape ({described}): "
                "use a new --checkpoint-dir, or delete the old one to start over"
            )
        return
    if not record or (location.exists() and any(location.iterdir())):
        return  # not yet, or a checkpoint from before fingerprints: Spark's own checks apply
    location.mkdir(parents=True, exist_ok=True)
    staging = recorded.with_suffix(".tmp")
    staging.write_text(json.dumps(wanted, indent=2, default=str) + "\n")
    os.replace(staging, recorded)
