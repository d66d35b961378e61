"""Avro values are read by ride_windows only: the other jobs refuse them when settings load."""

from __future__ import annotations

import pytest

from ridestream import runner
from ridestream.errors import ConfigError
from ridestream.jobs import ride_pickups_join, ride_windows, ride_zones, stream_sql

SQL = ["--query", "SELECT * FROM rides"]


@pytest.mark.parametrize(
    ("job", "extra", "setting"),
    [
        (ride_zones.JOB, ["--format", "avro"], "source.format"),
        (ride_pickups_join.JOB, ["--format", "avro"], "source.format"),
        (stream_sql.JOB, [*SQL, "--format", "avro"], "source.format"),
    ],
    ids=["ride_zones", "ride_pickups_join", "stream_sql"],
)
def test_a_job_that_reads_no_avro_refuses_it_in_one_line(job, extra, setting):
    with pytest.raises(ConfigError) as refused:
        runner.settings_for(job, extra)
    assert str(refused.value) == (
        f"{setting} 'avro': {job.name} reads JSON or CSV values (Avro values: "
        "jobs/ride_windows.py); choose json or csv"
    )


def test_ride_windows_takes_avro_and_the_others_take_csv():
    assert runner.settings_for(ride_windows.JOB, ["--format", "avro"]).job.source.format == "avro"
    for job, extra in [(ride_zones.JOB, []), (ride_pickups_join.JOB, []), (stream_sql.JOB, SQL)]:
        assert runner.settings_for(job, [*extra, "--format", "csv"]).job.source.format == "csv"
