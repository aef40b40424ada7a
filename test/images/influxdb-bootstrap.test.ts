/**
 * The InfluxDB image's bootstrap and entrypoint against a REAL influxd (Debian's 1.6.7, the
 * package the image installs), started by test/support/influxdb.ts with the production config on
 * loopback, auth on and no user ({ bootstrap: false }): the bootstrap
 * creates everything on the first run, changes nothing on the second, applies a new retention,
 * repairs drift, follows a rotated password file, and leaves exactly WRITE for the writer and
 * READ for the reader.
 *
 * Passwords reach the bootstrap as files, as in the pod: each test lays them out in its own temp
 * dir the way the kubelet writes a mounted Secret (timestamped dir, `..data` symlink, one
 * symlink per key, mode 0600, no trailing newline) and passes their paths in the `_FILE`
 * variables of INFLUXDB.env.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INFLUXDB } from '../../compiler/facts.ts';
import { prepareInfluxDB, startInfluxDB, type InfluxCredentials, type InfluxDBServer } from '../support/influxdb.ts';
import { imagePath, run, sleep, type RunResult } from './support.ts';

const BOOTSTRAP = imagePath('influxdb', 'bootstrap.sh');
const ENTRYPOINT = imagePath('influxdb', 'entrypoint.sh');

const DB = 'stacklight';
const RP = 'stacklight_rp';
const USERS = { admin: 'admin', writer: 'hindsight', reader: 'grafana' } as const;
type Role = keyof typeof USERS;
/** Passwords full of what breaks naive quoting: quotes, backslashes, $, backticks, colons, spaces, UTF-8. */
const PASSWORDS = {
  admin: `ad'min "pa\\ss" $HOME :x`,
  writer: 'wr1te:r $(id) `id` \\n end\\',
  reader: "r€ader p'w \"q\" ;DROP",
} as const;
/** A rotated writer password (the rotation test sets it, then puts the original back). */
const ROTATED_WRITER = 'r0tated `w` $PATH \'q\' \\';
/** The old plain variables of the passwords, which the bootstrap must refuse. */
const PLAIN = { admin: 'INFLUXDB_ADMIN_PASSWORD', writer: 'INFLUXDB_WRITE_USER_PASSWORD', reader: 'INFLUXDB_READ_USER_PASSWORD' } as const;

type EnvKey = keyof typeof INFLUXDB.env;
const FILE_KEYS = { admin: 'adminPasswordFile', writer: 'writerPasswordFile', reader: 'readerPasswordFile' } as const satisfies Record<Role, EnvKey>;

const temps: string[] = [];
after(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * A Secret volume as the kubelet writes it, in a new temp dir: the contents under a timestamped
 * dir, `..data` pointing at it, and each key a symlink through `..data`. update() swaps in new
 * contents atomically, as the kubelet does on a change of the Secret.
 */
async function secretVolume(files: Record<string, string>): Promise<{
  dir: string;
  file: (key: string) => string;
  update: (files: Record<string, string>) => Promise<void>;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), 'images-influxdb-secret-'));
  temps.push(dir);
  let generation = 0;
  const update = async (contents: Record<string, string>) => {
    const data = path.join(dir, `..${Date.now()}_${++generation}`);
    await mkdir(data, { mode: 0o700 });
    for (const [key, value] of Object.entries(contents)) await writeFile(path.join(data, key), value, { mode: 0o600 });
    await symlink(path.basename(data), path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    for (const key of Object.keys(contents)) await symlink(path.join('..data', key), path.join(dir, key)).catch(() => undefined);
  };
  await update(files);
  return { dir, file: (key) => path.join(dir, key), update };
}

/** The password files of the three users, with these contents (default: PASSWORDS as they are). */
async function passwordFiles(contents: Partial<Record<Role, string>> = {}) {
  return secretVolume({
    'admin-password': contents.admin ?? PASSWORDS.admin,
    'writer-password': contents.writer ?? PASSWORDS.writer,
    'reader-password': contents.reader ?? PASSWORDS.reader,
  });
}

