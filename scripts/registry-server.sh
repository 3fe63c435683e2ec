#!/usr/bin/env bash
# A shared MLflow registry on PostgreSQL: `mlflow server` with a PostgreSQL backend store (SQLAlchemy
# postgresql+psycopg://, the `postgres` extra) and an artifact destination (a shared path, or s3://... on a cluster).
#
# usage:
#   scripts/registry-server.sh start DIR [--port 5000] [--host 127.0.0.1] [--pg-port 5432] [--artifacts DEST]
#                                        [--database-uri URI] [--workers 2]
#   scripts/registry-server.sh stop DIR
#   scripts/registry-server.sh status DIR
#
# start: without --database-uri, a PostgreSQL cluster of its own in DIR/postgres (initdb on first use; listens on
#   127.0.0.1:--pg-port only, no Unix socket; password authentication, the password in DIR/pgpass), database and
#   role `mlflow`; then `mlflow server` on --host:--port, its artifacts under DEST (default DIR/artifacts). With
#   --database-uri postgresql+psycopg://USER@HOST:PORT/DB (a team's database) only the mlflow server is started;
#   give the password through PGPASSWORD or PGPASSFILE rather than in the URI, which `ps` shows.
#   It waits until the server answers /health, then prints the MLFLOW_TRACKING_URI to export.
# stop: the mlflow server (its whole process group), then the PostgreSQL cluster in DIR if it runs one.
# Logs: DIR/mlflow.log, DIR/postgres/postgresql.log.
#
# PostgreSQL's initdb/pg_ctl are looked up in $PG_BIN, on PATH, then in /usr/lib/postgresql/<newest>/bin (Debian's
# `postgresql` package, not on PATH). PostgreSQL never runs as root: as root, the cluster belongs to and runs as
# $B2BSCORE_PG_USER (default `postgres`). The mlflow command is $MLFLOW, else .venv/bin/mlflow, else mlflow on PATH.
# MLflow's server job runner (GenAI evaluation jobs, unused by b2bscore) is off: MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true
# turns it on.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_ROLE=mlflow
PG_DATABASE=mlflow

die() { echo "registry-server: $*" >&2; exit 1; }

