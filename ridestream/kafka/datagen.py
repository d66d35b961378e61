"""Synthetic rides: deterministic for a seed, shaped like real NYC yellow-taxi trips.

Pickups are skewed toward the busiest Manhattan zones (as in the TLC data), fares follow the
2024 metered rate from distance and duration, and event times are supplied by the caller, so the
same generator serves a backfill of the past minutes and a live stream at "now".
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

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
