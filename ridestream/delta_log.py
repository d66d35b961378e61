"""A local Delta table read from its transaction log in Python: no JVM, for commands over in seconds.

``rides show`` and ``rides balance`` only need a table's current rows, or what each commit added
and removed. Starting Spark for that costs 15-40 s; replaying the log (the last checkpoint, then
the JSON commits after it) and reading the Parquet files with pyarrow costs well under one.

Only the plain case is read here: a local directory, reader protocol 1 (no deletion vectors, no
column mapping), no partition columns. Anything else raises :class:`UnsupportedTable`, and the
caller reads the table with Spark instead, which knows every feature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

LOG = "_delta_log"


class UnsupportedTable(Exception):
    """The table uses something this reader does not: read it with Spark."""


@dataclass
class Commit:
    """One commit of the log: what it added and removed, and its streaming batch if any."""

    version: int
    operation: str | None = None
    txn_version: int | None = None  # the ``txn`` action's version: the batch id of a MERGE
    added: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def _check(action: str, body: dict[str, Any]) -> None:
    if action == "protocol" and body.get("minReaderVersion", 1) > 1:
        raise UnsupportedTable(f"reader protocol {body['minReaderVersion']}")
    if action == "metaData":
        if body.get("partitionColumns"):
            raise UnsupportedTable("partition columns")
        configuration = body.get("configuration") or {}
        if isinstance(configuration, list):  # a map, as pyarrow reads it from a checkpoint
            configuration = dict(configuration)
        mode = configuration.get("delta.columnMapping.mode", "none")
        if mode != "none":
            raise UnsupportedTable(f"column mapping {mode}")
    if action in ("add", "remove") and body.get("deletionVector"):
        raise UnsupportedTable("deletion vectors")


def _file(table: Path, body: dict[str, Any]) -> Path:
    path = unquote(body["path"])
    if "://" in path:
        raise UnsupportedTable("a file outside the table directory")
    return table / path


def _actions(commit_file: Path):  # noqa: ANN202 - an iterator of (action, body)
    """Yield a JSON commit's actions, each checked for what this reader cannot read."""
    for line in commit_file.read_text().splitlines():
        if line.strip():
            ((action, body),) = json.loads(line).items()
            _check(action, body)
            yield action, body


def _commit_files(table: Path) -> dict[int, Path]:
    return {int(path.stem): path for path in (table / LOG).glob("*.json") if path.stem.isdigit()}


def commits(table: Path) -> list[Commit]:
    """Return every commit of the table from version 0, in order (from the JSON files).

    Raises UnsupportedTable when a JSON commit is gone (log clean-up after a checkpoint).
    """
    files = _commit_files(table)
    if not files or sorted(files) != list(range(max(files) + 1)):
        raise UnsupportedTable("a commit file is gone (log clean-up)")
    result = []
    for version in sorted(files):
        commit = Commit(version)
        for action, body in _actions(files[version]):
            if action == "add":
                commit.added.append(_file(table, body))
            elif action == "remove":
                commit.removed.append(_file(table, body))
            elif action == "txn":
                commit.txn_version = body["version"]
            elif action == "commitInfo":
                commit.operation = body.get("operation")
        result.append(commit)
    return result


def _checkpoint(table: Path) -> tuple[int, set[Path]]:
    """Return the last checkpoint's version and live files (-1 and none without a checkpoint)."""
    pointer = table / LOG / "_last_checkpoint"
    if not pointer.exists():
        return -1, set()
    import pyarrow.parquet as pq

    version = json.loads(pointer.read_text())["version"]
    parts = sorted((table / LOG).glob(f"{version:020d}.checkpoint*.parquet"))
    if not parts:
        raise UnsupportedTable("the checkpoint named by _last_checkpoint is gone")
    live: set[Path] = set()
    for part in parts:
        names = pq.read_schema(part).names
        if "sidecar" in names or "checkpointMetadata" in names:
            raise UnsupportedTable("a v2 checkpoint")
        actions = [name for name in ("add", "protocol", "metaData") if name in names]
        for row in pq.read_table(part, columns=actions).to_pylist():
            for action in actions:
                if row.get(action):
                    _check(action, row[action])
            if row.get("add"):
                live.add(_file(table, row["add"]))
    return version, live


def live_files(table: Path | str) -> list[Path]:
    """Return the data files of the table's current version.

    Raises UnsupportedTable (read it with Spark) or FileNotFoundError (no Delta table there).
    """
    table = Path(table)
    if not (table / LOG).is_dir():
        raise FileNotFoundError(f"{table} has no {LOG}")
    version, live = _checkpoint(table)
    files = _commit_files(table)
    for number in sorted(v for v in files if v > version):
        for action, body in _actions(files[number]):
            if action == "add":
                live.add(_file(table, body))
            elif action == "remove":
                live.discard(_file(table, body))
    return sorted(live)


def read_table(table: Path | str, columns: list[str] | None = None):  # noqa: ANN201 - pa.Table
    """Return the table's current rows as one pyarrow Table (see :func:`live_files`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = live_files(table)
    if not files:
        raise UnsupportedTable("no data file yet (the schema is in the log only)")
    return pa.concat_tables(
        [pq.read_table(path, columns=columns) for path in files], promote_options="default"
    )
