from datetime import timedelta
from pathlib import Path

import pytest

from ridestream.config import WindowSettings, build_settings, load_profile, parse_duration
from ridestream.errors import ConfigError
from ridestream.jobs.ride_windows import JOB
from ridestream.runner import settings_for


def job_settings(overrides=None, values=None):
    """ride_windows' settings from the local profile (or ``values``) and dotted overrides."""
    return build_settings("local", values or load_profile("local"), overrides, job=JOB)


def test_local_profile_is_the_embedded_default():
    settings = job_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.embedded.kafka and settings.embedded.datagen
    assert settings.job.window.group_by == ("PULocationID",)
    assert settings.job.window.size == "1 minute"  # [jobs.ride_windows.window]
    assert settings.job.source.topic == "rides"  # the shared [source]


def test_overrides_replace_profile_values():
    settings = job_settings({"job.window.size": "10 minutes", "job.sink.kind": "kafka"})
    assert settings.job.window.size == "10 minutes"
    assert settings.job.sink.kind == "kafka"


def test_a_jobs_own_section_overrides_the_shared_one_for_that_job_only():
    values = {
        "kafka": {"bootstrap_servers": "h:1"},
        "source": {"topic": "shared_rides", "format": "csv"},
        "jobs": {"ride_windows": {"source": {"topic": "my_rides"}, "stages": "two"}},
    }
    settings = job_settings(values=values)
    assert (settings.job.source.topic, settings.job.source.format) == ("my_rides", "csv")
    assert settings.job.stages == "two"
    assert settings.source.topic == "shared_rides"  # what the rides commands use
    assert build_settings("x", values).job is None  # a command has no job


def test_an_unknown_job_setting_is_named_with_its_section():
    values = {"kafka": {"bootstrap_servers": "h:1"}, "jobs": {"ride_windows": {"stage": "two"}}}
    with pytest.raises(ConfigError, match=r"\[jobs.ride_windows\]: unknown setting 'stage'"):
        job_settings(values=values)
    values["jobs"]["ride_windows"] = {"window": {"width": "1 minute"}}
    with pytest.raises(ConfigError, match=r"\[jobs.ride_windows.window\]: unknown setting 'width'"):
        job_settings(values=values)


def test_a_setting_that_moved_into_the_job_says_where_it_went():
    values = {"kafka": {"bootstrap_servers": "h:1"}, "query": {"stages": "two"}}
    with pytest.raises(ConfigError, match=r"query.stages is now \[jobs.ride_windows\] stages"):
        job_settings(values=values)


def test_relative_paths_live_under_ridestream_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    settings = job_settings({"job.sink.path": Path("out/table")})
    assert settings.job.sink.path == tmp_path / "out/table"
    assert settings.job.dead_letter.path == tmp_path / "delta/rides_dead_letter"
    assert settings.query.checkpoint("q") == str(tmp_path / "checkpoints/local/q")


def test_paths_on_the_command_line_are_relative_to_the_shell_and_uris_stay_whole(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    settings = settings_for(
        JOB,
        ["--metrics-file", "m.jsonl", "--delta-path", "s3a://bucket/ride_windows",
         "--checkpoint-dir", "abfss://c@acct.dfs.core.windows.net/ckpt"],
    )  # fmt: skip
    assert settings.query.metrics_file == tmp_path / "m.jsonl"
    assert settings.job.sink.path == "s3a://bucket/ride_windows"
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


def test_the_delta_sink_takes_update_mode_and_refuses_an_unknown_one():
    # What update mode emits (every window a batch changed, before it closes) is checked in
    # test_ride_windows_semantics.py; here only that the setting gets through to the sink.
    assert job_settings().job.sink.output_mode == "append"  # the default: final windows only
    settings = job_settings({"job.sink.kind": "delta", "job.sink.output_mode": "update"})
    assert (settings.job.sink.kind, settings.job.sink.output_mode) == ("delta", "update")
    with pytest.raises(
        ConfigError, match="sink.output_mode 'complete': choose one of append, update"
    ):
        job_settings({"job.sink.kind": "delta", "job.sink.output_mode": "complete"})


def test_unknown_setting_is_named():
    with pytest.raises(ConfigError, match="section \\[query\\]: unknown setting 'width'"):
        build_settings("x", {"kafka": {"bootstrap_servers": "h:1"}, "query": {"width": "1"}})


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
    assert job_settings().job.source.format == "json"
    assert settings_for(JOB, ["--profile", "local", "--format", "csv"]).job.source.format == "csv"
    with pytest.raises(ConfigError, match="source.format 'xml': choose one of json, csv"):
        job_settings({"job.source.format": "xml"})


def test_stages_are_one_by_default_and_two_parses_into_a_table_under_ridestream_home(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    settings = job_settings()
    assert settings.job.stages == "one"
    assert settings.job.parsed_path == tmp_path / "delta/rides_parsed"
    monkeypatch.chdir(tmp_path)
    settings = settings_for(JOB, ["--stages", "two", "--parsed-path", "here/parsed"])
    assert (settings.job.stages, settings.job.parsed_path) == ("two", tmp_path / "here/parsed")
    with pytest.raises(ConfigError, match="stages 'three': choose one of one, two"):
        job_settings({"job.stages": "three"})


def test_min_partitions_is_unset_by_default_and_a_flag_sets_it():
    assert job_settings().job.source.min_partitions is None
    assert settings_for(JOB, ["--min-partitions", "8"]).job.source.min_partitions == 8


def test_help_shows_what_each_flag_changes_and_its_value_in_the_profile(monkeypatch, capsys):
    monkeypatch.setenv("CONFLUENT_BOOTSTRAP_SERVERS", "pkc-test:9092")
    with pytest.raises(SystemExit) as exited:
        settings_for(JOB, ["--profile", "confluent-cloud", "--help"])
    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--watermark DURATION how late a ride may arrive and still be counted" in shown
    assert "[window.watermark; now 1 minute]" in shown  # confluent-cloud's, not local's 30 s
    assert "[query.trigger; now 10 seconds]" in shown
