/**
 * The InfluxDB image's bootstrap and entrypoint against a REAL influxd (Debian's 1.6.7, the
 * package the image installs), started on loopback with auth on and no user: the bootstrap
 * creates everything on the first run, changes nothing on the second, applies a new retention,
 * repairs drift, and leaves exactly WRITE for the writer and READ for the reader.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { INFLUXDB } from '../../compiler/facts.ts';
import {
  imagePath,
  influxQuery,
  influxWrite,
  prepareInfluxd,
  rows,
  run,
  sleep,
  startInfluxd,
  waitForPing,
  type Influxd,
  type RunResult,
} from './support.ts';

const BOOTSTRAP = imagePath('influxdb', 'bootstrap.sh');
const ENTRYPOINT = imagePath('influxdb', 'entrypoint.sh');

const DB = 'stacklight';
const RP = 'stacklight_rp';
const USERS = { admin: 'admin', writer: 'hindsight', reader: 'grafana' } as const;
/** Passwords full of what breaks naive quoting: quotes, backslashes, $, backticks, colons, spaces, UTF-8. */
const PASSWORDS = {
  admin: `ad'min "pa\\ss" $HOME :x`,
  writer: 'wr1te:r $(id) `id` \\n end\\',
  reader: "r€ader p'w \"q\" ;DROP",
} as const;

function bootstrapEnv(url: string, overrides: Partial<Record<keyof typeof INFLUXDB.env, string>> = {}): NodeJS.ProcessEnv {
  const env = INFLUXDB.env;
  const values: Record<keyof typeof INFLUXDB.env, string> = {
    database: DB,
    retentionPolicy: RP,
    retention: '30d',
    adminUser: USERS.admin,
    adminPassword: PASSWORDS.admin,
    writerUser: USERS.writer,
    writerPassword: PASSWORDS.writer,
    readerUser: USERS.reader,
    readerPassword: PASSWORDS.reader,
    ...overrides,
  };
  const result: NodeJS.ProcessEnv = { PATH: process.env.PATH, INFLUXDB_BOOTSTRAP_URL: url };
  for (const key of Object.keys(env) as (keyof typeof env)[]) result[env[key]] = values[key];
  return result;
}

const outputs: string[] = [];
async function bootstrap(env: NodeJS.ProcessEnv): Promise<RunResult> {
  const result = await run('bash', [BOOTSTRAP], { env, timeoutMs: 60_000 });
  outputs.push(result.stdout, result.stderr);
  return result;
}

const admin = { user: USERS.admin, password: PASSWORDS.admin };

/** Everything the bootstrap manages, as InfluxDB reports it. */
async function state(url: string) {
  return {
    databases: rows(await influxQuery(url, 'SHOW DATABASES', admin)),
    users: rows(await influxQuery(url, 'SHOW USERS', admin)),
    retentionPolicies: rows(await influxQuery(url, `SHOW RETENTION POLICIES ON "${DB}"`, admin)),
    writerGrants: rows(await influxQuery(url, `SHOW GRANTS FOR "${USERS.writer}"`, admin)),
    readerGrants: rows(await influxQuery(url, `SHOW GRANTS FOR "${USERS.reader}"`, admin)),
  };
}

/** [name, duration, default] of the managed retention policy. */
function managedPolicy(retentionPolicies: unknown[][]): unknown[] | undefined {
  const row = retentionPolicies.find((candidate) => candidate[0] === RP);
  return row && [row[0], row[1], row[4]];
}

function assertNoPasswordPrinted() {
  const text = outputs.join('\n');
  for (const password of Object.values(PASSWORDS)) assert.ok(!text.includes(password), 'a password was printed');
  assert.ok(!text.includes('changeme-never'), 'a password was printed');
}

