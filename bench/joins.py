"""The joins' cost next to ride_windows on the same rides, in one run: rides/s and state rows.

    ./bench/run joins                          # 20,000 rides at 0.2/s of event time, 1 round
    ./bench/run joins --records 50000 --rounds 2

Three streaming queries, each the job's own builder (``build_outputs``) on the same records,
trigger availableNow, Spark's ``noop`` sink (every row computed, nothing written):

1. ride_windows: 5-minute tumbling windows by PULocationID (its defaults);
2. ride_zones: the same windows by zone name, after the broadcast join with the TLC lookup;
3. ride_pickups_join: the same rides joined with their paired pickup locations (one pickup per
   ride, ``rides datagen --stream pickup-locations``'s pattern), inner, the job's defaults.

The records are Kafka-shaped rows (key, value, topic, partition, offset, timestamp) read from a
Parquet file, not from a broker: reading Kafka costs the three the same, and this keeps the run
short on a shared machine. Rates are rides per second of wall time (the join also reads as many
pickups). The event-time rate (``--rate``) sets how many rides share a zone within the join's 10
minutes, which decides how many pairs the join emits.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.support.machine import machine
from ridestream.config import SparkSettings, WindowSettings
from ridestream.jobs import ride_pickups_join, ride_windows, ride_zones
from ridestream.kafka.datagen import encode_json, pickup_for, rides_between
from ridestream.session import build_session
from ridestream.zones import zones_frame

KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
)


def write_records(path: Path, values: list[bytes], topic: str) -> None:
    """Write Kafka-shaped rows with these values to one Parquet file."""
    now = datetime(2024, 1, 1)
    table = pa.table(
        {
            "key": pa.array([None] * len(values), pa.binary()),
            "value": pa.array(values, pa.binary()),
            "topic": [topic] * len(values),
            "partition": pa.array([0] * len(values), pa.int32()),
            "offset": pa.array(range(len(values)), pa.int64()),
            "timestamp": pa.array([now] * len(values), pa.timestamp("us")),
        }
    )
    path.mkdir(parents=True)
    pq.write_table(table, path / "part-0.parquet")


def run_case(spark, name: str, build, inputs: list[Path], work: Path) -> tuple[float, list]:  # noqa: ANN001
    """Run one case to the end; return its wall time and its progress, batch by batch."""
    streams = [spark.readStream.schema(KAFKA_SCHEMA).parquet(str(path)) for path in inputs]
    output = build(*streams)
    started = time.perf_counter()
    query = (
        output.writeStream.format("noop")
        .outputMode("append")
        .trigger(availableNow=True)
        .option("checkpointLocation", str(work / f"{name}-{time.time_ns()}"))
        .start()
    )
    query.awaitTermination()
    return time.perf_counter() - started, query.recentProgress


def main(argv: list[str] | None = None) -> int:
    """Run the three cases on the same rides and print the table for bench/README.md."""
    parser = argparse.ArgumentParser(prog="./bench/run joins", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="rides (default 20000)")
    parser.add_argument("--rate", type=float, default=0.2, help="rides per event-time second")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)

    spark = build_session(
        SparkSettings(master="local[2]", shuffle_partitions=4, conf={"spark.ui.enabled": "false"}),
        app_name="bench-joins",
    )
    zones = zones_frame(spark)
    windows_options = ride_windows.RideWindowsOptions()
    zones_options = ride_zones.RideZonesOptions(
        window=WindowSettings(group_by=("zone",))  # as many groups as zone ids
    )
    join_options = ride_pickups_join.RidePickupsJoinOptions()
    cases = {
        "windows": (lambda r: ride_windows.build_outputs(r, windows_options)[0], 1),
        "zones": (lambda r: ride_zones.build_outputs(r, zones, zones_options)[0], 1),
        "join": (
            lambda r, p: ride_pickups_join.build_outputs(r, p, join_options)[0],
            2,
        ),
    }
    with tempfile.TemporaryDirectory(prefix="bench-joins-") as scratch:
        work = Path(scratch)
        inputs = {}
        for label, count in (("warmup", 5_000), ("measured", args.records)):
            start = datetime(2024, 1, 1)
            span = timedelta(seconds=count / args.rate)
            rides = list(rides_between(start, start + span, count, seed=7))
            write_records(work / label / "rides", [encode_json(r) for r in rides], "rides")
            pickups = [encode_json(pickup_for(r, i)) for i, r in enumerate(rides)]
            write_records(work / label / "pickups", pickups, "pickup_locations")
            inputs[label] = [work / label / "rides", work / label / "pickups"]
        for name, (build, arity) in cases.items():
            run_case(spark, f"warm-{name}", build, inputs["warmup"][:arity], work)
        best: dict[str, tuple[float, list]] = {}
        for round_number in range(args.rounds):
            order = list(cases) if round_number % 2 == 0 else list(reversed(cases))
            for name in order:
                build, arity = cases[name]
                seconds, progress = run_case(spark, name, build, inputs["measured"][:arity], work)
                print(f"round {round_number + 1} {name}: {seconds:.1f} s", file=sys.stderr)
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, progress)
    spark.stop()

    print(f"machine: {machine()}")
    print(f"{args.records:,} rides at {args.rate:g}/s of event time; best of {args.rounds}")
    print("| query | rides/s | vs windows | state rows at end | rows out |")
    print("|---|---|---|---|---|")
    base = best["windows"][0]
    for name, (seconds, progress) in best.items():
        last = progress[-1]
        state = sum(op.numRowsTotal for op in last.stateOperators)
        rows_out = sum(max(p.sink.numOutputRows, 0) for p in progress)
        print(
            f"| {name} | {args.records / seconds:,.0f} | {seconds / base:.2f}x | {state:,} | "
            f"{rows_out:,} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
