#!/usr/bin/env bash
# Demo/test-bed entry point: a local Kubernetes control plane with fake GPU nodes.
#   bash infra/testbed/up.sh                      # cluster "daybox", 4 nodes
#   bash infra/testbed/up.sh --name demo --nodes 16
#   export KUBECONFIG=$(bash infra/testbed/up.sh | tail -1); kubectl get nodes -L daybox.dev/gpu-type
# Tear down with: bash infra/testbed/kube.sh down [--name N]
# A thin wrapper around `kube.sh up`; see kube.sh for the options and env.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/kube.sh" up "$@"
