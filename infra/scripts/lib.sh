# Shared by up.sh and test.sh: make the Node workspace ready on a fresh clone.
# shellcheck shell=bash

log() { echo "daybox: $*" >&2; }

require_node() {
  if ! command -v node >/dev/null; then
    log "Node.js is not installed; install Node 20.19+ (or 22/24) and run this again"
    exit 1
  fi
  local v
  v=$(node -p 'process.versions.node')
  if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    log "Node $v is too old; Daybox needs Node 20.19 or newer"
    exit 1
  fi
}

# node-gyp builds node-pty offline against the headers of the running Node.
export_nodedir() {
  if [[ -z "${npm_config_nodedir:-}" ]]; then
    local prefix
    prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
    if [[ -d "$prefix/include/node" ]]; then
      export npm_config_nodedir="$prefix"
    elif [[ -d /usr/include/node ]]; then
      export npm_config_nodedir=/usr
    fi
  fi
}

# Installs dependencies when node_modules is missing or older than the lockfile.
ensure_node_deps() {
  require_node
  export_nodedir
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "installing dependencies…"
    # Not `npm ci`: npm omits other platforms' optional packages (@next/swc-*,
    # @turbo/*) from lockfiles, and `npm ci` then refuses the lockfile.
    npm install --no-fund --no-audit >&2
  elif [[ ! -d packages/db/src/generated/prisma ]]; then
    npm run db:generate --silent >&2
  fi
  # The snapshot engine's native tree walk (postinstall builds it too; this rebuilds it after its source changed).
  node packages/snapshot/native/build.mjs
}
