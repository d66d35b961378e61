"""What a streaming query holds in its state stores, read through Spark's own state readers.

``spark.read.format("state-metadata")`` lists a checkpoint's stateful operators (id, name, store,
partitions, the batches it has); ``format("statestore")`` reads one operator's key-value rows as
of a committed batch (``batchId``, by default the last), with ``operatorId`` and ``storeName``, or
``joinSide`` for a stream-stream join, whose four internal stores it reads as one side's rows.
Nothing here parses a state file. For a window aggregation the keys hold the windows: the oldest
and newest window held say how far back the state reaches. Spark evicts a window once the
watermark reaches its end (``window.end <= watermark``, in append and update modes), so after a
run the state holds the windows that end after the last watermark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ridestream.offset_log import CheckpointError, committed_batches, local_checkpoint

JOIN_OPERATOR = "symmetricHashJoin"
JOIN_SIDES = ("left", "right")
# Key fields that are a window's bounds (time windows; session windows).
WINDOW_FIELDS = ("window", "session_window")


@dataclass(frozen=True)
class StoreState:
    """One state store (one join side) of one operator, as of one batch."""

    operator_id: int
    operator: str
    store: str  # the store name, or the join side
    partitions: int
    rows: int
    keys_per_partition: tuple[int, ...]
    held: str | None  # what the oldest/newest describe: 'window', or a value's time field
    oldest: Any = None
    newest: Any = None


@dataclass(frozen=True)
class QueryState:
    """A query checkpoint's stateful operators as of its last committed batch."""

    checkpoint: Path
    batch_id: int
    watermark_ms: int
    stores: tuple[StoreState, ...]


def query_checkpoints(path: str | Path, depth: int = 3) -> list[Path]:
    """Return the query checkpoints at or under ``path`` (a query's, a job's, or a profile's)."""
    root = Path(str(path).removeprefix("file:"))
    if not root.exists():
        raise CheckpointError(f"{root}: no such checkpoint directory")
    if (root / "offsets").is_dir() and (root / "metadata").is_file():
        return [root]
    found: list[Path] = []
    if depth > 0 and root.is_dir():
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            found += query_checkpoints(child, depth - 1)
    return found


def _time_range(frame: DataFrame, column: str) -> tuple[Any, Any]:
    row = frame.agg(F.min(column).alias("oldest"), F.max(column).alias("newest")).first()
    return row["oldest"], row["newest"]


def _held(frame: DataFrame) -> tuple[str | None, Any, Any]:
    """Return what bounds the rows in event time and its oldest/newest value, if anything does."""
    # A time window is in the key; a session window in the value (the key is group + start).
    for part in ("key", "value"):
        struct = frame.schema[part].dataType
        for name in WINDOW_FIELDS:
            if isinstance(struct, T.StructType) and name in struct.fieldNames():
                return "window", *_time_range(frame, f"{part}.{name}")
    value = frame.schema["value"].dataType
    if isinstance(value, T.StructType):
        for item in value.fields:
            if isinstance(item.dataType, T.TimestampType | T.TimestampNTZType):
                return item.name, *_time_range(frame, f"value.{item.name}")
    return None, None, None


def _store_state(
    frame: DataFrame, operator_id: int, operator: str, store: str, partitions: int
) -> StoreState:
    counts = {
        row["partition_id"]: (row["rows"], row["keys"])
        for row in frame.groupBy("partition_id")
        .agg(F.count(F.lit(1)).alias("rows"), F.count_distinct("key").alias("keys"))
        .collect()
    }
    held, oldest, newest = _held(frame) if counts else (None, None, None)
    return StoreState(
        operator_id,
        operator,
        store,
        partitions,
        sum(rows for rows, _ in counts.values()),
        tuple(counts.get(p, (0, 0))[1] for p in range(partitions)),
        held,
        oldest,
        newest,
    )


def query_state(
    spark: SparkSession, checkpoint: str | Path, batch_id: int | None = None
) -> QueryState:
    """Return what each stateful operator of a query checkpoint holds (at ``batch_id``, or last)."""
    path = local_checkpoint(checkpoint)
    batches = committed_batches(path)
    if not batches:
        raise CheckpointError(f"{path}: no committed batch, so no state to read yet")
    chosen = (
        batches[-1]
        if batch_id is None
        else next((b for b in batches if b.batch_id == batch_id), None)
    )
    if chosen is None:
        raise CheckpointError(
            f"{path}: batch {batch_id} is not committed or no longer kept (batches "
            f"{batches[0].batch_id}-{batches[-1].batch_id} are)"
        )
    location = str(path.resolve())
    # The state reader loads each store through the driver's state store coordinator, which a
    # session registers only once it has a streaming query manager: a session that never ran
    # a query (``rides state``'s own) fails with "Cannot find endpoint: StateStoreCoordinator".
    spark.streams.active  # noqa: B018 - instantiates the manager, and with it the coordinator
    operators = spark.read.format("state-metadata").load(location).collect()
    if not operators:
        raise CheckpointError(f"{path}: the query has no stateful operator (nothing held in state)")
    stores = []
    for operator in sorted(operators, key=lambda r: (r["operatorId"], r["stateStoreName"])):
        reader = (
            spark.read.format("statestore")
            .option("batchId", chosen.batch_id)
            .option("operatorId", operator["operatorId"])
        )
        if operator["operatorName"] == JOIN_OPERATOR:
            # The join's four stores (keyToNumValues, keyWithIndexToValue per side) read as the
            # rows of each side: once per side, not once per store.
            if any(s.operator_id == operator["operatorId"] for s in stores):
                continue
            for side in JOIN_SIDES:
                frame = reader.option("joinSide", side).load(location)
                stores.append(
                    _store_state(
                        frame,
                        operator["operatorId"],
                        operator["operatorName"],
                        side,
                        operator["numPartitions"],
                    )
                )
            continue
        frame = reader.option("storeName", operator["stateStoreName"]).load(location)
        stores.append(
            _store_state(
                frame,
                operator["operatorId"],
                operator["operatorName"],
                operator["stateStoreName"],
                operator["numPartitions"],
            )
        )
    return QueryState(path, chosen.batch_id, chosen.watermark_ms, tuple(stores))
