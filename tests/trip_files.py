"""Small trip files in the layouts the NYC TLC publishes, for the producer's round-trip tests.

The layouts follow the real files, quirks included: 2024 yellow Parquet has int64 passenger and
rate codes and an extra ``Airport_fee``; the 2019 CSVs the course used are plain text with empty
fields; green adds ``ehail_fee`` (always empty) and ``trip_type``; FHV spells ``PUlocationID`` and
stores location ids as doubles with gaps. The rows are random but fixed by a seed.
"""

from __future__ import annotations

import gzip
import random
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

START = datetime(2024, 1, 1, 0, 0, 0)


def _pickups(rng: random.Random, count: int, span_s: int) -> list[datetime]:
    # Mostly in order, as in the TLC files, with a few rides a little out of order.
    times = sorted(START + timedelta(seconds=rng.randint(0, span_s)) for _ in range(count))
    for index in range(0, count, 17):
        times[index] -= timedelta(seconds=rng.randint(1, 30))
    return times


def yellow_table(count: int = 300, seed: int = 1, span_s: int = 3600) -> pa.Table:
    rng = random.Random(seed)
    pickups = _pickups(rng, count, span_s)
    dropoffs = [p + timedelta(seconds=rng.randint(60, 3600)) for p in pickups]
    maybe = lambda value: None if rng.random() < 0.05 else value  # noqa: E731
    return pa.table(
        {
            "VendorID": pa.array([maybe(rng.choice((1, 2))) for _ in pickups], pa.int32()),
            "tpep_pickup_datetime": pa.array(pickups, pa.timestamp("us")),
            "tpep_dropoff_datetime": pa.array(dropoffs, pa.timestamp("us")),
            "passenger_count": pa.array([maybe(rng.randint(0, 6)) for _ in pickups], pa.int64()),
            "trip_distance": [round(rng.uniform(0, 20), 2) for _ in pickups],
            "RatecodeID": pa.array([maybe(rng.choice((1, 2, 5))) for _ in pickups], pa.int64()),
            "store_and_fwd_flag": [maybe(rng.choice("NY")) for _ in pickups],
            "PULocationID": pa.array([rng.randint(1, 265) for _ in pickups], pa.int32()),
            "DOLocationID": pa.array([rng.randint(1, 265) for _ in pickups], pa.int32()),
            "payment_type": pa.array([rng.randint(0, 4) for _ in pickups], pa.int64()),
            "fare_amount": [round(rng.uniform(3, 90), 2) for _ in pickups],
            "extra": [rng.choice((0.0, 1.0, 2.5)) for _ in pickups],
            "mta_tax": [0.5] * count,
            "tip_amount": [round(rng.uniform(0, 15), 2) for _ in pickups],
            "tolls_amount": [rng.choice((0.0, 6.94)) for _ in pickups],
            "improvement_surcharge": [1.0] * count,
            "total_amount": [round(rng.uniform(5, 120), 2) for _ in pickups],
            "congestion_surcharge": [maybe(2.5) for _ in pickups],
            "Airport_fee": [maybe(rng.choice((0.0, 1.75))) for _ in pickups],
        }
    )


def green_table(count: int = 200, seed: int = 2) -> pa.Table:
    rng = random.Random(seed)
    pickups = _pickups(rng, count, 3600)
    return pa.table(
        {
            "VendorID": pa.array([rng.choice((1, 2)) for _ in pickups], pa.int32()),
            "lpep_pickup_datetime": pa.array(pickups, pa.timestamp("us")),
            "lpep_dropoff_datetime": pa.array(
                [p + timedelta(seconds=rng.randint(60, 3600)) for p in pickups], pa.timestamp("us")
            ),
            "store_and_fwd_flag": [rng.choice("NY") for _ in pickups],
            "RatecodeID": [float(rng.choice((1, 5))) for _ in pickups],  # doubles, as in 2019
            "PULocationID": pa.array([rng.randint(1, 265) for _ in pickups], pa.int32()),
            "DOLocationID": pa.array([rng.randint(1, 265) for _ in pickups], pa.int32()),
            "passenger_count": [float(rng.randint(1, 6)) for _ in pickups],
            "trip_distance": [round(rng.uniform(0, 20), 2) for _ in pickups],
            "fare_amount": [round(rng.uniform(3, 90), 2) for _ in pickups],
            "extra": [0.5] * count,
            "mta_tax": [0.5] * count,
            "tip_amount": [round(rng.uniform(0, 10), 2) for _ in pickups],
            "tolls_amount": [0.0] * count,
            "ehail_fee": pa.nulls(count, pa.float64()),
            "improvement_surcharge": [1.0] * count,
            "total_amount": [round(rng.uniform(5, 100), 2) for _ in pickups],
            "payment_type": [float(rng.randint(1, 4)) for _ in pickups],
            "trip_type": [float(rng.choice((1, 2))) for _ in pickups],
            "congestion_surcharge": [rng.choice((0.0, 2.75)) for _ in pickups],
        }
    )


def fhv_table(count: int = 200, seed: int = 3) -> pa.Table:
    rng = random.Random(seed)
    pickups = _pickups(rng, count, 3600)
    gap = lambda: None if rng.random() < 0.3 else float(rng.randint(1, 265))  # noqa: E731
    return pa.table(
        {
            "dispatching_base_num": [f"B{rng.randint(1, 3000):05d}" for _ in pickups],
            "pickup_datetime": pa.array(pickups, pa.timestamp("us")),
            "dropOff_datetime": pa.array(
                [p + timedelta(seconds=rng.randint(60, 3600)) for p in pickups], pa.timestamp("us")
            ),
            "PUlocationID": pa.array([gap() for _ in pickups], pa.float64()),
            "DOlocationID": pa.array([gap() for _ in pickups], pa.float64()),
            "SR_Flag": pa.array([None if rng.random() < 0.9 else 1 for _ in pickups], pa.int32()),
            "Affiliated_base_number": [f"B{rng.randint(1, 3000):05d}" for _ in pickups],
        }
    )


def write(table: pa.Table, directory: Path, name: str) -> Path:
    """Write ``table`` as ``name`` (.parquet, .csv or .csv.gz) in ``directory``."""
    path = directory / name
    if name.endswith(".parquet"):
        pq.write_table(table, path, row_group_size=64)  # several row groups, like real files
    else:
        # Timestamps to the second and no quotes, as the TLC's CSVs had them.
        columns = {
            column_name: (
                column.cast(pa.timestamp("s")).cast(pa.string())
                if pa.types.is_timestamp(column.type)
                else column
            )
            for column_name, column in zip(table.column_names, table.columns, strict=True)
        }
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(pa.table(columns), sink, pa_csv.WriteOptions(quoting_style="none"))
        data = sink.getvalue().to_pybytes()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path
