#!/usr/bin/env bash
# The start command: installs what is missing, builds the portal, and starts
# the whole platform on its embedded defaults (PGlite, local runtime, local
# object store) — no external services. Extra arguments go to `daybox up`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/lib.sh
export TURBO_TELEMETRY_DISABLED=1 NEXT_TELEMETRY_DISABLED=1

ensure_node_deps
log "building the portal…"
npx turbo run build --output-logs=errors-only >&2
exec node apps/cli/bin/daybox.js up "$@"
