#!/usr/bin/env bash
# Run a ridestream job with spark-submit.
#
#   ./spark-submit.sh [spark-submit options] jobs/JOB.py [job options]
#
# On first use it creates the virtualenv (.venv) with the pinned packages and downloads the
# connector jars into $RIDESTREAM_HOME (default .ridestream/); later runs need no network.
# If the job's profile (--profile, $RIDESTREAM_PROFILE, default "local") asks for it, the embedded
# Kafka broker and the ride generator are started first and stopped when the job ends.
# Options before the job file go to spark-submit (e.g. --master, --driver-memory); options after
# it go to the job (see: ./spark-submit.sh jobs/ride_windows.py --help).
set -euo pipefail

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

spark_args=()
job=""
job_args=()
while (($#)); do
  case "$1" in
    -h|--help) [[ -z "$job" ]] && usage 0 ;;
  esac
  if [[ -z "$job" && "$1" == *.py ]]; then
    job="$1"; shift; job_args=("$@"); break
  fi
  spark_args+=("$1"); shift
done
[[ -n "$job" ]] || { echo "spark-submit.sh: no job file given" >&2; usage 2; }
[[ -f "$job" ]] || { echo "spark-submit.sh: $job does not exist (jobs: $(cd "$(dirname "$0")" && ls jobs/*.py | tr '\n' ' '))" >&2; exit 2; }

source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"

# The profile, broker address and value format decide what the embedded stack starts.
stack_args=(--profile "${RIDESTREAM_PROFILE:-local}")
wants_help=false
for ((i = 0; i < ${#job_args[@]}; i++)); do
  case "${job_args[$i]}" in
    -h|--help) wants_help=true ;;
    # --format too: the generator must write what the job parses.
    --profile|--bootstrap-servers|--format) stack_args+=("${job_args[$i]}" "${job_args[$((i + 1))]:-}") ;;
    --profile=*|--bootstrap-servers=*|--format=*) stack_args+=("${job_args[$i]}") ;;
  esac
done

jars="$(python -m ridestream.jars spark)" || exit 1
# The package's own code, for executors on a cluster (--master spark://..., yarn, k8s://...).
pyfiles="$(python -m ridestream.pyfiles)" || exit 1

if ! $wants_help; then
  trap 'exit 130' INT TERM
  rides stack up "${stack_args[@]}"
  # Stop what `stack up` started (and only that) however the job ends.
  trap 'rides stack down "${stack_args[@]}" || true' EXIT
fi

# The JVM starts with SIGINT ignored: Ctrl-C then reaches only the Python driver, which stops
# the queries after their current batch instead of dying mid-write.
status=0
(trap '' INT; exec spark-submit \
  --jars "$jars" \
  --py-files "$pyfiles" \
  --driver-java-options "-Dlog4j2.configurationFile=$RIDESTREAM_ROOT/conf/log4j2.properties${RIDESTREAM_JAVA_OPTIONS:+ $RIDESTREAM_JAVA_OPTIONS}" \
  --conf spark.ui.showConsoleProgress=false \
  ${spark_args[@]+"${spark_args[@]}"} \
  "$job" ${job_args[@]+"${job_args[@]}"}) \
  2> >(grep -v --line-buffered '^WARNING: Using incubator modules' >&2) || status=$?
exit "$status"
