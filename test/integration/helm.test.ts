import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { NODE_STATE_ROOT, PRIORITY_CLASS, WORKLOAD_SERVICE_ACCOUNT, priorityClasses } from "@daybox/cluster/kubernetes";

/**
 * The Helm chart (infra/helm/daybox): `helm lint`, what `helm template`
 * renders (the agent DaemonSet, least-privilege RBAC, priority classes that
 * match the cluster manager's, locked-down security contexts), whether a real
 * API server accepts it (server-side dry run on the test-bed,
 * infra/testbed/kube.sh), and what its ServiceAccounts may and may not do once
 * the RBAC objects are applied for real (`kubectl auth can-i --as`).
 * helm comes from infra/testbed/helm.sh (DAYBOX_TEST_HELM); kubectl is the
 * test-bed's (infra/testbed/kube-build.sh), or DAYBOX_TEST_KUBECTL.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CHART = path.join(ROOT, "infra/helm/daybox");
const helmBin = process.env.DAYBOX_TEST_HELM;
const kubeconfig = process.env.DAYBOX_TEST_KUBECONFIG;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    // A command that exits before reading its input (e.g. on a usage error) must not crash the run with EPIPE.
    child.stdin?.on("error", () => {});
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin?.end(opts.input);
  });
}

/** Runs and insists on exit 0; the error carries the command's output. */
async function ok(cmd: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function requireHelm(): string {
  if (!helmBin) {
    throw new Error("DAYBOX_TEST_HELM is not set: install helm with `export DAYBOX_TEST_HELM=$(bash infra/testbed/helm.sh | tail -1)` (npm test does this)");
  }
  if (!existsSync(helmBin)) throw new Error(`DAYBOX_TEST_HELM=${helmBin} does not exist: run infra/testbed/helm.sh again`);
  return helmBin;
}

// ---- Kubernetes objects, loosely typed: the tests check the rendered YAML's shape themselves.
type Obj = Record<string, unknown>;
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: Obj;
  resources?: { requests?: Obj; limits?: Obj };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: Obj;
  livenessProbe?: Obj;
  startupProbe?: Obj;
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: Obj;
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; hostPath?: { path: string; type?: string }; secret?: { secretName: string; items?: { key: string; path: string }[] }; emptyDir?: Obj }[];
  nodeSelector?: Record<string, string>;
  tolerations?: Obj[];
}
interface Workload extends K8sObject {
  spec: { replicas?: number; strategy?: { type: string }; template: { spec: PodSpec } };
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface RoleObj extends K8sObject {
  rules: Rule[];
}
interface Binding extends K8sObject {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
}

async function render(release: string, namespace: string, set: Record<string, string> = {}): Promise<K8sObject[]> {
  const args = ["template", release, CHART, "--namespace", namespace];
  // --set (not --set-string): "true"/"0" become booleans and numbers, as the schema wants.
  for (const [k, v] of Object.entries(set)) args.push("--set", `${k}=${v}`);
  const out = await ok(requireHelm(), args);
  return parseManifests(out);
}

function parseManifests(text: string): K8sObject[] {
  const docs = parseAllDocuments(text);
  const objects: K8sObject[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`helm template produced invalid YAML: ${d.errors.map((e) => e.message).join("; ")}`);
    const o = d.toJS() as K8sObject | null;
    if (o) objects.push(o);
  }
  return objects;
}

