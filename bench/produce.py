"""rides produce versus Kafka's own ProducerPerformance: same broker, same records, one run.

    ./bench/run produce                 # 1,000,000 JSON rides, 2 rounds each
    ./bench/run produce --records 200000 --rounds 3 --partitions 4

Both producers send the same JSON rides (ProducerPerformance reads them as its payload file, so
record sizes match) with the same settings: acks=all, idempotence, lz4, linger 20 ms, 1 MB
batches (conf/clients.toml). Rounds alternate between the two tools so drift on a shared
machine hits both; the best round of each is compared. Each tool's records/s is its own count
from first send to last acknowledgement, JVM and Python start-up excluded.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ridestream import jars
from ridestream.config import build_settings, load_profile
from ridestream.kafka.datagen import RideGenerator
from ridestream.kafka.encoding import json_values
from ridestream.kafka.settings import KafkaSettings
from ridestream.kafka.topics import create_topic
from ridestream.local import EmbeddedKafka, free_port
from ridestream.schemas import arrow_schema

PRODUCER_PERFORMANCE = "org.apache.kafka.tools.ProducerPerformance"


def write_rides(directory: Path, count: int) -> tuple[Path, Path]:
    """Write ``count`` synthetic rides as a TLC-style Parquet file and as a JSON payload file."""
    parquet_path = directory / "yellow_tripdata_bench.parquet"
    payload_path = directory / "payloads.jsonl"
    schema = arrow_schema("ride")
    generator = RideGenerator(datetime(2024, 1, 1), rate=50, seed=1, key=None)
    with pq.ParquetWriter(parquet_path, schema) as writer, payload_path.open("w") as payloads:
        written = 0
        while written < count:
            size = min(100_000, count - written)
            rows = [generator.ride() for _ in range(size)]
            table = pa.Table.from_pylist(
                [{name: row.get(name) for name in schema.names} for row in rows], schema=schema
            )
            writer.write_table(table)
            # ProducerPerformance picks payloads from this file at random; a sample keeps it small.
            if written == 0:
                payloads.write("\n".join(json_values(table.slice(0, 20_000)).to_pylist()) + "\n")
            written += size
    return parquet_path, payload_path


def java_producer_props(producer: dict) -> list[str]:
    """Return the Java client's spelling of our producer settings (the ones both clients share)."""
    shared = ("acks", "enable.idempotence", "linger.ms", "compression.type", "batch.size")
    return [f"{key}={str(producer[key]).lower()}" for key in shared if key in producer]


def run_rides(bootstrap: str, topic: str, parquet_path: Path) -> float:
    """Run ``rides produce`` on the Parquet file; return its records/s."""
    result = subprocess.run(
        [sys.executable, "-m", "ridestream.cli", "produce", str(parquet_path), "--topic", topic,
         "--bootstrap-servers", bootstrap],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"\(([\d,]+) records/s\)", result.stdout)
    if not match or "failed 0" not in result.stdout:
        raise RuntimeError(f"rides produce did not finish cleanly:\n{result.stdout}{result.stderr}")
    return float(match.group(1).replace(",", ""))


def run_producer_performance(
    bootstrap: str, topic: str, payload_path: Path, count: int, props: list[str]
) -> float:
    """Run Kafka's ProducerPerformance with the payload file; return its records/s."""
    classpath = ":".join(str(jar) for jar in jars.resolve("kafka-tools"))
    result = subprocess.run(
        ["java", "-Xmx1g", "-cp", classpath, PRODUCER_PERFORMANCE, "--topic", topic,
         "--num-records", str(count), "--throughput", "-1", "--payload-file", str(payload_path),
         "--producer-props", f"bootstrap.servers={bootstrap}", *props],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    final = [line for line in result.stdout.splitlines() if line.startswith(f"{count} records")]
    if not final:
        raise RuntimeError(f"ProducerPerformance gave no summary:\n{result.stdout}{result.stderr}")
    return float(re.search(r"([\d.]+) records/sec", final[0]).group(1))


def machine() -> str:
    """Return the OS, architecture, core count and CPU model of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}"


def main(argv: list[str] | None = None) -> int:
    """Run both producers in alternating rounds and print the table and the ratio."""
    parser = argparse.ArgumentParser(prog="bench/run produce", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="(default: %(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds per tool (default: %(default)s)"
    )
    parser.add_argument("--partitions", type=int, default=2, help="(default: %(default)s)")
    args = parser.parse_args(argv)

    settings = build_settings("local", load_profile("local"))
    props = java_producer_props(dict(settings.producer))
    workdir = Path(tempfile.mkdtemp(prefix="ridestream-bench-"))
    broker = EmbeddedKafka(workdir / "kafka", port=free_port(), controller_port=free_port())
    try:
        print(
            f"bench produce: {args.records:,} JSON rides, {args.rounds} rounds per tool",
            file=sys.stderr,
        )
        parquet_path, payload_path = write_rides(workdir, args.records)
        jars.resolve("kafka-tools")
        broker.start()
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        payloads = payload_path.read_bytes().splitlines()
        record_bytes = sum(len(line) for line in payloads) / len(payloads)
        results: dict[str, list[float]] = {"rides produce": [], "ProducerPerformance": []}
        for round_no in range(args.rounds):
            for tool in results:
                topic = f"bench_{tool.split()[0].lower()}_{round_no}"
                create_topic(kafka, topic, partitions=args.partitions)
                started = time.monotonic()
                if tool == "rides produce":
                    rate = run_rides(broker.bootstrap_servers, topic, parquet_path)
                else:
                    rate = run_producer_performance(
                        broker.bootstrap_servers, topic, payload_path, args.records, props
                    )
                results[tool].append(rate)
                print(
                    f"  round {round_no + 1} {tool}: {rate:,.0f} records/s "
                    f"({time.monotonic() - started:.1f} s with start-up)",
                    file=sys.stderr,
                )
        best = {tool: max(rates) for tool, rates in results.items()}
        ratio = best["rides produce"] / best["ProducerPerformance"]
        print(f"\nmachine: {machine()}")
        print(
            f"records: {args.records:,} JSON rides (~{record_bytes:,.0f} B each), "
            f"{args.partitions} partitions, producer: {' '.join(props)}"
        )
        print(f"{'tool':<22}{'best records/s':>16}   rounds")
        for tool, rates in results.items():
            print(f"{tool:<22}{best[tool]:>16,.0f}   {', '.join(f'{r:,.0f}' for r in rates)}")
        print(f"ratio rides produce / ProducerPerformance: {ratio:.2f}x (target >= 0.50x)")
        return 0
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
