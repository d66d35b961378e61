"""soak: the demo stack for N minutes at a steady rate; fails on upward trends or lost records.

    ./bench/run soak                           # 30 minutes, 200 rides/s, a sample a minute
    ./bench/run soak --minutes 5 --sample-every 10 --rate 50
    ./bench/run soak --help

What runs, as a user would run it: a Kafka broker of its own (free ports, under --workdir),
``rides datagen`` producing live at --rate rides/s (the demo's mix: 30% out of order by up to
5 s, plus 0.1% late by 10 minutes and 0.1% malformed), and ``spark-submit.sh
jobs/ride_windows.py`` with the demo's windows (1-minute tumbling, 30-second watermark, trigger
10 seconds) merged into a Delta table in update mode, rejects to a Delta table, every batch's
progress in a metrics file. The driver's heap is capped (--driver-memory, 1g): with the JVM's
default (a quarter of the RAM) the heap may keep growing for an hour without any leak.

Every --sample-every seconds it prints one line: the driver JVM's resident memory (local mode:
the driver is the executor too) and the Python driver's, both from /proc; the executor's JVM heap
and storage memory from Spark's REST API (the driver UI's /api/v1/applications/<id>/executors;
reported, not judged: the heap's figure is a peak, and storage memory holds each batch's broadcast
blocks until a GC lets Spark's ContextCleaner drop them); the state rows held (stateOperators
numRowsTotal of the latest batch); the mean batch duration since the last sample; and the lag
(records on the topic not yet read: the topic's end offsets minus the latest batch's end).

At the end the generator stops, the job reads what is left and is stopped by SIGTERM, and two
checks decide the exit code (0 passed, 1 failed):

- trends: for each judged series (JVM RSS, Python RSS, state rows, batch duration, lag) the
  least-squares slope over the second half of the samples, times the second half's length, is
  the growth the trend predicts over that half. It fails when that exceeds the series' bound:
  --max-growth percent (default 10) of the series' median over the second half, or its floor if
  larger (memory 32 MiB, state 200 rows, batch 1 s, lag one trigger's worth of rides). The first
  half is the warm-up (JIT, heap sizing, the first windows filling the state), and is not judged.
- records: the records the job read (its metrics file) equal the records on the topic, and
  ``rides balance`` balances (read = parsed = valid + rejected in every batch; valid = in windows
  + dropped late, from the Delta table).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.support.machine import machine
from ridestream.config import parse_duration
from ridestream.paths import PROJECT_ROOT, ridestream_home

QUERY = "ride_windows"
MIB = 2**20


# ---- pure: series, slopes, bounds -------------------------------------------------------------


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Return the slope of the least-squares line through (xs, ys); 0 for fewer than 2 points."""
    if len(xs) < 2:
        return 0.0
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


@dataclass(frozen=True)
class Trend:
    """A series' verdict: its growth over the second half against the bound."""

    name: str
    unit: str
    slope_per_min: float  # unit per minute, second half
    growth: float  # slope x the second half's length
    bound: float
    median: float  # second half
    points: int  # in the second half

    @property
    def ok(self) -> bool:
        """Return True when the predicted growth is within the bound."""
        return self.growth <= self.bound

    def describe(self) -> str:
        """Return one line: slope, growth, bound and verdict."""
        verdict = "ok" if self.ok else "TRENDS UP"
        return (
            f"{self.name:<14} median {self.median:>10,.1f} {self.unit:<4} slope "
            f"{self.slope_per_min:>+9.2f} {self.unit}/min over the second half ({self.points} "
            f"samples): {self.growth:>+10,.1f} {self.unit} vs bound {self.bound:,.1f}  {verdict}"
        )


