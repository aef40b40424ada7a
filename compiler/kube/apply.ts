/**
 * Server-side apply of rendered objects to a cluster (or its dry run): what `npm run validate --
 * --server` asks the API server before a merge, and what the tests apply to the local control
 * plane. The server's answer is the judge: schemas, CRD schemas and CEL rules, admission (Pod
 * Security warnings come back as the answer's Warning headers, collected here).
 */
import http from 'node:http';
import https from 'node:https';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
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
  status: 'applied' | 'refused' | 'skipped';
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

/** The kubeconfig a CLI's --kubeconfig and --context name, else kubectl's default. */
export function kubeConfigFrom(options: { kubeconfig?: string; context?: string }): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context) kc.setCurrentContext(options.context);
  return kc;
}

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

const REQUEST_TIMEOUT_MS = 60_000;

/** A Warning header's text: `299 - "text"`, the text a quoted string (RFC 7234). */
export function warningText(header: string): string {
  const quoted = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header)?.[1];
  return quoted === undefined ? header : quoted.replace(/\\(.)/g, '$1');
}

async function send(kc: KubeConfig, method: string, path: string, body?: string, contentType?: string): Promise<Answer> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  // the server URL may carry a path (a proxy in front of the API server): keep it
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const options: https.RequestOptions = { method, headers: contentType ? { 'content-type': contentType } : {}, timeout: REQUEST_TIMEOUT_MS };
  await kc.applyToHTTPSOptions(options);
  const client = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const request = client.request(url, options, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        // one entry per Warning header (response.headers would join them with ", ")
        const warnings = (response.headersDistinct['warning'] ?? []).map(warningText);
        resolve({ status: response.statusCode ?? 0, body: text, warnings });
      });
    });
    request.on('timeout', () => request.destroy(new Error(`${method} ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    request.on('error', reject);
    request.end(body);
  });
}

/** An answer that is neither success nor 404, as an error naming the request and the server's message. */
function unexpected(what: string, answer: Answer): Error {
  return new Error(`${what}: HTTP ${answer.status}: ${serverMessage(answer)}`);
}

function serverMessage(answer: Answer): string {
  try {
    return (JSON.parse(answer.body) as { message?: string }).message ?? answer.body;
  } catch {
    return answer.body || `HTTP ${answer.status}`;
  }
}

/** Whether the Namespace exists; a refusal to say (403, 5xx) is an error, not a "no". */
async function namespaceExists(kc: KubeConfig, name: string): Promise<boolean> {
  const answer = await send(kc, 'GET', `/api/v1/namespaces/${encodeURIComponent(name)}`);
  if (answer.status === 200) return true;
  if (answer.status === 404) return false;
  throw unexpected(`reading Namespace ${name}`, answer);
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
      const unserved = options.dryRun && isUnserved(error);
      const message = unserved ? `the cluster does not serve ${object.apiVersion} ${object.kind}` : (error as Error).message;
      results.push({ object: id, status: unserved ? 'skipped' : 'refused', message, warnings: [] });
      continue;
    }
    const answer = await send(kc, 'PATCH', `${path}?${query}`, JSON.stringify(object), 'application/apply-patch+yaml');
    if (answer.status >= 300) {
      results.push({ object: id, status: 'refused', message: serverMessage(answer), warnings: answer.warnings });
      continue;
    }
    if (object.kind === 'CustomResourceDefinition' && !options.dryRun) pendingCrds.push(object.metadata!.name!);
    results.push({ object: id, status: 'applied', warnings: answer.warnings, body: JSON.parse(answer.body) as Record<string, unknown> });
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
      type Crd = { status?: { conditions?: { type: string; status: string }[] } };
      const conditions = answer.status === 200 ? ((JSON.parse(answer.body) as Crd).status?.conditions ?? []) : [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CustomResourceDefinition ${name} not Established within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * The live object, or undefined when the cluster has none (404) or does not serve its kind; any
 * other answer (403, 5xx) is an error, so that a reader without rights is not told "missing".
 */
export async function liveObject(kc: KubeConfig, object: KubeObject): Promise<Record<string, unknown> | undefined> {
  let path: string;
  try {
    path = await kc.makeApiClient(ObjectPaths).pathOf(object as KubernetesObject);
  } catch (error) {
    if (isUnserved(error)) return undefined;
    throw error;
  }
  const answer = await send(kc, 'GET', path);
  if (answer.status === 200) return JSON.parse(answer.body) as Record<string, unknown>;
  if (answer.status === 404) return undefined;
  throw unexpected(`reading ${objectId(object)}`, answer);
}

/** `kubectl patch --type strategic`: the server merges `patch` into the live object; the result, or the server's refusal. */
export async function strategicMergePatch(
  kc: KubeConfig,
  object: KubeObject,
  patch: object,
): Promise<{ ok: boolean; body?: Record<string, unknown>; message?: string }> {
  const path = await kc.makeApiClient(ObjectPaths).pathOf(object as KubernetesObject);
  const answer = await send(kc, 'PATCH', path, JSON.stringify(patch), 'application/strategic-merge-patch+json');
  if (answer.status >= 300) return { ok: false, message: serverMessage(answer) };
  return { ok: true, body: JSON.parse(answer.body) as Record<string, unknown> };
}

/** The client's discovery found no such kind on the server. */
function isUnserved(error: unknown): boolean {
  return /Unrecognized API version and kind|Failed to fetch resource metadata for .*HTTP-Code: 404/.test((error as Error).message);
}

