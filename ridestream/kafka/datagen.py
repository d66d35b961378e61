"""Synthetic rides, in the spirit of Confluent's Datagen connector: deterministic for a seed.

Pickups are skewed toward the busiest Manhattan zones (as in the TLC data), fares follow the
2024 metered rate from distance and duration, and event times are supplied by the caller, so the
same generator serves a backfill of the past minutes, a live stream at "now", and a fixed history.

A :class:`Mix` makes the stream realistic in the ways a stream job must survive: a fraction of
rides out of order (within ``disorder``), a fraction late (older than ``late_by``, meant to be
beyond the job's watermark), and a fraction of malformed records of several kinds. The second
stream of the stream-join chapter, pickup locations, comes from the same generator, paired with its rides
(:data:`PICKUP_PATTERN`): some pickups match their ride within the join's 10 minutes, some never
can.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from ridestream.kafka.avro import HEADER_SIZE, MAX_SCHEMA_ID, wire_header
from ridestream.kafka.encoding import encode_keys, encode_values
from ridestream.schemas import arrow_schema

# The busiest pickup zones of 2023's yellow-taxi trips, with rough relative weights.
BUSY_ZONES = {
    237: 9,
    161: 9,
    236: 8,
    132: 7,
    162: 7,
    230: 6,
    186: 6,
    142: 5,
    170: 5,
    163: 5,
    239: 4,
    48: 4,
    138: 4,
    234: 4,
    68: 3,
    79: 3,
    141: 3,
    107: 3,
    140: 3,
    249: 3,
}
ZONE_COUNT = 265
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def _zone(rng: random.Random) -> int:
    if rng.random() < 0.8:
        return rng.choices(list(BUSY_ZONES), weights=list(BUSY_ZONES.values()))[0]
    return rng.randint(1, ZONE_COUNT - 2)  # 264 and 265 are "unknown" zones in the TLC data


def make_ride(rng: random.Random, pickup: datetime) -> dict:
    """Return one ride (a dict of the ride schema's fields) that starts at ``pickup``."""
    distance = round(min(rng.lognormvariate(0.6, 0.7), 40.0), 2)
    minutes = max(2.0, distance * rng.uniform(3.0, 6.0) + rng.uniform(0, 6))
    fare = round(3.0 + 3.5 * distance + 0.7 * minutes, 2)
    card = rng.random() < 0.75
    tip = round(fare * rng.choice((0.15, 0.2, 0.25, 0.3)), 2) if card else 0.0
    extra, mta_tax, improvement, congestion = 1.0, 0.5, 1.0, 2.5
    return {
        "VendorID": rng.choice((1, 2)),
        "tpep_pickup_datetime": pickup,
        "tpep_dropoff_datetime": pickup + timedelta(minutes=minutes),
        "passenger_count": rng.choices((1, 2, 3, 4, 5, 6), weights=(70, 15, 5, 4, 3, 3))[0],
        "trip_distance": distance,
        "RatecodeID": 1,
        "store_and_fwd_flag": "N",
        "PULocationID": _zone(rng),
        "DOLocationID": _zone(rng),
        "payment_type": 1 if card else 2,
        "fare_amount": fare,
        "extra": extra,
        "mta_tax": mta_tax,
        "tip_amount": tip,
        "tolls_amount": 0.0,
        "improvement_surcharge": improvement,
        "total_amount": round(fare + extra + mta_tax + tip + improvement + congestion, 2),
        "congestion_surcharge": congestion,
    }


def rides_between(
    start: datetime, end: datetime, count: int, seed: int = 42, disorder_s: float = 0.0
) -> Iterator[dict]:
    """Yield ``count`` rides with pickups spread evenly over [start, end), in production order.

    ``disorder_s`` moves each pickup up to that many seconds into the past, so rides arrive out of
    order by at most that much (keep it below the job's watermark delay to lose nothing).
    """
    rng = random.Random(seed)
    step = (end - start) / max(count, 1)
    for index in range(count):
        pickup = start + step * index - timedelta(seconds=rng.uniform(0, disorder_s))
        yield make_ride(rng, pickup.replace(microsecond=0))


def encode_json(ride: dict) -> bytes:
    """Encode a ride as the JSON value the jobs parse (timestamps as 'YYYY-MM-DD HH:MM:SS')."""
    return json.dumps(
        {
            key: value.strftime(TIMESTAMP_FORMAT) if isinstance(value, datetime) else value
            for key, value in ride.items()
        },
        separators=(",", ":"),
    ).encode()


STREAMS = {"rides": "ride", "pickup-locations": "pickup_location"}

# Pickup locations are paired with rides: the n-th pickup of a seed, start and rate is set against
# the n-th ride the same generator makes for the rides stream (the same draws, so the same ride),
# in a cycle of four (offsets from the ride's dropoff, and the zone):
#   0: 4 minutes after its dropoff, in its dropoff zone    -> matches it (within 10 minutes)
#   1: 6 minutes before its dropoff, in its dropoff zone   -> matches it (a pickup waiting first)
#   2: 15 minutes after its dropoff, in its dropoff zone   -> never matches it (may match others)
#   3: at its dropoff, in zone 264 (TLC "Unknown")         -> matches no ride: rides never go there
PICKUP_PATTERN = (
    (timedelta(minutes=4), None),
    (timedelta(minutes=-6), None),
    (timedelta(minutes=15), None),
    (timedelta(0), 264),
)


def pickup_for(ride: dict, index: int) -> dict:
    """Return the pickup location paired with ``ride``, the ``index``-th (:data:`PICKUP_PATTERN`)."""
    offset, zone = PICKUP_PATTERN[index % len(PICKUP_PATTERN)]
    return {
        "PULocationID": zone or ride["DOLocationID"],
        "tpep_pickup_datetime": ride["tpep_dropoff_datetime"] + offset,
    }


# The jobs reject these as not_json, not_utf8, missing_field:PULocationID, wrong_type:total_amount
# and not_json (ridestream.parsing lists the reasons).
MALFORMED_KINDS = ("not_json", "not_utf8", "missing_field", "wrong_type", "empty")


@dataclass(frozen=True)
class Mix:
    """Fractions (0..1) of records that are out of order, late, or malformed."""

    out_of_order: float = 0.0
    disorder: timedelta = timedelta(seconds=5)
    late: float = 0.0
    late_by: timedelta = timedelta(minutes=10)
    malformed: float = 0.0

    def __post_init__(self) -> None:
        for name in ("out_of_order", "late", "malformed"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} is a fraction between 0 and 1")
        if self.out_of_order + self.late + self.malformed > 1.0:
            raise ValueError("--out-of-order + --late + --malformed must not exceed 1")


@dataclass
class Generated:
    """A chunk of generated records, ready to produce."""

    keys: list[str | None]
    values: list[str | bytes]


@dataclass
class Tally:
    """How many records of each kind the generator made."""

    counts: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        """Return e.g. '1,000 records: 950 in order, 30 out of order, 10 late, 10 malformed'."""
        total = sum(self.counts.values())
        parts = [
            f"{self.counts[kind]:,} {kind.replace('_', ' ')}"
            for kind in ("in_order", "out_of_order", "late", "malformed")
            if self.counts[kind]
        ]
        return f"{total:,} records: " + ", ".join(parts)


def _malformed(rng: random.Random, ride: dict) -> bytes:
    kind = rng.choice(MALFORMED_KINDS)
    text = encode_json(ride)
    if kind == "not_json":
        return text[: rng.randint(1, len(text) - 2)]  # a truncated record
    if kind == "not_utf8":
        return b"\xff\xfe" + text[2:]
    if kind == "missing_field":
        ride = {k: v for k, v in ride.items() if k != "PULocationID"}
    elif kind == "wrong_type":
        ride = {**ride, "total_amount": "twenty dollars"}
    else:
        return b""
    return encode_json(ride)


def _malformed_avro(rng: random.Random, value: bytes, ride: dict) -> bytes:
    """Return a broken Avro value: no wire format, an unregistered schema id, or cut short."""
    kind = rng.choice(("not_avro", "unknown_schema_id", "undecodable"))
    if kind == "not_avro":
        return encode_json(ride)
    if kind == "unknown_schema_id":
        return wire_header(MAX_SCHEMA_ID) + value[HEADER_SIZE:]
    return value[: rng.randint(HEADER_SIZE, len(value) - 1)]


class RideGenerator:
    """Generate records at ``rate`` per event-time second from ``start``, in chunks.

    The n-th record's base event time is ``start + n / rate``; the :class:`Mix` moves some back
    (out of order, late) and replaces some with malformed bytes. The same seed and start give
    the same records, byte for byte.
    """

    def __init__(
        self,
        start: datetime,
        rate: float,
        seed: int = 42,
        mix: Mix = Mix(),
        stream: str = "rides",
        value_format: str = "json",
        key: str | None = "PULocationID",
        avro: Any = None,
    ) -> None:
        if stream not in STREAMS:
            raise ValueError(f"stream {stream!r}: choose one of {', '.join(STREAMS)}")
        self.start = start.replace(microsecond=0)
        self.rate = rate
        self.rng = random.Random(seed)
        self.mix = mix
        self.stream = stream
        self.value_format = value_format
        self.key = key
        # value_format 'avro': the registry-aware encoder (ridestream.kafka.avro_values)
        self.avro = avro
        if value_format == "avro" and avro is None:
            raise ValueError(
                "Avro values need an encoder (ridestream.kafka.avro_values.AvroValues)"
            )
        self.schema = arrow_schema(STREAMS[stream])
        self.index = 0
        self.tally = Tally()

    def base_time(self, index: int) -> datetime:
        """Return the in-order event time of record ``index``."""
        return self.start + timedelta(seconds=index / self.rate)

    def ride(self) -> dict:
        """Return the next record as a dict (malformed ones included as their intended ride)."""
        return self._record()[0]

    def _record(self) -> tuple[dict, str]:
        rng, mix = self.rng, self.mix
        pickup = self.base_time(self.index).replace(microsecond=0)
        draw = rng.random()
        if draw < mix.malformed:
            kind = "malformed"
        elif draw < mix.malformed + mix.late:
            kind = "late"
            pickup -= mix.late_by + timedelta(seconds=rng.uniform(1, 60))
        elif draw < mix.malformed + mix.late + mix.out_of_order:
            kind = "out_of_order"
            pickup -= timedelta(seconds=rng.uniform(1, max(mix.disorder.total_seconds(), 1)))
        else:
            kind = "in_order"
        ride = make_ride(rng, pickup.replace(microsecond=0))
        if self.stream == "pickup-locations":
            ride = pickup_for(ride, self.index)
        self.index += 1
        return ride, kind

    def until(self, end: datetime) -> Iterator[Generated]:
        """Yield chunks of every record whose base event time is before ``end``."""
        while self.base_time(self.index) < end:
            count = min(
                10_000, int((end - self.base_time(self.index)).total_seconds() * self.rate) + 1
            )
            yield self.take(count)

    def take(self, count: int) -> Generated:
        """Return the next ``count`` records."""
        records = [self._record() for _ in range(count)]
        rides = [ride for ride, _ in records]
        table = pa.Table.from_pylist(
            [{name: ride.get(name) for name in self.schema.names} for ride in rides],
            schema=self.schema,
        )
        values: list[str | bytes] = (
            self.avro.encode(table)
            if self.value_format == "avro"
            else encode_values(table, self.value_format)
        )
        keys = encode_keys(table, self.key)
        for position, (ride, kind) in enumerate(records):
            self.tally.counts[kind] += 1
            if kind == "malformed":
                values[position] = (
                    _malformed_avro(self.rng, values[position], ride)
                    if self.value_format == "avro"
                    else _malformed(self.rng, ride)
                )
        return Generated(keys, values)


def run_datagen(
    producer: Any,
    topic: str,
    generator: RideGenerator,
    report: Any,
    *,
    live_until: datetime | None = None,
    count: int | None = None,
    progress: Any = None,
    now: Any = None,
) -> None:
    """Produce ``generator``'s records: its past at once, then live as event time reaches now.

    Records whose event time is already past go as fast as the producer takes them (a backfill,
    or a whole fixed history); the rest go when the clock reaches them, until ``live_until``
    (None: until Ctrl-C) or until ``count`` records. Delivery is flushed before returning.
    """
    from ridestream.kafka.producer import send

    clock = now or (lambda: datetime.now(UTC).replace(tzinfo=None))
    try:
        while True:
            if count is not None and generator.index >= count:
                break
            moment = clock()
            if (
                live_until is not None
                and moment >= live_until
                and generator.base_time(generator.index) >= live_until
            ):
                break
            due = (
                int(
                    (moment - generator.base_time(generator.index)).total_seconds() * generator.rate
                )
                + 1
            )
            if count is not None:
                due = min(due, count - generator.index)
            if due <= 0:
                producer.poll(0.05)
                continue
            chunk = generator.take(min(due, 10_000))
            send(producer, topic, chunk.keys, chunk.values, report)
            report.bytes += sum(len(value) for value in chunk.values)
            if progress is not None:
                progress.update(report.produced, report.bytes)
    except KeyboardInterrupt:
        pass
    finally:
        report.undelivered = producer.flush(60)
        report.finished = time.monotonic()