describe('influxdb bootstrap against a real influxd', () => {
  let influxd: Influxd;
  before(async () => {
    influxd = await startInfluxd();
  });
  after(async () => {
    await influxd?.stop();
  });

  it('first run creates the admin, the database, the default retention policy and both users with exactly their right', async () => {
    const result = await bootstrap(bootstrapEnv(influxd.url));
    assert.equal(result.code, 0, result.stderr);
    for (const line of [
      `created admin user ${USERS.admin}`,
      `created database ${DB}`,
      `created retention policy ${RP} on ${DB}: duration 30d, default`,
      `created user ${USERS.writer}`,
      `granted WRITE on ${DB} to ${USERS.writer}`,
      `created user ${USERS.reader}`,
      `granted READ on ${DB} to ${USERS.reader}`,
    ]) {
      assert.match(result.stdout, new RegExp(`influxdb-bootstrap: ${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
    }
    const now = await state(influxd.url);
    assert.deepEqual(now.databases, [[DB]]);
    assert.deepEqual(
      [...now.users].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        [USERS.admin, true],
        [USERS.reader, false],
        [USERS.writer, false],
      ],
    );
    assert.deepEqual(managedPolicy(now.retentionPolicies), [RP, '720h0m0s', true]);
    assert.equal(now.retentionPolicies.filter((row) => row[4] === true).length, 1, 'exactly one default policy');
    assert.deepEqual(now.writerGrants, [[DB, 'WRITE']]);
    assert.deepEqual(now.readerGrants, [[DB, 'READ']]);
  });

  it('second run changes nothing and says so', async () => {
    const before = await state(influxd.url);
    const result = await bootstrap(bootstrapEnv(influxd.url));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'influxdb-bootstrap: no changes\n');
    assert.deepEqual(await state(influxd.url), before);
  });

  it('the writer can write but not read, the reader can read but not write, wrong passwords are refused', async () => {
    const writer = { user: USERS.writer, password: PASSWORDS.writer };
    const reader = { user: USERS.reader, password: PASSWORDS.reader };
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await influxWrite(influxd.url, DB, RP, `bootstrap_test,host=a value=1 ${now}`, writer), 204);
    assert.equal(await influxWrite(influxd.url, DB, RP, `bootstrap_test,host=a value=2 ${now + 1}`, reader), 403);

    const select = `SELECT value FROM "${RP}".bootstrap_test`;
    const asReader = await influxQuery(influxd.url, select, reader, DB);
    assert.deepEqual(
      rows(asReader).map((row) => row[1]),
      [1],
    );
    const asWriter = await influxQuery(influxd.url, select, writer, DB);
    assert.ok(asWriter.status === 403 || asWriter.body.results?.[0]?.error, JSON.stringify(asWriter.body));
    assert.ok(!JSON.stringify(asWriter.body).includes('"values"'), 'the writer read points');

    for (const [user, password] of [
      [USERS.admin, 'wrong'],
      [USERS.writer, `${PASSWORDS.writer}x`],
      [USERS.reader, ''],
    ] as const) {
      assert.equal((await influxQuery(influxd.url, 'SHOW DATABASES', { user, password })).status, 401, `${user} with a wrong password`);
      assert.equal(await influxWrite(influxd.url, DB, RP, 'bootstrap_test value=3', { user, password }), 401);
    }
  });

  it('a changed retention duration is applied on the next run, then nothing changes again', async () => {
    const changedRun = await bootstrap(bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(changedRun.code, 0, changedRun.stderr);
    assert.equal(
      changedRun.stdout,
      `influxdb-bootstrap: altered retention policy ${RP} on ${DB}: duration 720h0m0s -> 7d, default (was default: true)\ninfluxdb-bootstrap: 1 change(s)\n`,
    );
    assert.deepEqual(managedPolicy((await state(influxd.url)).retentionPolicies), [RP, '168h0m0s', true]);
    const again = await bootstrap(bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(again.stdout, 'influxdb-bootstrap: no changes\n');
  });

  it('drift is repaired: extra rights revoked, admin rights removed, the default and the passwords restored', async () => {
    const q = async (statement: string) => rows(await influxQuery(influxd.url, statement, admin));
    await q('CREATE DATABASE "other"');
    await q(`GRANT ALL ON "${DB}" TO "${USERS.writer}"`);
    await q(`GRANT READ ON "other" TO "${USERS.writer}"`);
    await q(`GRANT ALL PRIVILEGES TO "${USERS.reader}"`);
    await q(`SET PASSWORD FOR "${USERS.reader}" = 'changeme-never'`);
    await q(`ALTER RETENTION POLICY "autogen" ON "${DB}" DEFAULT`);

    const repair = await bootstrap(bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(repair.stdout, /revoked READ on database other from hindsight/);
    assert.match(repair.stdout, /granted WRITE on stacklight to hindsight \(had: ALL PRIVILEGES\)/);
    assert.match(repair.stdout, /revoked admin rights from grafana/);
    assert.match(repair.stdout, /set the password of grafana from INFLUXDB_READ_USER_PASSWORD/);
    assert.match(repair.stdout, /default \(was default: false\)/);

    const now = await state(influxd.url);
    assert.deepEqual(now.writerGrants.filter((row) => row[1] !== 'NO PRIVILEGES'), [[DB, 'WRITE']]);
    assert.deepEqual(now.readerGrants.filter((row) => row[1] !== 'NO PRIVILEGES'), [[DB, 'READ']]);
    assert.deepEqual(now.users.find((row) => row[0] === USERS.reader), [USERS.reader, false]);
    assert.deepEqual(managedPolicy(now.retentionPolicies), [RP, '168h0m0s', true]);
    assert.equal((await influxQuery(influxd.url, 'SHOW DATABASES', { user: USERS.reader, password: PASSWORDS.reader })).status, 200);

    const again = await bootstrap(bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(again.stdout, 'influxdb-bootstrap: no changes\n');
  });

  it('an admin password that InfluxDB does not accept fails clearly', async () => {
    const result = await bootstrap(bootstrapEnv(influxd.url, { adminPassword: 'not-the-admin-password' }));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot authenticate as admin with the password from INFLUXDB_ADMIN_PASSWORD/);
    assert.ok(!result.stderr.includes('not-the-admin-password'));
  });

  it('never prints a password', () => {
    assert.ok(outputs.length >= 12);
    assertNoPasswordPrinted();
  });
});

describe('influxdb bootstrap refuses bad settings before touching InfluxDB', () => {
  const url = 'http://127.0.0.1:9'; // discard port: nothing may be sent anyway
  for (const [what, overrides, message] of [
    ['a missing database', { database: '' }, /INFLUXDB_DB is not set/],
    ['a missing writer password', { writerPassword: '' }, /INFLUXDB_WRITE_USER_PASSWORD is not set/],
    ['a user name InfluxQL would need to quote', { readerUser: 'gra"fana' }, /INFLUXDB_READ_USER must be letters, digits and _/],
    ['a retention with two units', { retention: '1d12h' }, /INFLUXDB_RETENTION must be a whole number and one unit/],
    ['a retention under an hour', { retention: '30m' }, /INFLUXDB_RETENTION must be at least 1h/],
    ['the writer being the admin', { writerUser: USERS.admin }, /must be three different users/],
    ['a password with a line break', { readerPassword: 'a\nb' }, /INFLUXDB_READ_USER_PASSWORD must not contain a line break/],
  ] as const) {
    it(`refuses ${what}`, async () => {
      const result = await run('bash', [BOOTSTRAP], { env: bootstrapEnv(url, overrides) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    });
  }
});

describe('influxdb entrypoint', () => {
  it('starts influxd, bootstraps it, stays in the foreground and stops cleanly on SIGTERM', async () => {
    const { dir, config, url } = await prepareInfluxd();
    const child = spawn('bash', [ENTRYPOINT], {
      env: {
        ...bootstrapEnv(url),
        INFLUXDB_CONFIG_PATH: config,
        INFLUXD_BIN: '/usr/bin/influxd',
        INFLUXDB_BOOTSTRAP: BOOTSTRAP,
        INFLUXDB_START_TIMEOUT: '30',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.resume();
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 40_000;
      while (!stdout.includes('change(s)') && Date.now() < deadline) await sleep(100);
      assert.match(stdout, /created admin user admin/);
      await waitForPing(url, 5_000);
      await sleep(500);
      assert.equal(child.exitCode, null, 'the entrypoint must stay in the foreground');

      child.kill('SIGTERM');
      const code = await Promise.race([exit, sleep(20_000).then(() => 'timeout' as const)]);
      assert.equal(code, 0);
      await assert.rejects(fetch(`${url}/ping`), 'influxd must be gone after SIGTERM');
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails and stops influxd when the bootstrap fails', async () => {
    const { dir, config, url } = await prepareInfluxd();
    try {
      const result = await run('bash', [ENTRYPOINT], {
        env: {
          ...bootstrapEnv(url, { retention: 'forever' }),
          INFLUXDB_CONFIG_PATH: config,
          INFLUXD_BIN: '/usr/bin/influxd',
          INFLUXDB_BOOTSTRAP: BOOTSTRAP,
          INFLUXDB_START_TIMEOUT: '30',
        },
        timeoutMs: 60_000,
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /the bootstrap failed; stopping influxd/);
      await assert.rejects(fetch(`${url}/ping`), 'influxd must be stopped');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
