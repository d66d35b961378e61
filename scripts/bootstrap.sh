# Sourced by spark-submit.sh, rides and test.sh: makes sure the virtualenv exists and holds the
# pinned packages. Needs only python3 (3.11+) and java (17) on PATH.
#
# Variables it honours:
#   RIDESTREAM_VENV   where the virtualenv lives            (default: <checkout>/.venv)
#   RIDESTREAM_HOME   jars, Ivy cache, broker data, output  (default: <checkout>/.ridestream)
#   RIDESTREAM_PYTHON the interpreter to build the venv from (default: python3)

export RIDESTREAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RIDESTREAM_VENV="${RIDESTREAM_VENV:-$RIDESTREAM_ROOT/.venv}"
export RIDESTREAM_HOME="${RIDESTREAM_HOME:-$RIDESTREAM_ROOT/.ridestream}"

ridestream_die() { echo "ridestream: $*" >&2; exit 1; }

ridestream_bootstrap() {
  local python="${RIDESTREAM_PYTHON:-python3}"
  command -v "$python" >/dev/null 2>&1 || ridestream_die "$python not found: install Python 3.11+"
  command -v java >/dev/null 2>&1 || ridestream_die "java not found: install a Java 17 runtime (Spark 4 needs it)"

  # Reinstall when pyproject.toml changes (the stamp holds its hash).
  local stamp="$RIDESTREAM_VENV/.ridestream-installed"
  local wanted
  wanted="$(cd "$RIDESTREAM_ROOT" && "$python" -c 'import hashlib,sys; print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest())')"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    return 0
  fi
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || ridestream_die "$("$python" --version) is too old: ridestream needs Python 3.11+"
  echo "ridestream: installing the pinned Python packages into $RIDESTREAM_VENV (first run, about a minute)..." >&2
  local log="$RIDESTREAM_HOME/logs/pip-install.log"
  mkdir -p "$(dirname "$log")"
  if [[ ! -x "$RIDESTREAM_VENV/bin/python" ]]; then
    "$python" -m venv "$RIDESTREAM_VENV" >"$log" 2>&1 || ridestream_die "could not create a virtualenv (see $log)"
  fi
  "$RIDESTREAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$RIDESTREAM_ROOT[test]" >>"$log" 2>&1 \
    || ridestream_die "pip install failed (see $log); check the network or proxy and run again"
  echo "$wanted" >"$stamp"
}

ridestream_bootstrap
export PATH="$RIDESTREAM_VENV/bin:$PATH"
# The driver and the Python workers run the venv's interpreter (pyarrow, confluent-kafka live there).
export PYSPARK_PYTHON="$RIDESTREAM_VENV/bin/python"
export PYSPARK_DRIVER_PYTHON="$RIDESTREAM_VENV/bin/python"
# Spark binds to loopback unless told otherwise (no "hostname resolves to a loopback address").
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
