/**
 * A real InfluxDB 1.x (Debian's influxd 1.6.7) for tests, configured like production:
 * compiler/influxdb's influxdbConf() (auth on, reporting off, _internal store off) with the
 * HTTP and RPC (8088) bind addresses moved to free loopback ports and the data in a temp
 * directory. It is bootstrapped as the production image's bootstrap does: the first admin
 * (allowed without auth while no user exists), the database, a retention policy with a
 * duration made DEFAULT, a WRITE-only user and a READ-only user (GRANTs), with passwords made
 * per run with crypto.randomBytes. Names and the retention come from a StackConfig
 * (config/stack.ts by default).
 *
 *   const influx = await startInfluxDB();
 *   after(() => influx.dispose());              // or: await using influx = await startInfluxDB();
 *   await influx.writeLines(['m,host=a value=1'], 'writer');
 *   const series = await influx.query('SELECT * FROM m', 'reader');
 *
 * With { bootstrap: false } it is left as a fresh production influxd is: auth on and no user,
 * for a bootstrap under test to create them (test/images); prepareInfluxDB() only writes the
 * config, for a program under test that starts influxd itself (the image's entrypoint).
 *
 * stop() is SIGTERM then SIGKILL; kill() is SIGKILL (an outage); start() brings the same server
 * (ports, data, users) back. A process 'exit' hook kills what is still running and removes the
 * temp directories, should a test forget.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Precision, StackConfig } from '../../compiler/config/types.ts';
import { influxdbConf } from '../../compiler/influxdb/index.ts';
import { toToml, type TomlDocument, type TomlScalar } from '../../compiler/render/toml.ts';
import { stack } from '../../config/stack.ts';
import { LogLines, makeTempDir, ManagedChild, started, TempDirOwner } from './child-process.ts';

export const INFLUXD = process.env['INFLUXD'] ?? '/usr/bin/influxd';

export interface InfluxCredentials {
  username: string;
  password: string;
}

export type InfluxRole = 'admin' | 'writer' | 'reader';
/** Who a request runs as: a role, explicit credentials, or 'anonymous' (no auth). */
export type InfluxAuth = InfluxRole | InfluxCredentials | 'anonymous';

export interface InfluxSeries {
  /** Index of the statement the series belongs to. */
  statement: number;
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export class InfluxError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
    this.name = 'InfluxError';
  }
}

export interface InfluxDBOptions {
  /** Names, users and retention from here (default: config/stack.ts). */
  config?: StackConfig;
  database?: string;
  retentionPolicy?: string;
  /** An InfluxQL duration, e.g. "30d". */
  retention?: string;
  /** Milliseconds to wait for /ping (default 20 s). */
  startTimeoutMs?: number;
  /** Extra or replacing settings, merged into the TOML document (e.g. { http: { 'max-body-size': 1000 } }). */
  settings?: TomlDocument;
  /** Copy influxd's output to stderr as it comes. */
  echoLogs?: boolean;
  /** false: create nothing, leaving auth on and no user (admin, writer and reader are then only names and passwords). */
  bootstrap?: boolean;
}

export interface InfluxQueryOptions {
  db?: string;
  /** Timestamps as integers of this precision (default: ns). */
  epoch?: Precision;
}

export interface InfluxWriteOptions {
  db?: string;
  rp?: string;
  precision?: Precision;
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function password(): string {
  return randomBytes(24).toString('base64url');
}

/** InfluxQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** InfluxQL string literal. */
export function quoteString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Parses the flat TOML toToml() writes (top-level keys, then [sections] of scalars). */
function parseFlatToml(text: string): TomlDocument {
  const doc: TomlDocument = {};
  let section: Record<string, TomlScalar> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = {};
      doc[header[1]!] = section;
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(.+)$/.exec(line);
    if (!kv) throw new Error(`unexpected TOML line: ${line}`);
    const value = JSON.parse(kv[2]!) as TomlScalar;
    if (section) section[kv[1]!] = value;
    else doc[kv[1]!] = value;
  }
  return doc;
}

function mergeToml(base: TomlDocument, extra: TomlDocument): TomlDocument {
  const out: TomlDocument = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = typeof value === 'object' && typeof current === 'object' ? { ...current, ...value } : value;
  }
  return out;
}

