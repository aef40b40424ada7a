/**
 * The real influxd of test/support/influxdb.ts: production settings, the bootstrap (database,
 * default retention policy, users and grants), what each user may do, outages and cleanup.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { stack } from '../../config/stack.ts';
import { InfluxError, prepareInfluxDB, startInfluxDB, type InfluxDBServer } from './influxdb.ts';

function nowMs(): number {
  return Date.now();
}

describe('the test InfluxDB', () => {
  let influx: InfluxDBServer;
  before(async () => {
    influx = await startInfluxDB();
  });
  after(async () => {
    await influx?.dispose();
  });

  it('runs production\'s settings on loopback ports, with auth', () => {
    const conf = readFileSync(influx.configFile, 'utf8');
    assert.match(conf, /^reporting-disabled = true$/m);
    assert.match(conf, new RegExp(`^bind-address = "127\\.0\\.0\\.1:${influx.rpcPort}"$`, 'm'));
    assert.match(conf, /^\[http\]$[\s\S]*^ {2}auth-enabled = true$/m);
    assert.match(conf, new RegExp(`^ {2}bind-address = "127\\.0\\.0\\.1:${influx.port}"$`, 'm'));
    assert.match(conf, /^\[monitor\]\n {2}store-enabled = false$/m);
    assert.notEqual(influx.port, 8086);
    assert.notEqual(influx.rpcPort, 8088);
  });

  it('bootstraps the database, a DEFAULT retention policy with a duration, and the users with grants', async () => {
    assert.equal(influx.database, stack.influxdb.database);
    const rps = await influx.rows(`SHOW RETENTION POLICIES ON "${influx.database}"`);
    const rp = rps.find((r) => r['name'] === influx.retentionPolicy);
    assert.deepEqual({ duration: rp?.['duration'], default: rp?.['default'] }, { duration: '720h0m0s', default: true });
    const users = Object.fromEntries((await influx.rows('SHOW USERS')).map((r) => [r['user'], r['admin']]));
    assert.deepEqual(users, {
      [stack.credentials.influxdbAdmin.username]: true,
      [stack.credentials.influxdbWriter.username]: false,
      [stack.credentials.influxdbReader.username]: false,
    });
    const grants = async (user: string) => (await influx.rows(`SHOW GRANTS FOR "${user}"`)).map((r) => [r['database'], r['privilege']]);
    assert.deepEqual(await grants(influx.writer.username), [[influx.database, 'WRITE']]);
    assert.deepEqual(await grants(influx.reader.username), [[influx.database, 'READ']]);
  });

  it('makes passwords per run, all different', () => {
    const passwords = [influx.admin.password, influx.writer.password, influx.reader.password];
    assert.equal(new Set(passwords).size, 3);
    for (const p of passwords) assert.ok(p.length >= 24);
  });

  it('lets the writer write and not read', async () => {
    await influx.writeLines([`writer_test,host=a value=1 ${nowMs()}`], 'writer', { precision: 'ms' });
    await assert.rejects(influx.query('SELECT * FROM writer_test', 'writer'), (e: InfluxError) => e.status === 403 && /not authorized/.test(e.body));
    const rows = await influx.rows('SELECT * FROM writer_test', 'admin');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!['host'], 'a');
  });

  it('lets the reader read and not write; points land in the default retention policy', async () => {
    await influx.writeLines([`reader_test,host=b value=2i ${nowMs()}`], 'writer', { precision: 'ms' });
    const rows = await influx.rows(`SELECT * FROM "${influx.retentionPolicy}".reader_test`, 'reader');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!['value'], 2);
    await assert.rejects(influx.writeLines('reader_test value=3', 'reader'), (e: InfluxError) => e.status === 403);
  });

  it('refuses wrong passwords and anonymous requests', async () => {
    for (const as of [{ username: influx.writer.username, password: 'wrong' }, { username: 'nobody', password: 'x' }] as const) {
      await assert.rejects(influx.query('SHOW DATABASES', as), (e: InfluxError) => e.status === 401);
      await assert.rejects(influx.writeLines('x value=1', as), (e: InfluxError) => e.status === 401);
    }
    await assert.rejects(influx.query('SHOW DATABASES', 'anonymous'), (e: InfluxError) => e.status === 401);
  });

  it('reports bad points with InfluxDB\'s 400 and its message', async () => {
    const { status, body } = await influx.writeRaw('bad line without fields');
    assert.equal(status, 400);
    assert.match(body, /unable to parse/);
    await influx.writeLines(`types value=1 ${nowMs()}`, 'writer', { precision: 'ms' });
    await assert.rejects(influx.writeLines(`types value="s" ${nowMs() + 1}`, 'writer', { precision: 'ms' }), (e: InfluxError) => e.status === 400 && /field type conflict/.test(e.body));
  });

  it('survives kill -9 and a restart with its data and users (an outage)', async () => {
    const t = nowMs();
    await influx.writeLines(`outage value=42 ${t}`, 'writer', { precision: 'ms' });
    await influx.kill();
    assert.equal(influx.running, false);
    await assert.rejects(fetch(`${influx.url}/ping`));
    await influx.start();
    assert.deepEqual((await influx.rows('SELECT value FROM outage', 'reader', { epoch: 'ms' })).map((r) => [r['time'], r['value']]), [[t, 42]]);
    await influx.restart(); // SIGTERM and start
    assert.equal((await influx.rows('SELECT value FROM outage', 'reader')).length, 1);
  });
});

describe('the test InfluxDB lifecycle', () => {
  it('stops its process and removes its directory on dispose', async () => {
    const influx = await startInfluxDB({ database: 'other', retentionPolicy: 'short', retention: '1h' });
    const dir = influx.dir;
    try {
      assert.ok(existsSync(dir));
      const rp = (await influx.rows('SHOW RETENTION POLICIES ON "other"')).find((r) => r['name'] === 'short');
      assert.equal(rp?.['duration'], '1h0m0s');
    } finally {
      await influx.dispose();
    }
    assert.equal(influx.running, false);
    assert.equal(existsSync(dir), false);
    await assert.rejects(fetch(`${influx.url}/ping`));
  });

  it('with { bootstrap: false } keeps auth on and creates nobody (for a bootstrap under test)', async () => {
    const influx = await startInfluxDB({ bootstrap: false });
    try {
      const { status, body } = await influx.queryRaw('SHOW USERS', 'anonymous');
      assert.deepEqual([status, JSON.parse(body)], [403, { error: 'error authorizing query: create admin user first or disable authentication' }]);
    } finally {
      await influx.dispose();
    }
  });

  it('prepareInfluxDB() writes the config on free ports and starts nothing', async () => {
    const influx = await prepareInfluxDB();
    try {
      assert.match(readFileSync(influx.configFile, 'utf8'), new RegExp(`^ {2}bind-address = "127\\.0\\.0\\.1:${influx.port}"$`, 'm'));
      assert.equal(influx.running, false);
      assert.equal(await influx.ping(), false);
    } finally {
      await influx.dispose();
    }
    assert.equal(existsSync(influx.dir), false);
  });
});