/**
 * The bootstrap's environment: the settings (overridable), and the _FILE variables naming password
 * files written for this call (`passwords` gives their contents; an override of a _FILE key
 * replaces the path). `extra` adds variables as they are (e.g. an old plain password).
 */
async function bootstrapEnv(
  url: string,
  overrides: Partial<Record<EnvKey, string>> = {},
  passwords: Partial<Record<Role, string>> = {},
  extra: Record<string, string> = {},
): Promise<NodeJS.ProcessEnv> {
  const files = await passwordFiles(passwords);
  const values: Record<EnvKey, string> = {
    database: DB,
    retentionPolicy: RP,
    retention: '30d',
    adminUser: USERS.admin,
    adminPasswordFile: files.file('admin-password'),
    writerUser: USERS.writer,
    writerPasswordFile: files.file('writer-password'),
    readerUser: USERS.reader,
    readerPasswordFile: files.file('reader-password'),
    ...overrides,
  };
  const result: NodeJS.ProcessEnv = { PATH: process.env.PATH, INFLUXDB_BOOTSTRAP_URL: url };
  for (const key of Object.keys(INFLUXDB.env) as EnvKey[]) result[INFLUXDB.env[key]] = values[key];
  return { ...result, ...extra };
}

const outputs: string[] = [];
async function bootstrap(env: NodeJS.ProcessEnv): Promise<RunResult> {
  const result = await run('bash', [BOOTSTRAP], { env, timeoutMs: 60_000 });
  outputs.push(result.stdout, result.stderr);
  return result;
}

const admin = { username: USERS.admin, password: PASSWORDS.admin };

/** The rows of the first series of one statement's answer (none: []); throws when it fails. */
async function rows(influxd: InfluxDBServer, statement: string, as: InfluxCredentials = admin): Promise<unknown[][]> {
  return (await influxd.query(statement, as))[0]?.values ?? [];
}

/** Everything the bootstrap manages, as InfluxDB reports it. */
async function state(influxd: InfluxDBServer) {
  return {
    databases: await rows(influxd, 'SHOW DATABASES'),
    users: await rows(influxd, 'SHOW USERS'),
    retentionPolicies: await rows(influxd, `SHOW RETENTION POLICIES ON "${DB}"`),
    writerGrants: await rows(influxd, `SHOW GRANTS FOR "${USERS.writer}"`),
    readerGrants: await rows(influxd, `SHOW GRANTS FOR "${USERS.reader}"`),
  };
}

/** [name, duration, default] of the managed retention policy. */
function managedPolicy(retentionPolicies: unknown[][]): unknown[] | undefined {
  const row = retentionPolicies.find((candidate) => candidate[0] === RP);
  return row && [row[0], row[1], row[4]];
}

function assertNoPasswordPrinted() {
  const text = outputs.join('\n');
  for (const password of [...Object.values(PASSWORDS), ROTATED_WRITER, 'changeme-never', 'not-the-admin-password']) {
    assert.ok(!text.includes(password), 'a password was printed');
  }
}

/** The _FILE overrides that point the bootstrap at these password files. */
function filesOf(files: { file: (key: string) => string }): Partial<Record<EnvKey, string>> {
  return {
    [FILE_KEYS.admin]: files.file('admin-password'),
    [FILE_KEYS.writer]: files.file('writer-password'),
    [FILE_KEYS.reader]: files.file('reader-password'),
  };
}

