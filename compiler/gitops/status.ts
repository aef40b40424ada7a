/**
 * What `npm run status -- <env>` reports of a cluster synced by Flux or Argo CD: the revision the
 * engine has fetched against the local HEAD, the Kustomization's conditions (Flux) or the
 * Application's sync, health and last operation (Argo CD), each workload's replicas, the collector
 * pod of every node, and drift (live objects against the compiled ones, in the fields this
 * repository sets). Healthy only when all of them are.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { StackConfig } from '../config/types.ts';
import { ARGOCD, FLUX } from '../facts.ts';
import { liveObject, objectId, serverSideApply } from '../kube/apply.ts';
import type { KubeObject } from '../kube/schema.ts';
import { workloads } from './index.ts';

export interface ConditionSummary {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface WorkloadStatus {
  object: string;
  desired: number;
  updated: number;
  ready: number;
  available: number;
  ok: boolean;
}

export interface NodeStatus {
  node: string;
  /** The collector pod meant for the node and its phase, if there is one. */
  pod?: string;
  phase?: string;
  ready: boolean;
}

export interface DriftEntry {
  object: string;
  /** JSON paths whose live value differs from the compiled one; ['missing'] if the object is absent. */
  fields: string[];
}

export interface StatusReport {
  environment: string;
  source: { object: string; revision?: string; localHead?: string; upToDate: boolean; conditions: ConditionSummary[] };
  sync: { object: string; lastAppliedRevision?: string; lastAttemptedRevision?: string; conditions: ConditionSummary[] };
  workloads: WorkloadStatus[];
  collectorNodes: NodeStatus[];
  drift: DriftEntry[];
  /** Objects whose content is not compared (encrypted in git), and why. */
  notCompared: string[];
  problems: string[];
  healthy: boolean;
}

export interface StatusInput {
  environment: string;
  config: StackConfig;
  /** The overlay as kustomize builds it from the checkout. */
  compiled: readonly KubeObject[];
  /** The checkout's HEAD commit, if it is a git checkout. */
  localHead?: string;
}

interface FluxResource {
  status?: {
    conditions?: ConditionSummary[];
    artifact?: { revision?: string };
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
  };
}

/** A read that found nothing (404) is undefined; any other failure (403, 5xx) stays an error: status cannot be read. */
function absent(error: unknown): undefined {
  if ((error as { code?: number }).code === 404) return undefined;
  throw error;
}

