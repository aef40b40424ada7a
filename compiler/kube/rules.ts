/**
 * The repository's own rules for what it ships, on top of the Kubernetes schemas:
 * every Secret is SOPS-encrypted; every container has requests, a memory limit and both probes
 * (init containers: resources); images are pinned (no `latest`, no missing tag); no variable
 * whose name says it holds a secret has a value at all, literal or from a Secret: secrets are
 * files mounted from Secrets, and the variable (`…_FILE`) holds the file's path; a ConfigMap
 * fits the API server's 1 MiB.
 */
import type { KubeObject } from './schema.ts';
import { describeObject } from './schema.ts';

interface Container {
  name?: string;
  image?: string;
  env?: { name?: string; value?: unknown; valueFrom?: unknown }[];
  envFrom?: { secretRef?: { name?: string } }[];
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  restartPolicy?: string;
}

const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY/i;
const ENCRYPTED_VALUE = /^ENC\[AES256_GCM,/;
/** A variable naming the file a secret is read from (Grafana's `__FILE` form included). */
const FILE_VARIABLE = /_FILE$/;

function podSpecOf(object: KubeObject): { containers?: Container[]; initContainers?: Container[] } | undefined {
  const spec = object.spec as { template?: { spec?: object } } | undefined;
  return spec?.template?.spec as { containers?: Container[]; initContainers?: Container[] } | undefined;
}

function containerProblems(container: Container, init: boolean): string[] {
  const problems: string[] = [];
  const where = `${init ? 'init container' : 'container'} ${container.name}`;
  const image = container.image ?? '';
  const reference = image.split('@')[0]!.split('/').pop()!;
  if (!image.includes('@') && !reference.includes(':')) problems.push(`${where}: image "${image}" has no tag`);
  if (/:latest(@|$)/.test(image)) problems.push(`${where}: image "${image}" uses "latest"`);
  const { requests, limits } = container.resources ?? {};
  if (!requests?.cpu || !requests?.memory) problems.push(`${where}: no cpu and memory requests`);
  if (!limits?.memory) problems.push(`${where}: no memory limit`);
  // a sidecar (an init container that keeps running) is probed as a container is
  const runs = !init || container.restartPolicy === 'Always';
  if (runs && !container.livenessProbe) problems.push(`${where}: no liveness probe`);
  if (runs && !container.readinessProbe) problems.push(`${where}: no readiness probe`);
  for (const source of container.envFrom ?? []) {
    if (source.secretRef) problems.push(`${where}: envFrom puts Secret ${source.secretRef.name} in the environment; mount it and read the files`);
  }
  for (const variable of container.env ?? []) {
    const name = variable.name ?? '';
    if (!SECRET_NAME.test(name)) continue;
    if (FILE_VARIABLE.test(name)) {
      if (typeof variable.value !== 'string' || !variable.value.startsWith('/')) problems.push(`${where}: ${name} must be the absolute path of a mounted file`);
    } else {
      problems.push(`${where}: ${name} holds a secret in the environment; mount its Secret and name the file in ${name}_FILE`);
    }
  }
  return problems;
}

function secretProblems(object: KubeObject): string[] {
  if (!object.sops) return ['is not SOPS-encrypted'];
  const values = { ...(object.data as object), ...(object.stringData as object) } as Record<string, unknown>;
  return Object.entries(values)
    .filter(([, value]) => typeof value !== 'string' || !ENCRYPTED_VALUE.test(value))
    .map(([key]) => `value of ${key} is not encrypted`);
}

/** The API server refuses ConfigMaps over 1 MiB; keep a margin for metadata. */
const CONFIG_MAP_LIMIT = 1024 * 1024 - 16 * 1024;

function configMapProblems(object: KubeObject): string[] {
  const data = (object.data ?? {}) as Record<string, string>;
  const size = Object.entries(data).reduce((total, [key, value]) => total + Buffer.byteLength(key) + Buffer.byteLength(value), 0);
  return size > CONFIG_MAP_LIMIT ? [`holds ${size} bytes, over the ${CONFIG_MAP_LIMIT} a ConfigMap may hold with its metadata`] : [];
}

export function ruleProblems(object: KubeObject): string[] {
  const problems: string[] = [];
  if (object.kind === 'Secret') problems.push(...secretProblems(object));
  if (object.kind === 'ConfigMap') problems.push(...configMapProblems(object));
  const pod = podSpecOf(object);
  for (const container of pod?.containers ?? []) problems.push(...containerProblems(container, false));
  for (const container of pod?.initContainers ?? []) problems.push(...containerProblems(container, true));
  return problems.map((problem) => `${describeObject(object)}: ${problem}`);
}
