/**
 * Server-side apply of rendered objects to a cluster (or its dry run): what `npm run validate --
 * --server` asks the API server before a merge, and what the tests apply to the local control
 * plane. The server's answer is the judge: schemas, CRD schemas and CEL rules, admission (Pod
 * Security warnings come back as the answer's Warning headers, collected here).
 */
import https from 'node:https';
import { KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject } from './schema.ts';

/** The API paths of objects, from the server's discovery (the client's own lookup, made public). */
class ObjectPaths extends KubernetesObjectApi {
  pathOf(object: KubernetesObject): Promise<string> {
    return this.specUriPath(structuredClone(object), 'patch');
  }
}

export interface ApplyResult {
  /** kind/namespace/name */
  object: string;
  status: 'applied' | 'unchanged' | 'refused' | 'skipped';
  /** The server's refusal, or why the object was not sent. */
  message?: string;
  /** Warning headers of the answer (Pod Security, deprecations). */
  warnings: string[];
  /** The object as the server made it (or would have, in a dry run). */
  body?: Record<string, unknown>;
}

export interface ApplyOptions {
  dryRun?: boolean;
  fieldManager?: string;
}

export const FIELD_MANAGER = 'stacklight';

export function objectId(object: KubeObject): string {
  const metadata = object.metadata as { name?: unknown; namespace?: unknown } | undefined;
  return [object.kind, metadata?.namespace, metadata?.name].filter(Boolean).map(String).join('/');
}

/** CRDs and Namespaces before what lives in them, as Flux and kubectl order them. */
function applyOrder(object: KubernetesObject): number {
  if (object.kind === 'CustomResourceDefinition') return 0;
  if (object.kind === 'Namespace') return 1;
  return 2;
}

interface Answer {
  status: number;
  body: string;
  warnings: string[];
}

async function send(kc: KubeConfig, method: string, path: string, body?: string, contentType?: string): Promise<Answer> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(path, cluster.server);
  const options: https.RequestOptions = { method, headers: contentType ? { 'content-type': contentType } : {} };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const request = https.request(url, options, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        const header = response.headers['warning'];
        const warnings = (Array.isArray(header) ? header : header ? [header] : []).map((w) => w.replace(/^299 - "(.*)"$/, '$1'));
        resolve({ status: response.statusCode ?? 0, body: text, warnings });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

function serverMessage(answer: Answer): string {
  try {
    return (JSON.parse(answer.body) as { message?: string }).message ?? answer.body;
  } catch {
    return answer.body || `HTTP ${answer.status}`;
  }
}

async function namespaceExists(kc: KubeConfig, name: string): Promise<boolean> {
  return (await send(kc, 'GET', `/api/v1/namespaces/${encodeURIComponent(name)}`)).status === 200;
}

/**
 * Applies `objects` server-side, CRDs and Namespaces first, one request per object; refusals are
 * results, not exceptions. In a dry run, an object whose Namespace does not exist yet (and would
 * be created by this apply) is skipped with that reason: the server cannot judge it before.
 */
export async function serverSideApply(kc: KubeConfig, objects: readonly KubeObject[], options: ApplyOptions = {}): Promise<ApplyResult[]> {
  const paths = kc.makeApiClient(ObjectPaths);
  const query = new URLSearchParams({ fieldManager: options.fieldManager ?? FIELD_MANAGER, force: 'true' });
  if (options.dryRun) query.set('dryRun', 'All');
  const missingNamespaces = new Set<string>();
  const results: ApplyResult[] = [];
  const pendingCrds: string[] = [];
  for (const object of ([...objects] as KubernetesObject[]).sort((a, b) => applyOrder(a) - applyOrder(b))) {
    const id = objectId(object as KubeObject);
    if (object.kind !== 'CustomResourceDefinition' && pendingCrds.length > 0) await waitEstablished(kc, pendingCrds.splice(0));
    const namespace = object.metadata?.namespace;
    if (object.kind === 'Namespace' && options.dryRun && !(await namespaceExists(kc, object.metadata!.name!))) {
      missingNamespaces.add(object.metadata!.name!);
    }
    if (namespace && missingNamespaces.has(namespace)) {
      results.push({ object: id, status: 'skipped', message: `namespace ${namespace} does not exist yet: the server judges this object once it does`, warnings: [] });
      continue;
    }
    let path: string;
    try {
      path = await paths.pathOf(object);
    } catch (error) {
      // A dry run cannot judge the kinds of an engine the cluster does not run (yet).
      const unserved = options.dryRun && /Unrecognized API version and kind|Failed to fetch resource metadata for .*HTTP-Code: 404/.test((error as Error).message);
      const message = unserved ? `the cluster does not serve ${object.apiVersion} ${object.kind}` : (error as Error).message;
      results.push({ object: id, status: unserved ? 'skipped' : 'refused', message, warnings: [] });
      continue;
    }
    const before = options.dryRun ? undefined : await send(kc, 'GET', path);
    const answer = await send(kc, 'PATCH', `${path}?${query}`, JSON.stringify(object), 'application/apply-patch+yaml');
    if (answer.status >= 300) {
      results.push({ object: id, status: 'refused', message: serverMessage(answer), warnings: answer.warnings });
      continue;
    }
    if (object.kind === 'CustomResourceDefinition' && !options.dryRun) pendingCrds.push(object.metadata!.name!);
    const unchanged = before?.status === 200 && resourceVersion(before.body) === resourceVersion(answer.body);
    results.push({ object: id, status: unchanged ? 'unchanged' : 'applied', warnings: answer.warnings, body: JSON.parse(answer.body) as Record<string, unknown> });
  }
  if (pendingCrds.length > 0) await waitEstablished(kc, pendingCrds);
  return results;
}

/** Objects of a new CRD's kinds are refused until the server has Established it. */
async function waitEstablished(kc: KubeConfig, names: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const answer = await send(kc, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(name)}`);
      const conditions = answer.status === 200 ? ((JSON.parse(answer.body) as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []) : [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CustomResourceDefinition ${name} not Established within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The live object, or undefined when the cluster has none (or does not serve its kind). */
export async function liveObject(kc: KubeConfig, object: KubeObject): Promise<Record<string, unknown> | undefined> {
  const path = await kc.makeApiClient(ObjectPaths).pathOf(object as KubernetesObject).catch(() => undefined);
  if (!path) return undefined;
  const answer = await send(kc, 'GET', path);
  return answer.status === 200 ? (JSON.parse(answer.body) as Record<string, unknown>) : undefined;
}

/** `kubectl patch --type strategic`: the server merges `patch` into the live object; the result, or the server's refusal. */
export async function strategicMergePatch(kc: KubeConfig, object: KubeObject, patch: object): Promise<{ ok: boolean; body?: Record<string, unknown>; message?: string }> {
  const path = await kc.makeApiClient(ObjectPaths).pathOf(object as KubernetesObject);
  const answer = await send(kc, 'PATCH', path, JSON.stringify(patch), 'application/strategic-merge-patch+json');
  return answer.status < 300 ? { ok: true, body: JSON.parse(answer.body) as Record<string, unknown> } : { ok: false, message: serverMessage(answer) };
}

function resourceVersion(body: string): string | undefined {
  try {
    return (JSON.parse(body) as KubernetesObject).metadata?.resourceVersion;
  } catch {
    return undefined;
  }
}
