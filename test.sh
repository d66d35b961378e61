#!/usr/bin/env bash
# Run the test suite: unit tests, streaming tests, and integration tests against a real Kafka
# broker (started and stopped by the tests on free ports), real Delta tables and spark-submit.
# Sets everything up on first use (virtualenv, packages, jars). Arguments go to pytest:
#   ./test.sh -m "not integration"      # only the fast tests
#   ./test.sh -k windows -x
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
cd "$RIDESTREAM_ROOT"
# Download the jars here, with a message, rather than silently inside the first fixture.
python -m ridestream.jars spark >/dev/null
python -m ridestream.jars kafka >/dev/null
exec python -m pytest "$@"
