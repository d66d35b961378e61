"""ride_pickups_join's settings: flags, profile sections and the refusals, without Spark."""

from __future__ import annotations

import pytest

from ridestream import runner
from ridestream.config import load_settings
from ridestream.errors import ConfigError
from ridestream.jobs.ride_pickups_join import JOB


def test_the_join_defaults_are_the_courses_and_flags_override_them(tmp_path):
    settings = runner.settings_for(JOB, ["--checkpoint-dir", str(tmp_path)])
    assert (settings.job.join.how, settings.job.join.within) == ("inner", "10 minutes")
    assert settings.job.pickups.topic == "pickup_locations"
    assert settings.job.sink.topic == "vendor_info"
    assert JOB.input_topics(settings) == ["rides", "pickup_locations"]

    flags = ["--how", "left_outer", "--within", "5 minutes", "--max-trip", "2 hours"]
    flags += ["--pickups-topic", "p", "--pickups-format", "csv", "--sink", "kafka"]
    settings = runner.settings_for(JOB, flags)
    join = settings.job.join
    assert (join.how, join.within, join.max_trip) == ("left_outer", "5 minutes", "2 hours")
    assert (settings.job.pickups.topic, settings.job.pickups.format) == ("p", "csv")
    assert JOB.output_topics(settings) == ["vendor_info", "rides_dead_letter"]
    assert settings.query.checkpoint_dir.name == "kafka-vendor_info"


def test_help_lists_the_join_flags_and_no_output_mode():
    text = runner.build_parser(JOB, []).format_help()
    for flag in ("--how", "--within", "--max-trip", "--rides-watermark", "--pickups-topic"):
        assert flag in text, flag
    assert "--output-mode" not in text


def test_an_unknown_join_kind_and_a_bad_duration_are_refused_in_one_line():
    with pytest.raises(SystemExit):
        runner.settings_for(JOB, ["--how", "full_outer"])
    with pytest.raises(ConfigError, match="join.within 'soon' is not a duration"):
        runner.settings_for(JOB, ["--within", "soon"])


def test_update_mode_in_a_profile_is_refused_with_the_reason(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[kafka]\nbootstrap_servers = "127.0.0.1:1"\n'
        '[jobs.ride_pickups_join.sink]\noutput_mode = "update"\n'
    )
    with pytest.raises(ConfigError, match="append mode only"):
        load_settings(str(profile), job=JOB)


def test_the_local_profile_runs_the_demo_join_with_a_one_hour_longest_trip():
    settings = load_settings("local", job=JOB)
    assert settings.job.join.max_trip == "1 hour"
    assert [feed.stream for feed in JOB.feeds(settings)] == ["rides", "pickup-locations"]
