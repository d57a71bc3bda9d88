export { startControlPlane, VERSION } from "./control-plane.ts";
export { loadEnv, type ControlPlaneEnv } from "./env.ts";