function authHeader(credentials: InfluxCredentials | undefined): Record<string, string> {
  if (!credentials) return {};
  return { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` };
}

export class InfluxDBServer extends TempDirOwner {
  readonly database: string;
  readonly retentionPolicy: string;
  readonly retention: string;
  readonly admin: InfluxCredentials;
  readonly writer: InfluxCredentials;
  readonly reader: InfluxCredentials;
  port = 0;
  rpcPort = 0;
  private influxd?: ManagedChild;
  /** influxd's recent output (stdout and stderr), across restarts. */
  private readonly log: LogLines;
  private bootstrapped = false;

  constructor(
    dir: string,
    private readonly options: InfluxDBOptions,
  ) {
    super(dir);
    this.log = new LogLines(500, options.echoLogs);
    const config = options.config ?? stack;
    const influx = config.influxdb;
    this.database = options.database ?? influx.database;
    this.retentionPolicy = options.retentionPolicy ?? influx.retentionPolicy;
    this.retention = options.retention ?? (influx.enabled ? influx.retention : '30d');
    this.admin = { username: config.credentials.influxdbAdmin.username, password: password() };
    this.writer = { username: config.credentials.influxdbWriter.username, password: password() };
    this.reader = { username: config.credentials.influxdbReader.username, password: password() };
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.influxd?.running ?? false;
  }

  /** influxd's recent output (stdout and stderr). */
  logs(): string {
    return String(this.log);
  }

  /** The config file the server runs with. */
  get configFile(): string {
    return path.join(this.dir, 'influxdb.conf');
  }

  private async writeConfig(): Promise<void> {
    const production = parseFlatToml(influxdbConf());
    const doc = mergeToml(production, {
      'bind-address': `127.0.0.1:${this.rpcPort}`,
      meta: { dir: path.join(this.dir, 'meta') },
      data: { dir: path.join(this.dir, 'data'), 'wal-dir': path.join(this.dir, 'wal'), 'query-log-enabled': false },
      http: { 'bind-address': `127.0.0.1:${this.port}` },
      logging: { level: 'warn', 'suppress-logo': true },
      subscriber: { enabled: false },
    });
    await writeFile(this.configFile, toToml('# test/support/influxdb.ts: production settings, test paths and ports\n', mergeToml(doc, this.options.settings ?? {})));
  }

  /** Chooses free loopback ports and writes the config, without starting influxd. */
  async prepare(): Promise<void> {
    this.port = await freePort();
    this.rpcPort = await freePort();
    while (this.rpcPort === this.port) this.rpcPort = await freePort();
    await this.writeConfig();
  }

  /** Starts influxd (again) and waits for /ping; the first start also bootstraps (unless { bootstrap: false }). */
  async start(): Promise<void> {
    if (this.disposed) throw new Error('this InfluxDB was disposed');
    if (this.running) return;
    const firstStart = this.port === 0;
    for (let attempt = 1; ; attempt++) {
      if (firstStart) await this.prepare();
      else await this.writeConfig();
      try {
        await this.spawnAndWait();
        break;
      } catch (error) {
        // a port taken between choosing and binding: choose again (first start only)
        if (!firstStart || attempt >= 3 || !/address already in use/.test(this.logs())) throw error;
      }
    }
    if (!this.bootstrapped) {
      if (this.options.bootstrap !== false) await this.bootstrap();
      this.bootstrapped = true;
    }
  }

  private async spawnAndWait(): Promise<void> {
    const env = { ...process.env, HOME: this.dir };
    const influxd = (this.influxd = new ManagedChild('influxd', INFLUXD, ['-config', this.configFile], { env, log: this.log }));
    try {
      await influxd.waitFor(() => this.ping(), 'an answer to /ping', this.options.startTimeoutMs ?? 20_000);
    } catch (error) {
      await influxd.kill();
      throw error;
    }
  }

  /** Whether influxd answers /ping (204) within timeoutMs. */
  ping(timeoutMs = 1000): Promise<boolean> {
    return fetch(`${this.url}/ping`, { signal: AbortSignal.timeout(timeoutMs) }).then((res) => res.status === 204, () => false);
  }

  private async bootstrap(): Promise<void> {
    const db = quoteIdentifier(this.database);
    // the first admin: InfluxDB allows creating it without credentials while no user exists
    await this.query(`CREATE USER ${quoteIdentifier(this.admin.username)} WITH PASSWORD ${quoteString(this.admin.password)} WITH ALL PRIVILEGES`, 'anonymous');
    await this.query(
      [
        `CREATE DATABASE ${db}`,
        `CREATE RETENTION POLICY ${quoteIdentifier(this.retentionPolicy)} ON ${db} DURATION ${this.retention} REPLICATION 1 DEFAULT`,
        `CREATE USER ${quoteIdentifier(this.writer.username)} WITH PASSWORD ${quoteString(this.writer.password)}`,
        `GRANT WRITE ON ${db} TO ${quoteIdentifier(this.writer.username)}`,
        `CREATE USER ${quoteIdentifier(this.reader.username)} WITH PASSWORD ${quoteString(this.reader.password)}`,
        `GRANT READ ON ${db} TO ${quoteIdentifier(this.reader.username)}`,
      ].join('; '),
      'admin',
    );
  }

  private credentials(as: InfluxAuth): InfluxCredentials | undefined {
    if (as === 'anonymous') return undefined;
    if (typeof as === 'object') return as;
    return this[as];
  }

  /** POST /query; the HTTP status and body as they came. */
  async queryRaw(q: string, as: InfluxAuth = 'admin', options: InfluxQueryOptions = {}): Promise<{ status: number; body: string }> {
    const form = new URLSearchParams({ q, db: options.db ?? this.database, epoch: options.epoch ?? 'ns' });
    const res = await fetch(`${this.url}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...authHeader(this.credentials(as)) },
      body: form,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.text() };
  }

  /**
   * Runs InfluxQL (several statements may be joined with ";") and returns every series of every
   * statement. Throws InfluxError when the request or any statement fails.
   */
  async query(q: string, as: InfluxAuth = 'admin', options: InfluxQueryOptions = {}): Promise<InfluxSeries[]> {
    const { status, body } = await this.queryRaw(q, as, options);
    let parsed: { error?: string; results?: { statement_id?: number; error?: string; series?: Omit<InfluxSeries, 'statement'>[] }[] };
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new InfluxError(`query failed (${status}): ${body}`, status, body);
    }
    if (status !== 200 || parsed.error) throw new InfluxError(`query failed (${status}): ${parsed.error ?? body}`, status, body);
    const series: InfluxSeries[] = [];
    for (const [i, result] of (parsed.results ?? []).entries()) {
      if (result.error) throw new InfluxError(`statement ${i} failed: ${result.error}`, status, body);
      for (const s of result.series ?? []) series.push({ statement: result.statement_id ?? i, ...s });
    }
    return series;
  }

  /** query() as objects: one per row, with the series' tags and name. */
  async rows(q: string, as: InfluxAuth = 'admin', options: InfluxQueryOptions = {}): Promise<Record<string, unknown>[]> {
    const series = await this.query(q, as, options);
    return series.flatMap((s) =>
      s.values.map((row) => ({ _measurement: s.name, ...s.tags, ...Object.fromEntries(s.columns.map((c, i) => [c, row[i]])) })),
    );
  }

  /** POST /write; the HTTP status and body as they came. */
  async writeRaw(lines: string | readonly string[], as: InfluxAuth = 'writer', options: InfluxWriteOptions = {}): Promise<{ status: number; body: string }> {
    const params = new URLSearchParams({ db: options.db ?? this.database, precision: options.precision ?? 'ns' });
    if (options.rp ?? this.retentionPolicy) params.set('rp', options.rp ?? this.retentionPolicy);
    const body = typeof lines === 'string' ? lines : lines.join('\n');
    const res = await fetch(`${this.url}/write?${params}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8', ...authHeader(this.credentials(as)) },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.text() };
  }

  /** Writes line protocol (as the writer by default); throws InfluxError unless 204. */
  async writeLines(lines: string | readonly string[], as: InfluxAuth = 'writer', options: InfluxWriteOptions = {}): Promise<void> {
    const { status, body } = await this.writeRaw(lines, as, options);
    if (status !== 204) throw new InfluxError(`write failed (${status}): ${body}`, status, body);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    await this.influxd?.stop(graceMs);
  }

  /** SIGKILL: an outage, or a crash. start() brings it back. */
  async kill(): Promise<void> {
    await this.influxd?.kill();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

/** Starts and bootstraps a fresh InfluxDB; call dispose() (e.g. in node:test's after()). */
export async function startInfluxDB(options: InfluxDBOptions = {}): Promise<InfluxDBServer> {
  return started(new InfluxDBServer(await makeTempDir('influxdb'), options));
}

/** A fresh InfluxDB's directory, ports and config file (configFile, url), not started; dispose() removes them. */
export async function prepareInfluxDB(options: InfluxDBOptions = {}): Promise<InfluxDBServer> {
  const server = new InfluxDBServer(await makeTempDir('influxdb'), options);
  await server.prepare().catch(async (error: unknown) => {
    await server.dispose();
    throw error;
  });
  return server;
}
