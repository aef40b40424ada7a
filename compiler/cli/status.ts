/**
 * `npm run status -- <env> [--kubeconfig <file>] [--context <name>] [--json] [--root <dir>]`:
 * the state of the environment's cluster as Flux or Argo CD syncs it (compiler/gitops/status.ts). Exits 0
 * when healthy, 1 when not, 2 when the status could not be read.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { environmentConfig, ConfigError } from '../config/load.ts';
import { clusterStatus, formatStatus } from '../gitops/status.ts';
import { kubeConfigFrom } from '../kube/apply.ts';
import { kustomizeBuild } from '../kustomize/build.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { root: { type: 'string' }, kubeconfig: { type: 'string' }, context: { type: 'string' }, json: { type: 'boolean' } },
});
const root = resolve(values.root ?? '.');

async function localHead(): Promise<string | undefined> {
  return promisify(execFile)('git', ['-C', root, 'rev-parse', 'HEAD']).then(({ stdout }) => stdout.trim(), () => undefined);
}

async function main(): Promise<void> {
  try {
    const [environment] = positionals;
    if (!environment) throw new Error('usage: npm run status -- <env> [--kubeconfig <file>] [--context <name>] [--json]');
    const config = await environmentConfig(join(root, 'config'), environment);
    const kc = kubeConfigFrom(values);
    const report = await clusterStatus(kc, {
      environment,
      config: config,
      compiled: await kustomizeBuild(join(root, 'overlays', environment)),
      localHead: await localHead(),
    });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    process.exitCode = report.healthy ? 0 : 1;
  } catch (error) {
    console.error(`status: ${error instanceof ConfigError ? `config problems:\n${error.message}` : (error as Error).message}`);
    process.exitCode = 2;
  }
}

void main();
