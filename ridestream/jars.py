"""The JVM artifacts ridestream needs, and their resolution into a project-local cache.

This module is the one place that names JVM coordinates. ``spark-submit.sh``, the Python session
builder and the embedded broker all call :func:`resolve` and get local jar paths back.

Resolution uses the Ivy jar that ships inside pyspark (``pyspark/jars/ivy-*.jar``), so a new machine
needs only Java and Python. Ivy downloads the closure from Maven Central once into
``$RIDESTREAM_HOME/ivy/<bundle>`` and copies the jars into ``$RIDESTREAM_HOME/jars/<bundle>``; a later run
finds the stamp file there and touches no network.

Run ``python -m ridestream.jars --help`` for the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ridestream.errors import UserError
from ridestream.paths import ridestream_home

SPARK_VERSION = "4.2.0"
SCALA_BINARY = "2.13"
# delta-spark 4.4.1 is the pip wheel; Maven Central carries the Spark 4.2 build of Delta only as
# 4.4.0 (checked 2026-11-25), and the 4.4.1 Python API runs on the 4.4.0 jars.
DELTA_JAR_VERSION = "4.4.0"
KAFKA_BROKER_VERSION = "4.1.1"


@dataclass(frozen=True)
class Bundle:
    """A named set of Maven coordinates resolved together into one directory."""

    name: str
    coordinates: tuple[str, ...]
    excluded_orgs: tuple[str, ...] = ()
    drop_jars_shipped_by_pyspark: bool = False


BUNDLES = {
    # Spark's connectors. The Hadoop client jars they pull are already inside pyspark.
    "spark": Bundle(
        name="spark",
        coordinates=(
            f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{SPARK_VERSION}",
            f"org.apache.spark:spark-avro_{SCALA_BINARY}:{SPARK_VERSION}",
            f"io.delta:delta-spark_4.2_{SCALA_BINARY}:{DELTA_JAR_VERSION}",
        ),
        excluded_orgs=("org.apache.hadoop",),
        drop_jars_shipped_by_pyspark=True,
    ),
    # The embedded broker runs in its own JVM with this classpath, never on Spark's.
    # Kafka's POMs declare no SLF4J binding (the release tarball adds one by hand); without one the
    # broker prints nothing, not even its fatal start-up error.
    "kafka": Bundle(
        name="kafka",
        coordinates=(
            f"org.apache.kafka:kafka_{SCALA_BINARY}:{KAFKA_BROKER_VERSION}",
            "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
        ),
    ),
    # Kafka Connect's standalone worker and the file connectors (ridestream.connect), in a JVM of
    # its own like the broker. The same binding as the broker's: connect-runtime 4.1.1 brings
    # slf4j-api 1.7.36 and no log4j at all, so without it the worker logs nothing.
    "connect": Bundle(
        name="connect",
        coordinates=(
            f"org.apache.kafka:connect-runtime:{KAFKA_BROKER_VERSION}",
            f"org.apache.kafka:connect-file:{KAFKA_BROKER_VERSION}",
            "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
        ),
    ),
    # Kafka's own command-line tools (ProducerPerformance), for bench/ only.
    "kafka-tools": Bundle(
        name="kafka-tools",
        coordinates=(
            f"org.apache.kafka:kafka-tools:{KAFKA_BROKER_VERSION}",
            "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
        ),
    ),
}


class JarResolutionError(UserError, RuntimeError):
    """Raised when the jars cannot be resolved; the message says what to do."""


def pyspark_jars_dir() -> Path:
    """Return the directory of jars that ship inside the installed pyspark.

    In a spark-submit driver, ``pyspark`` is imported from ``python/lib/pyspark.zip`` under
    ``$SPARK_HOME``, which spark-submit sets: the jars are in ``$SPARK_HOME/jars``.
    """
    import pyspark

    shipped = Path(pyspark.__file__).parent / "jars"
    spark_home = os.environ.get("SPARK_HOME")
    if not shipped.is_dir() and spark_home and (Path(spark_home) / "jars").is_dir():
        return Path(spark_home) / "jars"
    return shipped


def _ivy_jar() -> Path:
    candidates = sorted(pyspark_jars_dir().glob("ivy-*.jar"))
    if not candidates:
        raise JarResolutionError(
            f"no ivy-*.jar in {pyspark_jars_dir()}: reinstall pyspark (./spark-submit.sh does)"
        )
    return candidates[-1]


def _artifact_name(jar: Path) -> str:
    """Return a jar's artifact name without its version: ``kafka-clients-3.9.2.jar`` -> ``kafka-clients``."""
    parts = jar.stem.split("-")
    for index, part in enumerate(parts):
        if part[:1].isdigit():
            return "-".join(parts[:index])
    return jar.stem


