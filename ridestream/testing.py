"""Drive a streaming transformation micro-batch by micro-batch from Python, without Kafka.

Kafka Streams has ``TopologyTestDriver``; this is the same idea for Structured Streaming. A
:class:`StreamDriver` runs a real streaming query in the given session: its source is Spark's
own file source over a directory where each :meth:`StreamDriver.push` puts one Parquet file, read
one file per micro-batch, and its sink collects what each micro-batch emitted. After every push
you get the emitted rows, the watermark, the input rows that arrived behind the watermark, Spark's count of
rows the stateful operator dropped, and the number of rows held in state::

    from ridestream.config import WindowSettings
    from ridestream.testing import StreamDriver
    from ridestream.windows import ride_windows

    spec = WindowSettings(size="10 minutes", watermark="5 minutes")
    with StreamDriver(spark, lambda rides: ride_windows(rides, spec)) as driver:
        driver.push([ride("2024-01-01 10:01:00"), ride("2024-01-01 10:04:00")])
        step = driver.push([ride("2024-01-01 10:16:00")])   # watermark -> 10:11:00
        step.assert_emitted([{"window_start": ..., "ride_count": 2, ...}])

A transformation of several streams (a stream-stream join) names its inputs and their schemas;
it is given a dict of streams, and each push is a dict of rows per input (an input left out gets
no rows in that micro-batch)::

    inputs = {"rides": ride_schema(), "pickups": struct_type("pickup_location")}
    with StreamDriver(spark, lambda s: join(s["rides"], s["pickups"]), inputs=inputs) as driver:
        step = driver.push({"rides": [ride(...)], "pickups": [pickup(...)]})

Semantics worth knowing (they are Spark's, not the driver's):

* The watermark is computed at the end of a micro-batch from the largest event time seen, and
  applies from the next micro-batch on. When it moves and the query has state, Spark runs one
  extra micro-batch without data straight away, so that append mode can emit the windows the new
  watermark closed. A push therefore runs one or two micro-batches; :attr:`Step.batch_ids` says
  which, and :attr:`Step.emitted` holds the output of both.
* A row is *late* when its event time is earlier than the watermark in force when its
  micro-batch ran. Spark drops a late row from a windowed aggregation only if every window it
  falls in has already closed (window end <= watermark); :attr:`Step.dropped_by_watermark` is
  Spark's own count of what the stateful operator dropped.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import types as T

from ridestream.schemas import ride_schema

PICKUP_TIME = "tpep_pickup_datetime"


@dataclass(frozen=True)
class Step:
    """What one :meth:`StreamDriver.push` did.

    Attributes
    ----------
    batch_ids
        The micro-batches the push ran: its data batch, and a no-data batch when the watermark
        moved.
    emitted
        The rows the sink received from those micro-batches, in the order Spark produced them.
    watermark
        The watermark in force after the push (``None`` before any event time was seen).
    watermark_before
        The watermark the push's data batch ran with.
    late_rows
        Input rows whose event time was earlier than ``watermark_before``.
    dropped_by_watermark
        Spark's ``numRowsDroppedByWatermark`` summed over the push's micro-batches (rows the
        stateful operator discarded because every window they fall in had closed).
    state_rows
        Rows held in the state store after the push (``numRowsTotal``).
    """

    batch_ids: tuple[int, ...]
    emitted: list[Row]
    watermark: datetime | None
    watermark_before: datetime | None
    late_rows: list[Row]
    dropped_by_watermark: int
    state_rows: int
    output_schema: T.StructType
    spark: SparkSession = field(repr=False)

    def emitted_df(self) -> DataFrame:
        """Return the emitted rows as a DataFrame with the query's output schema."""
        return self.spark.createDataFrame(self.emitted, self.output_schema)

    def assert_emitted(
        self,
        expected: Iterable[Mapping[str, Any] | Sequence[Any]],
        ignore_row_order: bool = True,
        precision: float | None = None,
    ) -> None:
        """Assert the push emitted exactly ``expected``; on failure chispa prints a row diff.

        ``expected`` rows are dicts (missing keys are null) or tuples in the output's column
        order. Give ``precision`` to compare floating-point columns approximately.

        The rows are compared here, in Python, with chispa's row comparers (the ones its
        ``assert_df_equality`` ends in): the expected rows are checked against the output schema
        as ``createDataFrame`` checks them and converted as a collect would return them, and
        both sides are sorted unless ``ignore_row_order=False``. The DataFrame comparison would
        sort and collect both sides with Spark jobs, ~1 s a call for rows a push emits.
        """
        from chispa.row_comparer import are_rows_approx_equal
        from chispa.rows_comparer import assert_basic_rows_equality, assert_generic_rows_equality

        schema = self.output_schema
        names = schema.fieldNames()
        rows = [
            tuple(row.get(name) for name in names) if isinstance(row, Mapping) else tuple(row)
            for row in expected
        ]
        # Types and nulls checked as a DataFrame of them would be (eagerly, in Python).
        self.spark.createDataFrame(rows, schema)
        expected_rows = [schema.fromInternal(schema.toInternal(row)) for row in rows]
        actual_rows = list(self.emitted)
        if ignore_row_order:
            expected_rows.sort(key=_row_order)
            actual_rows.sort(key=_row_order)
        if precision is None:
            assert_basic_rows_equality(actual_rows, expected_rows)
        else:
            assert_generic_rows_equality(
                actual_rows,
                expected_rows,
                are_rows_approx_equal,
                {"precision": precision, "allow_nan_equality": False},
            )