const ofKind = <T extends K8sObject>(objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind) as T[];
function one<T extends K8sObject>(objs: K8sObject[], kind: string, pick: (o: K8sObject) => boolean = () => true): T {
  const found = objs.filter((o) => o.kind === kind && pick(o));
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}: ${found.map((o) => o.metadata.name).join(", ")}`);
  return found[0] as T;
}
const component = (c: string) => (o: K8sObject) => o.metadata.labels?.["app.kubernetes.io/component"] === c;
const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name);
const allContainers = (s: PodSpec) => [...(s.initContainers ?? []), ...s.containers];
/** Every object that runs containers, with its pod spec. */
const podSpecs = (objs: K8sObject[]) =>
  objs.filter((o) => ["Deployment", "DaemonSet", "StatefulSet", "Job"].includes(o.kind)).map((o) => ({ name: `${o.kind}/${o.metadata.name}`, spec: (o as Workload).spec.template.spec }));

function chartAppVersion(): string {
  const m = /^appVersion:\s*"?([^"\s]+)"?/m.exec(readFileSync(path.join(CHART, "Chart.yaml"), "utf8"));
  if (!m) throw new Error("Chart.yaml has no appVersion");
  return m[1]!;
}

// A missing DAYBOX_TEST_HELM or DAYBOX_TEST_KUBECONFIG fails every test with the
// way to set it (hooks only prepare; each test asks for what it needs itself).
describe("Helm chart: lint and rendered manifests", () => {
  const ns = "daybox-sys";

  it("passes helm lint, also with --strict and with the optional parts switched on", async () => {
    const helm = requireHelm();
    for (const extra of [[], ["--strict"], ["--strict", "--set", "ingress.enabled=true,workloadNamespace=daybox-work,createWorkloadNamespace=true,s3.existingSecret=s3,auth.existingSecret=auth,s3.endpoint=http://s3.local:7070,agent.runAsUser=0"]]) {
      const r = await run(helm, ["lint", CHART, ...extra]);
      expect(r.code, `helm lint ${extra.join(" ")}:\n${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
      expect(r.stdout).not.toMatch(/\[(ERROR|WARNING)\]/);
    }
  });

  it("rejects values the schema forbids", async () => {
    const r = await run(requireHelm(), ["template", "x", CHART, "--set", "agent.dataDir=relative/path"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/dataDir/);
    const negative = await run(requireHelm(), ["template", "x", CHART, "--set", "controlPlane.snapshotsKept=-1"]);
    expect(negative.code).not.toBe(0);
    expect(negative.stderr).toMatch(/snapshotsKept/);
  });

  it("runs the agent as a DaemonSet on GPU nodes, with its own ServiceAccount and the node's /var/lib/daybox", async () => {
    const objs = await render("rel", ns);
    const ds = one<Workload>(objs, "DaemonSet");
    const pod = ds.spec.template.spec;
    expect(pod.serviceAccountName).toBe("daybox-agent");
    expect(one(objs, "ServiceAccount", (o) => o.metadata.name === "daybox-agent").metadata.namespace).toBe(ns);
    expect(pod.nodeSelector).toEqual({ "nvidia.com/gpu.present": "true" });
    expect(pod.tolerations).toContainEqual({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" });

    const agent = pod.containers.find((c) => c.name === "agent")!;
    expect(agent.command).toEqual(["daybox-agent"]);
    // Session state lives on the node: the same path inside the agent as on the host,
    // and the cluster manager's session pods mount <root>/sessions/<id> from there.
    const data = pod.volumes!.find((v) => v.hostPath)!;
    expect(data.hostPath).toEqual({ path: "/var/lib/daybox", type: "DirectoryOrCreate" });
    expect(agent.volumeMounts).toContainEqual({ name: data.name, mountPath: "/var/lib/daybox" });
    expect(NODE_STATE_ROOT.startsWith(`${envOf(agent, "DAYBOX_DATA_DIR")?.value}/`)).toBe(true);
    expect(pod.volumes!.filter((v) => v.hostPath), "only one hostPath").toHaveLength(1);

    expect(envOf(agent, "DAYBOX_RUNTIME")?.value).toBe("kubernetes");
    expect(envOf(agent, "DAYBOX_NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
    expect(envOf(agent, "DAYBOX_NAMESPACE")?.value).toBe(ns);
    expect(envOf(agent, "DAYBOX_DATA_DIR")?.value).toBe("/var/lib/daybox");

    // DAYBOX_API_URL points at the control plane's Service, on the API's port.
    const api = new URL(envOf(agent, "DAYBOX_API_URL")!.value!);
    const svcName = api.hostname.split(".")[0]!;
    const svc = one<K8sObject & { spec: { ports: { port: number }[]; selector: Record<string, string> } }>(objs, "Service", (o) => o.metadata.name === svcName);
    expect(api.hostname).toBe(`${svcName}.${ns}.svc`);
    expect(Number(api.port)).toBe(7878);
    expect(svc.spec.ports.map((p) => p.port)).toEqual([7878]);
    expect(svc.spec.selector["app.kubernetes.io/component"]).toBe("control-plane");

    // The token comes from the agent's Secret, mounted read-only.
    const tokenFile = envOf(agent, "DAYBOX_AGENT_TOKEN_FILE")!.value!;
    const tokenVol = pod.volumes!.find((v) => v.secret)!;
    expect(tokenVol.secret).toMatchObject({ secretName: "daybox-agent-token", items: [{ key: "token", path: path.basename(tokenFile) }] });
    expect(agent.volumeMounts).toContainEqual({ name: tokenVol.name, mountPath: path.dirname(tokenFile), readOnly: true });
  });

  it("creates the priority classes the cluster manager uses, and the workload ServiceAccount without a token", async () => {
    const objs = await render("rel", ns);
    const pcs = ofKind<K8sObject & { value: number; preemptionPolicy: string }>(objs, "PriorityClass");
    const byName = Object.fromEntries(pcs.map((p) => [p.metadata.name, { value: p.value, preemptionPolicy: p.preemptionPolicy }]));
    expect(byName).toEqual(Object.fromEntries(priorityClasses().map((p) => [p.metadata!.name!, { value: p.value, preemptionPolicy: p.preemptionPolicy }])));
    expect(byName[PRIORITY_CLASS.interactive]).toEqual({ value: 100000, preemptionPolicy: "PreemptLowerPriority" });
    expect(byName[PRIORITY_CLASS.batch]).toEqual({ value: 1000, preemptionPolicy: "Never" });

    const workload = one<K8sObject & { automountServiceAccountToken?: boolean }>(objs, "ServiceAccount", (o) => o.metadata.name === WORKLOAD_SERVICE_ACCOUNT);
    expect(workload.automountServiceAccountToken).toBe(false);
    expect(workload.metadata.namespace).toBe(ns);
    // Nothing binds a role to the workload ServiceAccount.
    for (const b of [...ofKind<Binding>(objs, "RoleBinding"), ...ofKind<Binding>(objs, "ClusterRoleBinding")]) {
      expect(b.subjects.map((s) => s.name)).not.toContain(WORKLOAD_SERVICE_ACCOUNT);
    }

    expect(ofKind(await render("rel", ns, { "priorityClasses.create": "false" }), "PriorityClass")).toHaveLength(0);
  });

  it("gives the agent least privilege: pods, exec, logs and services in the workload namespace, read-only nodes, no Secrets or ConfigMaps", async () => {
    const objs = await render("rel", ns);
    const roles = [...ofKind<RoleObj>(objs, "Role"), ...ofKind<RoleObj>(objs, "ClusterRole")];
    const agentRole = one<RoleObj>(objs, "Role", component("agent"));
    const agentCluster = one<RoleObj>(objs, "ClusterRole", component("agent"));
    const rights = (r: RoleObj) => r.rules.flatMap((rule) => (rule.resources ?? []).map((res) => `${(rule.apiGroups ?? []).join(",")}/${res}: ${[...rule.verbs].sort().join(" ")}`)).sort();

    expect(agentRole.metadata.namespace).toBe(ns);
    expect(rights(agentRole)).toEqual([
      "/pods/exec: create get",
      "/pods/log: get",
      "/pods: create delete get list watch",
      "/services: create delete get",
      "policy/poddisruptionbudgets: create delete get",
    ]);
    expect(rights(agentCluster)).toEqual(["/nodes: get list watch"]);

    const cpRole = one<RoleObj>(objs, "Role", component("control-plane"));
    expect(rights(cpRole)).toEqual(["/pods/log: get", "/pods: create delete get list watch", "/services: create delete get list watch"]);
    expect(rights(one<RoleObj>(objs, "ClusterRole", component("control-plane")))).toEqual(["/nodes: get list watch"]);

    for (const r of roles) {
      for (const rule of r.rules) {
        expect(rule.resources ?? [], `${r.kind}/${r.metadata.name}`).not.toEqual(expect.arrayContaining(["secrets"]));
        expect(rule.resources ?? []).not.toEqual(expect.arrayContaining(["configmaps"]));
        expect([...(rule.resources ?? []), ...rule.verbs, ...(rule.apiGroups ?? [])], `${r.kind}/${r.metadata.name}: no wildcards`).not.toContain("*");
        expect(rule.verbs, "no escalation verbs").not.toEqual(expect.arrayContaining(["escalate"]));
        expect(rule.nonResourceURLs).toBeUndefined();
      }
    }

    // Cluster-scoped names carry the release (and its namespace), so releases never collide.
    for (const o of [...ofKind(objs, "ClusterRole"), ...ofKind(objs, "ClusterRoleBinding")]) {
      expect(o.metadata.name).toContain(`${ns}-rel-`);
    }
    // Every binding points at this chart's role, for this chart's ServiceAccounts in the release namespace.
    for (const b of [...ofKind<Binding>(objs, "RoleBinding"), ...ofKind<Binding>(objs, "ClusterRoleBinding")]) {
      expect(roles.map((r) => `${r.kind}/${r.metadata.name}`)).toContain(`${b.roleRef.kind}/${b.roleRef.name}`);
      for (const s of b.subjects) expect(s).toMatchObject({ kind: "ServiceAccount", namespace: ns });
    }
  });

  it("puts the Roles, the workload ServiceAccount and the agent's DAYBOX_NAMESPACE in another workload namespace when asked", async () => {
    const objs = await render("rel", ns, { workloadNamespace: "gpu-work", createWorkloadNamespace: "true" });
    expect(one(objs, "Namespace").metadata.name).toBe("gpu-work");
    for (const r of [...ofKind(objs, "Role"), ...ofKind(objs, "RoleBinding")]) expect(r.metadata.namespace).toBe("gpu-work");
    expect(one(objs, "ServiceAccount", (o) => o.metadata.name === WORKLOAD_SERVICE_ACCOUNT).metadata.namespace).toBe("gpu-work");
    const agent = one<Workload>(objs, "DaemonSet").spec.template.spec.containers[0]!;
    expect(envOf(agent, "DAYBOX_NAMESPACE")?.value).toBe("gpu-work");
    // The components themselves stay in the release namespace.
    for (const o of [...ofKind(objs, "Deployment"), ...ofKind(objs, "DaemonSet"), ...ofKind(objs, "Service")]) expect(o.metadata.namespace).toBe(ns);
  });

  it("uses the configured image everywhere, and the chart's appVersion as the default tag", async () => {
    const custom = await render("rel", ns, { "image.repository": "registry.example.org/lab/daybox", "image.tag": "1.2.3" });
    const defaults = await render("rel", ns);
    for (const [objs, image] of [[custom, "registry.example.org/lab/daybox:1.2.3"], [defaults, `ghcr.io/daybox/daybox:${chartAppVersion()}`]] as const) {
      const specs = podSpecs(objs);
      expect(specs.map((s) => s.name).sort()).toEqual(["DaemonSet/rel-daybox-agent", "Deployment/rel-daybox-control-plane", "Deployment/rel-daybox-portal"]);
      for (const s of specs) for (const c of allContainers(s.spec)) expect(c.image, `${s.name} ${c.name}`).toBe(image);
    }
    const commands = Object.fromEntries(podSpecs(defaults).map((s) => [s.name, s.spec.containers[0]!.command]));
    expect(commands).toEqual({
      "DaemonSet/rel-daybox-agent": ["daybox-agent"],
      "Deployment/rel-daybox-control-plane": ["daybox-control-plane"],
      "Deployment/rel-daybox-portal": ["daybox-portal"],
    });
  });

  it("locks every container down (non-root, no escalation, no capabilities, RuntimeDefault seccomp) and sets resources", async () => {
    const variants = [
      { objs: await render("rel", ns), init: ["prepare-data-dir"] },
      { objs: await render("rel", ns, { "agent.prepareDataDir": "false" }), init: [] },
    ];
    for (const { objs, init } of variants) {
      for (const { name, spec } of podSpecs(objs)) {
        for (const c of allContainers(spec)) {
          const sc = c.securityContext ?? {};
          const where = `${name} ${c.name}`;
          expect(sc.allowPrivilegeEscalation, where).toBe(false);
          expect(sc.privileged, where).toBeFalsy();
          expect((sc.capabilities as { drop?: string[] } | undefined)?.drop, where).toEqual(["ALL"]);
          const seccomp = (sc.seccompProfile ?? spec.securityContext?.seccompProfile) as { type?: string } | undefined;
          expect(seccomp?.type, where).toBe("RuntimeDefault");
          expect(c.resources?.requests?.cpu, where).toBeTruthy();
          expect(c.resources?.requests?.memory, where).toBeTruthy();
          expect(c.resources?.limits?.memory, where).toBeTruthy();
          if (c.name === "prepare-data-dir") {
            // The one documented exception: a one-shot chown of the hostPath as root, CAP_CHOWN only.
            expect(sc).toMatchObject({ runAsUser: 0, capabilities: { drop: ["ALL"], add: ["CHOWN"] }, readOnlyRootFilesystem: true });
            expect(c.command).toEqual(["chown", "1000:1000", "/var/lib/daybox"]);
            continue;
          }
          expect(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, where).toBe(true);
          expect((sc.capabilities as { add?: string[] } | undefined)?.add, where).toBeUndefined();
          expect(sc.runAsUser ?? spec.securityContext?.runAsUser, where).not.toBe(0);
        }
      }
      // prepareDataDir=false: nothing runs as root.
      const ds = one<Workload>(objs, "DaemonSet").spec.template.spec;
      expect((ds.initContainers ?? []).map((c) => c.name)).toEqual(init);
    }
    // runAsUser=0 (documented as a last resort) runs the agent as root, and says so.
    const asRoot = one<Workload>(await render("rel", ns, { "agent.runAsUser": "0" }), "DaemonSet").spec.template.spec;
    expect(asRoot.initContainers).toBeUndefined();
    expect(asRoot.containers[0]!.securityContext).toMatchObject({ runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false });
  });

  it("configures the control plane: one replica, Recreate, its env from Secrets and values, probes on /healthz", async () => {
    const objs = await render("rel", ns, {
      "postgres.existingSecret": "pg",
      "auth.existingSecret": "auth",
      "s3.existingSecret": "s3creds",
      "s3.bucket": "snaps",
      "s3.prefix": "daybox/prod",
      "s3.endpoint": "http://s3.local:7070",
      "s3.region": "eu-west-1",
      publicUrl: "https://daybox.example.org",
    });
    const dep = one<Workload>(objs, "Deployment", component("control-plane"));
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.strategy?.type).toBe("Recreate");
    const pod = dep.spec.template.spec;
    expect(pod.serviceAccountName).toBe("daybox-control-plane");
    const c = pod.containers[0]!;
    expect(envOf(c, "DAYBOX_DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "pg", key: "url" });
    expect(envOf(c, "DAYBOX_AUTH_SECRET")?.valueFrom?.secretKeyRef).toEqual({ name: "auth", key: "secret" });
    expect(envOf(c, "DAYBOX_API_HOST")?.value).toBe("0.0.0.0");
    expect(envOf(c, "DAYBOX_API_PORT")?.value).toBe("7878");
    expect(envOf(c, "DAYBOX_PUBLIC_URL")?.value).toBe("https://daybox.example.org");
    expect(envOf(c, "DAYBOX_SNAPSHOTS_KEPT")?.value).toBe("5");
    expect(envOf(c, "DAYBOX_SNAPSHOT_REPO")?.value).toBe("s3://snaps/daybox/prod");
    expect(envOf(c, "DAYBOX_S3_ENDPOINT")?.value).toBe("http://s3.local:7070");
    expect(envOf(c, "AWS_REGION")?.value).toBe("eu-west-1");
    expect(envOf(c, "AWS_ACCESS_KEY_ID")?.valueFrom?.secretKeyRef).toEqual({ name: "s3creds", key: "AWS_ACCESS_KEY_ID" });
    expect(envOf(c, "AWS_SECRET_ACCESS_KEY")?.valueFrom?.secretKeyRef).toEqual({ name: "s3creds", key: "AWS_SECRET_ACCESS_KEY" });
    // The agent snapshots sessions: it gets the same repository.
    const agent = one<Workload>(objs, "DaemonSet").spec.template.spec.containers[0]!;
    expect(envOf(agent, "DAYBOX_SNAPSHOT_REPO")?.value).toBe("s3://snaps/daybox/prod");
    expect(envOf(agent, "AWS_SECRET_ACCESS_KEY")?.valueFrom?.secretKeyRef?.name).toBe("s3creds");

    // Probes hit the API's real health endpoint (packages/api/src/server.ts) on the API's port.
    const http = c.ports!.find((p) => p.name === "http")!;
    expect(http.containerPort).toBe(7878);
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      expect(probe).toMatchObject({ httpGet: { path: "/healthz", port: "http" } });
    }
    // Without auth.existingSecret there is no DAYBOX_AUTH_SECRET (the control plane generates one).
    const plain = one<Workload>(await render("rel", ns), "Deployment", component("control-plane")).spec.template.spec.containers[0]!;
    expect(envOf(plain, "DAYBOX_AUTH_SECRET")).toBeUndefined();
    expect(envOf(plain, "AWS_ACCESS_KEY_ID")).toBeUndefined();
    const keepAll = one<Workload>(await render("rel", ns, { "controlPlane.snapshotsKept": "0" }), "Deployment", component("control-plane")).spec.template.spec.containers[0]!;
    expect(envOf(keepAll, "DAYBOX_SNAPSHOTS_KEPT")?.value).toBe("0");
  });

  it("configures the portal against the API Service, and an Ingress only when enabled", async () => {
    const objs = await render("rel", ns);
    const portal = one<Workload>(objs, "Deployment", component("portal")).spec.template.spec;
    const c = portal.containers[0]!;
    expect(envOf(c, "DAYBOX_API_URL")?.value).toBe(`http://rel-daybox-api.${ns}.svc:7878`);
    expect(c.ports).toContainEqual({ name: "http", containerPort: 3000, protocol: "TCP" });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: "/api/health", port: "http" } });
    expect(portal.automountServiceAccountToken).toBe(false);
    const svc = one<K8sObject & { spec: { ports: { port: number }[] } }>(objs, "Service", component("portal"));
    expect(svc.spec.ports[0]!.port).toBe(3000);
    expect(ofKind(objs, "Ingress")).toHaveLength(0);

    const withIngress = await render("rel", ns, { "ingress.enabled": "true", "ingress.host": "gpu.example.org", "ingress.className": "nginx" });
    const ing = one<K8sObject & { spec: { ingressClassName: string; rules: { host: string; http: { paths: { backend: { service: { name: string } } }[] } }[] } }>(withIngress, "Ingress");
    expect(ing.spec.ingressClassName).toBe("nginx");
    expect(ing.spec.rules[0]!.host).toBe("gpu.example.org");
    expect(ing.spec.rules[0]!.http.paths[0]!.backend.service.name).toBe(svc.metadata.name);
  });
});

