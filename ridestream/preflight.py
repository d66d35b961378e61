"""Checks a job makes before it starts a JVM: can it write where it must, does its checkpoint fit.

Each failure is a :class:`~ridestream.config.ConfigError` whose message names the fix, so the
user sees one line and exit code 2 instead of a Spark stack trace minutes later.

A query's checkpoint keeps a fingerprint file (``ridestream-query.json``): the shape of the query
that made it, and an id that the query's output tables record (:func:`checkpoint_id`), so that a
table is never appended to by a second query, nor by the same query started over from a new
checkpoint. While a job runs, :class:`CheckpointLock` keeps a second run off its checkpoints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ridestream.errors import ConfigError, UserError

FINGERPRINT_FILE = "ridestream-query.json"
# The key of the fingerprint that identifies one checkpoint (not part of the query's shape).
ID_KEY = "checkpoint_id"
# Shape keys added after checkpoints were first fingerprinted: a fingerprint without one is
# completed on the next run, not refused (the key was simply not recorded then).
ADDED_LATER = frozenset({"sink"})


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


def _local(directory: Path | str) -> Path | None:
    """Return a local directory as a Path; None for remote storage (s3a://, hdfs://, ...)."""
    text = str(directory)
    if "://" in text and not text.startswith("file://"):
        return None
    return Path(text.removeprefix("file://"))


def _write_json(path: Path, values: Mapping[str, Any]) -> None:
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(values, indent=2, default=str) + "\n")
    os.replace(staging, path)


TOPICS_FILE = "ridestream-topics.json"


class TopicRecreated(UserError):
    """A topic the job reads was deleted and created again under its checkpoint."""

    def __init__(self, topics: list[str], since: str) -> None:
        super().__init__(
            f"topic {', '.join(topics)} was deleted and created again {since} (its id changed): "
            "the checkpoint's offsets belong to the old topic, and the job would skip the new "
            "topic's first records. Start over with a new --checkpoint-dir (and a new table for "
            "Delta output), or set source.fail_on_data_loss = false to go on from the old offsets"
        )


def recreated(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Return the topics whose id in ``current`` differs from the one ``recorded``."""
    return sorted(topic for topic, id_ in current.items() if recorded.get(topic, id_) != id_)


def check_topic_ids(
    directories: list[str], current: Mapping[str, str], go_on: bool = False
) -> list[str]:
    """Check the input topics' ids against those the job's checkpoints were made with.

    Each query's checkpoint keeps the ids of the topics it was made on (``ridestream-topics.json``,
    written on its first run). A topic whose id changed was deleted and created again: refused
    with :class:`TopicRecreated`, or, with ``go_on`` (``source.fail_on_data_loss = false``),
    recorded anew and returned. Remote checkpoints and topics without an id are not checked.
    """
    roots = [root for root in map(_local, directories) if root is not None]
    if not current:
        return []
    recorded = {}
    for root in roots:
        try:
            recorded[root] = json.loads((root / TOPICS_FILE).read_text())
        except (OSError, ValueError):
            recorded[root] = {}
    changed = sorted({topic for ids in recorded.values() for topic in recreated(ids, current)})
    if changed and not go_on:
        raise TopicRecreated(changed, "since this checkpoint was written")
    for root, ids in recorded.items():
        root.mkdir(parents=True, exist_ok=True)
        _write_json(root / TOPICS_FILE, {**ids, **current})
    return changed


def check_checkpoint(
    directory: Path | str, query: str, shape: Mapping[str, Any], record: bool = True
) -> None:
    """Refuse a checkpoint written by a query of another shape; record the shape on first use.

    Spark detects some changes itself (state schema) but silently accepts others, such as a new
    window size over old state. ``shape`` holds what decides the query's state: windows, keys,
    watermark, source topic, sink, shuffle partitions. With ``record`` False a new checkpoint is
    left as it is (a check before the job is known to start: a run that fails before its queries
    start must not claim the checkpoint for its shape).
    """
    root = _local(directory)
    if root is None:
        return
    location = root / query
    recorded = location / FINGERPRINT_FILE
    wanted = {key: shape[key] for key in sorted(shape)}
    if recorded.exists():
        try:
            previous = json.loads(recorded.read_text())
        except ValueError:
            previous = {}
        checkpoint = previous.pop(ID_KEY, None)
        recorded_keys = set(previous)
        for key in ADDED_LATER & wanted.keys() - recorded_keys:
            previous[key] = wanted[key]
        if previous != wanted:
            changed = sorted(
                key for key in set(wanted) | set(previous) if previous.get(key) != wanted.get(key)
            )
            described = ", ".join(
                f"{key} {previous.get(key)!r} -> {wanted.get(key)!r}" for key in changed
            )
            raise ConfigError(
                f"the checkpoint {location} belongs to a query of another shape ({described}): "
                "use a new --checkpoint-dir, or delete the old one to start over"
            )
        if record and (checkpoint is None or wanted.keys() - recorded_keys):
            _write_json(recorded, {**wanted, ID_KEY: checkpoint or uuid.uuid4().hex})
        return
    if not record or (location.exists() and any(location.iterdir())):
        return  # not yet, or a checkpoint from before fingerprints: Spark's own checks apply
    location.mkdir(parents=True, exist_ok=True)
    _write_json(recorded, {**wanted, ID_KEY: uuid.uuid4().hex})


def check_checkpoint_files(directory: Path | str, query: str) -> None:
    """Refuse a checkpoint whose latest offsets or commit entry cannot be read.

    A write cut short (a full disk, a copy interrupted) leaves a file Spark fails on only once
    the query runs, with a JSON parser's message that names no file. Each entry is a version
    line ("v1") then one JSON document (or "-", no offset) per line.
    """
    root = _local(directory)
    if root is None:
        return
    location = root / query
    for log in ("offsets", "commits"):
        entries = (
            sorted((int(name), name) for name in os.listdir(location / log) if name.isdigit())
            if (location / log).is_dir()
            else []
        )
        if not entries:
            continue
        path = location / log / entries[-1][1]
        problem = _unreadable_entry(path)
        if problem:
            raise ConfigError(
                f"the checkpoint {location} is damaged ({log}/{path.name}: {problem}): restore it "
                "from a copy, or start over with a new --checkpoint-dir (and a new table for "
                "Delta output)"
            )
    metadata = location / "metadata"
    if metadata.exists():
        try:
            json.loads(metadata.read_text().splitlines()[0])
        except (ValueError, IndexError):
            raise ConfigError(
                f"the checkpoint {location} is damaged (metadata cannot be read): restore it "
                "from a copy, or start over with a new --checkpoint-dir"
            ) from None


def _unreadable_entry(path: Path) -> str | None:
    """Return what is wrong with one entry of a checkpoint log, or None if it reads."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        return type(error).__name__
    if not lines or not lines[0].startswith("v"):
        return "no version line"
    if len(lines) < 2:
        return "cut short"
    for line in lines[1:]:
        if line.strip() == "-":
            continue
        try:
            json.loads(line)
        except ValueError:
            return "not JSON"
    return None


