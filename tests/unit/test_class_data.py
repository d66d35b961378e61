"""Which class-data archive a Spark driver starts with, and when it has none."""

from __future__ import annotations

import os
import subprocess

import pytest

from ridestream import class_data, jars


def fake_jars(monkeypatch, tmp_path):
    pyspark_jars, connectors = tmp_path / "pyspark-jars", tmp_path / "home" / "jars" / "spark"
    for directory in (pyspark_jars, connectors):
        directory.mkdir(parents=True)
    (pyspark_jars / "spark-core_2.13-4.2.0.jar").write_bytes(b"core")
    (connectors / "delta-spark_2.13-4.4.0.jar").write_bytes(b"delta")
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(jars, "pyspark_jars_dir", lambda: pyspark_jars)
    monkeypatch.delenv(class_data.DUMP_ENV, raising=False)
    return pyspark_jars, connectors


def test_no_archive_means_no_option(monkeypatch, tmp_path):
    fake_jars(monkeypatch, tmp_path)
    assert class_data.driver_options() == []


def test_the_archive_for_these_jars_is_used_quietly(monkeypatch, tmp_path):
    fake_jars(monkeypatch, tmp_path)
    archive = class_data.archive_path()
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    assert class_data.driver_options() == [
        f"-XX:SharedArchiveFile={archive}",
        "-Xlog:cds=off",
        "-Xlog:cds+dynamic=off",
    ]


def test_other_jars_or_another_java_find_no_archive(monkeypatch, tmp_path):
    pyspark_jars, connectors = fake_jars(monkeypatch, tmp_path)
    archive = class_data.archive_path()
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    # A connector jar replaced (same name, other bytes): the key changes.
    (connectors / "delta-spark_2.13-4.4.0.jar").write_bytes(b"delta, rebuilt")
    assert class_data.archive_path() != archive
    assert class_data.driver_options() == []
    (connectors / "delta-spark_2.13-4.4.0.jar").write_bytes(b"delta")
    os.utime(connectors / "delta-spark_2.13-4.4.0.jar", ns=(0, 0))
    # A jar added to pyspark's.
    before = class_data.key()
    (pyspark_jars / "extra-1.0.jar").write_bytes(b"x")
    assert class_data.key() != before
    # Another java binary first on PATH.
    other = tmp_path / "other-jdk" / "bin"
    other.mkdir(parents=True)
    (other / "java").write_text("#!/bin/sh\n")
    (other / "java").chmod(0o755)
    before = class_data.key()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", f"{other}{os.pathsep}{os.environ['PATH']}")
    assert class_data.key() != before


def test_the_run_that_writes_it_asks_the_jvm_to_archive_at_exit(monkeypatch, tmp_path):
    fake_jars(monkeypatch, tmp_path)
    monkeypatch.setenv(class_data.DUMP_ENV, str(tmp_path / "new.jsa"))
    assert class_data.driver_options()[0] == f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}"


def test_a_real_jvm_runs_with_an_archive_it_cannot_use(tmp_path):
    # Not an archive at all (cut short, say): java starts without it, exit 0, no word.
    bad = tmp_path / "bad.jsa"
    bad.write_bytes(b"\0" * 4096)
    result = java(f"-XX:SharedArchiveFile={bad}", *class_data.QUIET, "-version")
    assert result.returncode == 0 and "warning" not in result.stdout + result.stderr


@pytest.mark.skipif(
    not class_data.archive_path().is_file(),
    reason="no class-data archive here: test.sh writes it (python -m ridestream.class_data)",
)
def test_the_real_archive_in_a_jvm_of_other_classes_is_left_out_without_a_word():
    # Spark's archive in a JVM without Spark's class path (a broker, a tool): the JVM warns on
    # stdout, which the job's console would show, unless told not to.
    archive = f"-XX:SharedArchiveFile={class_data.archive_path()}"
    loud = java(archive, "-version")
    assert loud.returncode == 0 and "Unable to use shared archive" in loud.stdout + loud.stderr
    quiet = java(archive, *class_data.QUIET, "-version")
    assert quiet.returncode == 0 and "warning" not in quiet.stdout + quiet.stderr


def java(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["java", *args], capture_output=True, text=True, timeout=60)