usage() { sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

find_pg_bin() {  # the folder holding initdb, pg_ctl and createdb
    local initdb=""
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/initdb" ] || die "PG_BIN=$PG_BIN holds no initdb"
        echo "$PG_BIN"; return
    fi
    if initdb="$(command -v initdb 2>/dev/null)"; then
        dirname "$(readlink -f "$initdb")"; return
    fi
    initdb="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"  # the glob itself when none
    if [ -x "$initdb" ]; then dirname "$initdb"; return; fi
    die "PostgreSQL's initdb and pg_ctl were not found (PATH, /usr/lib/postgresql/*/bin). Install PostgreSQL's server
  package (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql), set PG_BIN to the folder
  holding initdb, or give --database-uri to use an existing database"
}

find_mlflow() {
    if [ -n "${MLFLOW:-}" ]; then echo "$MLFLOW"
    elif [ -x "$ROOT/.venv/bin/mlflow" ]; then echo "$ROOT/.venv/bin/mlflow"
    elif command -v mlflow >/dev/null 2>&1; then command -v mlflow
    else die "mlflow not found: run scripts/setup.sh, or set MLFLOW to the mlflow command"; fi
}

as_pg_user() {  # run a PostgreSQL server command, as $B2BSCORE_PG_USER when we are root
    if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
    command -v runuser >/dev/null 2>&1 || die "as root, runuser (util-linux) is needed to run PostgreSQL as '$PG_USER'"
    runuser -u "$PG_USER" -- "$@"
}

pg_running() { [ -f "$DIR/postgres/postmaster.pid" ] && as_pg_user "$PG_BIN/pg_ctl" -D "$DIR/postgres" status >/dev/null 2>&1; }

mlflow_pid() {  # the mlflow server's pid when it runs, else nothing
    local pid
    [ -f "$DIR/mlflow.pid" ] || return 0
    pid="$(cat "$DIR/mlflow.pid")"
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

init_cluster() {
    local password pwfile
    mkdir -p "$DIR/postgres"
    if [ "$(id -u)" -eq 0 ]; then
        id -u "$PG_USER" >/dev/null 2>&1 || die "PostgreSQL refuses to run as root and there is no user '$PG_USER' to
  run it as: create one, or set B2BSCORE_PG_USER to an unprivileged user"
        chown "$PG_USER" "$DIR/postgres"
        runuser -u "$PG_USER" -- test -w "$DIR/postgres" || die "user '$PG_USER' cannot reach $DIR/postgres: let it
  through every folder above (chmod o+x), or choose a folder outside private ones (e.g. under /srv or /tmp)"
    fi
    chmod 700 "$DIR/postgres"
    password="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    (umask 077; printf '127.0.0.1:*:*:%s:%s\n' "$PG_ROLE" "$password" > "$DIR/pgpass")
    pwfile="$(mktemp "$DIR/.pwfile.XXXXXX")"
    printf '%s\n' "$password" > "$pwfile"
    if [ "$(id -u)" -eq 0 ]; then chown "$PG_USER" "$pwfile"; fi
    echo "registry-server: initdb $DIR/postgres (PostgreSQL $("$PG_BIN/initdb" --version | awk '{print $3}'))"
    if ! as_pg_user "$PG_BIN/initdb" -D "$DIR/postgres" -U "$PG_ROLE" --pwfile="$pwfile" --auth=scram-sha-256 \
            -E UTF8 --locale=C > "$DIR/initdb.log" 2>&1; then
        rm -f "$pwfile"
        die "initdb failed (log: $DIR/initdb.log): $(tail -n 5 "$DIR/initdb.log")"
    fi
    rm -f "$pwfile"
}

start_postgres() {
    [ -f "$DIR/postgres/PG_VERSION" ] || init_cluster
    [ -f "$DIR/pgpass" ] || die "$DIR/pgpass is missing: the cluster's password is lost (remove $DIR to start anew)"
    if pg_running; then
        echo "registry-server: PostgreSQL already runs in $DIR/postgres"
    else
        # 127.0.0.1 only and no Unix socket (its default folder may not exist or be writable); pg_ctl -w waits
        if ! as_pg_user "$PG_BIN/pg_ctl" -D "$DIR/postgres" -l "$DIR/postgres/postgresql.log" -w -t 60 \
                -o "-h 127.0.0.1 -p $PG_PORT -k ''" start > /dev/null; then
            die "PostgreSQL did not start on 127.0.0.1:$PG_PORT: $(tail -n 5 "$DIR/postgres/postgresql.log" 2>/dev/null)"
        fi
        echo "registry-server: PostgreSQL listens on 127.0.0.1:$PG_PORT ($DIR/postgres)"
    fi
    export PGPASSFILE="$DIR/pgpass"
    local exists
    exists="$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" || die "cannot connect to PostgreSQL on port $PG_PORT"
    if [ "$exists" != 1 ]; then
        "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" "$PG_DATABASE"
        echo "registry-server: created database $PG_DATABASE"
    fi
    DATABASE_URI="postgresql+psycopg://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DATABASE"
}

wait_for_health() {  # GET /health over bash's /dev/tcp: no curl needed
    local pid="$1" deadline=$((SECONDS + 180)) probe="$HOST"
    [ "$probe" = 0.0.0.0 ] && probe=127.0.0.1
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$DIR/mlflow.pid"
            echo "registry-server: mlflow server ended while starting; the end of $DIR/mlflow.log:" >&2
            tail -n 30 "$DIR/mlflow.log" >&2
            return 1
        fi
        if (exec 3<>"/dev/tcp/$probe/$PORT" && printf 'GET /health HTTP/1.0\r\nHost: %s\r\n\r\n' "$probe" >&3 \
                && head -n 1 <&3 | grep -q ' 200') 2>/dev/null; then
            return 0
        fi
        sleep 0.5
    done
    echo "registry-server: mlflow server did not answer /health within 180 s (log: $DIR/mlflow.log)" >&2
    return 1
}

start() {
    local started_pg=0 mlflow pid
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
    [ -n "$(mlflow_pid)" ] && die "an mlflow server already runs from $DIR (pid $(mlflow_pid)); stop it first"
    if [ -n "$DATABASE_URI" ]; then
        case "$DATABASE_URI" in postgresql*://*) ;; *) die "--database-uri must be postgresql+psycopg://...";; esac
    else
        PG_BIN="$(find_pg_bin)"
        pg_running || started_pg=1
        start_postgres
    fi
    mlflow="$(find_mlflow)"
    if [ -x "$(dirname "$mlflow")/python" ] && ! "$(dirname "$mlflow")/python" -c "import psycopg" 2>/dev/null; then
        die "psycopg is not installed beside $mlflow: pip install 'b2bscore[postgres]' (scripts/setup.sh does)"
    fi
    ARTIFACTS="${ARTIFACTS:-$DIR/artifacts}"
    case "$ARTIFACTS" in *://*) ;; *) mkdir -p "$ARTIFACTS"; ARTIFACTS="$(cd "$ARTIFACTS" && pwd)";; esac
    # its own session, so that stop can end the server and its workers as one process group. MLflow's job runner
    # (a dozen huey consumers for GenAI evaluation jobs; b2bscore logs runs and models only) is off unless asked for.
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" \
    setsid "$mlflow" server --backend-store-uri "$DATABASE_URI" --artifacts-destination "$ARTIFACTS" \
        --host "$HOST" --port "$PORT" --workers "$WORKERS" > "$DIR/mlflow.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$DIR/mlflow.pid"
    if ! wait_for_health "$pid"; then
        stop_mlflow
        if [ "$started_pg" -eq 1 ]; then stop_postgres; fi
        exit 1
    fi
    echo "registry-server: mlflow server on http://$HOST:$PORT (backend ${DATABASE_URI}, artifacts $ARTIFACTS)"
    echo "export MLFLOW_TRACKING_URI=http://$HOST:$PORT"
}

stop_mlflow() {
    local pid
    pid="$(mlflow_pid)"
    if [ -n "$pid" ]; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
        echo "registry-server: mlflow server stopped (pid $pid)"
    fi
    rm -f "$DIR/mlflow.pid"
}

stop_postgres() {
    [ -f "$DIR/postgres/postmaster.pid" ] || return 0
    PG_BIN="$(find_pg_bin)"
    as_pg_user "$PG_BIN/pg_ctl" -D "$DIR/postgres" -m fast -w -t 60 stop > /dev/null
    echo "registry-server: PostgreSQL stopped ($DIR/postgres)"
}

status() {
    local pid
    pid="$(mlflow_pid)"
    if [ -n "$pid" ]; then echo "mlflow server: running (pid $pid)"; else echo "mlflow server: stopped"; fi
    if [ -f "$DIR/postgres/PG_VERSION" ]; then
        PG_BIN="$(find_pg_bin)"
        if pg_running; then echo "PostgreSQL: running ($DIR/postgres)"; else echo "PostgreSQL: stopped"; fi
    fi
}

[ $# -ge 2 ] || usage
COMMAND="$1"; DIR="$2"; shift 2
PORT=5000; HOST=127.0.0.1; PG_PORT=5432; WORKERS=2; ARTIFACTS=""; DATABASE_URI=""
PG_USER="${B2BSCORE_PG_USER:-postgres}"
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case "$1" in
        --port) PORT="$2";; --host) HOST="$2";; --pg-port) PG_PORT="$2";; --workers) WORKERS="$2";;
        --artifacts) ARTIFACTS="$2";; --database-uri) DATABASE_URI="$2";;
        *) die "unknown option $1 (valid: --port, --host, --pg-port, --artifacts, --database-uri, --workers)";;
    esac
    shift 2
done
case "$COMMAND" in
    start) start;;
    stop) [ -d "$DIR" ] || die "no such folder $DIR"; DIR="$(cd "$DIR" && pwd)"; stop_mlflow; stop_postgres;;
    status) [ -d "$DIR" ] || die "no such folder $DIR"; DIR="$(cd "$DIR" && pwd)"; status;;
    *) usage;;
esac
