# shellcheck shell=bash
# Sourced by the test-bed scripts that build tools from the Go module proxy
# (kube-build.sh, helm.sh). Each defines TESTBED_DIR, log() and complete()
# (is the cached build there?) before calling these.

# Prints `$2` and exits when the build is complete; otherwise takes the build
# lock `$TESTBED_DIR/$1` (held until the script exits) and checks again,
# since another invocation may have finished while this one waited.
built_or_lock() {
  if complete; then
    echo "$2"
    exit 0
  fi
  mkdir -p "$TESTBED_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$TESTBED_DIR/$1"
    flock 9
  fi
  if complete; then
    echo "$2"
    exit 0
  fi
}

# The local Go for building `$1`, with GOFLAGS `$2`: GOTOOLCHAIN=local fails
# clearly instead of downloading another toolchain; Go's own caches are used
# as configured (`go env`), never wiped.
use_local_go() {
  command -v go >/dev/null 2>&1 || { log "go is not on PATH; install Go >= 1.26 to build $1"; exit 1; }
  export GOTOOLCHAIN=local GOFLAGS="$2" CGO_ENABLED=0
  GOCACHE="${GOCACHE:-$(go env GOCACHE)}"
  GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE)}"
  export GOCACHE GOMODCACHE
}
