#!/usr/bin/env bash
# Run a ridestream job with spark-submit.
#
#   ./spark-submit.sh [spark-submit options] jobs/JOB.py [job options]
#
# On first use it creates the virtualenv (.venv) with the pinned packages and downloads the
# connector jars into $RIDESTREAM_HOME (default .ridestream/); later runs need no network.
# If the job's profile (--profile, $RIDESTREAM_PROFILE, default "local") asks for it, the job
# starts the embedded Kafka broker and the ride generator first and stops them when it ends.
# Options before the job file go to spark-submit (e.g. --master, --driver-memory); options after
# it go to the job (see: ./spark-submit.sh jobs/ride_windows.py --help).
# Ctrl-C or SIGTERM (to this script or its process group) stops the job after its current batch.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
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

# A stop before the JVM starts ends the run here, exit 130, as a stop of the job would.
stopped_early=false
checker=""
trap 'stopped_early=true; [[ -z "$checker" ]] || kill "$checker" 2>/dev/null || true' INT TERM
interrupted() {
  echo "$(basename "$job" .py): interrupted" >&2
  exit 130
}

source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
if $stopped_early; then interrupted; fi

# The job's own checks first, without a JVM: a bad flag, a held checkpoint, an unreachable broker
# or a missing topic is refused in a second (ridestream/precheck.py); --help is printed there.
for arg in ${job_args[@]+"${job_args[@]}"}; do
  case "$arg" in
    -h|--help)
      # (a job file of your own, not one of jobs/, prints its help in the driver as before)
      help="$(python -m ridestream.precheck "$job" "${job_args[@]}")" || exit $?
      if [[ -n "$help" ]]; then printf '%s\n' "$help"; exit 0; fi
      ;;
  esac
done
# In the background, so that a stop (Ctrl-C, SIGTERM) ends the wait for a broker at once.
python -m ridestream.precheck "$job" ${job_args[@]+"${job_args[@]}"} &
checker=$!
precheck=0
wait "$checker" || precheck=$?
if $stopped_early; then
  wait "$checker" 2>/dev/null || true
  interrupted
fi
((precheck == 0)) || exit "$precheck"

jars="$(python -m ridestream.jars spark)" || { if $stopped_early; then interrupted; fi; exit 1; }
# The package's own code, for executors on a cluster (--master spark://..., yarn, k8s://...).
pyfiles="$(python -m ridestream.pyfiles)" || { if $stopped_early; then interrupted; fi; exit 1; }
# The class-data archive, when there is one for this Java and these jars (ridestream/class_data.py).
class_data="$(python -m ridestream.class_data --options)" || class_data=""

# The JVM starts with SIGINT and SIGTERM ignored: a Ctrl-C, or a SIGTERM sent to the whole process
# group (timeout, systemd, a supervisor), then reaches only the Python driver, which stops the
# queries after their current batch instead of dying mid-write. A signal sent to this script
# alone is passed on to the driver (as SIGUSR1: "stop", never "stop now", so a signal that
# reached both does not count twice). The driver writes its pid to this file when it starts.
export RIDESTREAM_DRIVER_PID_FILE="$RIDESTREAM_HOME/run/driver-$$.pid"
mkdir -p "$(dirname "$RIDESTREAM_DRIVER_PID_FILE")"
rm -f "$RIDESTREAM_DRIVER_PID_FILE"
trap 'rm -f "$RIDESTREAM_DRIVER_PID_FILE"' EXIT
stop_requested=false
forwarded=false
forward() { stop_requested=true; pass_stop_on; }
pass_stop_on() {
  local driver
  driver="$(cat "$RIDESTREAM_DRIVER_PID_FILE" 2>/dev/null || true)"
  [[ -n "$driver" ]] && kill -USR1 "$driver" 2>/dev/null && forwarded=true || true
}
trap forward INT TERM
# (a stop that came before this trap was set)
if $stopped_early; then interrupted; fi

(trap '' INT TERM; exec spark-submit \
  --jars "$jars" \
  --py-files "$pyfiles" \
  --driver-java-options "-Dlog4j2.configurationFile=$RIDESTREAM_ROOT/conf/log4j2.properties -Dridestream.log.dir=$RIDESTREAM_HOME/logs${class_data:+ $class_data}${RIDESTREAM_JAVA_OPTIONS:+ $RIDESTREAM_JAVA_OPTIONS}" \
  --conf spark.ui.showConsoleProgress=false \
  ${spark_args[@]+"${spark_args[@]}"} \
  "$job" ${job_args[@]+"${job_args[@]}"}) \
  2> >(grep -v --line-buffered '^WARNING: Using incubator modules' >&2) &
child=$!
# `wait` returns early when a trapped signal arrives: wait again until the job has ended. A stop
# asked for before the driver was ready (it writes its pid once it can take one) is passed on as
# soon as it is.
status=0
while :; do
  if $stop_requested && ! $forwarded; then
    pass_stop_on
    if ! $forwarded && kill -0 "$child" 2>/dev/null; then sleep 0.5; continue; fi
  fi
  wait "$child" && status=0 || status=$?
  kill -0 "$child" 2>/dev/null || break
done
exit "$status"
