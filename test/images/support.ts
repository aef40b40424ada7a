/**
 * Helpers for the image tests: paths into images/, running the images' shell scripts as child
 * processes (asynchronously, so servers in the test process keep answering), a loopback port,
 * and a minimal influxd launcher.
 *
 * The launcher starts Debian's influxd with auth ON and NO user, so the bootstrap under test is
 * the one that creates the admin. It is deliberately minimal (a temp dir, a config, a port,
 * /ping); a shared launcher in test/support/ can absorb it: the only extra it needs is a mode
 * that does not create users.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, INFLUXD } from '../support/influxdb.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const IMAGES = path.join(REPO, 'images');
export const imagePath = (...parts: string[]) => path.join(IMAGES, ...parts);

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without blocking the event loop. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the program may exit without reading its input
    child.stdin.end(options.input ?? '');
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export { freePort, INFLUXD };

export interface Influxd {
  url: string;
  dir: string;
  config: string;
  stop(): Promise<void>;
}

/** The influxd config the tests use: what the manifest's config says, moved into a temp dir and onto loopback ports. */
export function influxdConfig(dir: string, httpPort: number, rpcPort: number): string {
  return [
    'reporting-disabled = true',
    `bind-address = "127.0.0.1:${rpcPort}"`,
    '[meta]',
    `  dir = "${dir}/meta"`,
    '[data]',
    `  dir = "${dir}/data"`,
    `  wal-dir = "${dir}/wal"`,
    '[http]',
    '  enabled = true',
    `  bind-address = "127.0.0.1:${httpPort}"`,
    '  auth-enabled = true',
    '  log-enabled = false',
    '[monitor]',
    '  store-enabled = false',
    '',
  ].join('\n');
}

/** Writes a config for a fresh influxd (auth on, no user) in a new temp dir, without starting it. */
export async function prepareInfluxd(): Promise<{ dir: string; config: string; url: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'images-influxd-'));
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const config = path.join(dir, 'influxdb.conf');
  await writeFile(config, influxdConfig(dir, httpPort, rpcPort));
  return { dir, config, url: `http://127.0.0.1:${httpPort}` };
}

export async function waitForPing(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/ping`);
      if (response.status === 204) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`influxd at ${url} did not answer /ping within ${timeoutMs} ms`);
}

/** Starts influxd (auth on, no users) on loopback in a temp dir. */
export async function startInfluxd(): Promise<Influxd> {
  const { dir, config, url } = await prepareInfluxd();
  const child = spawn(INFLUXD, ['-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (log = (log + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    await waitForPing(url);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n${log}`, { cause: error });
  }
  return {
    url,
    dir,
    config,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One InfluxQL statement over HTTP, answered as parsed JSON. */
export async function influxQuery(
  url: string,
  statement: string,
  credentials?: { user: string; password: string },
  database?: string,
): Promise<{ status: number; body: InfluxResponse }> {
  const form = new URLSearchParams({ q: statement });
  if (database) form.set('db', database);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (credentials) headers.authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
  const response = await fetch(`${url}/query`, { method: 'POST', headers, body: form });
  return { status: response.status, body: (await response.json()) as InfluxResponse };
}

export interface InfluxResponse {
  error?: string;
  results?: { statement_id: number; error?: string; series?: { name?: string; columns: string[]; values?: unknown[][] }[] }[];
}

/** The rows of the first series of a successful single-statement answer. */
export function rows(response: { status: number; body: InfluxResponse }): unknown[][] {
  const result = response.body.results?.[0];
  if (response.status !== 200 || !result || result.error) {
    throw new Error(`query failed: HTTP ${response.status} ${JSON.stringify(response.body)}`);
  }
  return result.series?.[0]?.values ?? [];
}

/** Writes one line-protocol point; answers the HTTP status. */
export async function influxWrite(
  url: string,
  database: string,
  retentionPolicy: string,
  line: string,
  credentials: { user: string; password: string },
): Promise<number> {
  const query = new URLSearchParams({ db: database, rp: retentionPolicy, precision: 's' });
  const authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
  const response = await fetch(`${url}/write?${query}`, { method: 'POST', headers: { authorization }, body: line });
  await response.arrayBuffer();
  return response.status;
}
