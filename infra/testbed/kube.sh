#!/usr/bin/env bash
# A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) on 127.0.0.1 with fake GPU nodes simulated by KWOK — no Docker,
# no kubelet, no downloads (binaries come from infra/testbed/kube-build.sh).
#
#   kube.sh up   [--name N] [--nodes K] [--gpus G]   start (or reuse) cluster N;
#                                                    prints its kubeconfig path last
#   kube.sh down [--name N]                          stop and delete cluster N
#   kube.sh kubeconfig [--name N]                    print the kubeconfig path
#   kube.sh list                                     names of the test-bed clusters
#   kube.sh kubectl [--name N] ARGS...               kubectl (the built one) against N
#
#   export DAYBOX_TEST_KUBECONFIG=$(bash infra/testbed/kube.sh up --nodes 4 | tail -1)
#
# Nodes: K Node objects named gpu-node-001.. with the annotation
# kwok.x-k8s.io/node=fake (so KWOK manages them: Ready heartbeats, pods marked
# Running), capacity/allocatable nvidia.com/gpu=G (default 8), cpu 64,
# memory 512Gi, pods 110, and the label daybox.dev/gpu-type cycling through
# DAYBOX_KUBE_GPU_TYPES (default sim-a100,sim-h100: odd nodes a100, even h100).
# Every test-bed node also has daybox.dev/testbed=true and no taints.
# `up` is idempotent: a running cluster is reused (stopped components are
# restarted; one built from other binaries is recreated), missing nodes are
# created and test-bed nodes beyond K are deleted. Several named clusters can run
# at once (kube.sh gives each its own ports, from 32767 down). The API server has RBAC and
# admission enabled; the kubeconfig is for the cluster admin.
# Env: DAYBOX_TESTBED_DIR (default ~/.cache/daybox-testbed; clusters live in its
#      kwok/clusters/<name>), DAYBOX_KUBE_CLUSTER (default name "daybox"),
#      DAYBOX_KUBE_NODES (default 4), DAYBOX_KUBE_GPUS_PER_NODE (default 8),
#      DAYBOX_KUBE_GPU_TYPES (default sim-a100,sim-h100),
#      DAYBOX_KUBE_TIMEOUT (seconds to wait for readiness, default 300).
# The user's ~/.kube/config and ~/.kwok are left alone.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTBED_DIR="${DAYBOX_TESTBED_DIR:-$HOME/.cache/daybox-testbed}"
NAME="${DAYBOX_KUBE_CLUSTER:-daybox}"
NODES="${DAYBOX_KUBE_NODES:-4}"
GPUS="${DAYBOX_KUBE_GPUS_PER_NODE:-8}"
GPU_TYPES="${DAYBOX_KUBE_GPU_TYPES:-sim-a100,sim-h100}"
TIMEOUT="${DAYBOX_KUBE_TIMEOUT:-300}"
# kwokctl keeps its clusters (config, pki, etcd data, logs, pids) here.
export KWOK_WORKDIR="$TESTBED_DIR/kwok"

log() { echo "kube.sh: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift
if [[ "$cmd" == kubectl ]]; then
  if [[ "${1:-}" == --name ]]; then NAME="${2:?--name needs a value}"; shift 2; fi
  kubectl_args=("$@")
  set --
fi
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --name=*) NAME="${1#--name=}"; shift ;;
    --nodes) NODES="${2:?--nodes needs a value}"; shift 2 ;;
    --nodes=*) NODES="${1#--nodes=}"; shift ;;
    --gpus) GPUS="${2:?--gpus needs a value}"; shift 2 ;;
    --gpus=*) GPUS="${1#--gpus=}"; shift ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done
[[ "$NAME" =~ ^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$ ]] || die "cluster name must be lowercase letters, digits and dashes: $NAME"
[[ "$NODES" =~ ^[0-9]+$ ]] || die "--nodes must be a number: $NODES"
[[ "$GPUS" =~ ^[0-9]+$ ]] || die "--gpus must be a number: $GPUS"

CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig.yaml"

# The binaries (built once, cached by version; the first build takes 10-20 min).
# Our bin dir goes first on PATH: kwokctl looks kubectl up on PATH and would
# otherwise download one.
BIN_DIR="" KUBE_VERSION=""
need_bins() {
  [[ -z "$BIN_DIR" ]] || return 0
  BIN_DIR=$(bash "$HERE/kube-build.sh" | tail -1)
  [[ -x "$BIN_DIR/kwokctl" ]] || die "kube-build.sh did not produce $BIN_DIR/kwokctl"
  export PATH="$BIN_DIR:$PATH"
  export KWOK_KUBECTL_BINARY="$BIN_DIR/kubectl"
  KUBE_VERSION=$("$BIN_DIR/kube-apiserver" --version | awk '{print $2}')
  export KWOK_KUBE_VERSION="$KUBE_VERSION"
}

