"""A class-data archive for Spark driver JVMs: a job starts without parsing Spark's classes again.

Before its first batch a driver JVM loads and verifies tens of thousands of classes from Spark's,
Delta's and Kafka's jars: about 10 s of CPU on 2 cores every time a job starts (bench/README.md,
"class-data archive"). Java's class-data sharing keeps them parsed and verified in a file that
later JVMs map into memory: one run writes it when it exits (``-XX:ArchiveClassesAtExit``), the
next ones read it (``-XX:SharedArchiveFile``).

The archive belongs to one java binary and one set of jars: its name carries a key of both, so a
new Java or other jars find no archive and start as before (no error, no warning) until it is
written again. ``python -m ridestream.class_data`` writes it by running ``jobs/ride_windows.py``
once on a broker of its own (about a minute); ``test.sh`` does that before the suite, which starts
dozens of drivers. ``spark-submit.sh`` and the session builder use it whenever it is there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ridestream import jars
from ridestream.errors import UserError
from ridestream.paths import PROJECT_ROOT, ridestream_home

# Set by `create` for the one run that writes the archive (spark-submit.sh reads it).
DUMP_ENV = "RIDESTREAM_CLASS_DATA_DUMP"
# The JVM says nothing about an archive it cannot use (another JDK build, say): it starts without.
QUIET = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def _stat_line(path: Path) -> str:
    stat = path.stat()
    return f"{path.name} {stat.st_size} {stat.st_mtime_ns}"


def key() -> str:
    """Return the key of this java binary (Spark's choice: $JAVA_HOME, else PATH) and the jars."""
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home) / "bin" / "java" if java_home else None
    if java is None or not java.exists():
        java = Path(shutil.which("java") or "java")
    lines = [os.path.realpath(java)]
    if java.exists():
        lines.append(_stat_line(Path(lines[0])))
    for directory in (jars.pyspark_jars_dir(), jars.bundle_dir("spark")):
        if directory.is_dir():
            lines += sorted(_stat_line(jar) for jar in directory.glob("*.jar"))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def archive_path() -> Path:
    """Return where the archive for this Java and these jars is (whether or not it exists)."""
    return ridestream_home() / "jvm" / f"spark-driver-{key()}.jsa"


def driver_options() -> list[str]:
    """Return the JVM options for a Spark driver: the archive's, or none when there is none."""
    dump = os.environ.get(DUMP_ENV)
    if dump:
        return [f"-XX:ArchiveClassesAtExit={dump}", *QUIET]
    archive = archive_path()
    return [f"-XX:SharedArchiveFile={archive}", *QUIET] if archive.is_file() else []


def create() -> Path | None:
    """Write the archive by running ``jobs/ride_windows.py`` once; return its path (None: failed).

    The run reads 600 generated rides (some malformed) from a broker of its own, windows them
    into a Delta table in update mode and writes the rejects to Kafka: the classes a job uses.
    A failure is one line and the run's output; jobs then start without the archive.
    """
    from ridestream.local import EmbeddedKafka, free_port

    target = archive_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob("spark-driver-*.jsa"):
        stale.unlink()  # another Java or other jars: never used again
    staging = target.with_suffix(".tmp")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ridestream-class-data-") as work:
        work = Path(work)
        log = work / "run.log"
        broker = EmbeddedKafka(
            data_dir=work / "kafka", port=free_port(), controller_port=free_port()
        )
        try:
            broker.start()
            profile = work / "profile.toml"
            profile.write_text(
                f'[kafka]\nbootstrap_servers = "{broker.bootstrap_servers}"\n'
                "[embedded]\nkafka = false\ndatagen = false\n"
            )
            with log.open("w") as out:
                code = subprocess.run(
                    [sys.executable, "-m", "ridestream.cli", "datagen", "--profile", str(profile),
                     "--topic", "rides", "--start", "2024-01-01 08:00:00", "--count", "600",
                     "--malformed", "0.02", "--seed", "1"],
                    cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                ).returncode  # fmt: skip
                if code == 0:
                    code = subprocess.run(
                        [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/ride_windows.py",
                         "--profile", str(profile), "--topic", "rides", "--trigger", "available-now",
                         "--max-offsets-per-trigger", "300", "--sink", "delta",
                         "--output-mode", "update", "--delta-path", str(work / "windows"),
                         "--dead-letter", "kafka", "--dead-letter-topic", "rides_dead_letter",
                         "--checkpoint-dir", str(work / "checkpoints"), "--progress", "off"],
                        cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                        env={**os.environ, DUMP_ENV: str(staging)},
                    ).returncode  # fmt: skip
        except UserError as error:  # the broker would not start
            code = 1
            print(f"ridestream: {error}", file=sys.stderr)
        finally:
            broker.stop()
        if code != 0 or not staging.is_file():
            staging.unlink(missing_ok=True)
            output = log.read_text()[-2000:] if log.exists() else ""
            print(
                "ridestream: no class-data archive (the run that writes it failed); jobs start "
                "without it." + (f" Its output:\n{output}" if output else ""),
                file=sys.stderr,
            )
            return None
    staging.replace(target)
    size = target.stat().st_size / 2**20
    print(
        f"ridestream: class-data archive written in {time.monotonic() - started:.0f} s "
        f"({size:,.0f} MiB): {target}",
        file=sys.stderr,
    )
    return target


def main(argv: list[str] | None = None) -> int:
    """Write the archive if it is missing (``--force``: again); ``--options``: print them."""
    parser = argparse.ArgumentParser(
        prog="python -m ridestream.class_data",
        description="Write the Spark drivers' class-data archive (or print the JVM options that "
        "use it): jobs then start with ~10 s less CPU each.",
    )
    parser.add_argument("--force", action="store_true", help="write it again even if it is there")
    parser.add_argument(
        "--options", action="store_true", help="print the driver's JVM options and write nothing"
    )
    args = parser.parse_args(argv)
    if args.options:
        print(" ".join(driver_options()))
        return 0
    archive = archive_path()
    if archive.is_file() and not args.force:
        print(f"ridestream: class-data archive up to date: {archive}", file=sys.stderr)
        return 0
    print(
        "ridestream: writing the class-data archive for Spark drivers (first run only, about a "
        "minute): one short ride_windows run on a broker of its own...",
        file=sys.stderr,
    )
    return 0 if create() else 1


if __name__ == "__main__":
    sys.exit(main())