def judge_trend(
    name: str,
    unit: str,
    minutes: Sequence[float],
    values: Sequence[float | None],
    max_growth_pct: float,
    floor: float,
) -> Trend | None:
    """Judge one series: None when its second half has fewer than 3 values.

    The second half is the later half of the samples with a value (the middle one included when
    their number is odd).
    The bound is ``max(max_growth_pct% of the second half's median, floor)``.
    """
    points = [(t, v) for t, v in zip(minutes, values, strict=True) if v is not None]
    second = points[len(points) // 2 :]
    if len(second) < 3:
        return None
    xs, ys = [t for t, _ in second], [v for _, v in second]
    slope = least_squares_slope(xs, ys)
    growth = slope * (xs[-1] - xs[0])
    median = statistics.median(ys)
    bound = max(abs(median) * max_growth_pct / 100, floor)
    return Trend(name, unit, slope, growth, bound, median, len(second))


# ---- reading the run ----------------------------------------------------------------------------


def read_progress(metrics_file: Path, query: str = QUERY) -> list[dict]:
    """Return the query's batches from the metrics file (a last line being written is skipped)."""
    if not metrics_file.exists():
        return []
    batches = []
    for line in metrics_file.read_text().splitlines():
        try:
            progress = json.loads(line)
        except ValueError:
            continue
        if progress.get("name") == query:
            batches.append(progress)
    return batches


def _offsets(value: object) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def end_offsets_read(progress: dict) -> int:
    """Return the sum over partitions of the batch's end offsets (Kafka sources)."""
    total = 0
    for source in progress.get("sources", []):
        for partitions in _offsets(source.get("endOffset")).values():
            total += sum(int(offset) for offset in partitions.values())
    return total


def topic_end(bootstrap: str, topic: str) -> int:
    """Return the sum of the topic's end offsets (records on it, from offset 0)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak-lag"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def rss_bytes(pid: int | None) -> int | None:
    """Return a process's resident memory from /proc, None if it is gone."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def parent_pid(pid: int) -> int | None:
    """Return a process's parent, None if it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def executor_memory(ui_port: int) -> tuple[int | None, int | None]:
    """Return (JVM heap peak, storage memory used) of the driver's executor from Spark's REST API."""
    base = f"http://127.0.0.1:{ui_port}/api/v1/applications"
    try:
        with urllib.request.urlopen(base, timeout=5) as response:  # noqa: S310 - loopback
            app = json.load(response)[0]["id"]
        with urllib.request.urlopen(f"{base}/{app}/executors", timeout=5) as response:  # noqa: S310
            executors = json.load(response)
    except (OSError, ValueError, IndexError, KeyError):
        return None, None
    driver = next((e for e in executors if e.get("id") == "driver"), None)
    if driver is None:
        return None, None
    heap = (driver.get("peakMemoryMetrics") or {}).get("JVMHeapMemory")
    return heap, driver.get("memoryUsed")


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Sample:
    """One sample of the running stack."""

    minute: float
    jvm_rss: int | None
    python_rss: int | None
    heap_peak: int | None
    storage: int | None
    state_rows: int | None
    batch_s: float | None
    lag: int | None
    batches: int
    read: int

    def line(self) -> str:
        """Return the sample as one line."""

        def mib(value: int | None) -> str:
            return "-" if value is None else f"{value / MIB:,.0f} MiB"

        def number(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        return (
            f"soak {self.minute:6.2f} min | JVM RSS {mib(self.jvm_rss)} | Python RSS "
            f"{mib(self.python_rss)} | heap peak {mib(self.heap_peak)} | storage "
            f"{mib(self.storage)} | state {number(self.state_rows, ',')} rows | batch "
            f"{number(self.batch_s, '.2f')} s | lag {number(self.lag, ',')} | batches "
            f"{self.batches:,} | read {self.read:,}"
        )


@dataclass
class Run:
    """What the soak started, and where its files are."""

    workdir: Path
    bootstrap: str
    topic: str
    ui_port: int
    job: Any = None  # a SubmittedJob, or what main's start_job returns
    datagen: subprocess.Popen | None = None
    samples: list[Sample] = field(default_factory=list)

    @property
    def metrics_file(self) -> Path:
        """Return the job's metrics file."""
        return self.workdir / "metrics.jsonl"

    @property
    def windows(self) -> Path:
        """Return the windows Delta table."""
        return self.workdir / "delta" / "windows"


def _say(line: str) -> None:
    print(line, flush=True)


def write_profile(workdir: Path, bootstrap: str, ui_port: int) -> Path:
    """Write the soak's profile: the soak's broker, nothing embedded, the UI on a free port."""
    profile = workdir / "soak.toml"
    profile.write_text(
        f'[kafka]\nbootstrap_servers = "{bootstrap}"\n'
        "[embedded]\nkafka = false\ndatagen = false\n"
        f'[spark.conf]\n"spark.ui.enabled" = "true"\n"spark.ui.port" = "{ui_port}"\n'
    )
    return profile


def start_datagen(run: Run, profile: Path, rate: float) -> subprocess.Popen:
    """Start ``rides datagen`` live at ``rate`` rides/s into the soak's topic."""
    command = [
        str(PROJECT_ROOT / "rides"), "datagen", "--profile", str(profile),
        "--topic", run.topic, "--rate", str(rate), "--backfill", "0",
        "--out-of-order", "0.3", "--disorder", "5 seconds",
        "--late", "0.001", "--late-by", "10 minutes", "--malformed", "0.001",
    ]  # fmt: skip
    log = (run.workdir / "datagen.log").open("ab")
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True
    )


