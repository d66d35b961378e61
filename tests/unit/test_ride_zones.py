"""ride_zones: the TLC zone lookup, the unknown-zone rule, and windows by borough.

Expected values come from pandas reading the same CSV on its own (``keep_default_na=False``:
zone 265's name is the text "NA"), merged with the same rides.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from pyspark.sql import functions as F

from ridestream import runner
from ridestream.config import WindowSettings
from ridestream.errors import ConfigError
from ridestream.jobs.ride_zones import JOB, RideZonesOptions, build_outputs
from ridestream.kafka.datagen import rides_between
from ridestream.schemas import ride_schema
from ridestream.testing import StreamDriver
from ridestream.zones import ZONES_FILE, ZoneLookupError, load_zones, with_zones, zones_frame
from tests.builders import KAFKA_SCHEMA, kafka_rows, ride, ride_json


def tlc_lookup() -> pd.DataFrame:
    return pd.read_csv(ZONES_FILE, keep_default_na=False)


def test_every_one_of_the_265_zones_maps_to_its_borough_and_name(spark):
    lookup = tlc_lookup()
    rides = spark.createDataFrame(
        [ride(PULocationID=zone) for zone in range(1, 266)], ride_schema()
    )
    enriched = with_zones(rides, zones_frame(spark)).select(
        "PULocationID", "borough", "zone", "service_zone"
    )
    actual = sorted(tuple(row) for row in enriched.collect())
    expected = sorted(
        (int(row.locationid), row.borough, row.zone, row.service_zone)
        for row in lookup.itertuples()
    )
    assert len(actual) == 265
    assert actual == expected
    # The TLC's own unknown zones are the only ones named Unknown.
    assert [zone for zone, borough, *_ in actual if borough == "Unknown"] == [264, 265]


def test_a_zone_the_lookup_lacks_is_kept_as_borough_unknown(spark, tmp_path):
    lookup = tlc_lookup()
    older = tmp_path / "zones.csv"
    lookup[lookup.locationid != 132].to_csv(older, index=False)
    rides = spark.createDataFrame([ride(PULocationID=132), ride(PULocationID=161)], ride_schema())
    enriched = with_zones(rides, zones_frame(spark, older)).orderBy("PULocationID").collect()
    assert [(r.PULocationID, r.borough, r.zone, r.service_zone) for r in enriched] == [
        (132, "Unknown", "Unknown", "N/A"),
        (161, "Manhattan", "Midtown Center", "Yellow Zone"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,borough,zone,service_zone\n1,EWR,Newark Airport,EWR\n", "header 'id,borough"),
        ("locationid,borough,zone,service_zone\n1,EWR,,EWR\n", "line 2: expected 4 non-empty"),
        ("locationid,borough,zone,service_zone\none,EWR,Newark,EWR\n", "'one' is not an integer"),
        ("locationid,borough,zone,service_zone\n1,a,b,c\n1,a,b,c\n", "line 3: locationid 1 twice"),
    ],
)
def test_a_lookup_that_breaks_the_declared_schema_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "zones.csv"
    path.write_text(text)
    with pytest.raises(ZoneLookupError, match=message):
        load_zones(path)


def test_a_missing_lookup_file_names_the_setting(tmp_path):
    with pytest.raises(ZoneLookupError, match="point --zones at"):
        load_zones(tmp_path / "nope.csv")


def test_group_keys_may_be_zone_columns_or_ride_fields_and_nothing_else():
    assert JOB.options(window=WindowSettings(group_by=("zone", "VendorID"))).window.group_by
    with pytest.raises(ConfigError, match="nope is neither a zone column nor a ride field"):
        RideZonesOptions(window=WindowSettings(group_by=("nope",)))


def test_the_lookup_file_is_a_flag(tmp_path):
    settings = runner.settings_for(JOB, ["--zones", str(tmp_path / "z.csv"), "--group-by", "zone"])
    assert settings.job.zones == tmp_path / "z.csv"
    assert settings.job.window.group_by == ("zone",)
    assert "--zones PATH" in runner.build_parser(JOB, []).format_help()


def test_windows_by_borough_equal_pandas_groupby_of_the_rides_merged_with_the_csv(spark):
    start = datetime(2024, 5, 1, 8, 0)
    rides = list(rides_between(start, start + timedelta(minutes=30), 300, seed=11))
    rides.append(ride(start + timedelta(minutes=7), PULocationID=264))  # TLC "Unknown"
    options = RideZonesOptions(
        window=WindowSettings(size="5 minutes", watermark="5 minutes", group_by=("borough",))
    )
    schema = spark.createDataFrame([], KAFKA_SCHEMA).schema
    zones = zones_frame(spark)

    def windows(records):
        return build_outputs(records, zones, options)[0]

    with StreamDriver(spark, windows, schema=schema) as driver:
        # The windows the first batch's watermark (08:25) closes come out right after it.
        first = driver.push(kafka_rows([*(ride_json(r) for r in rides), b"{not json"]))
        # A ride an hour later moves the watermark past every other window of the first batch.
        closing = driver.push(kafka_rows([ride_json(ride(start + timedelta(hours=1)))]))
    actual = {
        (row.window_start, row.borough): (
            row.ride_count,
            row.total_amount,
            row.tip_amount,
            row.avg_trip_distance,
        )
        for row in [*first.emitted, *closing.emitted]
    }
    assert len(actual) == len(first.emitted) + len(closing.emitted), "a window came out twice"

    frame = pd.DataFrame(rides).merge(
        tlc_lookup(), left_on="PULocationID", right_on="locationid", how="left"
    )
    frame["window_start"] = frame["tpep_pickup_datetime"].dt.floor("5min")
    expected = {
        (start.to_pydatetime(), borough): (
            len(group),
            group["total_amount"].sum(),
            group["tip_amount"].sum(),
            group["trip_distance"].mean(),
        )
        for (start, borough), group in frame.groupby(["window_start", "borough"])
    }
    assert len(expected) > 20 and "Unknown" in {borough for _, borough in expected}
    assert first.emitted and closing.emitted
    assert actual.keys() == expected.keys()
    for key, (count, *amounts) in expected.items():
        assert actual[key][0] == count, key
        assert actual[key][1:] == pytest.approx(tuple(amounts)), key


def test_enriched_rides_keep_every_ride_once(spark):
    rides = spark.createDataFrame(
        [ride(PULocationID=zone) for zone in (1, 1, 132, 264, 265)], ride_schema()
    )
    enriched = with_zones(rides, zones_frame(spark))
    counts = {r.borough: r["count"] for r in enriched.groupBy("borough").count().collect()}
    assert counts == {"EWR": 2, "Queens": 1, "Unknown": 2}
    assert enriched.where(F.col("zone").isNull()).count() == 0