describe('influxdb bootstrap against a real influxd', () => {
  let influxd: InfluxDBServer;
  // Auth on and no user: the bootstrap under test creates them. Queries and writes go to DB and RP.
  before(async () => {
    influxd = await startInfluxDB({ bootstrap: false, database: DB, retentionPolicy: RP });
  });
  after(async () => {
    await influxd?.dispose();
  });
  /** The HTTP status of a query, and of a write (precision s) to DB and RP, as `as`. */
  const queryStatus = async (statement: string, as: InfluxCredentials) => (await influxd.queryRaw(statement, as)).status;
  const write = async (line: string, as: InfluxCredentials) => (await influxd.writeRaw(line, as, { precision: 's' })).status;

  it('first run creates the admin, the database, the default retention policy and both users with exactly their right', async () => {
    const result = await bootstrap(await bootstrapEnv(influxd.url));
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
    const now = await state(influxd);
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
    const before = await state(influxd);
    const result = await bootstrap(await bootstrapEnv(influxd.url));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'influxdb-bootstrap: no changes\n');
    assert.deepEqual(await state(influxd), before);
  });

  it('the writer can write but not read, the reader can read but not write, wrong passwords are refused', async () => {
    const writer = { username: USERS.writer, password: PASSWORDS.writer };
    const reader = { username: USERS.reader, password: PASSWORDS.reader };
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await write(`bootstrap_test,host=a value=1 ${now}`, writer), 204);
    assert.equal(await write(`bootstrap_test,host=a value=2 ${now + 1}`, reader), 403);

    const select = `SELECT value FROM "${RP}".bootstrap_test`;
    assert.deepEqual(
      (await rows(influxd, select, reader)).map((row) => row[1]),
      [1],
    );
    const asWriter = await influxd.queryRaw(select, writer);
    assert.ok(
      asWriter.status === 403 || (JSON.parse(asWriter.body) as { results?: { error?: string }[] }).results?.[0]?.error,
      asWriter.body,
    );
    assert.ok(!asWriter.body.includes('"values"'), 'the writer read points');

    for (const [user, password] of [
      [USERS.admin, 'wrong'],
      [USERS.writer, `${PASSWORDS.writer}x`],
      [USERS.reader, ''],
    ] as const) {
      assert.equal(await queryStatus('SHOW DATABASES', { username: user, password }), 401, `${user} with a wrong password`);
      assert.equal(await write('bootstrap_test value=3', { username: user, password }), 401);
    }
  });

  it('a changed retention duration is applied on the next run, then nothing changes again', async () => {
    const changedRun = await bootstrap(await bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(changedRun.code, 0, changedRun.stderr);
    assert.equal(
      changedRun.stdout,
      `influxdb-bootstrap: altered retention policy ${RP} on ${DB}: duration 720h0m0s -> 7d, default (was default: true)\ninfluxdb-bootstrap: 1 change(s)\n`,
    );
    assert.deepEqual(managedPolicy((await state(influxd)).retentionPolicies), [RP, '168h0m0s', true]);
    const again = await bootstrap(await bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(again.stdout, 'influxdb-bootstrap: no changes\n');
  });

  it('drift is repaired: extra rights revoked, admin rights removed, the default and the passwords restored', async () => {
    const q = (statement: string) => rows(influxd, statement);
    await q('CREATE DATABASE "other"');
    await q(`GRANT ALL ON "${DB}" TO "${USERS.writer}"`);
    await q(`GRANT READ ON "other" TO "${USERS.writer}"`);
    await q(`GRANT ALL PRIVILEGES TO "${USERS.reader}"`);
    await q(`SET PASSWORD FOR "${USERS.reader}" = 'changeme-never'`);
    await q(`ALTER RETENTION POLICY "autogen" ON "${DB}" DEFAULT`);

    const repair = await bootstrap(await bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(repair.stdout, /revoked READ on database other from hindsight/);
    assert.match(repair.stdout, /granted WRITE on stacklight to hindsight \(had: ALL PRIVILEGES\)/);
    assert.match(repair.stdout, /revoked admin rights from grafana/);
    assert.match(repair.stdout, /set the password of grafana from INFLUXDB_READ_USER_PASSWORD_FILE\n/);
    assert.match(repair.stdout, /default \(was default: false\)/);

    const now = await state(influxd);
    assert.deepEqual(now.writerGrants.filter((row) => row[1] !== 'NO PRIVILEGES'), [[DB, 'WRITE']]);
    assert.deepEqual(now.readerGrants.filter((row) => row[1] !== 'NO PRIVILEGES'), [[DB, 'READ']]);
    assert.deepEqual(now.users.find((row) => row[0] === USERS.reader), [USERS.reader, false]);
    assert.deepEqual(managedPolicy(now.retentionPolicies), [RP, '168h0m0s', true]);
    assert.equal(await queryStatus('SHOW DATABASES', { username: USERS.reader, password: PASSWORDS.reader }), 200);

    const again = await bootstrap(await bootstrapEnv(influxd.url, { retention: '7d' }));
    assert.equal(again.stdout, 'influxdb-bootstrap: no changes\n');
  });

  it('a rotated password file (the kubelet swapping in the Secret\'s new value) sets the new password on the next run', async () => {
    const writer = (password: string) => ({ username: USERS.writer, password });
    const files = await passwordFiles();
    const env = await bootstrapEnv(influxd.url, { retention: '7d', ...filesOf(files) });
    assert.equal((await bootstrap(env)).stdout, 'influxdb-bootstrap: no changes\n');

    await files.update({ 'admin-password': PASSWORDS.admin, 'writer-password': ROTATED_WRITER, 'reader-password': PASSWORDS.reader });
    const rotated = await bootstrap(env);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal(
      rotated.stdout,
      `influxdb-bootstrap: set the password of ${USERS.writer} from INFLUXDB_WRITE_USER_PASSWORD_FILE\ninfluxdb-bootstrap: 1 change(s)\n`,
    );
    assert.equal(await queryStatus('SHOW DATABASES', writer(ROTATED_WRITER)), 200, 'the new password works');
    assert.equal(await queryStatus('SHOW DATABASES', writer(PASSWORDS.writer)), 401, 'the old password no longer works');
    assert.equal((await bootstrap(env)).stdout, 'influxdb-bootstrap: no changes\n');

    // Back to the original, for the tests that follow.
    await files.update({ 'admin-password': PASSWORDS.admin, 'writer-password': PASSWORDS.writer, 'reader-password': PASSWORDS.reader });
    assert.match((await bootstrap(env)).stdout, /set the password of hindsight from INFLUXDB_WRITE_USER_PASSWORD_FILE/);
    assert.equal(await queryStatus('SHOW DATABASES', writer(PASSWORDS.writer)), 200);
  });

  it('one trailing newline in a password file is not part of the password', async () => {
    const result = await bootstrap(
      await bootstrapEnv(influxd.url, { retention: '7d' }, { admin: `${PASSWORDS.admin}\n`, writer: `${PASSWORDS.writer}\n`, reader: `${PASSWORDS.reader}\n` }),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'influxdb-bootstrap: no changes\n', 'the passwords without the newline are the ones InfluxDB has');
  });

  it('an admin password that InfluxDB does not accept fails clearly, naming the variable and the file', async () => {
    const env = await bootstrapEnv(influxd.url, {}, { admin: 'not-the-admin-password' });
    const result = await bootstrap(env);
    assert.equal(result.code, 1);
    assert.ok(
      result.stderr.includes(`cannot authenticate as admin with the password from INFLUXDB_ADMIN_PASSWORD_FILE (${env.INFLUXDB_ADMIN_PASSWORD_FILE})`),
      result.stderr,
    );
    assert.ok(!result.stderr.includes('not-the-admin-password'));
  });

  it('never prints a password', () => {
    assert.ok(outputs.length >= 12);
    assertNoPasswordPrinted();
  });
});

describe('influxdb bootstrap refuses bad settings before touching InfluxDB', () => {
  const url = 'http://127.0.0.1:9'; // discard port: nothing may be sent anyway
  const secret = 'a-s3cret-never-printed';
  /** What each case gives the bootstrap, on top of valid settings and password files. */
  interface Case {
    overrides?: Partial<Record<EnvKey, string>>;
    passwords?: Partial<Record<Role, string>>;
    extra?: Record<string, string>;
    /** The error expected on stderr: a pattern, or the whole message given the dir of the password files. */
    message: RegExp | ((dir: string) => string);
  }
  const missingDir = path.join(tmpdir(), 'images-influxdb-no-such-dir');
  const cases: [string, Case][] = [
    ['a missing database', { overrides: { database: '' }, message: /INFLUXDB_DB is not set/ }],
    [
      'an unset writer password file variable',
      { overrides: { writerPasswordFile: '' }, message: /INFLUXDB_WRITE_USER_PASSWORD_FILE is not set \(the path of the file holding the password/ },
    ],
    [
      'a password file that does not exist (the Secret not mounted)',
      {
        overrides: { adminPasswordFile: path.join(missingDir, 'admin-password') },
        message: () => `INFLUXDB_ADMIN_PASSWORD_FILE names ${path.join(missingDir, 'admin-password')}, which does not exist (is the Secret mounted?)`,
      },
    ],
    ['a password file that is a directory', { overrides: { readerPasswordFile: tmpdir() }, message: () => `INFLUXDB_READ_USER_PASSWORD_FILE names ${tmpdir()}, which is not a file` }],
    ['an empty password file', { passwords: { reader: '' }, message: (dir) => `the password file ${dir}/reader-password (INFLUXDB_READ_USER_PASSWORD_FILE) is empty` }],
    ['a password file holding only a newline', { passwords: { writer: '\n' }, message: (dir) => `the password file ${dir}/writer-password (INFLUXDB_WRITE_USER_PASSWORD_FILE) is empty` }],
    [
      'a password with a line break',
      { passwords: { reader: `${secret}\nb` }, message: (dir) => `the password in ${dir}/reader-password (INFLUXDB_READ_USER_PASSWORD_FILE) must not contain a line break` },
    ],
    [
      'a password file ending in two newlines',
      { passwords: { admin: `${secret}\n\n` }, message: (dir) => `the password in ${dir}/admin-password (INFLUXDB_ADMIN_PASSWORD_FILE) must not contain a line break` },
    ],
    [
      'a password file with a CRLF line end',
      { passwords: { writer: `${secret}\r\n` }, message: (dir) => `the password in ${dir}/writer-password (INFLUXDB_WRITE_USER_PASSWORD_FILE) must not contain a line break` },
    ],
    ['a password file holding a NUL byte', { passwords: { admin: `${secret}\0x` }, message: /holds a NUL byte/ }],
    ...(Object.keys(PLAIN) as Role[]).map((role): [string, Case] => [
      `a password in the old plain variable ${PLAIN[role]}`,
      {
        extra: { [PLAIN[role]]: secret },
        message: () =>
          `${PLAIN[role]} is set, but passwords are no longer read from the environment: mount the Secret and set ${INFLUXDB.env[FILE_KEYS[role]]} to the path of its key instead`,
      },
    ]),
    ['an old plain password variable set but empty', { extra: { [PLAIN.admin]: '' }, message: /INFLUXDB_ADMIN_PASSWORD is set, but passwords are no longer read from the environment/ }],
    ['a user name InfluxQL would need to quote', { overrides: { readerUser: 'gra"fana' }, message: /INFLUXDB_READ_USER must be letters, digits and _/ }],
    ['a retention with two units', { overrides: { retention: '1d12h' }, message: /INFLUXDB_RETENTION must be a whole number and one unit/ }],
    ['a retention under an hour', { overrides: { retention: '30m' }, message: /INFLUXDB_RETENTION must be at least 1h/ }],
    ['the writer being the admin', { overrides: { writerUser: USERS.admin }, message: /must be three different users/ }],
  ];
  for (const [what, { overrides = {}, passwords = {}, extra = {}, message }] of cases) {
    it(`refuses ${what}`, async () => {
      const env = await bootstrapEnv(url, overrides, passwords, extra);
      const result = await run('bash', [BOOTSTRAP], { env });
      assert.equal(result.code, 1, result.stderr);
      if (message instanceof RegExp) assert.match(result.stderr, message);
      else {
        // The temp dir of the case's password files (the cases that name it override no path).
        const dir = path.dirname(env[INFLUXDB.env.adminPasswordFile]!);
        assert.ok(result.stderr.includes(`influxdb-bootstrap: error: ${message(dir)}`), result.stderr);
      }
      assert.equal(result.stdout, '');
      assert.ok(!result.stderr.includes(secret), 'a password was printed');
    });
  }

  // As root every file is readable: then the bootstrap runs as nobody (setpriv), and the file is root's 0600.
  const asRoot = process.getuid?.() === 0;
  it('refuses an unreadable password file', async () => {
    const env = await bootstrapEnv(url);
    const file = env[INFLUXDB.env.readerPasswordFile]!;
    // The other two stay readable (for nobody too), so the reader's is the one refused.
    for (const key of ['admin-password', 'writer-password', 'reader-password']) {
      const target = await realpath(path.join(path.dirname(file), key));
      const unreadable = asRoot ? 0o600 : 0o000;
      await chmod(target, key === 'reader-password' ? unreadable : 0o644);
      await chmod(path.dirname(target), 0o755);
    }
    await chmod(path.dirname(file), 0o755);
    const result = asRoot
      ? await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', BOOTSTRAP], { env })
      : await run('bash', [BOOTSTRAP], { env });
    assert.equal(result.code, 1, result.stderr);
    assert.ok(result.stderr.includes(`influxdb-bootstrap: error: INFLUXDB_READ_USER_PASSWORD_FILE names ${file}, which cannot be read`), result.stderr);
  });

  it('the test\'s password files are private (0600) and, as the kubelet writes a Secret\'s key, hold no trailing newline', async () => {
    const files = await passwordFiles();
    assert.equal((await stat(await realpath(files.file('reader-password')))).mode & 0o777, 0o600);
    assert.equal(await readFile(files.file('reader-password'), 'utf8'), PASSWORDS.reader);
  });
});

describe('influxdb entrypoint', () => {
  it('starts influxd, bootstraps it, stays in the foreground and stops cleanly on SIGTERM', async () => {
    const influxd = await prepareInfluxDB();
    const child = spawn('bash', [ENTRYPOINT], {
      env: {
        ...(await bootstrapEnv(influxd.url)),
        INFLUXDB_CONFIG_PATH: influxd.configFile,
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
      assert.ok(await influxd.ping(5_000), 'influxd answers /ping');
      await sleep(500);
      assert.equal(child.exitCode, null, 'the entrypoint must stay in the foreground');

      child.kill('SIGTERM');
      const code = await Promise.race([exit, sleep(20_000).then(() => 'timeout' as const)]);
      assert.equal(code, 0);
      await assert.rejects(fetch(`${influxd.url}/ping`), 'influxd must be gone after SIGTERM');
    } finally {
      child.kill('SIGKILL');
      await influxd.dispose();
    }
  });

  it('fails and stops influxd when the bootstrap fails', async () => {
    const influxd = await prepareInfluxDB();
    try {
      const result = await run('bash', [ENTRYPOINT], {
        env: {
          ...(await bootstrapEnv(influxd.url, { retention: 'forever' })),
          INFLUXDB_CONFIG_PATH: influxd.configFile,
          INFLUXD_BIN: '/usr/bin/influxd',
          INFLUXDB_BOOTSTRAP: BOOTSTRAP,
          INFLUXDB_START_TIMEOUT: '30',
        },
        timeoutMs: 60_000,
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /the bootstrap failed; stopping influxd/);
      await assert.rejects(fetch(`${influxd.url}/ping`), 'influxd must be stopped');
    } finally {
      await influxd.dispose();
    }
  });
});
