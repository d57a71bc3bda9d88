#!/usr/bin/env bash
# Ensures a headless-capable Chromium (Debian's package) is installed for the
# browser tests and prints its executable as the last line of stdout:
#   export DAYBOX_TEST_CHROMIUM=$(bash infra/testbed/chromium.sh | tail -1)
# Idempotent; the first run installs it with apt-get (~40 s). Playwright's own
# browser download cannot work offline; playwright-core drives this binary.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

find_chromium() {
  local c
  for c in "${DAYBOX_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [[ -n "$c" && -x "$c" ]] && "$c" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; then
      echo "$c"
      return
    fi
  done
}

BIN=$(find_chromium)
if [[ -z "$BIN" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "no Chromium found; install it (sudo apt-get install -y chromium) or run the tests as root"
    exit 1
  fi
  log "installing Chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core >&2 || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core >&2; }
  BIN=$(find_chromium)
  [[ -n "$BIN" ]] || { log "the chromium package did not provide a working /usr/bin/chromium"; exit 1; }
fi
log "using $("$BIN" --version 2>/dev/null | head -1)"
echo "$BIN"