def checkpoint_id(directory: Path | str, query: str) -> str | None:
    """Return the id recorded with a query's checkpoint (None: remote, or not recorded)."""
    root = _local(directory)
    if root is None:
        return None
    try:
        return json.loads((root / query / FINGERPRINT_FILE).read_text()).get(ID_KEY)
    except (OSError, ValueError):
        return None


def has_history(directory: Path | str, query: str) -> bool:
    """Return True when a query's checkpoint has committed at least one batch."""
    root = _local(directory)
    if root is None:
        return True  # remote: assume so (the table check then trusts it)
    commits = root / query / "commits"
    return commits.is_dir() and any(name.isdigit() for name in os.listdir(commits))


class CheckpointBusy(UserError):
    """Another run of the job holds the checkpoint's lock."""


class CheckpointLock:
    """An exclusive lock on a job's checkpoints while it runs, so a second run is refused at start.

    The lock is ``flock`` on ``<checkpoint dir>/<job>.lock``, which also holds who took it (pid,
    host, since when). The kernel releases it when the holder's process ends, however it ends
    (kill -9 included): a lock file that still names a holder but is not locked was left by a run
    that did not end cleanly, and is taken over with a line saying so. It guards local and
    network file systems that support flock (NFSv4 does); on object stores (s3a://, abfss://)
    nothing is locked and Spark's own check of concurrent writers to a checkpoint remains.
    """

    def __init__(self, directory: Path | str, job: str) -> None:
        root = _local(directory)
        self.path = None if root is None else root / f"{job}.lock"
        self.handle = None
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`CheckpointBusy` naming its holder."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise self._busy(self.path) from None
        handle.seek(0)
        left = handle.read().strip()
        if left:
            try:
                self.took_over = json.loads(left)
            except ValueError:
                self.took_over = {}
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                }
            )
        )
        handle.flush()
        self.handle = handle

    def check(self) -> None:
        """Raise :class:`CheckpointBusy` if another run holds the lock; take and change nothing.

        A lock left by a run that did not stop cleanly stays as it is, for the run that takes
        it over (:meth:`acquire`) to say so.
        """
        if self.path is None or not self.path.exists():
            return
        with self.path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._busy(self.path) from None
            fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _busy(path: Path) -> CheckpointBusy:
        return CheckpointBusy(
            f"the checkpoint {path.parent} is in use by another run of this job "
            f"({describe_holder(_holder(path))}): stop that run first, or give this one its own "
            "--checkpoint-dir"
        )

    def release(self) -> None:
        """Empty the lock file and let it go (the next run then takes over nothing)."""
        if self.handle is None:
            return
        handle, self.handle = self.handle, None
        handle.seek(0)
        handle.truncate()
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(holder: Mapping[str, Any]) -> str:
    """Return 'pid N on HOST since TIME' for a lock's recorded holder."""
    if not holder:
        return "holder unknown"
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
        f"since {holder.get('since', '?')}"
    )
