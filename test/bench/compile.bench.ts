/**
 * `npm run bench`: compile and validate wall times, measured here and now.
 * - the shipped config, compile as a whole process run as `npm run compile` runs it (the
 *   launcher and its bundle), next to `node -e 0` on the same machine in the same run;
 * - the compile right after an edit of an environment's file, as an operator runs it: the config
 *   is bundled anew and one output file is rewritten;
 * - `npm run validate` of base and both overlays, as a whole process;
 * - synthetic configs 5, 10 and 20 times larger in environments × metric families, to show how
 *   the compile grows (their Secrets are copies of dev's ciphertexts: the compile checks their
 *   shape, it never decrypts).
 * Targets: shipped compile ≤ 0.5 s and ≤ 8× `node -e 0`, validate ≤ 5 s, growth no worse than linear.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { METRIC_FAMILIES } from '../../compiler/collector/metrics.ts';
import { tempRepo } from '../support/temp-repo.ts';

const run = promisify(execFile);
const RUNS = 5;

const LAUNCHER = join(REPO_ROOT, 'compiler/cli/launch.mjs');

/** Wall times of a whole process `node <args>`, sorted. */
async function timeProcess(args: string[]): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await run(process.execPath, args, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    times.push((performance.now() - started) / 1000);
  }
  return times.sort((a, b) => a - b);
}

/**
 * Wall times of compiles that each follow an edit of dev's file (its InfluxDB retention, a new
 * value each time), sorted. The file is put back afterwards.
 */
async function timeEditedCompiles(root: string): Promise<number[]> {
  const file = join(root, 'config/environments/dev.ts');
  const original = await readFile(file, 'utf8');
  const times: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const edited = original.replace(/\bretention: '\d+d'/, `retention: '${30 + i}d'`);
      if (edited === original) throw new Error(`${file} has no \`retention: '<n>d'\` to edit`);
      await writeFile(file, edited);
      const started = performance.now();
      const { stdout } = await run(process.execPath, [LAUNCHER, 'compile', '--root', root], { cwd: REPO_ROOT });
      times.push((performance.now() - started) / 1000);
      if (!/ 1 changed, /.test(stdout)) throw new Error(`the edited compile did not change one file:\n${stdout}`);
    }
  } finally {
    await writeFile(file, original);
  }
  return times.sort((a, b) => a - b);
}

const median = (times: number[]) => times[Math.floor(times.length / 2)]!;
const show = (times: number[]) => `median ${median(times).toFixed(3)} s (min ${times[0]!.toFixed(3)}, max ${times.at(-1)!.toFixed(3)}, ${times.length} runs)`;

/** A repository copy with `environments` environments, each collecting every family. */
async function syntheticRepo(environments: number) {
  const repo = await tempRepo();
  const families = Object.keys(METRIC_FAMILIES);
  for (let index = 0; index < environments; index++) {
    const name = `synthetic-${String(index).padStart(3, '0')}`;
    await writeFile(
      join(repo.root, 'config/environments', `${name}.ts`),
      `export const overrides = {\n  collector: { families: ${JSON.stringify(families)} },\n  hindsight: { output: { staticTags: { cluster: '${name}' } } },\n` +
        `  networkPolicy: { acceptedBecause: 'a synthetic environment' },\n};\n`,
    );
    await mkdir(join(repo.root, 'overlays', name), { recursive: true });
    await cp(join(REPO_ROOT, 'overlays/dev/secrets'), join(repo.root, 'overlays', name, 'secrets'), { recursive: true });
  }
  return { repo, units: (environments + 2) * families.length };
}

async function main() {
  const compileCli = [LAUNCHER, 'compile'];
  const validateCli = [LAUNCHER, 'validate'];

  const shipped = await tempRepo();
  // the first run bundles the CLIs if the sources changed since the last bundle: not timed
  await run(process.execPath, [...compileCli, '--root', shipped.root], { cwd: REPO_ROOT });
  const shippedUnits = 2 * (await import('../../config/stack.ts')).stack.collector.families.length;
  const nodeTimes = await timeProcess(['-e', '0']);
  const compileTimes = await timeProcess([...compileCli, '--root', shipped.root]);
  const validateTimes = await timeProcess([...validateCli, '--root', shipped.root]);
  console.log(`node -e 0: ${show(nodeTimes)}`);
  console.log(`compile, shipped config (2 environments × ${shippedUnits / 2} families): ${show(compileTimes)}   target ≤ 0.5 s`);
  console.log(`  ${(median(compileTimes) / median(nodeTimes)).toFixed(1)}× node -e 0   target ≤ 8×`);
  console.log(`validate, base + 2 overlays: ${show(validateTimes)}   target ≤ 5 s`);
  console.log(`compile right after an edit of config/environments/dev.ts (the config bundled anew, one file rewritten): ${show(await timeEditedCompiles(shipped.root))}`);
  await shipped.remove();

  const baseline = median(compileTimes);
  console.log(`\ngrowth (environments × families, compile wall time; a fixed start-up cost is included):`);
  console.log(`  ${String(shippedUnits).padStart(4)} units (1.0×): ${baseline.toFixed(3)} s`);
  for (const environments of [7, 16, 34]) {
    const { repo, units } = await syntheticRepo(environments);
    // The first compile writes everything; time the recompiles that follow, like the shipped case.
    await run(process.execPath, [...compileCli, '--root', repo.root], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    const times = await timeProcess([...compileCli, '--root', repo.root]);
    const perUnit = (median(times) - baseline) / (units - shippedUnits);
    console.log(
      `  ${String(units).padStart(4)} units (${(units / shippedUnits).toFixed(1)}×): ${show(times)}; ${(perUnit * 1000).toFixed(2)} ms per added unit`,
    );
    await repo.remove();
  }
}

await main();
