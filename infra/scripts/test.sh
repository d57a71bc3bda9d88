#!/usr/bin/env bash
# The test command: installs everything the tests need — Node dependencies, a
# private PostgreSQL server, a real S3 server (versitygw), a real Jupyter
# server with JupyterLab, Chromium, a Kubernetes control plane with fake GPU
# nodes (KWOK) — then type-checks, builds the portal and
# runs every tier: unit, integration (PGlite and PostgreSQL), end-to-end, browser.
# Extra arguments go to vitest (e.g. `npm test -- --project unit`).
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/lib.sh
export TURBO_TELEMETRY_DISABLED=1 NEXT_TELEMETRY_DISABLED=1

ensure_node_deps

log "starting the test PostgreSQL server…"
DAYBOX_TEST_POSTGRES_URL=$(bash infra/testbed/postgres.sh | tail -1)
export DAYBOX_TEST_POSTGRES_URL

log "starting the test S3 server (first run builds versitygw, ~2 min)…"
DAYBOX_TEST_S3_ENDPOINT=$(bash infra/testbed/versitygw.sh | tail -1)
export DAYBOX_TEST_S3_ENDPOINT

log "installing Jupyter for tests…"
JUPYTER_BIN=$(bash infra/testbed/jupyter.sh | tail -1)
export PATH="$JUPYTER_BIN:$PATH"

log "installing Chromium for the browser tests (first run ~40 s)…"
DAYBOX_TEST_CHROMIUM=$(bash infra/testbed/chromium.sh | tail -1)
export DAYBOX_TEST_CHROMIUM

log "starting the Kubernetes test-bed (first run builds it from the Go module proxy, ~20 min)…"
DAYBOX_TEST_KUBECONFIG=$(bash infra/testbed/kube.sh up --nodes 4 | tail -1)
# A second, smaller cluster for multi-cluster placement (one sim-a100, one sim-h100 node).
DAYBOX_TEST_KUBECONFIG_B=$(bash infra/testbed/kube.sh up --name daybox-b --nodes 2 | tail -1)
export DAYBOX_TEST_KUBECONFIG DAYBOX_TEST_KUBECONFIG_B

log "installing helm for the chart tests (first run builds it from the Go module proxy)…"
DAYBOX_TEST_HELM=$(bash infra/testbed/helm.sh | tail -1)
export DAYBOX_TEST_HELM

log "type-checking and linting…"
npx turbo run typecheck --output-logs=errors-only
npx eslint .

log "building the portal…"
npx turbo run build --output-logs=errors-only

log "running tests…"
npx vitest run "$@"