def job_flags(run: Run, profile: Path, trigger: str, dead_letter: str = "delta") -> list[str]:
    """Return ride_windows' flags: the demo's windows, update mode merged into Delta."""
    return [
        "--profile", str(profile), "--topic", run.topic,
        "--window", "1 minute", "--watermark", "30 seconds", "--trigger", trigger,
        "--sink", "delta", "--output-mode", "update", "--delta-path", str(run.windows),
        "--dead-letter", dead_letter, "--dead-letter-path", str(run.workdir / "delta" / "rejects"),
        "--checkpoint-dir", str(run.workdir / "checkpoints"),
        "--metrics-file", str(run.metrics_file), "--progress", "off",
    ]  # fmt: skip


class SubmittedJob:
    """ride_windows run as a user runs it: ``spark-submit.sh jobs/ride_windows.py``."""

    def __init__(self, run: Run, profile: Path, args: argparse.Namespace) -> None:
        """Start the job (its own process group; its output goes to ``job.log``)."""
        command = [
            str(PROJECT_ROOT / "spark-submit.sh"), "--driver-memory", args.driver_memory,
            "jobs/ride_windows.py", *job_flags(run, profile, args.trigger, args.dead_letter),
        ]  # fmt: skip
        log = (run.workdir / "job.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True
        )

    def poll(self) -> int | None:
        """Return the exit code, None while it runs."""
        return self.process.poll()

    def driver_pid(self) -> int | None:
        """Return the Python driver's PID (from spark-submit.sh's driver PID file), None before."""
        pid_file = ridestream_home() / "run" / f"driver-{self.process.pid}.pid"
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def jvm_pid(self) -> int | None:
        """Return the driver JVM's PID: spark-submit's JVM runs the Python driver as its child."""
        driver = self.driver_pid()
        return parent_pid(driver) if driver else None

    def stop(self) -> int | None:
        """Stop it as Ctrl-C would (SIGTERM to spark-submit.sh); return its exit code."""
        return stop(self.process)


def take_sample(run: Run, started: float, seen: int) -> Sample:
    """Sample the stack now; ``seen`` is how many batches the previous sample had seen."""
    batches = read_progress(run.metrics_file)
    driver = run.job.driver_pid()
    jvm = run.job.jvm_pid()
    heap, storage = executor_memory(run.ui_port)
    recent = batches[seen:] or batches[-1:]
    durations = [b["durationMs"].get("triggerExecution", 0) / 1000 for b in recent]
    latest = batches[-1] if batches else None
    state = (
        sum(op.get("numRowsTotal", 0) for op in latest.get("stateOperators", []))
        if latest
        else None
    )
    lag = topic_end(run.bootstrap, run.topic) - end_offsets_read(latest) if latest else None
    return Sample(
        minute=(time.monotonic() - started) / 60,
        jvm_rss=rss_bytes(jvm),
        python_rss=rss_bytes(driver),
        heap_peak=heap,
        storage=storage,
        state_rows=state,
        batch_s=statistics.mean(durations) if durations else None,
        lag=lag,
        batches=len(batches),
        read=sum(b.get("numInputRows", 0) for b in batches),
    )


