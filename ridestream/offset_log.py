"""What a query's checkpoint says it read: the committed batches of its offset log.

Spark writes ``offsets/<batch id>`` before a batch runs (a version line, the batch's metadata
with ``batchWatermarkMs``, then one line per source: the offsets the batch reads up to) and
``commits/<batch id>`` once its output is written. ``sources/<n>/0`` holds where source ``n``
started (Kafka: the offsets the first batch read from). These are Spark's documented, versioned
log formats (``OffsetSeqLog``, ``KafkaSourceInitialOffsetWriter``); there is no public reader of
them in PySpark, so they are read here, and a version other than ``v1`` is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ridestream.errors import UserError

_VERSION = "v1"


class CheckpointError(UserError):
    """A checkpoint is missing, is not a query's checkpoint, or cannot answer the question."""


@dataclass(frozen=True)
class CommittedBatch:
    """One committed micro-batch: its id, the watermark it ran with, each source's end offset."""

    batch_id: int
    watermark_ms: int
    end_offsets: tuple[str | None, ...]  # per source, the JSON Spark wrote (None: no offset)

    @property
    def watermark(self) -> datetime:
        """Return the batch's watermark (what closed windows in it) as a naive UTC datetime."""
        return datetime.fromtimestamp(self.watermark_ms / 1000, UTC).replace(tzinfo=None)


def local_checkpoint(checkpoint: str | Path) -> Path:
    """Return ``checkpoint`` as a local query checkpoint, or raise :class:`CheckpointError`."""
    text = str(checkpoint)
    if "://" in text and not text.startswith("file:"):
        raise CheckpointError(f"{text}: only a local checkpoint can be read here")
    path = Path(text.removeprefix("file:"))
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such checkpoint (give the directory of a query's checkpoint, or the "
            "job's flags as it ran)"
        )
    if not (path / "offsets").is_dir() or not (path / "metadata").is_file():
        raise CheckpointError(
            f"{path} is not a streaming query's checkpoint (no metadata file and offsets "
            "directory in it)"
        )
    return path


def _batch_ids(directory: Path) -> set[int]:
    if not directory.is_dir():
        return set()
    return {int(p.name) for p in directory.iterdir() if p.name.isdigit()}


def committed_batches(checkpoint: str | Path) -> list[CommittedBatch]:
    """Return the committed batches whose offsets the checkpoint still holds, oldest first."""
    path = local_checkpoint(checkpoint)
    batches = []
    for batch_id in sorted(_batch_ids(path / "offsets") & _batch_ids(path / "commits")):
        lines = (path / "offsets" / str(batch_id)).read_text().splitlines()
        if not lines or lines[0] != _VERSION:
            raise CheckpointError(
                f"{path}/offsets/{batch_id}: offset log version {lines[0] if lines else '?'!r}, "
                f"this ridestream reads {_VERSION} (Spark 4.2's)"
            )
        metadata = json.loads(lines[1])
        sources = tuple(None if line == "-" else line for line in lines[2:])
        batches.append(CommittedBatch(batch_id, int(metadata.get("batchWatermarkMs", 0)), sources))
    return batches


def initial_offsets(checkpoint: str | Path, source: int = 0) -> dict | None:
    """Return where a Kafka source started ({topic: {partition: offset}}), if recorded."""
    path = local_checkpoint(checkpoint) / "sources" / str(source) / "0"
    if not path.is_file():
        return None
    # A zero byte (kept for Spark 2.1's readers), the version line, the offsets' JSON.
    lines = path.read_bytes().lstrip(b"\x00").decode().splitlines()
    if not lines or lines[0] != _VERSION:
        raise CheckpointError(f"{path}: unknown initial offsets format")
    return json.loads(lines[1])
