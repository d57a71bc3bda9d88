// The Kubernetes cluster manager, a separate entry point (`@daybox/cluster/kubernetes`)
// so the local runtime never loads the Kubernetes client.
export { KubernetesCluster, type KubernetesClusterOptions, type PodEvent } from "./cluster.ts";
export * from "./manifests.ts";
export { gpuNode, podVerdict, type GpuNode, type PodVerdict } from "./status.ts";
export { KubernetesJobRunner, KubernetesRuntime, type KubernetesRuntimeOptions } from "./runtime.ts";
