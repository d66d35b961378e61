#!/usr/bin/env bash
# Run the test suite: unit tests, streaming tests, and integration tests against a real Kafka
# broker (started and stopped by the tests on free ports), real Delta tables and spark-submit.
# Sets everything up on first use (virtualenv, packages, jars). Arguments go to pytest:
#   ./test.sh -m "not integration"      # only the fast tests
#   ./test.sh -k windows -x
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
cd "$RIDESTREAM_ROOT"
# Download the jars here, with a message, rather than silently inside the first fixture: every
# bundle at once (each is an Ivy process waiting on Maven Central, 40-45 s; in turn they took 2 min).
python -m ridestream.jars spark kafka connect kafka-tools >/dev/null
# The suite starts dozens of Spark drivers: with the class-data archive each parses and verifies
# Spark's classes ~10 s of CPU faster (ridestream/class_data.py). Written once (about a minute);
# without it (it could not be written) the tests run the same, slower.
python -m ridestream.class_data || true
# The suite starts dozens of short-lived JVMs (spark-submit drivers, brokers), each busy for
# seconds, mostly cold: C1 alone and the serial collector cost less there than C2 and G1 on 2
# cores (measured: a fresh JVM's first Delta MERGE 14-16 s -> 11.6 s, the crash test alone
# 241 -> 201 s; the tests in the pytest process itself, long-lived, unchanged). Same code, same
# results. Set RIDESTREAM_JAVA_OPTIONS (even to "") to choose otherwise.
export RIDESTREAM_JAVA_OPTIONS="${RIDESTREAM_JAVA_OPTIONS--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
exec python -m pytest "$@"
