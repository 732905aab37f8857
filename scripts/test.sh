#!/usr/bin/env bash
# Runs every test of the repository:
#   - starts a throw-away PostgreSQL cluster on 127.0.0.1:55432 (or reuses one already answering there)
#   - starts s3rver (S3 emulator) on 127.0.0.1:4568 (installed into .tools/s3rver on first use)
#   - builds the solution (Release) and runs `dotnet test`, writing TRX files to TestResults/
#   - stops everything it started and prints `tests: N passed, N failed, N skipped` as the last line
#
# Usage: ./scripts/test.sh [extra dotnet test args, e.g. --filter FullyQualifiedName~Foo]
# Env:   MLP_SOLUTION  solution/project to build and test (default: MlPlatform.sln, or MlPlatform.slnx)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

PG_PORT=55432
S3_PORT=4568
S3RVER_VERSION=3.7.1
RESULTS="$REPO/TestResults"
S3RVER_DIR="$REPO/.tools/s3rver"
S3RVER_JS="$S3RVER_DIR/node_modules/s3rver/bin/s3rver.js"

if [[ -z "${MLP_SOLUTION:-}" ]]; then
  MLP_SOLUTION=MlPlatform.sln
  [[ ! -e "$MLP_SOLUTION" && -e MlPlatform.slnx ]] && MLP_SOLUTION=MlPlatform.slnx
fi

log() { echo "[test.sh] $*" >&2; }

WORK=""
PGDATA_DIR=""
PG_STARTED=0
S3_PID=""
CLEANED=0

cleanup() {
  [[ "$CLEANED" == 1 ]] && return 0
  CLEANED=1
  set +e
  if [[ -n "$S3_PID" ]]; then
    kill "$S3_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$S3_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$S3_PID" 2>/dev/null
    wait "$S3_PID" 2>/dev/null
    S3_PID=""
  fi
  if [[ "$PG_STARTED" == 1 ]]; then
    pg_run "$(printf '%q ' "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop)" >/dev/null 2>&1
    PG_STARTED=0
  fi
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    rm -rf "$WORK"
  fi
  set -e
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Run a (pre-quoted) shell command as the PostgreSQL OS user (initdb refuses to run as root).
pg_run() {
  if [[ "$(id -u)" == 0 ]]; then
    su postgres -s /bin/sh -c "cd / && $1"
  else
    sh -c "$1"
  fi
}

# ---------------------------------------------------------------- prerequisites
# A fresh Debian machine may lack the PostgreSQL server and promtool: install them (root or sudo).
SUDO=()
[[ "$(id -u)" == 0 ]] || SUDO=(sudo)
APT_UPDATED=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [[ "$APT_UPDATED" == 0 ]]; then
    "${SUDO[@]}" apt-get update >&2
    APT_UPDATED=1
  fi
  "${SUDO[@]}" apt-get install -y --no-install-recommends "$@" >&2
}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "PostgreSQL server binaries missing - installing"
  apt_install postgresql-15 || apt_install postgresql
fi
if ! command -v promtool >/dev/null 2>&1; then
  log "promtool missing - installing the prometheus package (the tests check /metrics with it)"
  apt_install prometheus
fi
for cmd in dotnet node npm promtool; do
  command -v "$cmd" >/dev/null || { log "error: '$cmd' not found on PATH"; exit 1; }
done
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" ]]; then
  log "error: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb)"
  exit 1
fi
# Make sure stray PG* variables do not redirect psql/pg_ctl.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGDATA PGSERVICE PGSSLMODE

WORK="$(mktemp -d "/tmp/mlp-test.XXXXXX")"
chmod 755 "$WORK"

# ---------------------------------------------------------------- PostgreSQL
PSQL=("$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
CREATE_ROLE_SQL="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mlplatform') THEN
    CREATE ROLE mlplatform LOGIN SUPERUSER PASSWORD 'mlplatform';
  ELSE
    ALTER ROLE mlplatform LOGIN SUPERUSER PASSWORD 'mlplatform';
  END IF;
END \$\$;"

if port_open "$PG_PORT"; then
  log "PostgreSQL already answers on 127.0.0.1:$PG_PORT - reusing it (it will not be stopped)"
  if ! "${PSQL[@]}" -c "$CREATE_ROLE_SQL" >/dev/null 2>&1; then
    log "warning: could not create/alter role 'mlplatform' as user postgres; assuming it exists"
  fi
else
  PGDATA_DIR="$WORK/pg"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || { log "error: running as root but OS user 'postgres' does not exist"; exit 1; }
    install -d -o postgres -g postgres -m 700 "$PGDATA_DIR"
  else
    install -d -m 700 "$PGDATA_DIR"
  fi
  log "initdb $PGDATA_DIR ($PGBIN)"
  if ! pg_run "$(printf '%q ' "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --no-locale --no-sync)" \
       >"$WORK/initdb.log" 2>&1; then
    cat "$WORK/initdb.log" >&2
    log "error: initdb failed"
    exit 1
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  PG_STARTED=1 # set before starting so an interrupted start is still stopped
  if ! pg_run "$(printf '%q ' "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -w -t 60 -l "$PGDATA_DIR/server.log" \
        -o "-p $PG_PORT -k $PGDATA_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start)" \
       >"$WORK/pg_ctl.log" 2>&1; then
    cat "$WORK/pg_ctl.log" "$PGDATA_DIR/server.log" >&2 2>/dev/null || true
    PG_STARTED=0
    log "error: PostgreSQL failed to start"
    exit 1
  fi
  "${PSQL[@]}" -c "$CREATE_ROLE_SQL" >/dev/null
