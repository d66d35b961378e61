"""Record accounting: whether every record of a finished run ended in exactly one place.

A job observes, batch by batch, how many records it parsed and how many were valid or rejected
(:func:`ridestream.parsing.record_counts`); with ``--metrics-file`` each batch's progress JSON
keeps those counts. :func:`audit` sums them (``read = parsed = valid + rejected`` in every batch,
no batch missing) and, given the run's windows Delta table, checks the other side:
``valid = in windows + dropped late``, for the run and for each batch's MERGE (read from the
Delta log). ``rides balance`` prints its report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from ridestream.delta_log import UnsupportedTable, commits, read_table
from ridestream.errors import ConfigError
from ridestream.parsing import ACCOUNTING


@dataclass
class Balance:
    """A run's record accounting, summed from its metrics file."""

    batches: int = 0
    read: int = 0
    input: int = 0
    valid: int = 0
    rejected: int = 0
    dropped_late: int = 0
    unbalanced_batches: list[int] | None = None
    missing_batches: list[int] | None = None
    # batch id -> (valid rides, partial window groups Spark dropped behind the watermark)
    per_batch: dict[int, tuple[int, int]] | None = None

    @property
    def balances(self) -> bool:
        """Return True when every batch and the run satisfy read = input = valid + rejected."""
        return not self.unbalanced_batches and self.read == self.input == self.valid + self.rejected


def balance_from_metrics(lines: list[str], query: str) -> Balance:
    """Sum the record accounting of ``query``'s batches from metrics-file lines (JSON)."""
    balance = Balance(unbalanced_batches=[], missing_batches=[], per_batch={})
    batch_ids: set[int] = set()
    for line in lines:
        progress = json.loads(line)
        if progress.get("name") != query:
            continue
        counts = (progress.get("observedMetrics") or {}).get(ACCOUNTING) or {}
        read = progress.get("numInputRows", 0)
        batch = {key: int(counts.get(key) or 0) for key in ("input", "valid", "rejected")}
        balance.batches += 1
        balance.read += read
        balance.input += batch["input"]
        balance.valid += batch["valid"]
        balance.rejected += batch["rejected"]
        dropped = sum(
            op.get("numRowsDroppedByWatermark", 0) for op in progress.get("stateOperators", [])
        )
        balance.dropped_late += dropped
        balance.per_batch[progress.get("batchId")] = (batch["valid"], dropped)
        if not (read == batch["input"] == batch["valid"] + batch["rejected"]):
            balance.unbalanced_batches.append(progress.get("batchId"))
        batch_ids.add(progress.get("batchId"))
    # A batch id the file does not hold ran without being recorded (e.g. the job was killed
    # between the batch's commit and the listener's write): its rows are not in the sums.
    if batch_ids:
        balance.missing_batches = sorted(set(range(max(batch_ids) + 1)) - batch_ids)
    return balance


def late_drops_agree(rides: int, groups: int) -> bool:
    """Return True when ``rides`` dropped late can be what Spark reports as ``groups`` dropped.

    Spark drops partial window groups (a batch's rides of one window and key, pre-aggregated);
    every such group holds at least one ride, and a ride is only dropped inside one.
    """
    return rides >= groups and (rides > 0) == (groups > 0)


@dataclass
class WindowRides:
    """How many rides a windows Delta table holds (the "aggregated" side of the accounting)."""

    windows: int  # rows of the table
    ride_windows: int  # the sum of ride_count over them
    windows_per_ride: int  # 1 for tumbling and session windows, size/slide for hopping ones
    all_windows: bool  # merged in update mode: open windows are in the table too
    # merged tables: batch id -> ride-windows the batch added (its commit's sum minus the last)
    added_per_batch: dict[int, int] | None = None

    @property
    def rides(self) -> float:
        """Return the rides the windows hold (ride-windows / windows per ride)."""
        return self.ride_windows / self.windows_per_ride


def windows_per_ride(starts: list[int], sizes: set[int]) -> int:
    """Return in how many windows each ride is counted, from window starts and sizes (seconds).

    Session windows vary in size and never overlap within a group: 1. Fixed-size windows start
    every slide; a ride at time t is in the windows starting at each slide within (t - size, t],
    so the table holds consecutive starts and the slide is the gcd of the size and the starts'
    distances: size / slide windows per ride (1 for tumbling windows).
    """
    if len(sizes) != 1:
        return 1
    (size,) = sizes
    slide = size
    first = min(starts, default=0)
    for start in starts:
        slide = math.gcd(slide, start - first)
    return size // slide