kc() { "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
# -v WARN: kwokctl logs JSON lines at INFO; errors and warnings still show.
kwokctl() {
  forget_stale_pids
  "$BIN_DIR/kwokctl" -v WARN --name "$NAME" "$@" 7>&- 8>&-
}
# kwokctl trusts the pid files in $CLUSTER_DIR/pids: `stop` and `delete`
# SIGKILL whatever process has that pid, `start` skips a component whose pid
# is alive. After a reboot, or in a new container that kept this cache, those
# pids belong to other processes (a CI run's own test command was killed this
# way). A pid file counts only while its process runs in this cluster's
# directory, as kwokctl starts every component there.
component_pid() { # component_pid NAME: the pid of this cluster's running component NAME, or nothing
  local pid dir
  pid=$(cat "$CLUSTER_DIR/pids/$1.pid" 2>/dev/null || true)
  dir=$(cd "$CLUSTER_DIR" 2>/dev/null && pwd -P) || return 0
  if [[ "$pid" =~ ^[0-9]+$ && "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" == "$dir" ]]; then echo "$pid"; fi
}
forget_stale_pids() {
  local f
  for f in "$CLUSTER_DIR"/pids/*.pid; do
    [[ -f "$f" ]] || continue
    [[ -n "$(component_pid "$(basename "$f" .pid)")" ]] || rm -f "$f"
  done
}
exists() { [[ -f "$CLUSTER_DIR/kwok.yaml" ]]; }
# The API server answers /readyz (etcd reachable, informers synced).
api_ready() { [[ -f "$KUBECONFIG_PATH" ]] && kc get --raw /readyz --request-timeout=5s >/dev/null 2>&1; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
default_sa() { kc get serviceaccount default -n default >/dev/null 2>&1; }
# Built from the binaries of this bin dir (a version change means a rebuild).
# Also recreated: one from before KWOK managed only annotated nodes (a test could not take a node's kubelet away).
same_binaries() { grep -q "$BIN_DIR/kube-apiserver" "$CLUSTER_DIR/kwok.yaml" 2>/dev/null && grep -q -- "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" "$CLUSTER_DIR/kwok.yaml"; }

# Locks are fds 7 and 8 of this shell. kwokctl starts the cluster's components
# as daemons that inherit open fds, so every kwokctl call closes them (see
# kwokctl()); otherwise the daemons would hold the locks for their lifetime.
lock() {
  mkdir -p "$KWOK_WORKDIR"
  if command -v flock >/dev/null 2>&1; then
    exec 8>"$KWOK_WORKDIR/$NAME.lock"
    flock 8
  fi
}
# kwokctl picks free ports when it creates a cluster: one creation at a time.
create_lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 7>"$KWOK_WORKDIR/create.lock"
    flock 7
  fi
}
create_unlock() { if command -v flock >/dev/null 2>&1; then exec 7>&-; fi; }

wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS
  local secs=$1 deadline
  shift
  deadline=$(($(date +%s) + secs))
  until "$@"; do
    if (($(date +%s) >= deadline)); then return 1; fi
    sleep 0.5
  done
}

restart_kwok_controller() {
  local pid
  pid=$(component_pid kwok-controller)
  if [[ -n "$pid" ]]; then
    kill "$pid" 2>/dev/null || true
    wait_for 20 pid_gone "$pid" || kill -9 "$pid" 2>/dev/null || true
  fi
  kc delete lease -n kube-node-lease --all >/dev/null 2>&1 || true
  kwokctl start cluster >&2 || true
}

delete_cluster() {
  # --kubeconfig: a file of ours, not ~/.kube/config ("" is refused by delete).
  kwokctl delete cluster --kubeconfig "$KWOK_WORKDIR/kubeconfig-unused.yaml" >&2 || true
  # kwokctl leaves the folder when a component could not be stopped cleanly.
  rm -rf "$CLUSTER_DIR"
}

# free_ports N: N ports from 32767 downwards (below Linux's ephemeral range) that
# no process listens on and no test-bed cluster's config names (a stopped
# cluster keeps its ports). kwokctl's own choice only avoids listening ports
# and some of other clusters' ports: two clusters created seconds apart got
# the same port (b's etcd peer port = a's kwok-controller port).
free_ports() {
  local n=$1 p=32767 used
  used=$( {
    cat "$KWOK_WORKDIR"/clusters/*/kwok.yaml 2>/dev/null | grep -oE '[A-Za-z]+Port: [0-9]+' | awk '{print $2}'
    ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://'
  } | sort -un)
  while ((n > 0 && p > 20000)); do
    if ! grep -qx "$p" <<<"$used"; then
      echo "$p"
      n=$((n - 1))
    fi
    p=$((p - 1))
  done
}