def _row_order(row: Row) -> tuple:
    """Sort key of a row: column by column, nulls first (as chispa's Spark sort)."""
    return tuple(
        (value is not None, repr(value) if isinstance(value, (tuple, list, dict)) else value)
        for value in row
    )


class StreamDriver:
    """Run ``transform`` as a streaming query whose micro-batches are the rows you push.

    Parameters
    ----------
    spark
        The session to run in (the project's :func:`ridestream.session.build_session`, or any).
    transform
        ``DataFrame -> DataFrame``: the code under test, given the streaming input (with
        ``inputs``: a dict of the streaming inputs by name).
    schema
        Schema of the pushed rows; defaults to the declared ride schema (``schemas/ride.avsc``).
    inputs
        Several inputs instead of one: their schemas by name (``schema`` is then ignored).
    output_mode
        ``append``, ``update`` or ``complete``, as the job would use.
    event_time
        The input column that carries event time, used to report late rows.
    """

    def __init__(
        self,
        spark: SparkSession,
        transform: Callable[[DataFrame], DataFrame],
        schema: T.StructType | None = None,
        output_mode: str = "append",
        event_time: str = PICKUP_TIME,
        inputs: Mapping[str, T.StructType] | None = None,
    ) -> None:
        self.spark = spark
        self.schema = schema or ride_schema()
        self.output_mode = output_mode
        self.event_time = event_time
        self._inputs = dict(inputs) if inputs else {"": self.schema}
        self._arrow_schemas = [_arrow_schema(schema) for schema in self._inputs.values()]
        self._workdir = Path(tempfile.mkdtemp(prefix="ridestream-driver-"))
        self._batches_dir = self._workdir / "batches"
        self._pushed = 0
        self._outputs: dict[int, list[Row]] = {}
        self._seen_batches = -1
        self._watermark: datetime | None = None
        streams = {}
        for index, (name, input_schema) in enumerate(self._inputs.items()):
            directory = self._batches_dir / str(index)
            directory.mkdir(parents=True)
            streams[name] = (
                spark.readStream.schema(input_schema)
                # One file (one push) per micro-batch: batch boundaries are exactly the pushes.
                .option("maxFilesPerTrigger", 1)
                .parquet(str(directory))
            )
        self._output = transform(streams if inputs else streams[""])
        self.query = (
            self._output.writeStream.outputMode(output_mode)
            .foreachBatch(self._collect)
            .option("checkpointLocation", str(self._workdir / "checkpoint"))
            .queryName(f"stream_driver_{id(self)}")
            .start()
        )

    def _collect(self, batch: DataFrame, batch_id: int) -> None:
        self._outputs[batch_id] = batch.collect()

    def _row_tuple(
        self, row: Mapping[str, Any] | Row | Sequence[Any], schema: T.StructType | None = None
    ) -> tuple:
        schema = schema or self.schema
        names = schema.fieldNames()
        if isinstance(row, Row):
            row = row.asDict()
        if isinstance(row, Mapping):
            unknown = set(row) - set(names)
            if unknown:
                raise ValueError(f"fields not in the input schema: {sorted(unknown)}")
            values = [row.get(name) for name in names]
        elif len(row) != len(names):
            raise ValueError(f"a tuple row needs {len(names)} values ({', '.join(names)})")
        else:
            values = list(row)
        for index, spec in enumerate(schema.fields):
            if isinstance(values[index], str) and isinstance(spec.dataType, T.TimestampType):
                values[index] = datetime.fromisoformat(values[index])
        missing = [
            spec.name
            for spec, value in zip(schema.fields, values, strict=True)
            if value is None and not spec.nullable
        ]
        if missing:
            raise ValueError(f"row has no value for required fields {missing}: {row!r}")
        return tuple(values)

    def push(
        self,
        rows: Iterable[Mapping[str, Any] | Row | Sequence[Any]]
        | Mapping[str, Iterable[Mapping[str, Any] | Row | Sequence[Any]]],
    ) -> Step:
        """Feed ``rows`` as one micro-batch, wait until it (and any follow-up) ran, report it.

        Rows are dicts, :class:`~pyspark.sql.Row` objects or tuples in schema order; timestamp
        fields may be given as ISO strings ('2024-01-01 10:00:00'), read as UTC. A driver of
        several inputs takes a dict of rows by input name.
        """
        if set(self._inputs) == {""}:
            by_input = {"": rows}
        elif isinstance(rows, Mapping) and set(rows) <= set(self._inputs):
            by_input = rows
        else:
            raise ValueError(f"push a dict of rows by input: {', '.join(self._inputs)}")
        late: list[Row] = []
        watermark_before = self._watermark
        staged = []
        for index, (name, schema) in enumerate(self._inputs.items()):
            tuples = [self._row_tuple(row, schema) for row in by_input.get(name, [])]
            staging = self._workdir / f"{self._pushed}-{index}.parquet"
            _write_parquet(tuples, self._arrow_schemas[index], staging)
            staged.append((staging, self._batches_dir / str(index) / f"{self._pushed:06d}.parquet"))
            late += self._late(tuples, schema, watermark_before)
        # Every input's file is written before any appears, then each is renamed into place,
        # one right after the other, so that the query's next look finds all of them.
        for staging, target in staged:
            staging.rename(target)
        self._pushed += 1
        self.query.processAllAvailable()
        progress = self._new_progress()
        new_ids = tuple(p.batchId for p in progress)
        self._seen_batches = max(new_ids, default=self._seen_batches)
        self._watermark = _watermark(progress[-1]) if progress else self._watermark
        operators = [op for p in progress for op in p.stateOperators]
        return Step(
            batch_ids=new_ids,
            emitted=[row for batch_id in new_ids for row in self._outputs.pop(batch_id, [])],
            watermark=self._watermark,
            watermark_before=watermark_before,
            late_rows=late,
            dropped_by_watermark=sum(op.numRowsDroppedByWatermark for op in operators),
            state_rows=progress[-1].stateOperators[0].numRowsTotal
            if progress and progress[-1].stateOperators
            else 0,
            output_schema=self._output.schema,
            spark=self.spark,
        )

    def _late(
        self, tuples: list[tuple], schema: T.StructType, watermark: datetime | None
    ) -> list[Row]:
        """Return the rows whose event time is earlier than ``watermark``."""
        names = schema.fieldNames()
        if watermark is None or self.event_time not in names:
            return []
        position = names.index(self.event_time)
        return [
            Row(**dict(zip(names, values, strict=True)))
            for values in tuples
            if values[position] is not None and values[position] < watermark
        ]

    def _new_progress(self, timeout_s: float = 120.0) -> list[Any]:
        # Progress is posted when a trigger finishes; make sure every batch the sink saw has
        # its progress before reading it.
        deadline = time.monotonic() + timeout_s
        while True:
            progress = [p for p in self.query.recentProgress if p.batchId > self._seen_batches]
            reported = {p.batchId for p in progress}
            if set(self._outputs) <= reported or time.monotonic() > deadline:
                return sorted(progress, key=lambda p: p.batchId)
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the query and remove its checkpoint and batch files."""
        try:
            self.query.stop()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> StreamDriver:
        """Return the driver; the query is already running."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the query."""
        self.close()


def _arrow_schema(schema: T.StructType) -> Any:
    """Return the Arrow schema Spark's Parquet reader maps back to ``schema``."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def _write_parquet(tuples: list[tuple], arrow_schema: Any, path: Path) -> None:
    """Write rows as a Parquet file of ``arrow_schema`` that Spark reads back as the same values.

    Naive datetimes are this process's local time, as ``createDataFrame`` and ``collect`` take
    and give them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*tuples, strict=True)) if tuples else [() for _ in arrow_schema]
    arrays = [
        pa.array([_arrow_value(value) for value in column], type=field.type)
        for column, field in zip(columns, arrow_schema, strict=True)
    ]
    pq.write_table(pa.Table.from_arrays(arrays, schema=arrow_schema), path)


def _arrow_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone()
    return value


def _watermark(progress: Any) -> datetime | None:
    value = (progress.eventTime or {}).get("watermark")
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    # Spark reports 1970-01-01 until the first event time is seen.
    return None if parsed.timestamp() == 0 else parsed.replace(tzinfo=None)
