/** Limits on what one session or job may ask for. */
export const MAX_GPUS_PER_SESSION = 64;

/** GPU type names: lowercase letters, digits, dashes and dots, e.g. "a100-80gb", "sim-a100". */
export const GPU_TYPE_PATTERN = /^[a-z0-9][a-z0-9.-]{0,62}$/;

/** Names of projects, users, nodes: DNS-label-like so they are safe in URLs and Kubernetes names. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
