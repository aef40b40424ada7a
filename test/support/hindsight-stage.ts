/**
 * Runs the Hindsight test stage (test/support/hindsight-stage/, Lua 5.1) as child processes:
 * one heka_tcp input process and one process per output plugin, sharing a queue directory, as
 * Hindsight's threads share its disk queue. The plugin files are the unmodified ones from lua/,
 * in the layout the compiler emits (writeHindsightConfig() writes it from a StackConfig).
 *
 *   const dir = await mkdtemp(...); await writeHindsightConfig(dir, config, await readLuaTree());
 *   const stage = await startHindsightStage({ configDir: dir, ...influxdbWiring(influx) });
 *   after(() => stage.dispose());
 *   // Snap publishes to stage.hekaPort ...
 *   await stage.stop();      // clean: timer_event(ns, true), checkpoint written
 *   await stage.kill();      // kill -9: replay from the last written checkpoint on start()
 *   await stage.start();     // same port, same queue and checkpoints
 *
 * The config directory is copied; `overrides` are appended to the copies of the cfg files (Lua:
 * later assignments win), the heka_tcp port is set there (0 = any free port, kept across
 * restarts). The copy's run/output/<name>.err is where a terminated plugin's error lands.
 *
 * Also a command line (SIGINT/SIGTERM stop it cleanly):
 *   node --import tsx test/support/hindsight-stage.ts --config-dir DIR [--port N]
 *        [--output-dir DIR] [--env NAME=VALUE]... [--set output.influxdb.key=LUA_VALUE]...
 */
