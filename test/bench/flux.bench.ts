/**
 * Push to applied through the real Flux (part of `npm run bench`): the local control plane and
 * Flux of test/support/gitops-rig.ts, a copy of this repository bootstrapped for dev, then
 * CHANGES config changes, each compiled, committed and pushed, with a reconcile requested
 * right after the push (what a webhook receiver or `flux reconcile source git` does; without
 * one, Flux finds a push at its next poll, `gitops.interval` later). Prints measured times only.
 */
import { FLUX } from '../../compiler/facts.ts';
import { appliedRevision, GitOpsRig } from '../support/gitops-rig.ts';

const CHANGES = 5;
const rig = await GitOpsRig.start({ environment: 'dev', engine: 'flux', healthCheckTimeout: '30s' });
try {
  const first = await rig.push('first');
  const started = performance.now();
  await rig.bootstrap();
  await rig.flux!.waitFor('Kustomization', rig.kustomization, (s) => appliedRevision(s) === first);
  console.log(`flux: bootstrap apply to the first revision applied: ${((performance.now() - started) / 1000).toFixed(2)} s`);
  const file = 'config/environments/dev.ts';
  const seconds: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const text = await rig.repo!.read(file);
    await rig.repo!.write(file, text.replace(/retention: '(\d+)d'/, (_, days: string) => `retention: '${Number(days) + 1}d'`));
    const revision = await rig.compileAndPush(`retention +1d (${i + 1})`);
    seconds.push(await rig.syncTo(revision));
  }
  const sorted = [...seconds].sort((a, b) => a - b);
  console.log(`flux: from a push (done) to its objects applied, over ${CHANGES} config changes (a reconcile requested right after the push; the previous revision's health check running): ` +
    `min ${sorted[0]!.toFixed(2)} s, median ${sorted[Math.floor(CHANGES / 2)]!.toFixed(2)} s, max ${sorted.at(-1)!.toFixed(2)} s`);
  const source = await rig.flux!.get('GitRepository', FLUX.sourceName);
  console.log(`flux: the GitRepository's last revision ${source.status?.artifact?.revision}`);
} finally {
  await rig.dispose();
}