/** Where the engines' objects are served (CustomObjectsApi's coordinates). */
export const GITOPS_RESOURCES = {
  GitRepository: { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'gitrepositories' },
  Kustomization: { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations' },
  Application: { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications' },
} as const;

async function fluxResource(kc: KubeConfig, kind: 'GitRepository' | 'Kustomization', name: string): Promise<FluxResource | undefined> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const request = { ...GITOPS_RESOURCES[kind], namespace: FLUX.namespace, name };
  return (await api.getNamespacedCustomObject(request).catch(absent)) as FluxResource | undefined;
}

const conditionOf = (conditions: readonly ConditionSummary[], type: string) => conditions.find((c) => c.type === type);
const summarize = (conditions: readonly ConditionSummary[] = []) =>
  conditions.map(({ type, status, reason, message }) => ({ type, status, reason, message }));

/** "main@sha1:abc..." → "abc..." */
export const commitOf = (revision: string | undefined) => revision?.replace(/^.*@sha1:/, '');

async function workloadStatuses(kc: KubeConfig, config: StackConfig): Promise<WorkloadStatus[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  return Promise.all(workloads(config).map(async ({ kind, name, namespace }) => {
    const object = `${kind}/${namespace}/${name}`;
    if (kind === 'DaemonSet') {
      const ds = await apps.readNamespacedDaemonSet({ name, namespace }).catch(absent);
      const s = ds?.status;
      const desired = s?.desiredNumberScheduled ?? 0;
      const [updated, ready, available] = [s?.updatedNumberScheduled ?? 0, s?.numberReady ?? 0, s?.numberAvailable ?? 0];
      return { object, desired, updated, ready, available, ok: !!ds && desired > 0 && updated === desired && ready === desired };
    }
    const deployment = await apps.readNamespacedDeployment({ name, namespace }).catch(absent);
    const s = deployment?.status;
    const desired = deployment?.spec?.replicas ?? 0;
    const [updated, ready, available] = [s?.updatedReplicas ?? 0, s?.readyReplicas ?? 0, s?.availableReplicas ?? 0];
    const ok = !!deployment && updated === desired && ready === desired && available === desired;
    return { object, desired, updated, ready, available, ok };
  }));
}

/** The node a DaemonSet pod is for: its nodeName once scheduled, else the node its affinity names. */
function nodeOfPod(pod: V1Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms.flatMap((t) => t.matchFields ?? []).find((f) => f.key === 'metadata.name')?.values?.[0];
}

async function collectorNodes(kc: KubeConfig, config: StackConfig): Promise<NodeStatus[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const collector = workloads(config).find((w) => w.kind === 'DaemonSet')!;
  const ds = await apps.readNamespacedDaemonSet({ name: collector.name, namespace: collector.namespace }).catch(absent);
  const selector = Object.entries(ds?.spec?.selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = ds ? (await core.listNamespacedPod({ namespace: collector.namespace, labelSelector: selector })).items : [];
  const nodes = (await core.listNode()).items;
  return nodes.map((node) => {
    const name = node.metadata!.name!;
    const pod = pods.find((p) => nodeOfPod(p) === name);
    const ready = pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    return { node: name, pod: pod?.metadata?.name, phase: pod?.status?.phase, ready };
  });
}

/** Paths under `compiled` whose value in `live` differs (compiled is what this repository sets). */
function differingPaths(compiled: unknown, live: unknown, at = ''): string[] {
  if (compiled === null || typeof compiled !== 'object') return compiled === live ? [] : [at || '.'];
  if (live === null || typeof live !== 'object' || Array.isArray(compiled) !== Array.isArray(live)) return [at || '.'];
  if (Array.isArray(compiled)) {
    const l = live as unknown[];
    if (compiled.length !== l.length) return [at];
    return compiled.flatMap((item, i) => differingPaths(item, l[i], `${at}[${i}]`));
  }
  return Object.entries(compiled).flatMap(([key, value]) => differingPaths(value, (live as Record<string, unknown>)[key], `${at}.${key}`));
}

/** The fields an object's content lives in, as the server returns them (status and bookkeeping left out). */
function content(object: Record<string, unknown>): Record<string, unknown> {
  const metadata = (object['metadata'] ?? {}) as Record<string, unknown>;
  const { apiVersion, kind, metadata: _m, status: _s, ...rest } = object;
  void apiVersion; void kind; void _m; void _s;
  return { metadata: { labels: metadata['labels'] ?? {}, annotations: metadata['annotations'] ?? {} }, ...rest };
}

/**
 * Drift: each compiled object as the server would make it from this checkout (a server-side
 * apply dry run, so defaults and quantity forms are the server's) against the live object, in
 * the fields the compiled object sets.
 */
async function driftOf(kc: KubeConfig, compiled: readonly KubeObject[]): Promise<{ drift: DriftEntry[]; notCompared: string[] }> {
  const drift: DriftEntry[] = [];
  const notCompared: string[] = [];
  for (const object of compiled) {
    const id = objectId(object);
    if (object.kind === 'Secret' && 'sops' in object) {
      notCompared.push(`${id}: encrypted in git (its presence is checked)`);
    }
    const live = await liveObject(kc, object);
    if (!live) {
      drift.push({ object: id, fields: ['missing'] });
      continue;
    }
    if (object.kind === 'Secret' && 'sops' in object) continue;
    const [dryRun] = await serverSideApply(kc, [object], { dryRun: true, fieldManager: 'stacklight-status' });
    if (!dryRun || dryRun.status === 'refused' || !dryRun.body) {
      drift.push({ object: id, fields: [`not comparable: ${dryRun?.message ?? 'no answer'}`] });
      continue;
    }
    const fields = differingPaths(content(dryRun.body), content(live));
    if (fields.length > 0) drift.push({ object: id, fields });
  }
  return { drift, notCompared };
}

type EngineStatus = Pick<StatusReport, 'source' | 'sync'> & { problems: string[] };

async function fluxStatus(kc: KubeConfig, input: StatusInput): Promise<EngineStatus> {
  const problems: string[] = [];
  const sourceName = FLUX.sourceName;
  const syncName = `stacklight-${input.environment}`;
  const [repository, kustomization] = await Promise.all([fluxResource(kc, 'GitRepository', sourceName), fluxResource(kc, 'Kustomization', syncName)]);
  const revision = repository?.status?.artifact?.revision;
  const upToDate = !!revision && !!input.localHead && commitOf(revision) === input.localHead;
  if (!repository) problems.push(`GitRepository ${FLUX.namespace}/${sourceName} not found: is the cluster bootstrapped (npm run bootstrap -- ${input.environment})?`);
  else if (!upToDate) problems.push(`the cluster has fetched ${revision ?? 'nothing yet'}, the checkout is at ${input.localHead ?? '(not a git checkout)'}`);
  const syncConditions = summarize(kustomization?.status?.conditions);
  const ready = conditionOf(syncConditions, 'Ready');
  if (!kustomization) problems.push(`Kustomization ${FLUX.namespace}/${syncName} not found`);
  else if (ready?.status !== 'True') problems.push(`Kustomization not Ready (${ready?.reason ?? 'no condition yet'}): ${ready?.message ?? ''}`.trim());
  const gateProblem = await featureGateProblem(kc);
  if (gateProblem) problems.push(gateProblem);
  return {
    problems,
    source: { object: `GitRepository/${FLUX.namespace}/${sourceName}`, revision, localHead: input.localHead, upToDate, conditions: summarize(repository?.status?.conditions) },
    sync: { object: `Kustomization/${FLUX.namespace}/${syncName}`, lastAppliedRevision: kustomization?.status?.lastAppliedRevision, lastAttemptedRevision: kustomization?.status?.lastAttemptedRevision, conditions: syncConditions },
  };
}

/**
 * kustomize-controller without the bootstrap's feature gate (a `flux install` or upgrade resets
 * its args): a new revision then waits behind a running health check. Not checked where the
 * controller runs outside the cluster (no Deployment).
 */
async function featureGateProblem(kc: KubeConfig): Promise<string | undefined> {
  const deployment = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'kustomize-controller', namespace: FLUX.namespace }).catch(absent);
  if (!deployment) return undefined;
  const [gate] = FLUX.kustomizeControllerFeatureGates.split('=');
  const args = (deployment.spec?.template.spec?.containers ?? []).flatMap((c) => c.args ?? []);
  const set = args.some((arg) => arg.startsWith('--feature-gates=') && arg.includes(FLUX.kustomizeControllerFeatureGates));
  return set ? undefined : `kustomize-controller runs without ${gate}: a fix waits behind a running health check (re-run the bootstrap's patch; \`flux install\` resets it)`;
}

