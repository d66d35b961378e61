"""Where the jar resolution finds pyspark's own jars (the Ivy jar among them)."""

from __future__ import annotations

from pathlib import Path

import pyspark

from ridestream import jars


def test_a_spark_submit_driver_finds_pyspark_jars_under_spark_home(monkeypatch, tmp_path):
    # spark-submit's driver imports pyspark from $SPARK_HOME/python/lib/pyspark.zip: no jars
    # directory next to it (the quick start on a fresh machine failed there).
    home = tmp_path / "pyspark"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / "ivy-2.5.3.jar").write_bytes(b"")
    zipped = home / "python" / "lib" / "pyspark.zip" / "pyspark" / "__init__.py"
    monkeypatch.setattr(pyspark, "__file__", str(zipped))
    monkeypatch.setenv("SPARK_HOME", str(home))
    assert jars.pyspark_jars_dir() == home / "jars"
    assert jars._ivy_jar() == home / "jars" / "ivy-2.5.3.jar"


def test_an_installed_pyspark_uses_its_own_jars_whatever_spark_home_says(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARK_HOME", str(tmp_path))  # another Spark, e.g. a system install
    (tmp_path / "jars").mkdir()
    assert jars.pyspark_jars_dir() == Path(pyspark.__file__).parent / "jars"
    assert jars._ivy_jar().name.startswith("ivy-")