describe("Helm chart against the test-bed API server", () => {
  const suffix = randomBytes(4).toString("hex");
  const release = `it${suffix}`;
  const dryNs = `daybox-helm-${suffix}`;
  const rbacNs = `daybox-rbac-${suffix}`;
  let kubectl = "";
  const created: string[] = [];
  const k = (args: readonly string[], input?: string) => run(kubectl, ["--kubeconfig", kubeconfig!, ...args], input === undefined ? {} : { input });
  const kOk = (args: readonly string[], input?: string) => ok(kubectl, ["--kubeconfig", kubeconfig!, ...args], input === undefined ? {} : { input });

  /** Every test starts here: helm, the test-bed's kubeconfig and kubectl, or a clear failure. */
  function requireCluster() {
    requireHelm();
    if (!kubeconfig) {
      throw new Error("DAYBOX_TEST_KUBECONFIG is not set: start the test cluster with `export DAYBOX_TEST_KUBECONFIG=$(bash infra/testbed/kube.sh up | tail -1)` (npm test does this)");
    }
    if (!kubectl) throw new Error("no kubectl: infra/testbed/kube-build.sh did not give one (see the hook's error), or set DAYBOX_TEST_KUBECTL");
  }

  beforeAll(async () => {
    if (!helmBin || !kubeconfig) return; // each test fails with the reason
    const bin = process.env.DAYBOX_TEST_KUBECTL ?? path.join((await ok("bash", [path.join(ROOT, "infra/testbed/kube-build.sh")])).trim().split("\n").pop()!, "kubectl");
    if (!existsSync(bin)) throw new Error(`no kubectl at ${bin}`);
    kubectl = bin;
  });
  afterAll(async () => {
    if (!kubectl || !kubeconfig) return;
    if (created.length) await k(["delete", "namespace", ...created, "--wait=false", "--ignore-not-found"]);
    await k(["delete", "clusterrole,clusterrolebinding", "-l", `app.kubernetes.io/instance=${release}`, "--ignore-not-found"]);
  });

  async function freshNamespace(name: string) {
    await kOk(["create", "namespace", name]);
    created.push(name);
  }

  it("accepts every rendered object (server-side dry run into a fresh namespace)", async () => {
    requireCluster();
    await freshNamespace(dryNs);
    const objs = await render(release, dryNs, { "ingress.enabled": "true", "s3.existingSecret": "s3", "auth.existingSecret": "auth" });
    const manifest = objs.map((o) => stringify(o)).join("---\n");
    const out = await kOk(["apply", "--dry-run=server", "-f", "-"], manifest);
    const kinds = [...new Set(objs.map((o) => o.kind))].sort();
    expect(kinds).toEqual(["ClusterRole", "ClusterRoleBinding", "DaemonSet", "Deployment", "Ingress", "PriorityClass", "Role", "RoleBinding", "Service", "ServiceAccount"]);
    // One line per object, each "created" or (for the shared priority classes) "configured"/"unchanged".
    const lines = out.trim().split("\n");
    expect(lines).toHaveLength(objs.length);
    for (const line of lines) expect(line).toMatch(/ (created|configured|unchanged) \(server dry run\)$/);
    // Nothing was really created.
    expect((await kOk(["get", "all,serviceaccounts,roles", "-n", dryNs, "-o", "name"])).trim().split("\n").filter((l) => l && !l.endsWith("/default") && !l.includes("kube-root-ca"))).toEqual([]);

    // A manifest the server must refuse is refused (the dry run is a real check).
    const broken = manifest.replace("preemptionPolicy: Never", "preemptionPolicy: Sometimes");
    const bad = await k(["apply", "--dry-run=server", "-f", "-"], broken);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/preemptionPolicy/);
  });

  describe("RBAC applied for real", () => {
    const agentSa = `system:serviceaccount:${rbacNs}:daybox-agent`;
    const cpSa = `system:serviceaccount:${rbacNs}:daybox-control-plane`;
    const workloadSa = `system:serviceaccount:${rbacNs}:${WORKLOAD_SERVICE_ACCOUNT}`;

    /**
     * `kubectl auth can-i`: exit 0 "yes", exit 1 "no"; anything else is an error.
     * "pods/exec" is passed as --subresource=exec (kubectl reads TYPE/NAME as a named object).
     */
    async function can(as: string, verbResource: string, namespace?: string): Promise<boolean> {
      const [verb, target] = verbResource.split(" ");
      const [resource, subresource] = target!.split("/");
      const args = ["auth", "can-i", verb!, resource!, `--as=${as}`];
      if (subresource) args.push(`--subresource=${subresource}`);
      if (namespace === "*") args.push("--all-namespaces");
      else if (namespace) args.push("-n", namespace);
      const r = await k(args);
      const answer = r.stdout.trim();
      if (r.code === 0 && answer === "yes") return true;
      if (r.code === 1 && answer.startsWith("no")) return false;
      throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stdout}${r.stderr}`);
    }
    async function answers(as: string, checks: [string, string | undefined][]) {
      const out: Record<string, boolean> = {};
      await Promise.all(checks.map(async ([vr, nsName]) => (out[`${vr}${nsName ? ` -n ${nsName}` : ""}`] = await can(as, vr, nsName))));
      return out;
    }

    let applied = false;
    /** Each test needs the cluster and the RBAC objects the hook applied. */
    function requireApplied() {
      requireCluster();
      if (!applied) throw new Error("the chart's RBAC objects were not applied (see the hook's error)");
    }

    beforeAll(async () => {
      if (!kubectl) return; // each test fails with the reason
      await freshNamespace(rbacNs);
      // Before the RBAC objects exist the agent may do nothing: the checks below can fail.
      expect(await can(agentSa, "create pods", rbacNs)).toBe(false);
      expect(await can(agentSa, "list nodes")).toBe(false);
      const objs = await render(release, rbacNs);
      const rbac = objs.filter((o) => ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"].includes(o.kind));
      expect(rbac.length).toBe(3 + 2 + 2 + 2 + 2);
      await kOk(["apply", "-f", "-"], rbac.map((o) => stringify(o)).join("---\n"));
      applied = true;
    });

    it("lets the agent run, exec into and delete pods, read logs and manage Services in its namespace, and read nodes", async () => {
      requireApplied();
      const yes: [string, string | undefined][] = [
        ["create pods", rbacNs],
        ["get pods", rbacNs],
        ["list pods", rbacNs],
        ["watch pods", rbacNs],
        ["delete pods", rbacNs],
        ["create pods/exec", rbacNs],
        ["get pods/exec", rbacNs],
        ["get pods/log", rbacNs],
        ["create services", rbacNs],
        ["delete services", rbacNs],
        ["create poddisruptionbudgets", rbacNs],
        ["delete poddisruptionbudgets", rbacNs],
        ["list nodes", undefined],
        ["watch nodes", undefined],
        ["get nodes", undefined],
      ];
      const got = await answers(agentSa, yes);
      expect(Object.entries(got).filter(([, v]) => !v).map(([key]) => key), "denied").toEqual([]);
    });

    it("denies the agent Secrets, ConfigMaps, other namespaces, node writes and RBAC", async () => {
      requireApplied();
      const no: [string, string | undefined][] = [
        ["get secrets", rbacNs],
        ["list secrets", rbacNs],
        ["list secrets", "*"],
        ["get configmaps", rbacNs],
        ["list configmaps", rbacNs],
        ["list pods", "kube-system"],
        ["list pods", "default"],
        ["create pods", "default"],
        ["create pods/exec", "kube-system"],
        ["list pods", "*"],
        ["create nodes", undefined],
        ["delete nodes", undefined],
        ["patch nodes", undefined],
        ["update pods", rbacNs],
        ["patch pods", rbacNs],
        ["create pods/eviction", rbacNs],
        ["create roles", rbacNs],
        ["create rolebindings", rbacNs],
        ["create serviceaccounts/token", rbacNs],
        ["create deployments.apps", rbacNs],
        ["create priorityclasses.scheduling.k8s.io", undefined],
      ];
      const got = await answers(agentSa, no);
      expect(Object.entries(got).filter(([, v]) => v).map(([key]) => key), "allowed").toEqual([]);
    });

    it("lets the control plane read nodes and run pods in its namespace, and denies it Secrets and exec", async () => {
      requireApplied();
      const got = await answers(cpSa, [
        ["list nodes", undefined],
        ["watch nodes", undefined],
        ["create pods", rbacNs],
        ["delete services", rbacNs],
        ["get pods/log", rbacNs],
      ]);
      expect(Object.entries(got).filter(([, v]) => !v).map(([key]) => key), "denied").toEqual([]);
      const denied = await answers(cpSa, [
        ["get secrets", "*"],
        ["get secrets", rbacNs],
        ["list secrets", "kube-system"],
        ["get configmaps", rbacNs],
        ["create pods/exec", rbacNs],
        ["list pods", "kube-system"],
        ["delete nodes", undefined],
      ]);
      expect(Object.entries(denied).filter(([, v]) => v).map(([key]) => key), "allowed").toEqual([]);
    });

    it("gives the workload ServiceAccount nothing", async () => {
      requireApplied();
      const got = await answers(workloadSa, [
        ["list pods", rbacNs],
        ["create pods", rbacNs],
        ["get secrets", rbacNs],
        ["list nodes", undefined],
      ]);
      expect(Object.entries(got).filter(([, v]) => v).map(([key]) => key), "allowed").toEqual([]);
    });
  });
});
