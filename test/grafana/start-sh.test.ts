/**
 * images/grafana/start.sh against a real HTTP server on loopback that records every call and
 * answers like Grafana's API for the endpoints start.sh uses (including error answers), and the
 * same fake served over HTTPS with a throw-away certificate for grafana.test (generated per run
 * with openssl, never committed). Grafana itself cannot run here; a `sleep` stands in for its
 * process, so start.sh's own logic (reading the password file, waiting, idempotency, retries,
 * TLS verification, failing loudly) is what is tested.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { access, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
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
  /** Whether the call came over TLS (the HTTPS server). */
  tls: boolean;
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
/** The same fake over HTTPS, with the certificate for TLS_DOMAIN. */
let httpsServer: Server;
let httpsPort: number;
/** The file holding the admin password, as the Secret's key is mounted (0600, no trailing newline). */
let passwordFile: string;
/** The HTTPS server's certificate and key; and another self-signed pair for the same name, which must not be trusted. */
const certs = { cert: '', key: '', otherCert: '', otherKey: '' };
const TLS_DOMAIN = 'grafana.test';

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

const handler: RequestListener = (request, response) => {
  let body = '';
  request.on('data', (chunk) => (body += chunk));
  request.on('end', () => {
    const [status, payload] = answer(request, body);
    if (!request.url?.startsWith('/__test')) {
      const tls = (request.socket as Partial<TLSSocket>).encrypted === true;
      fake.calls.push({ method: request.method ?? '', path: request.url ?? '', user: credentials(request).user, body, tls });
    }
    response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload));
  });
};