interface ArgoApplication {
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
    operationState?: { phase?: string; message?: string; operation?: { sync?: { revision?: string } }; syncResult?: { revision?: string } };
    conditions?: { type: string; message?: string }[];
  };
}

/** Argo CD's Application, in the report's terms: Synced, Healthy, the last operation, its error conditions. */
async function argoStatus(kc: KubeConfig, input: StatusInput): Promise<EngineStatus> {
  const problems: string[] = [];
  const name = `stacklight-${input.environment}`;
  const object = `Application/${ARGOCD.namespace}/${name}`;
  const api = kc.makeApiClient(CustomObjectsApi);
  const request = { ...GITOPS_RESOURCES.Application, namespace: ARGOCD.namespace, name };
  const app = (await api.getNamespacedCustomObject(request).catch(absent)) as ArgoApplication | undefined;
  const s = app?.status ?? {};
  const revision = s.sync?.revision;
  const upToDate = !!revision && revision === input.localHead;
  const operation = s.operationState;
  const conditions: ConditionSummary[] = [
    { type: 'Synced', status: s.sync?.status === 'Synced' ? 'True' : 'False', reason: s.sync?.status },
    { type: 'Healthy', status: s.health?.status === 'Healthy' ? 'True' : 'False', reason: s.health?.status, message: s.health?.message },
    ...(operation ? [{ type: 'LastSync', status: operation.phase === 'Succeeded' ? 'True' : 'False', reason: operation.phase, message: operation.message }] : []),
    ...(s.conditions ?? []).map((c) => ({ type: c.type, status: 'True', message: c.message })),
  ];
  if (!app) problems.push(`${object} not found: is the cluster bootstrapped (npm run bootstrap -- ${input.environment})?`);
  else {
    if (!upToDate) problems.push(`the cluster compares against ${revision ?? 'nothing yet'}, the checkout is at ${input.localHead ?? '(not a git checkout)'}`);
    for (const c of conditions.filter((c) => c.status !== 'True' || /Error|Warning/.test(c.type))) problems.push(`Application ${c.type}: ${[c.reason, c.message].filter(Boolean).join(': ') || 'unknown'}`);
  }
  return {
    problems,
    source: { object, revision, localHead: input.localHead, upToDate, conditions: [] },
    sync: { object, lastAppliedRevision: operation?.phase === 'Succeeded' ? operation.syncResult?.revision : undefined, lastAttemptedRevision: operation?.operation?.sync?.revision ?? operation?.syncResult?.revision, conditions },
  };
}

