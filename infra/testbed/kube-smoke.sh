#!/usr/bin/env bash
# Smoke test of the Kubernetes test-bed (infra/testbed/kube.sh): the real
# kube-scheduler places a pod that asks for nvidia.com/gpu onto a fake GPU node
# of the requested type, KWOK marks it Running, and GPU capacity is enforced.
#   bash infra/testbed/kube-smoke.sh [KUBECONFIG]
# The kubeconfig comes from the argument or DAYBOX_TEST_KUBECONFIG, e.g.
#   export DAYBOX_TEST_KUBECONFIG=$(bash infra/testbed/kube.sh up --nodes 4 | tail -1)
# Env: DAYBOX_SMOKE_GPU_TYPE (default sim-h100), DAYBOX_SMOKE_TIMEOUT (s, default 60).
# Uses its own namespace (daybox-smoke-*), deleted at the end, also on failure.
# Prints `kubectl get pods -o wide` and a closing "N passed, N failed" line.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KCFG="${1:-${DAYBOX_TEST_KUBECONFIG:-}}"
GPU_TYPE="${DAYBOX_SMOKE_GPU_TYPE:-sim-h100}"
TIMEOUT="${DAYBOX_SMOKE_TIMEOUT:-60}"

log() { echo "kube-smoke.sh: $*" >&2; }
if [[ -z "$KCFG" ]]; then
  log "DAYBOX_TEST_KUBECONFIG is not set; start the test-bed first:"
  # shellcheck disable=SC2016
  log '  export DAYBOX_TEST_KUBECONFIG=$(bash infra/testbed/kube.sh up --nodes 4 | tail -1)'
  exit 2
fi
[[ -f "$KCFG" ]] || { log "kubeconfig $KCFG does not exist (is the cluster up? bash infra/testbed/kube.sh up)"; exit 2; }

BIN_DIR=$(bash "$HERE/kube-build.sh" | tail -1)
k() { "$BIN_DIR/kubectl" --kubeconfig "$KCFG" "$@"; }

NS="daybox-smoke-$(date +%s)-$RANDOM"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
  k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  echo "$passed passed, $failed failed"
}
trap finish EXIT

wait_until() { # wait_until SECONDS COMMAND...
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.5
  done
}

k create namespace "$NS" >/dev/null
# Pods are admitted only once the namespace's default ServiceAccount exists.
wait_until "$TIMEOUT" k get serviceaccount default -n "$NS" >/dev/null 2>&1 \
  || { fail "default ServiceAccount in $NS"; exit 1; }

gpu_pod() { # gpu_pod NAME GPUS
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: $NS
  labels: {app: daybox-smoke}
spec:
  nodeSelector:
    daybox.dev/gpu-type: $GPU_TYPE
  containers:
  - name: main
    image: registry.invalid/daybox/smoke:0
    resources:
      limits:
        nvidia.com/gpu: "$2"
        cpu: 100m
        memory: 128Mi
  terminationGracePeriodSeconds: 0
EOF
}

# 1. One GPU on a node of the requested type, scheduled by kube-scheduler.
gpu_pod gpu-smoke 1 | k apply -f - >/dev/null
phase() { k get pod "$1" -n "$NS" -o jsonpath='{.status.phase}'; }
running() { [[ "$(phase "$1")" == Running ]]; }
if wait_until "$TIMEOUT" running gpu-smoke; then
  ok "pod gpu-smoke is Running (marked by KWOK)"
else
  fail "pod gpu-smoke is not Running after ${TIMEOUT}s (phase: $(phase gpu-smoke))"
fi
node=$(k get pod gpu-smoke -n "$NS" -o jsonpath='{.spec.nodeName}')
node_type=""
if [[ -n "$node" ]]; then node_type=$(k get node "$node" -o jsonpath='{.metadata.labels.daybox\.dev/gpu-type}'); fi
if [[ -n "$node" && "$node_type" == "$GPU_TYPE" ]]; then
  ok "bound to $node (daybox.dev/gpu-type=$node_type)"
else
  fail "bound to '${node}' whose gpu-type is '${node_type}', wanted $GPU_TYPE"
fi
sched=$(k get events -n "$NS" --field-selector involvedObject.name=gpu-smoke,reason=Scheduled \
  -o jsonpath='{range .items[*]}{.reportingComponent}{.source.component}: {.message}{"\n"}{end}')
if grep -q "default-scheduler: Successfully assigned $NS/gpu-smoke to $node" <<<"$sched"; then
  ok "Scheduled event from default-scheduler: $(head -1 <<<"$sched")"
else
  fail "no Scheduled event from default-scheduler for gpu-smoke (events: ${sched:-none})"
fi
gpus=$(k get pod gpu-smoke -n "$NS" -o jsonpath='{.spec.containers[0].resources.requests.nvidia\.com/gpu}')
if [[ "$gpus" == 1 ]]; then ok "requests nvidia.com/gpu=1"; else fail "requests nvidia.com/gpu='$gpus', wanted 1"; fi

# 2. More GPUs than any node has: the scheduler must refuse it.
per_node=$(k get node "${node:-gpu-node-001}" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')
gpu_pod gpu-too-big "$((${per_node:-8} + 1))" | k apply -f - >/dev/null
unsched() {
  k get events -n "$NS" --field-selector involvedObject.name=gpu-too-big,reason=FailedScheduling \
    -o jsonpath='{.items[*].message}' | grep -q "Insufficient nvidia.com/gpu"
}
if wait_until "$TIMEOUT" unsched && [[ "$(phase gpu-too-big)" == Pending ]]; then
  ok "pod asking for $((${per_node:-8} + 1)) GPUs stays Pending: Insufficient nvidia.com/gpu"
else
  fail "pod gpu-too-big: phase $(phase gpu-too-big), no 'Insufficient nvidia.com/gpu' event"
fi

echo "--- kubectl get pods -o wide -n $NS"
k get pods -n "$NS" -o wide
echo "---"

# 3. Deletion: KWOK finishes the pod's termination.
k delete pod gpu-smoke gpu-too-big -n "$NS" --wait=false >/dev/null
gone() { [[ -z "$(k get pods -n "$NS" -o name)" ]]; }
if wait_until "$TIMEOUT" gone; then ok "pods deleted"; else fail "pods still present: $(k get pods -n "$NS" -o name | tr '\n' ' ')"; fi

((failed == 0))