import { existsSync, mkdtempSync, readFileSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { StackConfig } from '../../compiler/config/types.ts';
import { hindsightFiles, PLUGINS, type InfluxdbOutputCfg } from '../../compiler/collector/hindsight.ts';
import { luaValue, type LuaValue } from '../../compiler/render/lua.ts';
import { LogLines, makeTempDir, ManagedChild, started, TempDirOwner } from './child-process.ts';
import { removeAtProcessEnd } from './cleanup.ts';
import { hekaNativeEnv } from './heka-native.ts';

export const STAGE_DIR = fileURLToPath(new URL('./hindsight-stage/', import.meta.url));
export const FIXTURES_DIR = path.join(STAGE_DIR, 'fixtures');
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const LUA = process.env['LUA'] ?? 'lua5.1';

export type CfgOverrides = Record<string, LuaValue>;

export interface HindsightStageOptions {
  /** The compiler's layout: run/input/*.cfg, run/output/*.cfg and *.lua, modules/**, hindsight.cfg. */
  configDir: string;
  /** Where queues and checkpoints go (default: a directory inside the stage's temp directory). */
  outputDir?: string;
  /** heka_tcp's port; 0 (default) = any free port, then kept across restarts. */
  hekaPort?: number;
  /** Settings appended to the copies of the cfgs, by plugin type and cfg name; `hindsight` for hindsight.cfg. */
  overrides?: {
    input?: Record<string, CfgOverrides>;
    output?: Record<string, CfgOverrides>;
    hindsight?: CfgOverrides;
  };
  /** Environment of the stage's processes (e.g. the InfluxDB password). TZ is UTC as in lua_sandbox. */
  env?: Record<string, string>;
  /** Delay before a -3 message is offered again (Hindsight: 1000 ms). */
  retryDelayMs?: number;
  /** How often an idle output looks at the queue (Hindsight sleeps 1 s; default 20 ms). */
  pollIntervalMs?: number;
  /** How often checkpoints are written while running (default 1000 ms, as Hindsight). */
  checkpointIntervalMs?: number;
  /** How often the input flushes its queue's 4 KiB write buffer to the file (default 1000 ms, as Hindsight). */
  queueFlushIntervalMs?: number;
  /** Random first timer_event within ticker_interval, like Hindsight (default: one interval after start). */
  stagger?: boolean;
  /** Log level of the stage (7 = debug). */
  logLevel?: number;
  hostname?: string;
  startTimeoutMs?: number;
  /** Resolve start() even if an output plugin fails to load (default: reject). */
  allowLoadFailure?: boolean;
  /** Copy the processes' stderr to this process's stderr as it comes. */
  echoLogs?: boolean;
}

export interface StageEvent {
  event: 'ready' | 'load_failed' | 'terminated' | 'stopped' | string;
  plugin: string;
  error?: string;
  port?: number;
  address?: string;
  checkpoint?: string;
  at: number;
}

export interface OutputStats {
  plugin: string;
  /** Which decoder lib/heka.lua uses, as InputStats.decoder. */
  decoder: 'c' | 'lua';
  read: number;
  matched: number;
  process_message: number;
  /** process_message return codes: count per code ("0", "-1", ...). */
  returns: Record<string, number>;
  retries: number;
  timer_events: number;
  shutdown_timer_events: number;
  update_checkpoint: number;
  failures: number;
  terminated: boolean;
  error: string;
  max_memory: number;
  checkpoint: string;
  batching: boolean;
}

export interface InputStats {
  plugin: string;
  connections: number;
  open_connections: number;
  messages: number;
  bytes_received: number;
  discarded_bytes: number;
  unconsumed_bytes: number;
  dropped_connections: number;
  queue_id: number;
  queue_offset: number;
  /** Which decoder lib/heka.lua uses: "c" (native/heka_native.c, the stage's default) or "lua". */
  decoder: 'c' | 'lua';
}

/** Lua assignments appended to a cfg (later assignments win), one per override. */
export function assignments(values: CfgOverrides): string {
  return Object.entries(values)
    .map(([key, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`not a Lua identifier: ${key}`);
      return `${key} = ${luaValue(value)}`;
    })
    .join('\n');
}

export class HindsightStage extends TempDirOwner {
  /** The stage's copy of the config directory. */
  readonly configDir: string;
  readonly outputDir: string;
  hekaPort: number;
  readonly events: StageEvent[] = [];
  private readonly processes: ManagedChild[] = [];
  /** Both processes' stderr and stdout's log lines, across restarts. */
  private readonly log: LogLines;
  private stopping = false;
  private originals = new Map<string, string>();
  /** Where lua5.1 finds the stage's C decoder (heka-native.ts). */
  private nativeEnv: Record<string, string> = {};

  constructor(
    dir: string,
    private readonly options: HindsightStageOptions,
  ) {
    super(dir, 3000);
    this.log = new LogLines(2000, options.echoLogs);
    this.configDir = path.join(dir, 'config');
    this.outputDir = options.outputDir ?? path.join(dir, 'output');
    this.hekaPort = options.hekaPort ?? 0;
  }

  get runDir(): string {
    return path.join(this.configDir, 'run');
  }

  get running(): boolean {
    return this.processes.some((p) => p.running);
  }

  /** The stage's recent log lines (both processes' stderr). */
  logs(): string {
    return String(this.log);
  }

  /** Copies the config directory (first start only) and writes the cfg files with the overrides. */
  private async prepare(): Promise<void> {
    if (!existsSync(this.configDir)) {
      await cp(this.options.configDir, this.configDir, { recursive: true });
      for (const sub of ['run/input', 'run/output']) {
        const dir = path.join(this.configDir, sub);
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          if (name.endsWith('.cfg')) this.originals.set(path.join(dir, name), await readFile(path.join(dir, name), 'utf8'));
          if (name.endsWith('.err')) await rm(path.join(dir, name));
        }
      }
      const hs = path.join(this.configDir, 'hindsight.cfg');
      if (existsSync(hs)) this.originals.set(hs, await readFile(hs, 'utf8'));
    }
    await mkdir(this.outputDir, { recursive: true });
    for (const [file, original] of this.originals) {
      const type = path.basename(path.dirname(file));
      const name = path.basename(file, '.cfg');
      let extra: CfgOverrides = {};
      if (file.endsWith('hindsight.cfg') && path.dirname(file) === this.configDir) extra = { ...this.options.overrides?.hindsight };
      else if (type === 'input') {
        extra = { ...this.options.overrides?.input?.[name] };
        if (/filename\s*=\s*["']heka_tcp\.lua["']/.test(original)) extra['port'] = this.hekaPort;
      } else if (type === 'output') extra = { ...this.options.overrides?.output?.[name] };
      const text = Object.keys(extra).length ? `${original}\n-- test/support/hindsight-stage.ts overrides\n${assignments(extra)}\n` : original;
      await writeFile(file, text);
    }
  }

  private spawnProcess(name: string, script: string, args: string[]): void {
    const stageArgs = [path.join(STAGE_DIR, script), '--config-dir', this.configDir, '--output-dir', this.outputDir, ...args];
    const proc = new ManagedChild(name, LUA, stageArgs, {
      env: { ...process.env, ...this.nativeEnv, ...this.options.env, TZ: 'UTC' },
      log: this.log,
      onStdout: (line) => this.stdoutLine(name, line),
      // the stage's processes stop cleanly at the end of their stdin (Hindsight: on SIGTERM)
      stdin: 'pipe',
      terminate: (child) => child.stdin?.end(),
    });
    void proc.exited.then(() => {
      // Hindsight is one process: when a part of the stage exits on its own (e.g. a plugin with
      // shutdown_on_terminate), the rest goes too
      if (!this.stopping) void this.stop();
    });
    this.processes.push(proc);
  }

  /** A line of a process's stdout: an event (@@stage {...}) or a log line. */
  private stdoutLine(name: string, line: string): void {
    if (!line.startsWith('@@stage ')) {
      if (line) this.log.add(`${name}: ${line}`);
      return;
    }
    try {
      this.events.push({ ...(JSON.parse(line.slice(8)) as Omit<StageEvent, 'at'>), at: Date.now() });
    } catch {
      this.log.add(`${name}: bad event line: ${line}`);
    }
  }

  /** Starts the input and every output plugin; resolves once all are ready. */
  async start(): Promise<void> {
    if (this.disposed) throw new Error('this stage was disposed');
    if (this.running) return;
    await this.prepare();
    this.nativeEnv = await hekaNativeEnv();
    this.processes.length = 0;
    this.stopping = false;
    const since = Date.now();
    const common = [
      '--log-level', String(this.options.logLevel ?? 7),
      ...(this.options.hostname ? ['--hostname', this.options.hostname] : []),
    ];
    const outputs = (await readdir(path.join(this.runDir, 'output')).catch(() => [] as string[]))
      .filter((n) => n.endsWith('.cfg'))
      .map((n) => n.slice(0, -4));
    const inputs = (await readdir(path.join(this.runDir, 'input')).catch(() => [] as string[])).filter((n) => n.endsWith('.cfg'));
    const expected: string[] = [];
    if (inputs.length > 0) {
      const flushInterval = String((this.options.queueFlushIntervalMs ?? 1000) / 1000);
      this.spawnProcess('input', 'input.lua', ['--log-level', String(this.options.logLevel ?? 7), '--flush-interval', flushInterval]);
      expected.push('input.');
    }
    for (const name of outputs) {
      this.spawnProcess(`output.${name}`, 'output.lua', [
        '--plugin', name,
        '--retry-delay', String((this.options.retryDelayMs ?? 1000) / 1000),
        '--poll-interval', String((this.options.pollIntervalMs ?? 20) / 1000),
        '--checkpoint-interval', String((this.options.checkpointIntervalMs ?? 1000) / 1000),
        ...(this.options.stagger ? ['--stagger'] : []),
        ...common,
      ]);
      expected.push(`output.${name}`);
    }
    const timeout = this.options.startTimeoutMs ?? 10_000;
    try {
      await this.waitFor(
        () => {
          const exited = this.processes.find((p) => !p.running);
          if (exited) throw new Error(`${exited.name} exited during start (${exited.exitStatus}):\n${this.logs()}`);
          return expected.every((prefix) =>
            this.events.some((e) => e.at >= since && e.plugin.startsWith(prefix) && ['ready', 'load_failed', 'terminated'].includes(e.event)),
          );
        },
        timeout,
        'the stage to start',
      );
      const failures = this.events.filter((e) => e.at >= since && (e.event === 'load_failed' || (e.event === 'terminated' && e.plugin.startsWith('input.'))));
      if (failures.length > 0 && !this.options.allowLoadFailure) {
        throw new Error(`the stage failed to start: ${failures.map((f) => `${f.plugin}: ${f.error}`).join('; ')}\n${this.logs()}`);
      }
    } catch (error) {
      await this.kill();
      throw error;
    }
    const ready = this.events.filter((e) => e.at >= since && e.event === 'ready' && e.port !== undefined).at(-1);
    if (ready?.port !== undefined) this.hekaPort = ready.port;
  }

  /** A clean stop (Hindsight on SIGTERM): shutdown timer_event, checkpoints written. SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    await Promise.all(this.processes.map((p) => p.stop(graceMs)));
  }

  /** kill -9 of the whole stage (outputs first, then the input). */
  async kill(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.processes].reverse().map((p) => p.kill()));
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Polls `condition` every 25 ms until true; throws after timeoutMs. */
  async waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await condition()) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.logs().split('\n').slice(-40).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** The content of <run>/<type>/<name>.err (a terminated plugin), if any. */
  errFile(name: string = PLUGINS.output.name, type: 'input' | 'output' = 'output'): string | undefined {
    const file = path.join(this.runDir, type, `${name}.err`);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  /** The committed checkpoint of an output plugin (queue file id and offset). */
  checkpoint(name: string = PLUGINS.output.name): { id: number; offset: number } | undefined {
    const file = path.join(this.outputDir, `output.${name}.cp`);
    if (!existsSync(file)) return undefined;
    const match = /=\s*"(\d+):(\d+)"/.exec(readFileSync(file, 'utf8'));
    return match ? { id: Number(match[1]), offset: Number(match[2]) } : undefined;
  }

  outputStats(name: string = PLUGINS.output.name): OutputStats | undefined {
    return readJson<OutputStats>(path.join(this.outputDir, `output.${name}.stats.json`));
  }

  inputStats(name: string = PLUGINS.input.name): InputStats | undefined {
    return readJson<InputStats>(path.join(this.outputDir, `input.${name}.stats.json`));
  }

  /** Bytes in the input queue files. */
  queueBytes(): number {
    return queueFileBytes(this.outputDir);
  }
}

/** Bytes of heka_tcp's queue that reached the files under a Hindsight output_path (buffered bytes do not count). */
export function queueFileBytes(outputPath: string): number {
  const dir = path.join(outputPath, 'input');
  if (!existsSync(dir)) return 0;
  return readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .reduce((sum, n) => sum + statSync(path.join(dir, n)).size, 0);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Creates a temp directory for the stage and starts it. */
export async function startHindsightStage(options: HindsightStageOptions): Promise<HindsightStage> {
  return started(new HindsightStage(await makeTempDir('hindsight'), options));
}

/** Writes the compiler's Hindsight files (hindsight.cfg, run/..., modules/...) under dir. */
export async function writeHindsightConfig(dir: string, config: StackConfig, lua: ReadonlyMap<string, string>): Promise<void> {
  for (const file of hindsightFiles(config, lua)) {
    const target = path.join(dir, file.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.content);
  }
}

/** lua/ of the repository, as the compiler reads it. */
export async function readLuaTree(root: string = REPO_ROOT): Promise<Map<string, string>> {
  const { readLua } = await import('../../compiler/compile.ts');
  return readLua(root);
}

/**
 * What the InfluxDB output needs to reach a test InfluxDB: its URL in the output cfg, and the
 * writer's password in a file the cfg's password_file points at (as the mounted Secret is in the
 * pod: the path is rewritten, nothing else). The file is removed when the test process ends.
 */
export function influxdbWiring(
  influx: { url: string; writer: { password: string } },
  extra: Partial<Record<keyof InfluxdbOutputCfg, LuaValue>> = {},
): Pick<HindsightStageOptions, 'overrides' | 'env'> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stacklight-writer-'));
  removeAtProcessEnd(dir);
  const passwordFile = path.join(dir, 'influxdb-writer');
  writeFileSync(passwordFile, influx.writer.password, { mode: 0o400 });
  return {
    overrides: { output: { [PLUGINS.output.name]: { influxdb_url: influx.url, password_file: passwordFile, ...extra } as CfgOverrides } },
    env: {},
  };
}

// ---------------------------------------------------------------------------------------------
// command line

async function main(argv: string[]): Promise<void> {
  const options: HindsightStageOptions = { configDir: '', env: {}, overrides: { input: {}, output: {} } };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`missing value for ${arg}`);
    if (arg === '--config-dir') options.configDir = path.resolve(value);
    else if (arg === '--output-dir') options.outputDir = path.resolve(value);
    else if (arg === '--port') options.hekaPort = Number(value);
    else if (arg === '--env') {
      const [k, ...v] = value.split('=');
      options.env![k!] = v.join('=');
    } else if (arg === '--set') {
      const m = /^(input|output)\.([^.]+)\.([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(value);
      if (!m) throw new Error(`--set wants type.name.key=value: ${value}`);
      const group = options.overrides![m[1] as 'input' | 'output']!;
      group[m[2]!] ??= {};
      const raw = m[4]!;
      group[m[2]!]![m[3]!] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw === 'true' || raw === 'false' ? raw === 'true' : raw;
    } else throw new Error(`unknown option ${arg}`);
  }
  if (!options.configDir) throw new Error('usage: hindsight-stage.ts --config-dir DIR [--port N] [--output-dir DIR] [--env K=V] [--set output.NAME.KEY=VALUE]');
  const stage = await startHindsightStage({ ...options, echoLogs: true });
  process.stdout.write(`hindsight stage running: heka_tcp on 127.0.0.1:${stage.hekaPort}, state in ${stage.outputDir}, run dir ${stage.runDir}\n`);
  const shutdown = async () => {
    await stage.stop();
    process.stdout.write(`stopped; checkpoint ${JSON.stringify(stage.checkpoint())}\n`);
    if (!options.outputDir) await stage.dispose();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${String(error instanceof Error ? error.message : error)}\n`);
    process.exit(1);
  });
}
