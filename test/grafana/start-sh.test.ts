/**
 * images/grafana/start.sh against a real HTTP server on loopback that records every call and
 * answers like Grafana's API for the endpoints start.sh uses (including error answers). Grafana
 * itself cannot run here; a `sleep` stands in for its process, so start.sh's own logic (waiting,
 * idempotency, retries, failing loudly) is what is tested.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { access, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { REPO_ROOT } from '../../compiler/tools.ts';

const START_SH = join(REPO_ROOT, 'images/grafana/start.sh');
const ADMIN = 'admin';
const PASSWORD = 'from-the-secret "quoted" \\ back';
const DATASOURCE = 'stacklight-influxdb';
const HOME = 'stacklight-cluster';

interface Call {
  method: string;
  path: string;
  user?: string;
  body: string;
}

/** The state of the fake Grafana and how it should misbehave. */
interface FakeGrafana {
  healthy: boolean;
  password: string;
  homeDashboardUID: string;
  datasourceExists: boolean;
  /** Answers of the datasource health endpoint, consumed in order; then 200. */
  datasourceHealth: number[];
  preferencesStatus: number;
  /** What GET /api/user answers an authenticated admin (Grafana failing: 500). */
  userStatus: number;
  calls: Call[];
}

let server: Server;
let port: number;
let fake: FakeGrafana;
let scratch: string;

function reset(overrides: Partial<FakeGrafana> = {}): void {
  fake = {
    healthy: true,
    password: PASSWORD,
    homeDashboardUID: '',
    datasourceExists: true,
    datasourceHealth: [],
    preferencesStatus: 200,
    userStatus: 200,
    calls: [],
    ...overrides,
  };
}

function credentials(request: IncomingMessage): { user?: string; password?: string } {
  const header = request.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return {};
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function answer(request: IncomingMessage, body: string): [number, unknown] {
  const path = request.url ?? '';
  if (path === '/api/health') return fake.healthy ? [200, { database: 'ok' }] : [503, { message: 'starting' }];
  if (path === '/__test/reset-password') {
    fake.password = body.trim();
    return [200, {}];
  }
  const { user, password } = credentials(request);
  if (user !== ADMIN || password !== fake.password) return [401, { message: 'Invalid username or password' }];
  if (path === '/api/user' && request.method === 'GET') return fake.userStatus === 200 ? [200, { login: ADMIN, isGrafanaAdmin: true }] : [fake.userStatus, { message: 'internal error' }];
  if (path === '/api/org/preferences' && request.method === 'GET') return [200, { theme: '', homeDashboardUID: fake.homeDashboardUID }];
  if (path === '/api/org/preferences' && request.method === 'PUT') {
    if (fake.preferencesStatus !== 200) return [fake.preferencesStatus, { message: 'Permission denied' }];
    fake.homeDashboardUID = (JSON.parse(body) as { homeDashboardUID: string }).homeDashboardUID;
    return [200, { message: 'Preferences updated' }];
  }
  if (path === `/api/datasources/uid/${DATASOURCE}`) return fake.datasourceExists ? [200, { uid: DATASOURCE, type: 'influxdb' }] : [404, { message: 'Data source not found' }];
  if (path === `/api/datasources/uid/${DATASOURCE}/health`) {
    const status = fake.datasourceHealth.shift() ?? 200;
    return status === 200 ? [200, { status: 'OK', message: 'datasource is working. 1 measurements found' }] : [status, { status: 'ERROR', message: 'error reading InfluxDB' }];
  }
  return [404, { message: 'Not found' }];
}

before(async () => {
  reset();
  scratch = await mkdtemp(join(tmpdir(), 'start-sh-'));
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const [status, payload] = answer(request, body);
      if (!request.url?.startsWith('/__test')) {
        fake.calls.push({ method: request.method ?? '', path: request.url ?? '', user: credentials(request).user, body });
      }
      response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  // A stand-in for `grafana cli`: it hands the password it reads on stdin to the fake server.
  const cli = join(scratch, 'fake-grafana-cli');
  await writeFile(
    cli,
    `#!/usr/bin/env bash\nset -euo pipefail\n[ "$*" = "admin reset-admin-password --password-from-stdin" ] || { echo "unexpected args: $*" >&2; exit 2; }\ncurl -sS --fail --data-binary @- http://127.0.0.1:${port}/__test/reset-password\n`,
  );
  await chmod(cli, 0o755);
});

after(async () => {
  server.close();
  await rm(scratch, { recursive: true, force: true });
});

interface StartShRun {
  child: ChildProcess;
  log: () => string;
  /** start.sh's own exit. */
  exited: Promise<{ code: number; signal: string | null }>;
  /** The exit, once every output is read. */
  done: Promise<{ code: number; signal: string | null; log: string }>;
}

function spawnStartSh(env: Record<string, string> = {}): StartShRun {
  const child = spawn('bash', [START_SH], {
    env: {
      PATH: process.env.PATH ?? '',
      GF_SECURITY_ADMIN_USER: ADMIN,
      GF_SECURITY_ADMIN_PASSWORD: PASSWORD,
      STACKLIGHT_HOME_DASHBOARD_UID: HOME,
      STACKLIGHT_DATASOURCE_UID: DATASOURCE,
      GRAFANA_URL: `http://127.0.0.1:${port}`,
      GRAFANA_COMMAND: 'sleep 2',
      GRAFANA_CLI: join(scratch, 'fake-grafana-cli'),
      STACKLIGHT_RETRY_DELAY: '0',
      STACKLIGHT_DATASOURCE_TRIES: '3',
      STACKLIGHT_HEALTH_TIMEOUT: '3',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (chunk) => (log += chunk));
  child.stderr!.on('data', (chunk) => (log += chunk));
  // 'close' waits for every holder of the output pipes (Grafana's stand-in too); 'exit' is
  // start.sh's own end, which the stop test times against Grafana's.
  const exited = new Promise<{ code: number; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code: code ?? -1, signal })));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { child, log: () => log, exited, done: closed.then(async () => ({ ...(await exited), log })) };
}

