import pytest

from ridestream.errors import ConfigError
from ridestream.preflight import FINGERPRINT_FILE, check_checkpoint, check_writable

SHAPE = {"window": "tumbling 5 minutes", "group_by": ["PULocationID"], "watermark": "10 minutes"}


def test_a_writable_directory_passes_and_is_created(tmp_path):
    check_writable(tmp_path / "new" / "table", "Delta table", "--delta-path")
    assert (tmp_path / "new" / "table").is_dir()
    assert list((tmp_path / "new" / "table").iterdir()) == []  # the probe is gone


def test_a_path_that_cannot_be_a_directory_names_the_flag(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(
        ConfigError,
        match=r"Delta table at .*a-file/table \(Not a directory\): choose a writable --delta-path",
    ):
        check_writable(blocker / "table", "Delta table", "--delta-path")


def test_remote_paths_are_left_to_spark(monkeypatch, tmp_path):
    # As a local path, "s3a://bucket/table" is the relative "s3a:/bucket/table": a check that
    # treated it as one would create s3a:/bucket/table (and a fingerprint) in the working directory.
    monkeypatch.chdir(tmp_path)
    check_writable("s3a://bucket/table", "Delta table", "--delta-path")
    check_checkpoint("abfss://c@acct.dfs.core.windows.net/ckpt", "ride_windows", SHAPE)
    assert list(tmp_path.iterdir()) == []


def test_the_first_run_records_the_query_shape_and_the_same_shape_passes(tmp_path):
    check_checkpoint(tmp_path, "ride_windows", SHAPE)
    assert (tmp_path / "ride_windows" / FINGERPRINT_FILE).exists()
    check_checkpoint(tmp_path, "ride_windows", dict(SHAPE))


def test_another_window_over_the_same_checkpoint_is_refused_with_what_changed(tmp_path):
    check_checkpoint(tmp_path, "ride_windows", SHAPE)
    with pytest.raises(ConfigError) as refused:
        check_checkpoint(tmp_path, "ride_windows", {**SHAPE, "window": "tumbling 10 minutes"})
    message = str(refused.value)
    assert "window 'tumbling 5 minutes' -> 'tumbling 10 minutes'" in message
    assert "use a new --checkpoint-dir" in message and "group_by" not in message


def test_switching_a_checkpoint_between_one_and_two_stages_is_refused(monkeypatch, tmp_path):
    from ridestream import runner
    from ridestream.jobs.ride_windows import JOB

    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    runner.preflight(JOB, runner.settings_for(JOB, ["--profile", "local"]))
    two = runner.settings_for(JOB, ["--profile", "local", "--stages", "two"])
    # The windows query of two stages reads the parsed table, not the topic: not its checkpoint.
    with pytest.raises(ConfigError, match=r"parsed_table None -> '.*rides_parsed'"):
        runner.preflight(JOB, two)
    assert not (tmp_path / "checkpoints/local/ride_windows_parse").exists()


def test_an_unwritable_metrics_file_is_refused_before_anything_starts(monkeypatch, tmp_path):
    from ridestream import runner
    from ridestream.jobs.ride_windows import JOB

    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a directory should be")
    settings = runner.settings_for(JOB, ["--metrics-file", str(blocker / "metrics.jsonl")])
    with pytest.raises(ConfigError, match=r"metrics file .*choose a writable --metrics-file"):
        runner.preflight(JOB, settings)