create_cluster() {
  local conf="$KWOK_WORKDIR/$NAME.create.yaml"
  local -a ports
  mapfile -t ports < <(free_ports 6)
  ((${#ports[@]} == 6)) || die "no free ports for cluster $NAME"
  # Options with no command-line flag: bind everything to loopback (the default
  # is 0.0.0.0); no fsync in etcd (a throwaway test cluster); no leader
  # election in the single scheduler and controller manager (a restarted one
  # would otherwise wait up to 15 s for its dead predecessor's lease).
  cat >"$conf" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
  kubeApiserverPort: ${ports[0]}
  etcdPort: ${ports[1]}
  etcdPeerPort: ${ports[2]}
  kwokControllerPort: ${ports[3]}
  kubeControllerManagerPort: ${ports[4]}
  kubeSchedulerPort: ${ports[5]}
componentsPatches:
- name: etcd
  extraArgs:
  - key: unsafe-no-fsync
    value: "true"
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
- name: kube-controller-manager
  extraArgs:
  - key: leader-elect
    value: "false"
# KWOK plays the kubelet only of nodes annotated kwok.x-k8s.io/node=fake (all
# test-bed nodes): removing the annotation is how a test "kills" a node's
# kubelet, so that its Ready condition can go False.
- name: kwok-controller
  extraArgs:
  - key: manage-all-nodes
    value: "false"
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
EOF
  # --kubeconfig "": do not touch ~/.kube/config. Only the five components run
  # (no prometheus, jaeger, metrics-server, dashboard: nothing to download),
  # each from our bin dir.
  kwokctl --config "$conf" create cluster \
    --runtime binary \
    --kubeconfig "" \
    --components etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kwok-controller \
    --etcd-binary "$BIN_DIR/etcd" \
    --kube-apiserver-binary "$BIN_DIR/kube-apiserver" \
    --kube-controller-manager-binary "$BIN_DIR/kube-controller-manager" \
    --kube-scheduler-binary "$BIN_DIR/kube-scheduler" \
    --kwok-controller-binary "$BIN_DIR/kwok" \
    --disable-qps-limits \
    --timeout "${TIMEOUT}s" >&2
}

node_name() { printf 'gpu-node-%03d\n' "$1"; }

# nodes_yaml INDEX...: the Node objects with these indices (1-based).
nodes_yaml() {
  local i name type
  local -a types
  IFS=, read -r -a types <<<"$GPU_TYPES"
  for i in "$@"; do
    name=$(node_name "$i")
    type=${types[$(((i - 1) % ${#types[@]}))]}
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $name
    node-role.kubernetes.io/gpu: ""
    type: kwok
    daybox.dev/testbed: "true"
    daybox.dev/gpu-type: $type
    nvidia.com/gpu.present: "true"
spec: {}
status:
  capacity: &resources
    cpu: "64"
    memory: 512Gi
    ephemeral-storage: 1Ti
    pods: "110"
    nvidia.com/gpu: "$GPUS"
  allocatable: *resources
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
EOF
  done
}

ready_nodes() {
  kc get nodes -l daybox.dev/testbed=true \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true
}

held_leases() {
  kc get leases -n kube-node-lease -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.holderIdentity}{"\n"}{end}' \
    | awk '$1 ~ /^gpu-node-[0-9]+$/ && $2 != ""' | grep -c . || true
}

ensure_nodes() {
  local start existing want extra i
  local -a missing=()
  start=$(date +%s)
  existing=$(kc get nodes -l daybox.dev/testbed=true -o name | sed 's#^node/##')
  want=$(for ((i = 1; i <= NODES; i++)); do node_name "$i"; done)
  extra=$(grep -vxF -f <(echo "$want") <<<"$existing" | grep . || true)
  if [[ -n "$extra" ]]; then
    log "deleting $(grep -c . <<<"$extra") test-bed nodes beyond $NODES"
    # shellcheck disable=SC2086
    kc delete node $extra --wait=false >/dev/null
  fi
  for ((i = 1; i <= NODES; i++)); do
    grep -qxF "$(node_name "$i")" <<<"$existing" || missing+=("$i")
  done
  if ((${#missing[@]} > 0)); then
    log "creating ${#missing[@]} fake GPU nodes ($GPUS x nvidia.com/gpu each, types $GPU_TYPES)"
    # Four kubectl processes, each creating a quarter of the nodes.
    local -a pids=()
    local j chunk=$(((${#missing[@]} + 3) / 4))
    for ((j = 0; j < ${#missing[@]}; j += chunk)); do
      nodes_yaml "${missing[@]:j:chunk}" | kc create -f - >/dev/null &
      pids+=($!)
    done
    for j in "${pids[@]}"; do wait "$j" || die "creating nodes failed"; done
    log "created ${#missing[@]} nodes in $(($(date +%s) - start))s"
  fi
  # All K nodes Ready (KWOK sets the condition and keeps it fresh).
  local deadline=$(($(date +%s) + TIMEOUT)) ready
  while ready=$(ready_nodes); ((ready < NODES)); do
    (($(date +%s) < deadline)) || die "only $ready of $NODES nodes are Ready after ${TIMEOUT}s (kwok log: $CLUSTER_DIR/logs/kwok-controller.log)"
    sleep 0.5
  done
  # KWOK holds every node's lease (it then also simulates that node's pods).
  local leases
  while leases=$(held_leases); ((leases < NODES)); do
    (($(date +%s) < deadline)) || die "KWOK holds the leases of only $leases of $NODES nodes after ${TIMEOUT}s (kwok log: $CLUSTER_DIR/logs/kwok-controller.log)"
    sleep 0.5
  done
  log "$NODES nodes Ready ($(($(date +%s) - start))s)"
}

# A cluster this run created that does not work: show why, delete it, fail.
failed_creation() {
  local f
  log "$1; last lines of the component logs:"
  for f in "$CLUSTER_DIR"/logs/*.log; do
    [[ -f "$f" ]] || continue
    echo "--- $f" >&2
    tail -n 15 "$f" | cut -c1-400 >&2
  done
  delete_cluster
  exit 1
}

up() {
  local start
  start=$(date +%s)
  need_bins
  lock
  if exists && ! same_binaries; then
    log "cluster $NAME was built from other binaries or settings; recreating it"
    delete_cluster
  fi
  if exists && ! api_ready; then
    log "cluster $NAME exists but its API server does not answer; restarting its components"
    # Stop first: a half-dead cluster (some components gone, e.g. after a reboot
    # or a killed CI run) is restarted whole, on its old ports and data.
    kwokctl stop cluster >&2 || true
    kwokctl start cluster >&2 || true
    if wait_for 60 api_ready; then
      # A new kwok-controller takes over a node only once that node's lease is
      # free: the dead controller's leases would leave pods Pending for up to
      # their duration (200 s), and even once deleted the new controller
      # retries only every ~50 s. So: stop it, free them, start it again.
      restart_kwok_controller
    else
      log "cluster $NAME did not come back; recreating it"
      delete_cluster
    fi
  fi
  local created=""
  if exists; then
    log "reusing cluster $NAME"
  else
    log "creating cluster $NAME (Kubernetes $KUBE_VERSION, state in $CLUSTER_DIR)"
    create_lock
    created=1
    if ! create_cluster; then
      create_unlock
      failed_creation "kwokctl create cluster failed"
    fi
    create_unlock
    rm -f "$KWOK_WORKDIR/$NAME.create.yaml"
  fi
  if ! wait_for "$TIMEOUT" api_ready; then
    [[ -z "$created" ]] || failed_creation "API server of $NAME not ready after ${TIMEOUT}s"
    die "API server of $NAME not ready after ${TIMEOUT}s; logs in $CLUSTER_DIR/logs"
  fi
  # The controller manager is working once it has made the default ServiceAccount.
  if ! wait_for "$TIMEOUT" default_sa; then
    [[ -z "$created" ]] || failed_creation "kube-controller-manager did not create the default ServiceAccount"
    die "kube-controller-manager did not create the default ServiceAccount; see $CLUSTER_DIR/logs"
  fi
  ensure_nodes
  log "cluster $NAME up in $(($(date +%s) - start))s: $(kc get --raw /version | tr -d '\n ' | sed -n 's/.*"gitVersion":"\([^"]*\)".*/\1/p') at $(kc config view -o jsonpath='{.clusters[0].cluster.server}')"
  log "use it: export KUBECONFIG=$KUBECONFIG_PATH"
  echo "$KUBECONFIG_PATH"
}

down() {
  lock
  if ! exists && [[ ! -d "$CLUSTER_DIR" ]]; then
    log "no cluster $NAME"
    return 0
  fi
  need_bins
  log "deleting cluster $NAME"
  delete_cluster
}

case "$cmd" in
  up) up ;;
  down) down ;;
  kubeconfig)
    exists || die "no cluster $NAME (start it with: $0 up --name $NAME)"
    echo "$KUBECONFIG_PATH"
    ;;
  list)
    for d in "$KWOK_WORKDIR"/clusters/*/; do [[ -f "$d/kwok.yaml" ]] && basename "$d"; done 2>/dev/null || true
    ;;
  kubectl)
    exists || die "no cluster $NAME"
    need_bins
    kc "${kubectl_args[@]}"
    ;;
  *) log "unknown command: $cmd"; usage ;;
esac