async function startSh(env: Record<string, string> = {}): Promise<{ code: number; log: string }> {
  const { code, log } = await spawnStartSh(env).done;
  return { code, log };
}

const summary = () => fake.calls.map((call) => `${call.method} ${call.path}`);

test('a first start sets the home dashboard, verifies the datasource, and authenticates as the admin', async () => {
  reset();
  const { code, log } = await startSh();
  assert.equal(code, 0, log);
  assert.deepEqual(summary().filter((call) => call !== 'GET /api/health'), [
    'GET /api/user',
    'GET /api/org/preferences',
    'PUT /api/org/preferences',
    `GET /api/datasources/uid/${DATASOURCE}`,
    `GET /api/datasources/uid/${DATASOURCE}/health`,
  ]);
  assert.ok(fake.calls.filter((call) => call.path !== '/api/health').every((call) => call.user === ADMIN));
  assert.equal(fake.homeDashboardUID, HOME);
  assert.ok(!log.includes(PASSWORD), 'the password appears in the log');
});

test('a restart changes nothing (idempotent)', async () => {
  reset({ homeDashboardUID: HOME });
  const { code, log } = await startSh();
  assert.equal(code, 0, log);
  assert.ok(!summary().includes('PUT /api/org/preferences'), 'preferences rewritten on restart');
  assert.match(log, /home dashboard already stacklight-cluster/);
});

test('Grafana still starting: start.sh waits for /api/health', async () => {
  reset({ healthy: false });
  setTimeout(() => (fake.healthy = true), 1200);
  const { code, log } = await startSh();
  assert.equal(code, 0, log);
  assert.ok(summary().filter((call) => call === 'GET /api/health').length >= 2);
});