export async function clusterStatus(kc: KubeConfig, input: StatusInput): Promise<StatusReport> {
  const { environment, config } = input;
  const engine = config.gitops.engine === 'flux' ? await fluxStatus(kc, input) : await argoStatus(kc, input);
  const problems = [...engine.problems];
  const workloadStatus = await workloadStatuses(kc, config);
  for (const w of workloadStatus.filter((w) => !w.ok)) problems.push(`${w.object}: ${w.ready} of ${w.desired} ready, ${w.updated} updated`);
  const nodes = await collectorNodes(kc, config);
  for (const n of nodes.filter((n) => !n.ready)) problems.push(`node ${n.node}: ${n.pod ? `collector pod ${n.pod} ${n.phase ?? ''}, not ready` : 'no collector pod'}`.replace(/ +,/, ','));
  const { drift, notCompared } = await driftOf(kc, input.compiled);
  for (const d of drift) problems.push(`drift: ${d.object}: ${d.fields.slice(0, 5).join(', ')}${d.fields.length > 5 ? `, ... (${d.fields.length})` : ''}`);
  return {
    environment,
    source: engine.source,
    sync: engine.sync,
    workloads: workloadStatus,
    collectorNodes: nodes,
    drift,
    notCompared,
    problems,
    healthy: problems.length === 0,
  };
}

/** The report for a person: one section per question, problems last. */
export function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  const conditionLine = (c: ConditionSummary) => `    ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`;
  lines.push(`${report.environment}: ${report.healthy ? 'healthy' : 'NOT healthy'}`);
  lines.push(`  source ${report.source.object}: fetched ${report.source.revision ?? '(nothing)'}; checkout at ${report.source.localHead ?? '(unknown)'}${report.source.upToDate ? ' (up to date)' : ''}`);
  lines.push(...report.source.conditions.map(conditionLine));
  lines.push(`  sync ${report.sync.object}: last applied ${report.sync.lastAppliedRevision ?? '(none)'}, last attempted ${report.sync.lastAttemptedRevision ?? '(none)'}`);
  lines.push(...report.sync.conditions.map(conditionLine));
  lines.push('  workloads (desired / updated / ready / available):');
  for (const w of report.workloads) lines.push(`    ${w.ok ? 'ok  ' : 'NOT '} ${w.object}: ${w.desired} / ${w.updated} / ${w.ready} / ${w.available}`);
  lines.push(`  collector pods: ${report.collectorNodes.filter((n) => n.ready).length} ready on ${report.collectorNodes.length} nodes`);
  for (const n of report.collectorNodes) lines.push(`    ${n.ready ? 'ok  ' : 'NOT '} ${n.node}: ${n.pod ? `${n.pod} ${n.phase ?? ''}` : 'no pod'}`.trimEnd());
  lines.push(`  drift: ${report.drift.length === 0 ? 'none' : `${report.drift.length} object(s)`}`);
  for (const d of report.drift) lines.push(`    ${d.object}: ${d.fields.join(', ')}`);
  for (const n of report.notCompared) lines.push(`    not compared: ${n}`);
  if (report.problems.length > 0) {
    lines.push('  problems:');
    for (const p of report.problems) lines.push(`    - ${p}`);
  }
  return `${lines.join('\n')}\n`;
}
