"""How late rides arrive, and which watermark delay to choose: pure computation over arrivals.

A ride's *lateness* is how far its event time is behind the largest event time that arrived
before it (0 when none is larger). It is the quantity a watermark delay trades against: Spark's
watermark is ``max(event time seen in earlier micro-batches) - delay``, one value for the whole
query, over all partitions of all sources (not per partition, as Flink's and Kafka Streams'
are), and a window aggregation drops a ride whose window has already ended behind it. So:

- the *overall* lateness (arrivals of every partition interleaved by their Kafka timestamp) is
  what a Spark job sees; the *per-partition* lateness (each partition in offset order) is shown
  beside it: a skew between partitions makes the overall one larger;
- for a window size, a ride is dropped at delay ``D`` when its window's end is at least ``D``
  behind the largest event time seen before it (``window lateness >= D``): the watermark has
  passed the window's end;
- the largest event time seen before a ride includes rides earlier in its own micro-batch, which
  Spark's watermark does not yet include: the fractions here are an upper bound of what a run
  drops (exact with one ride per batch);
- the cost of a delay is output latency: a window's final result (append mode: its only one;
  update mode: its last update) comes when the watermark passes its end, at ``window end + D``
  in event time.

:func:`measure` does the computation; :func:`report_lines` renders it. ``rides lateness`` reads
a topic into :class:`Arrival` records and prints the report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# The edges of the histogram's bins, in seconds: (0], (0, 1], (1, 5], ..., (1800, inf).
BIN_EDGES_S = (0, 1, 5, 10, 30, 60, 300, 600, 1800)
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 100.0)
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Arrival:
    """One ride as it arrived: where it is in the topic, when it was written, its event time."""

    partition: int
    offset: int
    timestamp: datetime | None  # the Kafka record's timestamp (None: unknown)
    event_time: datetime


def arrival_order(arrivals: Iterable[Arrival]) -> list[Arrival]:
    """Return arrivals in the order a reader of the whole topic meets them.

    Partitions are interleaved by Kafka timestamp, each partition in offset order. Records a
    producer sent at full speed share timestamps by the thousand (one per batch): within a run
    of equal timestamps the partitions are interleaved evenly (the k-th of n records of a run
    goes at k/n of it), as a reader fetching every partition at once meets them, rather than a
    whole run of one partition before the other's.
    """
    keyed = []
    by_partition: dict[int, list[Arrival]] = {}
    for arrival in arrivals:
        by_partition.setdefault(arrival.partition, []).append(arrival)
    for partition, members in by_partition.items():
        members.sort(key=lambda a: a.offset)
        # A timestamp earlier than the one before it (a producer may set them) counts as that one:
        # a partition is read in offset order.
        stamps, latest = [], datetime.min
        for member in members:
            latest = max(latest, member.timestamp or datetime.min)
            stamps.append(latest)
        run_start = 0
        for index in range(len(members) + 1):
            if index == len(members) or stamps[index] != stamps[run_start]:
                size = index - run_start
                for k in range(run_start, index):
                    position = (k - run_start) / size
                    keyed.append((stamps[k], position, partition, members[k].offset, members[k]))
                run_start = index
    keyed.sort(key=lambda item: item[:4])
    return [item[4] for item in keyed]


def lateness(event_times: Iterable[datetime]) -> list[float]:
    """Return each event time's lateness in seconds: how far the max before it is ahead of it."""
    result = []
    latest: datetime | None = None
    for event_time in event_times:
        behind = 0.0 if latest is None else max(0.0, (latest - event_time).total_seconds())
        result.append(behind)
        latest = event_time if latest is None else max(latest, event_time)
    return result