test('a datasource that answers late is retried, then accepted', async () => {
  reset({ datasourceHealth: [500, 502] });
  const { code, log } = await startSh();
  assert.equal(code, 0, log);
  assert.equal(summary().filter((call) => call.endsWith('/health') && call.includes('datasources')).length, 3);
});

test('a datasource that never answers fails loudly', async () => {
  reset({ datasourceHealth: [500, 500, 500] });
  const { code, log } = await startSh();
  assert.equal(code, 1);
  assert.match(log, /FAILED: datasource stacklight-influxdb did not answer after 3 tries: .*error reading InfluxDB/);
});

test('a missing datasource fails loudly', async () => {
  reset({ datasourceExists: false });
  const { code, log } = await startSh();
  assert.equal(code, 1);
  assert.match(log, /FAILED: the provisioned datasource stacklight-influxdb does not exist: .*Data source not found/);
});

test('a refused preferences update fails loudly', async () => {
  reset({ preferencesStatus: 403 });
  const { code, log } = await startSh();
  assert.equal(code, 1);
  assert.match(log, /FAILED: PUT \/api\/org\/preferences \(home dashboard stacklight-cluster\): .*Permission denied/);
});

test('a database older than the Secret gets the Secret\'s password through grafana cli, on stdin', async () => {
  reset({ password: 'an-old-password' });
  const { code, log } = await startSh();
  assert.equal(code, 0, log);
  assert.match(log, /admin password reset to the Secret's/);
  assert.equal(fake.password, PASSWORD);
});

test('Grafana failing (not a 401) on the admin check fails loudly and resets nothing', async () => {
  reset({ userStatus: 500, password: PASSWORD });
  const { code, log } = await startSh();
  assert.equal(code, 1);
  assert.match(log, /FAILED: GET \/api\/user answered 500: cannot tell whether the admin password is the Secret's/);
  assert.doesNotMatch(log, /resetting/);
});

test('a stop (SIGTERM to PID 1) is passed on, and start.sh exits only after Grafana has shut down, with its status', async () => {
  reset({ homeDashboardUID: HOME });
  const marker = join(scratch, 'grafana-stopped');
  const grafana = join(scratch, 'slow-stopping-grafana');
  // Takes a second to shut down, leaves a marker, and exits with a status of its own.
  await writeFile(grafana, `#!/usr/bin/env bash\ntrap 'sleep 1; touch "${marker}"; exit 3' TERM\nwhile :; do sleep 0.1; done\n`);
  await chmod(grafana, 0o755);
  await rm(marker, { force: true });
  const run = spawnStartSh({ GRAFANA_COMMAND: grafana });
  const deadline = Date.now() + 20_000;
  while (!run.log().includes('configured; Grafana keeps running')) {
    assert.ok(Date.now() < deadline, `start.sh did not finish configuring:\n${run.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  run.child.kill('SIGTERM');
  const { code } = await run.exited;
  const stoppedFirst = await access(marker).then(() => true, () => false);
  const { log } = await run.done;
  assert.ok(stoppedFirst, `start.sh exited before Grafana had shut down:\n${log}`);
  assert.equal(code, 3, `start.sh's status is not Grafana's:\n${log}`);
  assert.match(log, /stopping Grafana/);
});

test('Grafana that never becomes healthy fails within the timeout', async () => {
  reset({ healthy: false });
  const started = Date.now();
  const { code, log } = await startSh({ STACKLIGHT_HEALTH_TIMEOUT: '2', GRAFANA_COMMAND: 'sleep 30' });
  assert.equal(code, 1);
  assert.match(log, /FAILED: Grafana's \/api\/health did not answer within 2s/);
  assert.ok(Date.now() - started < 15_000);
});

test('Grafana exiting early is reported', async () => {
  reset({ healthy: false });
  const { code, log } = await startSh({ GRAFANA_COMMAND: 'false' });
  assert.equal(code, 1);
  assert.match(log, /FAILED: Grafana exited before \/api\/health answered/);
});

test('start.sh is shellcheck clean', async () => {
  await promisify(execFile)('shellcheck', [START_SH]);
});