def wait_for_first_batch(run: Run, timeout_s: float) -> None:
    """Wait until the job has recorded a batch; raise SystemExit if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while not read_progress(run.metrics_file):
        if run.job.poll() is not None:
            raise SystemExit(
                f"soak: the job exited with {run.job.poll()}; see {run.workdir}/job.log"
            )
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: no batch in {timeout_s:.0f} s; see {run.workdir}/job.log")
        time.sleep(0.5)


def drain(run: Run, timeout_s: float) -> int:
    """Wait until the job has read every record of the topic; return the topic's record count."""
    total = topic_end(run.bootstrap, run.topic)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and run.job.poll() is None:
        batches = read_progress(run.metrics_file)
        if batches and end_offsets_read(batches[-1]) >= total:
            break
        time.sleep(0.5)
    return total


def stop(process: subprocess.Popen | None, timeout_s: float = 120) -> int | None:
    """SIGTERM a process we started (and its group), wait; SIGKILL the group if it hangs."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def judge(samples: list[Sample], max_growth_pct: float, floors: dict[str, float]) -> list[Trend]:
    """Judge every judged series of the samples (see the module's docstring)."""
    minutes = [s.minute for s in samples]

    def mib(values: list[int | None]) -> list[float | None]:
        return [None if v is None else v / MIB for v in values]

    series = [
        ("JVM RSS", "MiB", mib([s.jvm_rss for s in samples]), floors["memory"]),
        ("Python RSS", "MiB", mib([s.python_rss for s in samples]), floors["memory"]),
        ("state rows", "rows", [s.state_rows for s in samples], floors["state"]),
        ("batch duration", "s", [s.batch_s for s in samples], floors["batch"]),
        ("lag", "recs", [s.lag for s in samples], floors["lag"]),
    ]
    trends = []
    for name, unit, values, floor in series:
        trend = judge_trend(name, unit, minutes, values, max_growth_pct, floor)
        if trend is None:
            _say(f"{name:<14} too few samples in the second half to judge a trend")
        else:
            trends.append(trend)
    return trends


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the soak's options."""
    parser = argparse.ArgumentParser(
        prog="./bench/run soak",
        description="Run the demo stack (own broker, rides datagen, ride_windows in update mode "
        "to Delta) at a steady rate, sample memory, state rows, batch duration and lag, and fail "
        "on an upward trend or a lost record. Method and results: bench/README.md.",
        epilog="Trend bound: the least-squares slope over the second half of the samples times "
        "that half's length must not exceed --max-growth percent of the half's median, or the "
        "series' floor if larger (memory 32 MiB, state 200 rows, batch duration 1 s, lag one "
        "trigger's worth of rides). Exit 0 passed, 1 a trend or a lost record, 2 bad options.",
    )
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="how long to sample (default: 30)"
    )
    parser.add_argument(
        "--sample-every", type=float, default=60.0, metavar="SECONDS", help="(default: 60)"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="rides/s (default: 200)")
    parser.add_argument(
        "--trigger", default="10 seconds", help="(default: '10 seconds', the demo's)"
    )
    parser.add_argument(
        "--dead-letter",
        choices=("delta", "none"),
        default="delta",
        help="the rejects' sink: delta (default), or none (one query: the windows' own "
        "counts still account for every reject)",
    )
    parser.add_argument("--driver-memory", default="1g", help="the driver's heap (default: 1g)")
    parser.add_argument(
        "--max-growth", type=float, default=10.0, metavar="PCT", help="trend bound (default: 10)"
    )
    parser.add_argument(
        "--bootstrap-servers",
        help="use this running broker instead of starting one (it must be on 127.0.0.1)",
    )
    parser.add_argument("--topic", default=None, help="(default: soak_<UTC time>)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where everything goes (default: $RIDESTREAM_HOME/soak/<UTC time>)",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.sample_every <= 0 or args.rate <= 0:
        parser.error("--minutes, --sample-every and --rate must be above 0")
    try:
        args.trigger_s = parse_duration(args.trigger).total_seconds()
    except Exception as error:  # noqa: BLE001 - one line for a bad duration
        parser.error(f"--trigger {args.trigger!r}: {error}")
    return args


def main(argv: list[str] | None = None, start_job: Any = None) -> int:
    """Run the soak; return its exit code.

    ``start_job(run, profile, args)`` starts the job and returns an object
    with ``poll``, ``driver_pid``, ``jvm_pid`` and ``stop`` (default: :class:`SubmittedJob`); the
    suite's smoke test runs the job in its own Spark session that way, to spare a JVM start.
    """
    from ridestream.kafka.settings import KafkaSettings
    from ridestream.kafka.topics import create_topic
    from ridestream.local import EmbeddedKafka, free_port

    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    workdir = (args.workdir or ridestream_home() / "soak" / stamp).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    broker = None
    if args.bootstrap_servers:
        bootstrap = args.bootstrap_servers
    else:
        broker = EmbeddedKafka(workdir / "kafka", port=free_port(), controller_port=free_port())
        broker.start()
        bootstrap = broker.bootstrap_servers
    run = Run(workdir, bootstrap, args.topic or f"soak_{stamp}", free_port())
    _say(f"soak: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    _say(
        f"soak: {args.minutes:g} min, a sample every {args.sample_every:g} s; {args.rate:g} rides/s "
        f"into {run.topic} on {bootstrap}; ride_windows update -> Delta, trigger {args.trigger}, "
        f"driver memory {args.driver_memory}; files in {workdir}"
    )
    try:
        create_topic(KafkaSettings(bootstrap_servers=bootstrap), run.topic, partitions=2)
        profile = write_profile(workdir, bootstrap, run.ui_port)
        run.datagen = start_datagen(run, profile, args.rate)
        run.job = (start_job or SubmittedJob)(run, profile, args)
        wait_for_first_batch(run, timeout_s=300)
        started = time.monotonic()
        seen = 0
        loads = []
        while True:
            next_at = started + (len(run.samples) + 1) * args.sample_every
            time.sleep(max(0.0, next_at - time.monotonic()))
            if run.job.poll() is not None:
                _say(f"soak: the job exited with {run.job.poll()}; see {workdir}/job.log")
                return 1
            sample = take_sample(run, started, seen)
            seen = sample.batches
            run.samples.append(sample)
            loads.append(os.getloadavg()[0])
            _say(sample.line())
            if sample.minute >= args.minutes - 1e-9:
                break
        # The end: no new rides, the job reads what is left, then stops as Ctrl-C would stop it.
        stop(run.datagen)
        produced = drain(run, timeout_s=max(120, 6 * args.trigger_s))
        code = run.job.stop()
        _say(f"soak: job stopped with exit code {code} (130: stopped on request, as expected)")
        return report(run, args, produced, loads, code)
    finally:
        stop(run.datagen)
        if run.job is not None:
            run.job.stop()
        if broker is not None:
            broker.stop()


def report(run: Run, args: argparse.Namespace, produced: int, loads: list[float], code: int) -> int:
    """Print the trends and the record balance; return the exit code."""
    from ridestream.accounting import audit

    floors = {"memory": 32.0, "state": 200.0, "batch": 1.0, "lag": args.rate * args.trigger_s}
    _say(
        f"soak: {len(run.samples)} samples over {run.samples[-1].minute:.1f} min; load average "
        f"median {statistics.median(loads):.1f}, max {max(loads):.1f}"
    )
    trends = judge(run.samples, args.max_growth, floors)
    for trend in trends:
        _say(trend.describe())
    batches = read_progress(run.metrics_file)
    read = sum(b.get("numInputRows", 0) for b in batches)
    _say(
        f"records: {produced:,} on the topic, {read:,} read by the job in {len(batches):,} batches"
    )
    balance = audit(run.metrics_file, QUERY, windows=str(run.windows))
    for line in balance.lines:
        _say(line)
    problems = list(balance.problems)
    if read != produced:
        problems.append(f"the job read {read:,} records of the topic's {produced:,}")
    if code != 130:
        problems.append(f"the job exited with {code}, not 130 (stopped on request)")
    problems += [
        f"{t.name} trends up: {t.growth:+,.1f} {t.unit} > {t.bound:,.1f}"
        for t in trends
        if not t.ok
    ]
    for problem in problems:
        _say(f"soak FAILED: {problem}")
    if not problems:
        _say("soak passed: no series trends up beyond its bound, no record lost")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
