#!/usr/bin/env bash
# Installs (once) a helm v3 binary for the chart tests and prints its absolute
# path as the last line of stdout (logs go to stderr):
#   export DAYBOX_TEST_HELM=$(bash infra/testbed/helm.sh | tail -1)
#
# Where helm comes from, first that works:
#   1. DAYBOX_HELM_BINARY, if set (an existing helm v3 binary; used as is).
#   2. Debian: no helm package exists (checked: `apt-cache policy helm
#      golang-helm.sh-helm-v3` finds nothing on Debian 12 bookworm), so the
#      script does not try apt.
#   3. Built from the Go module proxy (no release downloads):
#      `go install helm.sh/helm/v3/cmd/helm@$DAYBOX_HELM_VERSION`. helm's go.mod has
#      no replace directives, so a plain `go install` works. The version
#      strings the Makefile sets (`helm version`, and the Kubernetes version
#      `helm template`/`helm lint` assume for .Capabilities.KubeVersion, else
#      v1.20) are set here with -ldflags -X the same way.
#
# Version: DAYBOX_HELM_VERSION (default v3.22.0, the newest v3 on the module
# proxy; its go.mod says go 1.26.0, so it builds with the machine's Go 1.26 and
# GOTOOLCHAIN=local; it uses client-go v0.37, so it assumes Kubernetes 1.37).
# The binary is cached outside the repo in $DAYBOX_TESTBED_DIR/helm-<version>/
# (default ~/.cache/daybox-testbed) and reused on later runs (< 0.1 s).
# Idempotent and safe to run concurrently (flock). First build, measured on 2
# cores: 5 min with empty Go caches (module downloads included; ~410 MB of
# module cache, ~720 MB of build cache), 2 min 45 s when kube-build.sh has
# already warmed the caches; once built, it returns at once. The binary is
# ~60 MB.
# Go's own caches (GOCACHE, GOMODCACHE) are used as configured, never wiped.
set -euo pipefail

TESTBED_DIR="${DAYBOX_TESTBED_DIR:-$HOME/.cache/daybox-testbed}"
VERSION="${DAYBOX_HELM_VERSION:-v3.22.0}"
BIN_DIR="$TESTBED_DIR/helm-$VERSION"
BIN="$BIN_DIR/helm"
STAMP="$BIN_DIR/.complete"

log() { echo "helm.sh: $*" >&2; }

if [[ -n "${DAYBOX_HELM_BINARY:-}" ]]; then
  [[ -x "$DAYBOX_HELM_BINARY" ]] || { log "DAYBOX_HELM_BINARY=$DAYBOX_HELM_BINARY is not executable"; exit 1; }
  readlink -f "$DAYBOX_HELM_BINARY"
  exit 0
fi

if [[ ! "$VERSION" =~ ^v3\.[0-9]+\.[0-9]+$ ]]; then
  log "DAYBOX_HELM_VERSION must look like v3.22.0, got $VERSION"
  exit 1
fi

complete() { [[ -f "$STAMP" && -x "$BIN" ]]; }

# shellcheck source=infra/testbed/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-build.sh"
built_or_lock .helm-build.lock "$BIN"
use_local_go "helm $VERSION" "-mod=mod -buildvcs=false"

partial="$BIN_DIR.partial"
rm -rf "$partial"
mkdir -p "$partial"
start=$(date +%s)
log "building helm $VERSION with $(go version) (first run only; a few minutes on 2 cores)"

# The Kubernetes version helm assumes offline (as helm's Makefile derives it:
# k8s.io/client-go v0.X.Y -> 1.X).
gomod=$(cd "$partial" && GOFLAGS='' go mod download -json "helm.sh/helm/v3@$VERSION" \
  | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$gomod" || ! -f "$gomod" ]]; then
  log "could not download helm.sh/helm/v3@$VERSION's go.mod"
  exit 1
fi
k8s_minor=$(sed -nE 's#^[[:space:]]*k8s\.io/client-go v0\.([0-9]+)\..*#\1#p' "$gomod" | head -1)
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
if [[ -n "$k8s_minor" ]]; then
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
  done
fi

if ! (cd "$partial" && GOBIN="$partial" go install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v3/cmd/helm@$VERSION") >&2; then
  log "go install helm.sh/helm/v3/cmd/helm@$VERSION failed"
  exit 1
fi
"$partial/helm" version >&2
rm -rf "$BIN_DIR"
mv "$partial" "$BIN_DIR"
date -u +%Y-%m-%dT%H:%M:%SZ >"$STAMP"
log "built $BIN in $(($(date +%s) - start))s"
echo "$BIN"
