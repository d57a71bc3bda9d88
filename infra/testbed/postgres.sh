#!/usr/bin/env bash
# Ensures a private PostgreSQL server for tests is running and prints its URL as
# the last line of stdout:
#   export DAYBOX_TEST_POSTGRES_URL=$(bash infra/testbed/postgres.sh | tail -1)
# Idempotent. Independent of any system cluster (e.g. Debian's "main").
# Env: DAYBOX_TESTBED_DIR (default ~/.cache/daybox-testbed), DAYBOX_PG_PORT (default 55432).
# Stop it with (as root): runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D "$DAYBOX_TESTBED_DIR/postgres/data" stop
set -euo pipefail

TESTBED_DIR="${DAYBOX_TESTBED_DIR:-$HOME/.cache/daybox-testbed}"
PORT="${DAYBOX_PG_PORT:-55432}"
BASE="$TESTBED_DIR/postgres"
DATA="$BASE/data"
SOCK="$BASE/run"
LOG="$BASE/postgres.log"
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -n "$d" && -x "$d/postgres" ]]; then echo "$d"; fi
}

BINDIR=$(find_bindir)
if [[ -z "$BINDIR" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; install them (apt-get install postgresql) or run as root"
    exit 1
  fi
  log "installing PostgreSQL (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y postgresql >&2
  BINDIR=$(find_bindir)
  [[ -n "$BINDIR" ]] || { log "PostgreSQL installation did not provide /usr/lib/postgresql/*/bin/postgres"; exit 1; }
fi

# PostgreSQL refuses to run as root: run its tools as the postgres OS user.
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  PGUSER_OS=postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  PGUSER_OS=$(id -un)
  as_pg() { "$@"; }
fi

mkdir -p "$BASE"
# postgres must be able to reach the data dir even if it lives under /root.
if [[ $(id -u) -eq 0 ]]; then
  chown "$PGUSER_OS" "$BASE"
  d="$BASE"
  while d=$(dirname "$d"); [[ "$d" != "/" ]]; do
    # grant traversal only (no listing) on parents the postgres user cannot enter
    runuser -u postgres -- test -x "$d" 2>/dev/null || chmod o+x "$d"
  done
fi

# A postmaster.pid left by a server that no longer runs (reboot, a new
# container that kept this cache) may name a live, unrelated process: pg_ctl
# would call the server running and postgres would refuse to start. The pid
# counts only while it is a process running in the data directory.
if [[ -f "$DATA/postmaster.pid" ]]; then
  pid=$(head -1 "$DATA/postmaster.pid" 2>/dev/null || true)
  if [[ ! "$pid" =~ ^[0-9]+$ || "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" != "$(cd "$DATA" && pwd -P)" ]]; then
    log "removing a stale postmaster.pid (pid ${pid:-?} is not this server)"
    rm -f "$DATA/postmaster.pid"
  fi
fi

if as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "already running ($DATA)"
  echo "$URL"
  exit 0
fi

if [[ ! -s "$DATA/PG_VERSION" ]]; then
  log "initdb $DATA"
  as_pg mkdir -p "$DATA"
  as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$BASE/initdb.log" 2>&1 \
    || as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=trust \
      --encoding=UTF8 --locale=C >"$BASE/initdb.log" 2>&1 \
    || { cat "$BASE/initdb.log" >&2; exit 1; }
  cat >"$DATA/pg_hba.conf" <<'HBA'
# daybox testbed: trust local connections only
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
host    all   all   ::1/128       trust
HBA
  chown "$PGUSER_OS" "$DATA/pg_hba.conf"
fi

as_pg mkdir -p "$SOCK"
log "starting on 127.0.0.1:$PORT (log: $LOG)"
as_pg touch "$LOG"
if ! as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
  -o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2; then
  # another invocation may have started it concurrently
  if ! as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
fi

for _ in $(seq 1 60); do
  if "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres; then
    echo "$URL"
    exit 0
  fi
  sleep 0.5
done
log "server did not become ready; see $LOG"
tail -n 30 "$LOG" >&2 || true
exit 1