fi

# ---------------------------------------------------------------- s3rver
if [[ -f "$S3RVER_DIR/node_modules/s3rver/package.json" ]] \
   && grep -q "\"version\": *\"$S3RVER_VERSION\"" "$S3RVER_DIR/node_modules/s3rver/package.json"; then
  :
else
  log "installing s3rver@$S3RVER_VERSION into .tools/s3rver"
  mkdir -p "$S3RVER_DIR"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$S3RVER_DIR" "s3rver@$S3RVER_VERSION" >&2
fi
[[ -f "$S3RVER_JS" ]] || { log "error: $S3RVER_JS not found after install"; exit 1; }

if port_open "$S3_PORT"; then
  log "something already listens on 127.0.0.1:$S3_PORT - reusing it as the S3 endpoint (it will not be stopped)"
else
  mkdir -p "$WORK/s3"
  log "starting s3rver on 127.0.0.1:$S3_PORT"
  # s3rver signs ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node >= 17) only
  # offers through its legacy provider; without it every truncated listing answers 500.
  node --openssl-legacy-provider "$S3RVER_JS" -d "$WORK/s3" -a 127.0.0.1 -p "$S3_PORT" --silent </dev/null >"$WORK/s3rver.log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 1 300); do
    port_open "$S3_PORT" && break
    if ! kill -0 "$S3_PID" 2>/dev/null; then
      cat "$WORK/s3rver.log" >&2
      S3_PID=""
      log "error: s3rver exited during startup"
      exit 1
    fi
    sleep 0.1
  done
  port_open "$S3_PORT" || { cat "$WORK/s3rver.log" >&2; log "error: s3rver did not open port $S3_PORT"; exit 1; }
fi

# ---------------------------------------------------------------- tests
export MLP_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=mlplatform;Password=mlplatform;Database=postgres"
export MLP_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
export MLP_TEST_S3_ACCESS_KEY=S3RVER
export MLP_TEST_S3_SECRET_KEY=S3RVER
export AWS_EC2_METADATA_DISABLED=true
export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

rm -rf "$RESULTS"
mkdir -p "$RESULTS"

BUILD_ARGS=()
# On CI do not leave MSBuild / compiler servers running (they can keep the job's output pipe open).
[[ -n "${CI:-}" ]] && BUILD_ARGS+=(--disable-build-servers)

STATUS=0
if [[ -f .config/dotnet-tools.json ]]; then
  dotnet tool restore || STATUS=$?
fi
if [[ "$STATUS" == 0 ]]; then
  log "dotnet build $MLP_SOLUTION -c Release"
  dotnet build "$MLP_SOLUTION" -c Release "${BUILD_ARGS[@]}" || STATUS=$?
fi
if [[ "$STATUS" == 0 ]]; then
  log "dotnet test $MLP_SOLUTION -c Release --no-build $*"
  # The tests' data directories, model caches and child hosts go under the run's work folder,
  # which cleanup removes: a host that still holds a SQLite file cannot leave it behind in /tmp.
  mkdir -p "$WORK/tmp"
  TMPDIR="$WORK/tmp" dotnet test "$MLP_SOLUTION" -c Release --no-build \
    --logger "trx;LogFilePrefix=tr" --results-directory "$RESULTS" "$@" || STATUS=$?
fi

# Stop the servers now (quietly) so the summary stays the last line of output.
cleanup

# ---------------------------------------------------------------- summary
# Sum <Counters .../> over all TRX files. VSTest counts skipped tests in `total` but not in
# `executed` (notExecuted stays 0 for them), so skipped = total - executed.
read -r PASSED FAILED SKIPPED EXECUTED < <(
  find "$RESULTS" -name '*.trx' -type f -print0 2>/dev/null \
    | xargs -0 -r cat \
    | grep -o '<Counters [^>]*>' \
    | awk '
        function attr(s, name,   m) {
          if (match(s, " " name "=\"[0-9]+\"")) { m = substr(s, RSTART, RLENGTH); gsub(/[^0-9]/, "", m); return m + 0 }
          return 0
        }
        { t += attr($0, "total"); e += attr($0, "executed"); p += attr($0, "passed")
          f += attr($0, "failed") + attr($0, "error") + attr($0, "timeout") + attr($0, "aborted") }
        END { s = t - e; if (s < 0) s = 0; printf "%d %d %d %d\n", p, f, s, e }'
)
TRX_COUNT="$(find "$RESULTS" -name '*.trx' -type f 2>/dev/null | wc -l)"

RC=0
if [[ "$STATUS" != 0 ]]; then
  log "error: build/test command failed (exit code $STATUS)"
  RC="$STATUS"
elif [[ "$TRX_COUNT" == 0 ]]; then
  log "error: no TRX result files found in $RESULTS"
  RC=1
elif [[ "$FAILED" != 0 ]]; then
  log "error: $FAILED test(s) failed"
  RC=1
elif [[ "$EXECUTED" == 0 ]]; then
  log "error: no tests were executed"
  RC=1
fi

echo "tests: $PASSED passed, $FAILED failed, $SKIPPED skipped"
exit "$RC"
