"""ride_pickups_join's stream-stream join, micro-batch by micro-batch, with expected rows by hand.

Every test runs the job's own join (:func:`join_rides_with_pickups`) through the StreamDriver with
two inputs. Settings: a pickup matches a ride within 10 minutes of its dropoff, trips last at most
30 minutes, both watermarks 5 minutes, so the watermark after a batch is (latest event time seen
on the slower side) - 5 min. A ride leaves state once the watermark passes its pickup + 40
minutes (max trip + within), a pickup once it passes the pickup's time + 10 minutes.
"""

from __future__ import annotations

from datetime import datetime

from ridestream.jobs.ride_pickups_join import JoinSettings, join_rides_with_pickups, pickup_schema
from ridestream.schemas import ride_schema
from ridestream.testing import StreamDriver

INPUTS = {"rides": ride_schema(), "pickups": pickup_schema()}
ZONE = 100


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2024-03-01 {clock}:00")


def ride(pickup: str, dropoff: str, zone: int = ZONE, vendor: int = 1) -> dict:
    return {
        "VendorID": vendor,
        "tpep_pickup_datetime": at(pickup),
        "tpep_dropoff_datetime": at(dropoff),
        "PULocationID": 1,
        "DOLocationID": zone,
        "total_amount": 20.0,
    }


def pickup(time: str, zone: int = ZONE) -> dict:
    return {"PULocationID": zone, "tpep_pickup_datetime": at(time)}


def joined(dropoff: str, pickup_time: str | None, zone: int = ZONE, vendor: int = 1) -> tuple:
    """An expected VendorInfo row: VendorID, PULocationID, pickup_datetime, last_dropoff."""
    return (vendor, zone, at(pickup_time) if pickup_time else None, at(dropoff))


def driver(spark, how: str = "inner") -> StreamDriver:
    spec = JoinSettings(
        how=how,
        within="10 minutes",
        max_trip="30 minutes",
        rides_watermark="5 minutes",
        pickups_watermark="5 minutes",
    )
    return StreamDriver(
        spark, lambda s: join_rides_with_pickups(s["rides"], s["pickups"], spec), inputs=INPUTS
    )


def test_a_pickup_within_10_minutes_of_the_dropoff_matches_before_or_after_it(spark):
    other = ZONE + 1
    with driver(spark) as join:
        first = join.push(
            {
                "rides": [
                    ride("10:00", "10:20"),
                    # Duplicates on both sides, in another zone: every pair, 2 x 2 rows.
                    ride("10:00", "10:20", zone=other, vendor=2),
                    ride("10:00", "10:20", zone=other, vendor=2),
                ],
                "pickups": [
                    pickup("10:29"),  # 9 minutes after the dropoff
                    pickup("10:12"),  # 8 minutes before: a pickup waiting already
                    pickup("10:30"),  # exactly 10 minutes: the bound is inclusive
                    pickup("10:31"),  # 11 minutes after: no match
                    pickup("10:09"),  # 11 minutes before: no match
                    pickup("10:21", zone=ZONE + 2),  # a zone no ride dropped off in
                    pickup("10:25", zone=other),
                    pickup("10:25", zone=other),
                ],
            }
        )
        # A pickup in a later batch meets the ride still in state.
        later = join.push({"pickups": [pickup("10:27")]})
    first.assert_emitted(
        [
            joined("10:20", "10:29"),
            joined("10:20", "10:12"),
            joined("10:20", "10:30"),
            *[joined("10:20", "10:25", zone=other, vendor=2)] * 4,
        ]
    )
    later.assert_emitted([joined("10:20", "10:27")])


def test_a_pickup_behind_the_watermark_is_dropped_and_counted(spark):
    with driver(spark) as join:
        # Watermark 10:55 after this: the first ride (pickup 10:30) stays in state until 11:10.
        first = join.push(
            {
                "rides": [ride("10:30", "10:50"), ride("11:00", "11:05", zone=5)],
                "pickups": [pickup("11:00", zone=7)],
            }
        )
        assert first.watermark == at("10:55")
        # 10:52 would match (2 minutes after the dropoff, the ride still in state) but it is
        # behind the watermark: dropped. 10:58 is not, and matches.
        late = join.push({"pickups": [pickup("10:52"), pickup("10:58")]})
    assert late.late_rows and [row.tpep_pickup_datetime for row in late.late_rows] == [at("10:52")]
    assert late.dropped_by_watermark == 1
    late.assert_emitted([joined("10:50", "10:58")])


def test_left_outer_emits_an_unmatched_ride_only_once_the_watermark_passes_it(spark):
    with driver(spark, how="left_outer") as join:
        steps = [
            # Two rides: the one in zone 100 meets no pickup, the one in zone 7 meets one.
            join.push(
                {
                    "rides": [ride("10:00", "10:20"), ride("10:00", "10:20", zone=7)],
                    "pickups": [pickup("10:00", zone=9), pickup("10:25", zone=7)],
                }
            ),
            # Watermark 10:25: the lone ride (pickup 10:00) stays in state until 10:40 (no
            # pickup can match it after its dropoff + 10 = 10:30, but Spark judges rides by
            # their pickup time).
            join.push(
                {"rides": [ride("10:30", "10:35", zone=5)], "pickups": [pickup("10:30", zone=9)]}
            ),
            # Watermark 10:45: past 10:40, both rides leave state; only the unmatched one is
            # emitted, with no pickup.
            join.push(
                {"rides": [ride("10:50", "10:55", zone=5)], "pickups": [pickup("10:50", zone=9)]}
            ),
        ]
    assert [step.watermark for step in steps] == [at("09:55"), at("10:25"), at("10:45")]
    steps[0].assert_emitted([joined("10:20", "10:25", zone=7)])
    assert steps[1].emitted == []
    steps[2].assert_emitted([joined("10:20", None)])


def test_join_state_stops_growing_once_the_watermark_moves_past_old_rides(spark):
    state = []
    with driver(spark) as join:
        for batch in range(8):
            minute = 10 * batch
            hour, rest = divmod(minute, 60)
            time = f"{10 + hour:02d}:{rest:02d}"
            end = f"{10 + hour:02d}:{rest + 3:02d}"
            step = join.push(
                {
                    "rides": [ride(time, end, zone=z) for z in range(1, 6)],
                    "pickups": [pickup(time, zone=z) for z in range(50, 55)],
                }
            )
            state.append(step.state_rows)
    # 80 rows went in. After batch b (at time T) the watermark is T - 5 minutes: a ride leaves
    # state once its pickup is behind T - 45 (batch b - 5's have, b - 4's have not: 5 batches of
    # rides stay), a pickup once its time is behind T - 15 (b - 2's have, b - 1's not: 2 stay).
    assert state == [10, 20, 25, 30, 35, 35, 35, 35], state