def window_end(event_time: datetime, size: timedelta) -> datetime:
    """Return the end of the tumbling window of ``size`` (aligned to the epoch) holding the time."""
    return EPOCH + size * ((event_time - EPOCH) // size + 1)


def window_lateness(event_times: Iterable[datetime], size: timedelta) -> list[float]:
    """Return, per ride, how far (s) its window's end is behind the max event time before it.

    Negative when the window is still open; the first ride gets ``-inf`` (nothing before it).
    """
    result = []
    latest: datetime | None = None
    for event_time in event_times:
        end = window_end(event_time, size)
        result.append(-math.inf if latest is None else (latest - end).total_seconds())
        latest = event_time if latest is None else max(latest, event_time)
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """Return the nearest-rank ``q``-th percentile (0 < q <= 100) of ``values`` (sorted or not)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def histogram(values: Iterable[float]) -> list[tuple[str, int]]:
    """Return (label, count) per bin of :data:`BIN_EDGES_S`: on time, then up to each edge."""
    counts = [0] * (len(BIN_EDGES_S) + 1)
    for value in values:
        index = 0
        while index < len(BIN_EDGES_S) and value > BIN_EDGES_S[index]:
            index += 1
        counts[index] += 1
    labels = (
        ["on time"]
        + [f"<= {format_seconds(edge)}" for edge in BIN_EDGES_S[1:]]
        + [f"> {format_seconds(BIN_EDGES_S[-1])}"]
    )
    return list(zip(labels, counts, strict=True))


def format_seconds(seconds: float) -> str:
    """Return e.g. '0 s', '1.5 s', '2 min', '1 h 5 min' (whole units shown whole)."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3600:
        minutes = seconds / 60
        return f"{minutes:.3g} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours:.0f} h" + (f" {rest / 60:.0f} min" if rest >= 60 else "")


def round_up_delay(seconds: float) -> int:
    """Return a delay in whole seconds at or above ``seconds``, rounded up to a readable step."""
    for step in (1, 5, 10, 30, 60, 300):
        if seconds <= step * 12:
            return int(math.ceil(seconds / step) * step)
    return int(math.ceil(seconds / 600) * 600)


@dataclass(frozen=True)
class DelayAdvice:
    """What one watermark delay would do for a window size."""

    delay_s: int
    dropped: int
    total: int

    @property
    def fraction(self) -> float:
        """Return the fraction of rides dropped."""
        return self.dropped / self.total if self.total else 0.0


def dropped_at(window_lateness_s: Sequence[float], delay_s: float) -> int:
    """Return how many rides a delay drops: those whose window end is ``>= delay`` behind."""
    return sum(1 for late in window_lateness_s if late >= delay_s)


def suggest_delays(window_lateness_s: Sequence[float]) -> list[DelayAdvice]:
    """Return delays worth considering, smallest first, with the rides each would drop.

    The candidates are 0 and, over the rides whose window had ended when they arrived, the
    delays just above the median, p75, p90, p95, p99, p99.9 and max of how far it had ended
    (rounded up to a readable step: a delay ``D`` keeps a ride whose window ended less than
    ``D`` before).
    """
    total = len(window_lateness_s)
    behind = [late for late in window_lateness_s if late >= 0]
    candidates = {0}
    if behind:
        for q in (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0):
            candidates.add(round_up_delay(percentile(behind, q) + 1e-6))
    return [
        DelayAdvice(delay, dropped_at(window_lateness_s, delay), total)
        for delay in sorted(candidates)
    ]


@dataclass(frozen=True)
class Lateness:
    """The lateness of a topic's rides (seconds), overall and per partition, and the advice."""

    rides: int
    overall: list[float]
    per_partition: dict[int, list[float]]
    window_size: timedelta
    window_lateness: list[float]
    advice: list[DelayAdvice]
    first_event: datetime
    last_event: datetime


def measure(arrivals: Iterable[Arrival], window_size: timedelta) -> Lateness:
    """Compute the lateness of ``arrivals`` (any order: see :func:`arrival_order`)."""
    ordered = arrival_order(arrivals)
    if not ordered:
        raise ValueError("no rides to measure")
    times = [a.event_time for a in ordered]
    partitions: dict[int, list[datetime]] = {}
    for arrival in sorted(ordered, key=lambda a: (a.partition, a.offset)):
        partitions.setdefault(arrival.partition, []).append(arrival.event_time)
    late_windows = window_lateness(times, window_size)
    return Lateness(
        rides=len(ordered),
        overall=lateness(times),
        per_partition={p: lateness(members) for p, members in sorted(partitions.items())},
        window_size=window_size,
        window_lateness=late_windows,
        advice=suggest_delays(late_windows),
        first_event=min(times),
        last_event=max(times),
    )


def _percentile_row(label: str, values: Sequence[float]) -> str:
    late = sum(1 for v in values if v > 0)
    cells = "  ".join(f"{format_seconds(percentile(values, q)):>9}" for q in PERCENTILES)
    return f"  {label:<14}{len(values):>10,}  {late / len(values):>6.1%}  {cells}"


def report_lines(result: Lateness, bar_width: int = 40) -> list[str]:
    """Return the report: percentiles, histogram, and the delays for the window size."""
    header = "  ".join(f"{'max' if q == 100 else f'p{q:g}':>9}" for q in PERCENTILES)
    lines = [
        f"{result.rides:,} rides, event times {result.first_event:%Y-%m-%d %H:%M:%S} .. "
        f"{result.last_event:%Y-%m-%d %H:%M:%S}",
        "lateness (how far behind the largest event time that arrived before it):",
        f"  {'':<14}{'rides':>10}  {'late':>6}  {header}",
        _percentile_row("all partitions", result.overall),
    ]
    for partition, values in result.per_partition.items():
        lines.append(_percentile_row(f"partition {partition}", values))
    lines.append("histogram (all partitions, as a Spark watermark sees them):")
    bins = histogram(result.overall)
    most = max(count for _, count in bins) or 1
    for label, count in bins:
        bar = "#" * math.ceil(count / most * bar_width) if count else ""
        lines.append(f"  {label:>10} {count:>10,} {count / result.rides:>7.2%} {bar}".rstrip())
    size = format_seconds(result.window_size.total_seconds())
    lines.append(
        f"watermark delays for {size} tumbling windows (a ride is dropped when its window "
        "ended at least the delay before the latest event time):"
    )
    lines.append(f"  {'delay':>9}  {'dropped':>10}  {'of rides':>9}  final result at")
    for advice in result.advice:
        lines.append(
            f"  {format_seconds(advice.delay_s):>9}  {advice.dropped:>10,}  "
            f"{advice.fraction:>9.3%}  window end + {format_seconds(advice.delay_s)}"
        )
    return lines