/** A throw-away EC key and self-signed certificate for `name` (subjectAltName DNS:name), in the scratch dir. */
async function selfSigned(prefix: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(scratch, `${prefix}.crt`);
  const key = join(scratch, `${prefix}.key`);
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`,
  ]);
  await chmod(key, 0o600);
  return { cert, key };
}

async function listen(target: Server): Promise<number> {
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  return (target.address() as AddressInfo).port;
}

before(async () => {
  reset();
  scratch = await mkdtemp(join(tmpdir(), 'start-sh-'));
  passwordFile = join(scratch, 'grafana-admin-password');
  await writeFile(passwordFile, PASSWORD, { mode: 0o600 });
  server = createServer(handler);
  port = await listen(server);

  const own = await selfSigned('grafana', TLS_DOMAIN);
  const other = await selfSigned('other', TLS_DOMAIN);
  Object.assign(certs, { cert: own.cert, key: own.key, otherCert: other.cert, otherKey: other.key });
  httpsServer = createHttpsServer({ cert: await readFile(own.cert), key: await readFile(own.key) }, handler);
  httpsPort = await listen(httpsServer);
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
  httpsServer.close();
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

/** start.sh's environment: the defaults for the plain-HTTP fake, these changes applied (undefined removes a variable). */
function startShEnv(env: Record<string, string | undefined>): Record<string, string> {
  const merged: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    GF_SECURITY_ADMIN_USER: ADMIN,
    GF_SECURITY_ADMIN_PASSWORD__FILE: passwordFile,
    STACKLIGHT_HOME_DASHBOARD_UID: HOME,
    STACKLIGHT_DATASOURCE_UID: DATASOURCE,
    GRAFANA_URL: `http://127.0.0.1:${port}`,
    GRAFANA_COMMAND: 'sleep 2',
    GRAFANA_CLI: join(scratch, 'fake-grafana-cli'),
    STACKLIGHT_RETRY_DELAY: '0',
    STACKLIGHT_DATASOURCE_TRIES: '3',
    STACKLIGHT_HEALTH_TIMEOUT: '3',
    ...env,
  };
  return Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** The settings of Grafana serving HTTPS (the fake's HTTPS port), start.sh finding it by them alone. */
function httpsEnv(): Record<string, string | undefined> {
  return {
    GRAFANA_URL: undefined,
    GF_SERVER_PROTOCOL: 'https',
    GF_SERVER_DOMAIN: TLS_DOMAIN,
    GF_SERVER_HTTP_PORT: String(httpsPort),
    GF_SERVER_CERT_FILE: certs.cert,
    GF_SERVER_CERT_KEY: certs.key,
  };
}

function spawnStartSh(env: Record<string, string | undefined> = {}, args: string[] = []): StartShRun {
  const child = spawn('bash', [START_SH, ...args], {
    env: startShEnv(env),
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

async function startSh(env: Record<string, string | undefined> = {}, args: string[] = []): Promise<{ code: number; log: string }> {
  const { code, log } = await spawnStartSh(env, args).done;
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
  assert.ok(fake.calls.every((call) => !call.tls), 'plain HTTP by default');
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

test('the password file with one trailing newline gives the same password', async () => {
  const file = join(scratch, 'password-with-newline');
  await writeFile(file, `${PASSWORD}\n`, { mode: 0o600 });
  reset({ homeDashboardUID: HOME });
  const { code, log } = await startSh({ GF_SECURITY_ADMIN_PASSWORD__FILE: file });
  assert.equal(code, 0, log);
  assert.match(log, /admin password is the Secret's/);
  assert.doesNotMatch(log, /resetting/);
});

test('a rotated password file: the next start resets Grafana\'s admin password to the file\'s', async () => {
  const file = join(scratch, 'rotated-password');
  const rotated = 'r0tated "pass" \\ $HOME `x`';
  await writeFile(file, PASSWORD, { mode: 0o600 });
  reset({ homeDashboardUID: HOME });
  assert.equal((await startSh({ GF_SECURITY_ADMIN_PASSWORD__FILE: file })).code, 0);
  await writeFile(file, rotated);
  const { code, log } = await startSh({ GF_SECURITY_ADMIN_PASSWORD__FILE: file });
  assert.equal(code, 0, log);
  assert.match(log, /admin password differs from the Secret's: resetting it/);
  assert.equal(fake.password, rotated);
  assert.ok(!log.includes(rotated), 'the password appears in the log');
});

test('refused settings stop start.sh before Grafana starts, naming the variable and the path', async (t) => {
  const secret = 'a-s3cret-never-printed';
  const file = async (name: string, content: string) => {
    const path = join(scratch, name);
    await writeFile(path, content, { mode: 0o600 });
    return path;
  };
  const missing = join(scratch, 'no-such-dir', 'password');
  const empty = await file('empty-password', '');
  const broken = await file('broken-password', `${secret}\nsecond line`);
  const twoNewlines = await file('two-newlines-password', `${secret}\n\n`);
  const cases: [string, Record<string, string | undefined>, string][] = [
    [
      'the old plain GF_SECURITY_ADMIN_PASSWORD',
      { GF_SECURITY_ADMIN_PASSWORD: secret },
      'GF_SECURITY_ADMIN_PASSWORD is set, but the admin password is no longer read from the environment: mount the Secret and set GF_SECURITY_ADMIN_PASSWORD__FILE to the path of its key instead',
    ],
    ['an unset GF_SECURITY_ADMIN_PASSWORD__FILE', { GF_SECURITY_ADMIN_PASSWORD__FILE: undefined }, 'GF_SECURITY_ADMIN_PASSWORD__FILE is not set'],
    ['a missing password file', { GF_SECURITY_ADMIN_PASSWORD__FILE: missing }, `GF_SECURITY_ADMIN_PASSWORD__FILE names ${missing}, which does not exist (is the Secret mounted?)`],
    ['a directory', { GF_SECURITY_ADMIN_PASSWORD__FILE: scratch }, `GF_SECURITY_ADMIN_PASSWORD__FILE names ${scratch}, which is not a file`],
    ['an empty password file', { GF_SECURITY_ADMIN_PASSWORD__FILE: empty }, `the password file ${empty} (GF_SECURITY_ADMIN_PASSWORD__FILE) is empty`],
    ['a password with a line break', { GF_SECURITY_ADMIN_PASSWORD__FILE: broken }, `the password in ${broken} (GF_SECURITY_ADMIN_PASSWORD__FILE) must not contain a line break`],
    ['a password file ending in two newlines', { GF_SECURITY_ADMIN_PASSWORD__FILE: twoNewlines }, `the password in ${twoNewlines} (GF_SECURITY_ADMIN_PASSWORD__FILE) must not contain a line break`],
    ['another protocol', { GF_SERVER_PROTOCOL: 'h2' }, "GF_SERVER_PROTOCOL must be http or https (or unset), got 'h2'"],
    ['a port that is no number', { GF_SERVER_HTTP_PORT: '3000; x' }, "GF_SERVER_HTTP_PORT must be a port number, got '3000; x'"],
    ['https without GF_SERVER_DOMAIN', { ...httpsEnv(), GF_SERVER_DOMAIN: undefined }, 'GF_SERVER_PROTOCOL is https, but GF_SERVER_DOMAIN (the DNS name in Grafana\'s certificate) is not set'],
    ['https without GF_SERVER_CERT_FILE', { ...httpsEnv(), GF_SERVER_CERT_FILE: undefined }, 'GF_SERVER_PROTOCOL is https, but GF_SERVER_CERT_FILE (the certificate file) is not set'],
    ['https with a missing certificate', { ...httpsEnv(), GF_SERVER_CERT_FILE: missing }, `GF_SERVER_CERT_FILE names ${missing}, which is not a readable file (is the TLS Secret mounted?)`],
    ['https without GF_SERVER_CERT_KEY', { ...httpsEnv(), GF_SERVER_CERT_KEY: '' }, 'GF_SERVER_PROTOCOL is https, but GF_SERVER_CERT_KEY (the key file) is not set'],
    ['https with a missing key', { ...httpsEnv(), GF_SERVER_CERT_KEY: missing }, `GF_SERVER_CERT_KEY names ${missing}, which is not a readable file (is the TLS Secret mounted?)`],
    ['https with a plain-HTTP GRAFANA_URL', { ...httpsEnv(), GRAFANA_URL: `http://127.0.0.1:${port}` }, 'GRAFANA_URL must be an https:// URL with a host name when GF_SERVER_PROTOCOL is https'],
  ];
  const marker = join(scratch, 'grafana-started');
  for (const [what, env, message] of cases) {
    await t.test(what, async () => {
      reset();
      await rm(marker, { force: true });
      const { code, log } = await startSh({ GRAFANA_COMMAND: `touch ${marker}`, ...env });
      assert.equal(code, 1, log);
      assert.ok(log.includes(`start.sh: error: ${message}`), log);
      assert.ok(!log.includes(secret), 'the password appears in the log');
      assert.deepEqual(fake.calls, [], 'nothing was asked of Grafana');
      assert.equal(await access(marker).then(() => true, () => false), false, 'Grafana was started');
    });
  }
});

test('HTTPS: start.sh configures Grafana over TLS, verifying its certificate for GF_SERVER_DOMAIN', async () => {
  reset({ password: 'an-old-password' });
  const { code, log } = await startSh(httpsEnv());
  assert.equal(code, 0, log);
  assert.deepEqual(summary().filter((call) => call !== 'GET /api/health'), [
    'GET /api/user',
    'GET /api/user',
    'GET /api/org/preferences',
    'PUT /api/org/preferences',
    `GET /api/datasources/uid/${DATASOURCE}`,
    `GET /api/datasources/uid/${DATASOURCE}/health`,
  ]);
  assert.ok(summary().includes('GET /api/health'));
  assert.ok(fake.calls.every((call) => call.tls), 'a call went around TLS');
  assert.match(log, /admin password reset to the Secret's/);
  assert.equal(fake.password, PASSWORD);
  assert.equal(fake.homeDashboardUID, HOME);
  assert.match(log, /configured; Grafana keeps running/);
});

test('HTTPS: a certificate issued by a CA is trusted through the leaf certificate alone (curl\'s partial chains)', async () => {
  const ca = await selfSigned('test-ca', 'stacklight test CA');
  const leafKey = join(scratch, 'ca-issued.key');
  const leafCsr = join(scratch, 'ca-issued.csr');
  const leafCert = join(scratch, 'ca-issued.crt');
  const extensions = join(scratch, 'ca-issued.ext');
  const openssl = (...args: string[]) => promisify(execFile)('openssl', args);
  await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', leafKey, '-out', leafCsr, '-subj', `/CN=${TLS_DOMAIN}`);
  await writeFile(extensions, `subjectAltName=DNS:${TLS_DOMAIN}\nbasicConstraints=CA:FALSE\n`);
  await openssl('x509', '-req', '-in', leafCsr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-extfile', extensions, '-out', leafCert);
  const issued = createHttpsServer({ cert: await readFile(leafCert), key: await readFile(leafKey) }, handler);
  const issuedPort = await listen(issued);
  try {
    reset({ homeDashboardUID: HOME });
    const { code, log } = await startSh({
      ...httpsEnv(),
      GF_SERVER_HTTP_PORT: String(issuedPort),
      GF_SERVER_CERT_FILE: leafCert,
      GF_SERVER_CERT_KEY: leafKey,
    });
    assert.equal(code, 0, log);
    assert.ok(fake.calls.length > 0 && fake.calls.every((call) => call.tls));
  } finally {
    issued.close();
  }
});

test('HTTPS: GRAFANA_URL overrides the address, and its host and port are the ones resolved to loopback', async () => {
  reset({ homeDashboardUID: HOME });
  const { code, log } = await startSh({ ...httpsEnv(), GF_SERVER_HTTP_PORT: '1', GRAFANA_URL: `https://${TLS_DOMAIN}:${httpsPort}` });
  assert.equal(code, 0, log);
  assert.ok(fake.calls.length > 0 && fake.calls.every((call) => call.tls));
});

test('HTTPS: a certificate other than Grafana\'s as GF_SERVER_CERT_FILE fails (the certificate is verified)', async () => {
  reset();
  const { code, log } = await startSh({ ...httpsEnv(), GF_SERVER_CERT_FILE: certs.otherCert, GF_SERVER_CERT_KEY: certs.otherKey, STACKLIGHT_HEALTH_TIMEOUT: '2', GRAFANA_COMMAND: 'sleep 30' });
  assert.equal(code, 1, log);
  assert.match(log, /FAILED: Grafana's \/api\/health did not answer within 2s \(last error: curl: \(60\) SSL certificate problem/);
  assert.deepEqual(fake.calls, [], 'a request got through an unverified connection');
});

test('HTTPS: a GF_SERVER_DOMAIN that is not the certificate\'s name fails (the name is verified)', async () => {
  reset();
  const { code, log } = await startSh({ ...httpsEnv(), GF_SERVER_DOMAIN: 'other.test', STACKLIGHT_HEALTH_TIMEOUT: '2', GRAFANA_COMMAND: 'sleep 30' });
  assert.equal(code, 1, log);
  assert.match(log, /last error: curl: \(60\) SSL: no alternative certificate subject name matches target host name 'other\.test'/);
  assert.deepEqual(fake.calls, []);
});

test('start.sh --health (the image\'s HEALTHCHECK) asks /api/health once, over HTTP or verified HTTPS', async () => {
  reset();
  assert.equal((await startSh({}, ['--health'])).code, 0);
  assert.equal((await startSh(httpsEnv(), ['--health'])).code, 0);
  assert.deepEqual(fake.calls.map((call) => [call.path, call.tls]), [
    ['/api/health', false],
    ['/api/health', true],
  ]);
  reset({ healthy: false });
  const unhealthy = await startSh({}, ['--health']);
  assert.equal(unhealthy.code, 1);
  assert.match(unhealthy.log, /api\/health: curl: \(22\) The requested URL returned error: 503/);
  reset();
  const untrusted = await startSh({ ...httpsEnv(), GF_SERVER_CERT_FILE: certs.otherCert }, ['--health']);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.log, /SSL certificate problem/);
  assert.deepEqual(fake.calls, []);
});

test('start.sh is shellcheck clean', async () => {
  await promisify(execFile)('shellcheck', [START_SH]);
});