def window_rides(spark: Callable[[], Any], path: str) -> WindowRides:
    """Read a ride_windows Delta table: its rows, the rides in them, and how it was written.

    A plain local table is read from its log and files in this process; anything else with the
    session ``spark()`` returns (started only then).
    """
    if "://" not in path:
        try:
            return _window_rides_from_log(Path(path))
        except UnsupportedTable:
            pass
    return _window_rides_with_spark(spark(), path)


def _window_rides_from_log(table: Path) -> WindowRides:
    import pyarrow.parquet as pq

    frame = read_table(table, ["window_start", "window_end", "ride_count"]).to_pandas()
    starts = {int(t.timestamp()) for t in frame["window_start"]}
    sizes = {int(s.total_seconds()) for s in frame["window_end"] - frame["window_start"]}
    log = commits(table)
    merged = any(commit.operation == "MERGE" for commit in log)
    added = None
    if merged:
        # What each batch's MERGE added: the rides in the files it wrote, less those in the
        # files it replaced (they stay on disk until a VACUUM; without them, ask Spark).
        rides: dict[Path, int] = {}

        def rides_in(path: Path) -> int:
            if path not in rides:
                if not path.exists():
                    raise UnsupportedTable(f"{path.name} is gone (VACUUM)")
                column = pq.read_table(path, columns=["ride_count"]).column("ride_count")
                rides[path] = int(column.to_pandas().sum())
            return rides[path]

        added = {
            commit.txn_version: sum(map(rides_in, commit.added))
            - sum(map(rides_in, commit.removed))
            for commit in log
            if commit.txn_version is not None
        }
    return WindowRides(
        windows=len(frame),
        ride_windows=int(frame["ride_count"].sum()),
        windows_per_ride=windows_per_ride(sorted(starts), sizes),
        all_windows=merged,
        added_per_batch=added,
    )


def _window_rides_with_spark(spark: Any, path: str) -> WindowRides:
    from delta.tables import DeltaTable

    table = spark.read.format("delta").load(path)
    shape = table.select(
        F.count(F.lit(1)).alias("windows"),
        F.coalesce(F.sum("ride_count"), F.lit(0)).alias("ride_windows"),
        F.collect_set(F.unix_timestamp("window_start")).alias("starts"),
        F.collect_set(F.unix_timestamp("window_end") - F.unix_timestamp("window_start")).alias(
            "sizes"
        ),
    ).first()
    operations = {
        row.operation
        for row in DeltaTable.forPath(spark, path).history().select("operation").collect()
    }
    merged = "MERGE" in operations
    return WindowRides(
        windows=shape.windows,
        ride_windows=int(shape.ride_windows),
        windows_per_ride=windows_per_ride(list(shape.starts), set(shape.sizes)),
        all_windows=merged,
        added_per_batch=added_per_batch(spark, path) if merged else None,
    )


def added_per_batch(spark: Any, path: str) -> dict[int, int]:
    """Return, per streaming batch, how many ride-windows its MERGE added to the table.

    Each merge commits with ``txnVersion`` = the batch id (:func:`ridestream.sinks.merge_windows`);
    the table's sum of ``ride_count`` at that commit minus the sum at the commit before is what
    the batch aggregated (update mode writes running totals, so a window's new total replaces
    its old one). Read from the Delta log with Spark, so any storage Spark reads will do.
    """
    log_dir = f"{path.rstrip('/')}/_delta_log"
    local = Path(log_dir.removeprefix("file:"))
    # Local tables: the commit files by name (Spark warns about a directory named _*); remote
    # storage: the directory, filtered.
    commits = sorted(map(str, local.glob("*.json"))) if "://" not in log_dir else None
    reader = spark.read if commits else spark.read.option("pathGlobFilter", "*.json")
    log = (
        reader.json(commits or log_dir)
        .where(F.col("txn").isNotNull())
        .select(
            F.col("txn.version").alias("batch"),
            F.regexp_extract(F.input_file_name(), r"(\d+)\.json$", 1).cast("long").alias("commit"),
        )
        .collect()
    )

    def total(version: int) -> int:
        if version not in totals:
            totals[version] = int(
                spark.read.format("delta")
                .option("versionAsOf", version)
                .load(path)
                .agg(F.coalesce(F.sum("ride_count"), F.lit(0)))
                .first()[0]
            )
        return totals[version]

    totals: dict[int, int] = {}
    added = {}
    for row in sorted(log, key=lambda row: row.commit):
        added[int(row.batch)] = total(row.commit) - total(row.commit - 1)
    return added


def _no_session() -> Any:
    raise ConfigError("this table needs Spark to read it: pass a session")


