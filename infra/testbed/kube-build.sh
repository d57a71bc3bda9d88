#!/usr/bin/env bash
# Builds (once) and caches a Kubernetes control plane for the test-bed, from the
# Go module proxy only (no Docker, no release downloads), and prints the bin
# dir as the last line of stdout:
#   KUBE_BIN=$(bash infra/testbed/kube-build.sh | tail -1)
# The bin dir holds: kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), kwok and
# kwokctl (sigs.k8s.io/kwok). infra/testbed/kube.sh starts clusters with them.
#
# Versions (each overridable; the cache folder is keyed by all three):
#   DAYBOX_KUBE_VERSION (default v1.36.3): kwok v0.8.0 is built and tested
#     against Kubernetes 1.36 (its default kube version is 1.36.1), and 1.36's
#     go.mod says go 1.26.0, so it builds with the machine's Go 1.26 (no
#     GOTOOLCHAIN download). Other releases (1.34.x, 1.35.x) were not tried.
#   DAYBOX_ETCD_VERSION (default v3.6.16): Kubernetes 1.36 uses the etcd 3.6
#     client (v3.6.8 in its go.mod); the newest 3.6 patch release is taken.
#   DAYBOX_KWOK_VERSION (default v0.8.0): the newest kwok release.
# k8s.io/kubernetes is not meant to be used as a module: its go.mod requires its
# staging modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and replaces
# them with ./staging/src/... paths, which do not apply to a dependency. The
# scratch module here replaces every k8s.io/* module listed at v0.0.0 with the
# published v0.<minor>.<patch> (the usual workaround for using k8s.io/kubernetes
# as a dependency).
# The version strings that `kube-apiserver --version` prints are set with
# -ldflags -X (kwokctl reads them to choose flags).
#
# Idempotent and safe to run concurrently (flock). First build, measured on 2
# cores with empty Go caches: 12.5 min (kwok 3 min, etcd 1 min, Kubernetes
# 8.5 min, module downloads included); with a warm Go build cache ~1 min; once
# built, it returns at once. Needs ~2 GB of module cache and ~4 GB of build
# cache; the 7 binaries take 480 MB.
# Env: DAYBOX_TESTBED_DIR (default ~/.cache/daybox-testbed). Go's own caches
# (GOCACHE, GOMODCACHE) are used as configured (`go env`), never wiped.
set -euo pipefail

TESTBED_DIR="${DAYBOX_TESTBED_DIR:-$HOME/.cache/daybox-testbed}"
KUBE_VERSION="${DAYBOX_KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${DAYBOX_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${DAYBOX_KWOK_VERSION:-v0.8.0}"
BIN_DIR="$TESTBED_DIR/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
STAMP="$BIN_DIR/.complete"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)

log() { echo "kube-build.sh: $*" >&2; }

complete() {
  [[ -f "$STAMP" ]] || return 1
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}

# shellcheck source=infra/testbed/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-build.sh"
built_or_lock .kube-build.lock "$BIN_DIR"
use_local_go "the Kubernetes test-bed" "-buildvcs=false"

if [[ ! "$KUBE_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  log "DAYBOX_KUBE_VERSION must look like v1.36.3, got $KUBE_VERSION"
  exit 1
fi
KUBE_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

partial="$BIN_DIR.partial"
work="$partial/.work"
rm -rf "$partial"
mkdir -p "$work"
log "building into $BIN_DIR with $(go version) (first run only; ~13 min on 2 cores)"
total_start=$(date +%s)

# 1. kwok and kwokctl: plain `go install` (their go.mod has no replace directives).
start=$(date +%s)
log "kwok/kwokctl $KWOK_VERSION…"
if ! (cd "$work" && GOBIN="$partial" go install -trimpath -ldflags "-s -w" \
  "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION") >&2; then
  log "go install sigs.k8s.io/kwok/cmd/{kwok,kwokctl}@$KWOK_VERSION failed"
  exit 1
fi
log "kwok/kwokctl built in $(($(date +%s) - start))s"

# 2. etcd: its main package lives in the (unpublishable) root module, so a
#    scratch module calls etcdmain.Main like etcd's own main.go does.
start=$(date +%s)
log "etcd $ETCD_VERSION…"
mkdir -p "$work/etcd"
cat >"$work/etcd/main.go" <<'EOF'
// etcd built from go.etcd.io/etcd/server/v3 for the Daybox test-bed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
EOF
if ! (cd "$work/etcd" \
  && go mod init daybox.dev/testbed/etcd \
  && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
  && go mod tidy \
  && go build -mod=mod -trimpath -ldflags "-s -w" -o "$partial/etcd" .) >&2; then
  log "building etcd $ETCD_VERSION failed"
  exit 1
fi
log "etcd built in $(($(date +%s) - start))s"

# 3. kube-apiserver, kube-controller-manager, kube-scheduler, kubectl.
start=$(date +%s)
log "Kubernetes $KUBE_VERSION (staging modules at $STAGING_VERSION)…"
gomod=$(cd "$work" && GOFLAGS='' go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
  | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$gomod" || ! -f "$gomod" ]]; then
  log "could not download k8s.io/kubernetes@$KUBE_VERSION's go.mod"
  exit 1
fi
staging=$(sed -nE 's#^[[:space:]]*(k8s\.io/[A-Za-z0-9._/-]+) v0\.0\.0([[:space:]].*)?$#\1#p' "$gomod" | sort -u)
if [[ -z "$staging" ]]; then
  log "no k8s.io/* modules at v0.0.0 in $gomod; is $KUBE_VERSION a k8s.io/kubernetes release?"
  exit 1
fi
mkdir -p "$work/kube"
{
  echo "module daybox.dev/testbed/kube"
  echo
  echo "go $(sed -nE 's/^go ([0-9.]+).*/\1/p' "$gomod")"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} >"$work/kube/go.mod"
log "replacing $(echo "$staging" | wc -l) staging modules with $STAGING_VERSION"
cmds=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
vpkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags="-s -w"
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for p in "${vpkgs[@]}"; do
  ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$KUBE_MINOR"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done
if ! (cd "$work/kube" \
  && go get "${cmds[@]/%/@$KUBE_VERSION}" \
  && go build -mod=mod -trimpath -ldflags "$ldflags" -o "$partial/" "${cmds[@]}") >&2; then
  log "building Kubernetes $KUBE_VERSION failed"
  exit 1
fi
log "Kubernetes binaries built in $(($(date +%s) - start))s"

# 4. Check and publish. The stamp is written only once every binary is in place.
"$partial/kube-apiserver" --version >&2
"$partial/etcd" --version >&2
"$partial/kwokctl" --version >&2
rm -rf "$work"
rm -rf "$BIN_DIR"
mv "$partial" "$BIN_DIR"
date -u +%Y-%m-%dT%H:%M:%SZ >"$STAMP"
log "built $BIN_DIR in $(($(date +%s) - total_start))s"
echo "$BIN_DIR"
