"""`rides datagen --stream pickup-locations` pairs each pickup with the ride of the same draws."""

from __future__ import annotations

from datetime import datetime, timedelta

from ridestream.kafka.datagen import Mix, RideGenerator


def generators(**mix: float) -> tuple[RideGenerator, RideGenerator]:
    start = datetime(2024, 1, 1, 8, 0)
    return tuple(
        RideGenerator(start, 2.0, seed=5, mix=Mix(**mix), stream=stream)
        for stream in ("rides", "pickup-locations")
    )


def test_pickups_cycle_through_match_after_before_too_late_and_nowhere():
    rides, pickups = generators(out_of_order=0.3)
    pairs = [(rides.ride(), pickups.ride()) for _ in range(40)]
    offsets = [timedelta(minutes=4), timedelta(minutes=-6), timedelta(minutes=15), timedelta(0)]
    for index, (ride, pickup) in enumerate(pairs):
        assert set(pickup) == {"PULocationID", "tpep_pickup_datetime"}
        assert pickup["tpep_pickup_datetime"] == ride["tpep_dropoff_datetime"] + offsets[index % 4]
        zone = 264 if index % 4 == 3 else ride["DOLocationID"]
        assert pickup["PULocationID"] == zone, index
    # Generated rides never drop off in zone 264: those pickups can match no ride.
    assert all(ride["DOLocationID"] != 264 for ride, _ in pairs)


def test_the_same_seed_and_start_give_the_same_pickups_byte_for_byte():
    first, second = generators()[1], generators()[1]
    assert first.take(50).values == second.take(50).values