@dataclass
class Report:
    """What :func:`audit` found: the lines of the report, and what does not balance."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """Return True when nothing is off."""
        return not self.problems


def audit(
    metrics_file: Path,
    query: str,
    windows: str | None = None,
    spark: Callable[[], Any] | None = None,
) -> Report:
    """Audit a finished run from its metrics file, and its windows Delta table if given.

    ``spark`` returns a session, for a ``windows`` table the log reader cannot read alone.
    Raises ConfigError when the metrics file is missing or holds no batch of ``query``, or the
    table cannot be read.
    """
    path = Path(metrics_file)
    if not path.exists():
        raise ConfigError(
            f"{path} does not exist: run the job with --metrics-file {path} to record its batches"
        )
    balance = balance_from_metrics(path.read_text().splitlines(), query)
    if not balance.batches:
        raise ConfigError(f"{path} has no batch of a query named {query!r} (see --query)")
    report = Report()
    report.lines += [
        f"{query}: {balance.batches:,} batch{'' if balance.batches == 1 else 'es'}",
        f"  read from Kafka      {balance.read:>12,}",
        f"  parsed               {balance.input:>12,}",
        f"    valid              {balance.valid:>12,}",
        f"    rejected           {balance.rejected:>12,}  (to the dead-letter sink)",
    ]
    if balance.unbalanced_batches:
        report.problems.append(
            f"batches {balance.unbalanced_batches} do not balance (read, parsed and valid + "
            "rejected differ)"
        )
    if balance.missing_batches:
        report.problems.append(
            f"batches {balance.missing_batches[:10]} ran but are not in {path} (was the job "
            "killed before recording them, or started without --metrics-file?): their rows are "
            "not counted"
        )
    if windows:
        _audit_windows(report, balance, windows, spark)
    else:
        report.lines.append(
            f"  dropped late         {balance.dropped_late:>12,}  (Spark's count of partial window "
            "groups dropped behind the watermark; --windows TABLE counts the rides)"
        )
    if report.balanced:
        report.lines.append(
            "balanced: read = parsed = valid + rejected in every batch"
            + ("; valid = in windows + dropped late" if windows else "")
        )
    return report


def _audit_windows(
    report: Report, balance: Balance, table: str, spark: Callable[[], Any] | None
) -> None:
    """Add the windows side of the balance (valid = in windows + dropped late) to ``report``."""
    try:
        windows = window_rides(spark or _no_session, str(Path(table).resolve()))
    except Exception as error:  # noqa: BLE001 - a missing or foreign table: one line
        raise ConfigError(f"{table} is not a readable windows Delta table ({error})") from None
    each = windows.windows_per_ride
    unit = "ride-windows" if each > 1 else "rides"
    expected = balance.valid * each
    rest = expected - windows.ride_windows
    if each > 1:
        report.lines.append(f"    x {each} windows each  {expected:>12,}  {unit} (hopping windows)")
    report.lines.append(
        f"    in windows         {windows.ride_windows:>12,}  (ride_count over the "
        f"{windows.windows:,} windows of {table})"
    )
    spark_dropped = balance.dropped_late
    if not windows.all_windows:
        report.lines.append(
            f"    not in the table   {rest:>12,}  (dropped late, or in windows still open: append "
            f"mode writes a window once it is final; Spark dropped {spark_dropped:,} late partial "
            "groups)"
        )
        if rest < spark_dropped:
            report.problems.append(
                f"the table holds {unit} that Spark dropped as late ({rest:,} < {spark_dropped:,})"
            )
        return
    report.lines.append(
        f"    dropped late       {rest:>12,}  (the rest; Spark dropped {spark_dropped:,} late "
        "partial window groups)"
    )
    if rest < 0:
        report.problems.append(
            f"the table holds {-rest:,} more {unit} than were valid (counted twice?)"
        )
        return
    if not late_drops_agree(rest, spark_dropped):
        report.problems.append(
            f"{rest:,} {unit} are not in the table, but Spark dropped {spark_dropped:,} late "
            "partial window groups (lost or counted twice?)"
        )
        return
    # The same, batch by batch: what each batch's merge added against what it parsed.
    off = [
        batch
        for batch, (valid, groups) in sorted(balance.per_batch.items())
        if not late_drops_agree(valid * each - windows.added_per_batch.get(batch, 0), groups)
    ]
    if off:
        report.problems.append(
            f"batches {off[:10]}: valid rides, the rides their merges added and Spark's late "
            "groups do not agree (lost or counted twice?)"
        )
        return
    report.lines.append(
        f"  in {'each of the ' if len(balance.per_batch) != 1 else ''}"
        f"{len(balance.per_batch):,} batch{'' if len(balance.per_batch) == 1 else 'es'}: "
        "valid = added to the table + "
        "dropped late"
    )
