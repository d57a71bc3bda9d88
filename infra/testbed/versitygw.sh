#!/usr/bin/env bash
# Ensures a private S3 server (versitygw, posix backend) for tests is running and
# prints its endpoint URL as the last line of stdout:
#   export DAYBOX_TEST_S3_ENDPOINT=$(bash infra/testbed/versitygw.sh | tail -1)
# Credentials: access key "daybox", secret "daybox-secret", region us-east-1.
# Idempotent and safe to run concurrently. The first run builds versitygw from
# the Go module proxy (~2 min on 2 cores, needs Go >= 1.25); later runs reuse
# the binary cached in a version-keyed folder. A server of another version
# started by this script is restarted with the requested one.
# v1.8.0, not v1.7.0: v1.7.0's posix backend checks If-None-Match before it
# writes, without a lock, so concurrent conditional puts can all succeed
# (measured: 18 of 100 races had several winners); v1.8.0 re-checks under a
# per-key publish lock (0 of 100).
# Env: DAYBOX_TESTBED_DIR (default ~/.cache/daybox-testbed), DAYBOX_S3_PORT (default 7070),
#      DAYBOX_VERSITYGW_VERSION (default v1.8.0).
# State (data, sidecar metadata, pid, log) lives in $DAYBOX_TESTBED_DIR/versitygw
# (versitygw-port-<port> for other ports). Stop it with:
#   kill "$(cat "${DAYBOX_TESTBED_DIR:-$HOME/.cache/daybox-testbed}/versitygw/versitygw.pid")"
set -euo pipefail

TESTBED_DIR="${DAYBOX_TESTBED_DIR:-$HOME/.cache/daybox-testbed}"
PORT="${DAYBOX_S3_PORT:-7070}"
VERSION="${DAYBOX_VERSITYGW_VERSION:-v1.8.0}"
BIN_DIR="$TESTBED_DIR/versitygw-$VERSION"
BIN="$BIN_DIR/versitygw"
STAMP="$BIN_DIR/.complete"
# One server (data, pid, log) per port; the default port keeps the plain name.
if [[ "$PORT" == 7070 ]]; then BASE="$TESTBED_DIR/versitygw"; else BASE="$TESTBED_DIR/versitygw-port-$PORT"; fi
DATA="$BASE/data"
META="$BASE/meta"
PIDFILE="$BASE/versitygw.pid"
VERSIONFILE="$BASE/versitygw.version"
LOG="$BASE/versitygw.log"
ADDR="127.0.0.1:$PORT"
URL="http://$ADDR"
ACCESS_KEY=daybox
SECRET_KEY=daybox-secret

log() { echo "versitygw.sh: $*" >&2; }

mkdir -p "$TESTBED_DIR" "$BASE"

# One invocation at a time builds and starts; the others wait and then find it running.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TESTBED_DIR/.versitygw.lock"
  flock 9
fi

# 1. Build (once per version). The stamp is written only after the binary is in place.
if [[ ! -f "$STAMP" || ! -x "$BIN" ]]; then
  command -v go >/dev/null 2>&1 || { log "go is not on PATH; install Go >= 1.24 to build versitygw"; exit 1; }
  log "building versitygw $VERSION with $(go version) (first run only; takes a few minutes)"
  partial="$BIN_DIR.partial"
  rm -rf "$partial"
  mkdir -p "$partial"
  start=$(date +%s)
  # GOTOOLCHAIN=local: fail clearly instead of downloading another Go toolchain.
  if ! (cd "$partial" && GOTOOLCHAIN=local GOBIN="$partial" go install "github.com/versity/versitygw/cmd/versitygw@$VERSION") >&2; then
    log "go install github.com/versity/versitygw/cmd/versitygw@$VERSION failed"
    exit 1
  fi
  rm -rf "$BIN_DIR"
  mv "$partial" "$BIN_DIR"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$STAMP"
  log "built $BIN in $(($(date +%s) - start))s"
fi

answers() {
  # Any HTTP answer (an unauthenticated request gets 403) means it is serving.
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null --max-time 2 "$URL/"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
  fi
}

ours_running() {
  local pid
  [[ -s "$PIDFILE" ]] || return 1
  pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must still be a versitygw process.
  [[ "$(ps -p "$pid" -o comm= 2>/dev/null || true)" == versitygw* ]]
}

wait_ready() {
  for _ in $(seq 1 100); do
    if answers; then return 0; fi
    ours_running || return 1
    sleep 0.1
  done
  return 1
}

# 2. Start (unless already running).
if ours_running; then
  running_version=$(cat "$VERSIONFILE" 2>/dev/null || echo unknown)
  if [[ "$running_version" == "$VERSION" ]]; then
    if wait_ready; then
      log "already running (pid $(cat "$PIDFILE"), $VERSION, data $DATA)"
      echo "$URL"
      exit 0
    fi
    log "pid $(cat "$PIDFILE") is running but $URL does not answer; see $LOG"
    exit 1
  fi
  log "stopping versitygw $running_version (pid $(cat "$PIDFILE")) to run $VERSION"
  kill "$(cat "$PIDFILE")"
  for _ in $(seq 1 50); do ours_running || break; sleep 0.1; done
  if ours_running; then log "pid $(cat "$PIDFILE") did not exit"; exit 1; fi
fi
rm -f "$PIDFILE" "$VERSIONFILE"
if answers; then
  log "something else already listens on $ADDR (not the versitygw in $PIDFILE); set DAYBOX_S3_PORT"
  exit 1
fi

mkdir -p "$DATA" "$META"
log "starting versitygw $VERSION on $ADDR (data $DATA, log $LOG)"
# --sidecar keeps object metadata in files, so the data dir needs no xattr support.
ROOT_ACCESS_KEY="$ACCESS_KEY" ROOT_SECRET_KEY="$SECRET_KEY" \
  setsid nohup "$BIN" --port "$ADDR" --quiet posix --sidecar "$META" "$DATA" \
  >>"$LOG" 2>&1 </dev/null 9>&- &
echo $! >"$PIDFILE"
echo "$VERSION" >"$VERSIONFILE"

# 3. Wait until it answers.
if wait_ready; then
  echo "$URL"
  exit 0
fi
log "versitygw did not start; last log lines:"
tail -n 30 "$LOG" >&2 || true
exit 1
