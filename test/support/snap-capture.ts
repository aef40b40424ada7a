/**
 * Captures what the real Snap publishes: snapteld of the local build (test/support/snapd.ts)
 * runs the compiled task of config/stack.ts with every family, publishing into a plain TCP
 * listener that keeps each connection's bytes, until `runs` publishes have been received whole.
 * snapteld runs under a fixed host name (CAPTURE_HOSTNAME) so the capture does not carry this
 * machine's, and keeps the filesystems of CAPTURED_FILESYSTEMS only.
 *
 * The committed capture, test/fixtures/snap/real-publish.heka.gz, is what the mock publisher is
 * held to (field layout, payload, tags) and what the plugin's golden test replays. Made with
 *
 *   bash images/snap/build-local.sh && node --import tsx test/support/snap-capture.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import type { StackConfig } from '../../compiler/config/types.ts';
import { METRIC_FAMILIES, type FamilyDefinition } from '../../compiler/collector/metrics.ts';
import { stack } from '../../config/stack.ts';
import { REPO_ROOT } from './hindsight-stage.ts';
import { decodeMessage, parseFrames, type DecodedMessage } from './heka.ts';
import { startHekaRecorder } from './heka-recorder.ts';
import type { PublishedMetric } from './pipeline.ts';
import type { MetricValue, SnapValueType } from './snap-publisher.ts';
import { SNAP_NOT_BUILT, snapBuild, startSnapd, type SnapBuild } from './snapd.ts';

export const CAPTURE_FILE = path.join(REPO_ROOT, 'test/fixtures/snap/real-publish.heka.gz');
export const CAPTURE_HOSTNAME = 'capture-host';
export const CAPTURE_NODE = 'capture-node';

/** The config the capture ran: the shipped one, with every family the catalogue has. */
export function captureConfig(): StackConfig {
  const families = Object.keys(METRIC_FAMILIES).filter((name) => name !== 'smart') as StackConfig['collector']['families'];
  return { ...stack, collector: { ...stack.collector, families } };
}

/**
 * The filesystems a capture keeps: the others are mount points of the capturing machine, which
 * a fixture has no business naming. Every frame kept is the bytes Snap wrote.
 */
export const CAPTURED_FILESYSTEMS: readonly string[] = ['rootfs', 'dev', 'dev_shm'];

function kept(publish: Uint8Array): Uint8Array {
  const frames = parseFrames(publish);
  const keep = frames.filter((frame) => {
    const filesystem = decodeMessage(frame.message).fields.find((field) => field.name === 'filesystem')?.valueString?.[0];
    return filesystem === undefined || CAPTURED_FILESYSTEMS.includes(filesystem);
  });
  const end = (i: number) => frames[i + 1]?.offset ?? publish.length;
  return Buffer.concat(keep.map((frame) => publish.subarray(frame.offset, end(frames.indexOf(frame)))));
}

/** Each publish (one TCP connection) the real Snap made, as the bytes it wrote. */
export async function captureSnap(build: SnapBuild, runs: number): Promise<Uint8Array[]> {
  const recorder = await startHekaRecorder();
  const snapd = await startSnapd({
    build,
    config: captureConfig(),
    hekaPort: recorder.port,
    nodeName: CAPTURE_NODE,
    hostname: CAPTURE_HOSTNAME,
  });
  try {
    const deadline = Date.now() + (runs + 3) * 15_000;
    while (recorder.publishes.length < runs) {
      if (Date.now() > deadline) throw new Error(`only ${recorder.publishes.length} of ${runs} publishes; snapteld's log:\n${await snapd.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await snapd.dispose();
    await recorder.close();
  }
  return recorder.publishes.slice(0, runs);
}

/** The committed capture's messages, in the order Snap sent them. */
export function readCapture(file: string = CAPTURE_FILE): DecodedMessage[] {
  return parseFrames(gunzipSync(readFileSync(file))).map((frame) => decodeMessage(frame.message));
}

/** The family a message's `name` field belongs to. */
export function familyOf(message: DecodedMessage): [string, FamilyDefinition] | undefined {
  const name = message.fields.find((field) => field.name === 'name')?.valueString?.[0];
  return Object.entries(METRIC_FAMILIES).find(([, family]) => name?.startsWith(`${family.prefix.join('.')}.`));
}

const HEKA_INTEGER = 2;
const HEKA_DOUBLE = 3;
const HEKA_BOOL = 4;

/** The metric a Snap message carries, read as the plugin's contract says (docs/pipeline.md: What Snap sends). */
export function publishedMetric(message: DecodedMessage): PublishedMetric {
  const field = (name: string) => message.fields.find((candidate) => candidate.name === name);
  const dynamicName = familyOf(message)?.[1].dynamic;
  const tags: Record<string, string> = {};
  let dynamic: PublishedMetric['dynamic'];
  for (const name of field('dimensions')?.valueString ?? []) {
    const value = field(name)?.valueString[0] ?? '';
    if (name === dynamicName) dynamic = { name, value };
    else tags[name] = value;
  }
  const value = field('value');
  const [data, valueType]: [MetricValue | undefined, SnapValueType] =
    value?.valueType === HEKA_INTEGER ? [value.valueInteger[0], 'integer']
    : value?.valueType === HEKA_DOUBLE ? [value.valueDouble[0], 'float']
    : value?.valueType === HEKA_BOOL ? [value.valueBool[0], 'bool']
    : [value?.valueString[0], 'string'];
  const name = field('name')?.valueString[0];
  const timestampNs = field('timestamp')?.valueInteger[0];
  if (name === undefined || data === undefined || timestampNs === undefined) throw new Error(`not a Snap metric message: ${JSON.stringify(message.fields.map((f) => f.name))}`);
  return { name, ...(dynamic && { dynamic }), tags, value: data, valueType, timestampNs };
}

async function main(): Promise<void> {
  const build = snapBuild();
  if (!build) throw new Error(SNAP_NOT_BUILT);
  // the first run has no cpu percentages (they need two samples): three runs have every metric
  const publishes = await captureSnap(build, 3);
  await mkdir(path.dirname(CAPTURE_FILE), { recursive: true });
  const bytes = Buffer.concat(publishes.map(kept));
  await writeFile(CAPTURE_FILE, gzipSync(bytes, { level: 9 }));
  console.log(`${path.relative(REPO_ROOT, CAPTURE_FILE)}: ${publishes.length} publishes, ${parseFrames(bytes).length} messages, ${bytes.length} bytes`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
