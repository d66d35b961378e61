import argparse
from datetime import timedelta
from pathlib import Path

import pytest

from ridestream.config import (
    ConfigError,
    WindowSettings,
    add_settings_arguments,
    build_settings,
    load_profile,
    parse_duration,
    settings_from_args,
)


def test_local_profile_is_the_embedded_default():
    settings = build_settings("local", load_profile("local"))
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.embedded.kafka and settings.embedded.datagen
    assert settings.window.group_by == ("PULocationID",)


def test_overrides_replace_profile_values():
    settings = build_settings(
        "local", load_profile("local"), {"window.size": "10 minutes", "sink.kind": "kafka"}
    )
    assert settings.window.size == "10 minutes"
    assert settings.sink.kind == "kafka"


def test_relative_paths_live_under_ridestream_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    settings = build_settings("local", load_profile("local"), {"sink.path": Path("out/table")})
    assert settings.sink.path == tmp_path / "out/table"
    assert settings.query.checkpoint("q") == str(tmp_path / "checkpoints/local/q")


def test_paths_on_the_command_line_are_relative_to_the_shell_and_uris_stay_whole(
    monkeypatch, tmp_path
):
    import argparse

    from ridestream.config import add_settings_arguments, settings_from_args

    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    args = parser.parse_args(
        ["--metrics-file", "m.jsonl", "--delta-path", "s3a://bucket/ride_windows",
         "--checkpoint-dir", "abfss://c@acct.dfs.core.windows.net/ckpt"]
    )  # fmt: skip
    settings = settings_from_args(args)
    assert settings.query.metrics_file == tmp_path / "m.jsonl"
    assert settings.sink.path == "s3a://bucket/ride_windows"
    assert settings.query.checkpoint("q") == "abfss://c@acct.dfs.core.windows.net/ckpt/q"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 minutes", timedelta(minutes=10)),
        ("30 seconds", timedelta(seconds=30)),
        ("1 hour", timedelta(hours=1)),
        ("500 ms", timedelta(milliseconds=500)),
        ("0", timedelta(0)),
    ],
)
def test_durations_are_read_in_spark_interval_style(text, expected):
    assert parse_duration(text) == expected


def test_a_duration_without_unit_is_refused_with_an_example():
    with pytest.raises(ConfigError, match="write it like '10 minutes'"):
        parse_duration("10")


def test_hopping_windows_need_a_slide():
    with pytest.raises(ConfigError, match="needs window.slide"):
        WindowSettings(kind="hopping", size="10 minutes")


def test_session_windows_need_a_gap():
    with pytest.raises(ConfigError, match="needs window.gap"):
        WindowSettings(kind="session")


def test_delta_sink_takes_update_mode_for_early_results():
    settings = build_settings(
        "local", load_profile("local"), {"sink.kind": "delta", "sink.output_mode": "update"}
    )
    assert (settings.sink.kind, settings.sink.output_mode) == ("delta", "update")


def test_unknown_setting_is_named():
    with pytest.raises(ConfigError, match="section \\[window\\]: unknown setting 'width'"):
        build_settings("x", {"kafka": {"bootstrap_servers": "h:1"}, "window": {"width": "1"}})


def test_unknown_profile_lists_known_ones():
    with pytest.raises(ConfigError, match="known profiles: .*local"):
        load_profile("nope")


def test_secrets_come_from_named_environment_variables(monkeypatch):
    settings = build_settings(
        "x",
        {
            "kafka": {
                "bootstrap_servers": "h:1",
                "secrets": {"ssl.key.password": "RIDES_TEST_SECRET"},
            }
        },
    )
    with pytest.raises(ConfigError, match="RIDES_TEST_SECRET, which is not set"):
        settings.kafka.client_config()
    monkeypatch.setenv("RIDES_TEST_SECRET", "s3cret")
    assert settings.kafka.client_config()["ssl.key.password"] == "s3cret"
    assert settings.kafka.spark_options()["kafka.ssl.key.password"] == "s3cret"


def test_producers_default_to_settings_that_do_not_lose_data():
    producer = build_settings("local", load_profile("local")).producer
    assert producer["acks"] == "all"
    assert producer["enable.idempotence"] is True
    assert producer["compression.type"] == "lz4" and producer["linger.ms"] == 20


def test_a_profile_overrides_any_client_setting():
    values = {
        **load_profile("local"),
        "producer": {"linger.ms": 5, "client.id": "mine"},
        "consumer": {"fetch.max.bytes": 1024},
    }
    settings = build_settings("local", values)
    assert settings.producer["linger.ms"] == 5 and settings.producer["client.id"] == "mine"
    assert settings.producer["acks"] == "all"  # the rest of the defaults stay
    assert settings.consumer["fetch.max.bytes"] == 1024
    assert settings.consumer["enable.auto.commit"] is False


def test_the_source_format_is_json_or_csv_and_a_flag_overrides_it():
    assert build_settings("local", load_profile("local")).source.format == "json"
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    settings = settings_from_args(parser.parse_args(["--profile", "local", "--format", "csv"]))
    assert settings.source.format == "csv"
    with pytest.raises(ConfigError, match="source.format 'xml': choose one of json, csv"):
        build_settings("local", load_profile("local"), {"source.format": "xml"})


def test_stages_are_one_by_default_and_two_parses_into_a_table_under_ridestream_home(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    settings = build_settings("local", load_profile("local"))
    assert settings.query.stages == "one"
    assert settings.query.parsed_path == tmp_path / "delta/rides_parsed"
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    monkeypatch.chdir(tmp_path)
    args = parser.parse_args(["--stages", "two", "--parsed-path", "here/parsed"])
    settings = settings_from_args(args)
    assert (settings.query.stages, settings.query.parsed_path) == ("two", tmp_path / "here/parsed")
    with pytest.raises(ConfigError, match="query.stages 'three': choose one of one, two"):
        build_settings("local", load_profile("local"), {"query.stages": "three"})


def test_min_partitions_is_unset_by_default_and_a_flag_sets_it():
    assert build_settings("local", load_profile("local")).source.min_partitions is None
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    settings = settings_from_args(parser.parse_args(["--min-partitions", "8"]))
    assert settings.source.min_partitions == 8