def _fingerprint(bundle: Bundle) -> str:
    text = "\n".join(
        (*bundle.coordinates, *bundle.excluded_orgs, str(bundle.drop_jars_shipped_by_pyspark))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ivy_module(bundle: Bundle) -> str:
    lines = [
        '<ivy-module version="2.0">',
        f'  <info organisation="ridestream" module="{bundle.name}"/>',
        "  <dependencies>",
    ]
    for coordinate in bundle.coordinates:
        org, name, rev = coordinate.split(":")
        lines.append(
            f"    <dependency org={quoteattr(org)} name={quoteattr(name)} rev={quoteattr(rev)}"
            ' conf="default->default"/>'
        )
    lines += [f"    <exclude org={quoteattr(org)}/>" for org in bundle.excluded_orgs]
    lines += ["  </dependencies>", "</ivy-module>"]
    return "\n".join(lines)


def bundle_dir(name: str) -> Path:
    """Return the directory that holds (or will hold) a bundle's jars."""
    return ridestream_home() / "jars" / name


def resolve(name: str, *, quiet: bool = False) -> list[Path]:
    """Return the local jar files of a bundle, downloading them on first use.

    Parameters
    ----------
    name
        ``"spark"`` (connectors for Spark), ``"kafka"`` (the embedded broker's classpath) or
        ``"connect"`` (the Kafka Connect worker's, see :mod:`ridestream.connect`).
    quiet
        Do not print the one-line progress message on first download.
    """
    bundle = BUNDLES[name]
    target = bundle_dir(name)
    stamp = target / ".resolved"
    if stamp.exists() and stamp.read_text().strip() == _fingerprint(bundle):
        return sorted(target.glob("*.jar"))

    java = shutil.which("java")
    if java is None:
        raise JarResolutionError(
            "java not found on PATH: install a Java 17 runtime (Spark 4 needs it)"
        )
    if not quiet:
        # One write (the line and its end together): bundles resolve in parallel threads.
        sys.stderr.write(
            f"ridestream: resolving {name} jars from Maven Central into {target} (first run only)...\n"
        )
        sys.stderr.flush()
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=_mkdir(target.parent)))
    try:
        ivy_file = staging / "ivy.xml"
        ivy_file.write_text(_ivy_module(bundle))
        command = [
            java,
            "-jar",
            str(_ivy_jar()),
            "-ivy",
            str(ivy_file),
            "-cache",
            # A cache per bundle: bundles resolve in parallel (resolve_all), and two Ivy
            # processes writing one cache can corrupt it.
            str(ridestream_home() / "ivy" / name),
            "-confs",
            "default",
            "-retrieve",
            str(staging / "[artifact]-[revision](-[classifier]).[ext]"),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            log = ridestream_home() / "logs" / f"ivy-{name}.log"
            _mkdir(log.parent)
            log.write_text(result.stdout + result.stderr)
            raise JarResolutionError(
                f"could not download the {name} jars from Maven Central (details: {log}); "
                "check the network or proxy and run again"
            )
        if bundle.drop_jars_shipped_by_pyspark:
            # pyspark's own jars come first on the classpath anyway; keeping a second copy of
            # jackson or scala-library would only invite version conflicts.
            shipped = {_artifact_name(jar) for jar in pyspark_jars_dir().glob("*.jar")}
            for jar in staging.glob("*.jar"):
                if _artifact_name(jar) in shipped:
                    jar.unlink()
        (staging / ".resolved").write_text(_fingerprint(bundle) + "\n")
        ivy_file.unlink()
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(target.glob("*.jar"))


def resolve_all(names: list[str]) -> dict[str, list[Path]]:
    """Resolve several bundles at once (each is one Ivy process, mostly waiting on the network).

    Raises the first bundle's error, after every resolution has ended.
    """
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        futures = {name: pool.submit(resolve, name) for name in names}
    return {name: future.result() for name, future in futures.items()}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    """Resolve a bundle and print its jars (the shell wrappers call this)."""
    parser = argparse.ArgumentParser(
        prog="python -m ridestream.jars",
        description="Resolve ridestream's JVM jars into $RIDESTREAM_HOME/jars and print them.",
    )
    parser.add_argument(
        "bundle",
        nargs="+",
        choices=sorted(BUNDLES),
        help="which set of jars; several are resolved at once, and printed a line each",
    )
    parser.add_argument(
        "--separator", default=",", help="between printed paths (',' for --jars, ':' for -cp)"
    )
    args = parser.parse_args(argv)
    try:
        bundles = resolve_all(list(dict.fromkeys(args.bundle)))
    except JarResolutionError as error:
        print(f"ridestream: {error}", file=sys.stderr)
        return 1
    for jars in bundles.values():
        print(args.separator.join(str(jar) for jar in jars))
    return 0


if __name__ == "__main__":
    sys.exit(main())
