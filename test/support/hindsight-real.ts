/**
 * The real Hindsight for tests: lua_sandbox, Hindsight and the extensions built from the image's
 * pinned sources by `bash images/hindsight/build-local.sh` (a cache outside the checkout),
 * started as the image starts it: the image's entrypoint copies the compiled run/ directory into
 * the run directory and execs hindsight on the compiled hindsight.cfg. The config directory is
 * laid out as the DaemonSet mounts the ConfigMap (writeHindsightConfig); only what a container's
 * mounts and ports change is rewritten: the image's directories become this machine's (the
 * build's /usr, temporary run and state directories) and the heka_tcp port a free one.
 *
 *   const build = hindsightBuild();           // undefined until build-local.sh has run
 *   const hs = await startRealHindsight({ build, configDir, overrides, env });
 *   await hs.kill(); await hs.start();         // same port, same queue and checkpoints
 *   hs.pluginStats()                          // Hindsight's own plugins.tsv
 */
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { HINDSIGHT } from '../../compiler/facts.ts';
import { PLUGINS } from '../../compiler/collector/hindsight.ts';
import { LogLines, makeTempDir, ManagedChild, started, TempDirOwner } from './child-process.ts';
import { assignments, queueFileBytes, REPO_ROOT, type CfgOverrides, type HindsightStageOptions } from './hindsight-stage.ts';
import { freePort } from './influxdb.ts';
import { localBuild, notBuilt } from './local-build.ts';

const ENTRYPOINT = path.join(REPO_ROOT, 'images/hindsight/entrypoint.sh');

/** The one line a test prints when it cannot run for want of the build. */
export const HINDSIGHT_NOT_BUILT = notBuilt('real Hindsight', 'hindsight', 'about 30 s');

export interface HindsightBuild {
  dir: string;
  binary: string;
}

/** The local build for the Dockerfile's current pins, if build-local.sh has made it. */
export function hindsightBuild(): HindsightBuild | undefined {
  const dir = localBuild('hindsight', 'usr/bin/hindsight');
  return dir ? { dir, binary: path.join(dir, 'usr/bin/hindsight') } : undefined;
}

/** One row of Hindsight's plugins.tsv (times in ns, as Hindsight writes them). */
export interface PluginStats {
  plugin: string;
  inject_message_count: number;
  inject_message_bytes: number;
  process_message_count: number;
  process_message_failures: number;
  current_memory: number;
  max_memory: number;
  max_output: number;
  max_instructions: number;
  message_matcher_avg: number;
  message_matcher_sd: number;
  process_message_avg: number;
  process_message_sd: number;
  timer_event_avg: number;
  timer_event_sd: number;
}

/** Parses plugins.tsv: a header line of names ("Inject Message Count", ...) and a row per plugin. */
export function parsePluginsTsv(text: string): PluginStats[] {
  const [header, ...rows] = text.trim().split('\n');
  if (!header) return [];
  const keys = header.split('\t').map((name) => name.replace(/\(ns\)/, '').trim().toLowerCase().replace(/\s+/g, '_'));
  return rows.map((row) => {
    const cells = row.split('\t');
    return Object.fromEntries(keys.map((key, i) => [key, i === 0 ? cells[i] : Number(cells[i])])) as unknown as PluginStats;
  });
}

/** The image's paths in a compiled cfg, as this machine has them. */
function localPaths(text: string, dirs: { config: string; run: string; state: string; build: string }): string {
  return text
    .replaceAll(HINDSIGHT.configDir, dirs.config)
    .replaceAll(HINDSIGHT.runDir, dirs.run)
    .replaceAll(HINDSIGHT.outputDir, dirs.state)
    .replaceAll('/usr/lib/luasandbox/', `${dirs.build}/usr/lib/luasandbox/`)
    .replaceAll('/usr/share/luasandbox/', `${dirs.build}/usr/share/luasandbox/`);
}

export type RealHindsightOptions = Pick<HindsightStageOptions, 'configDir' | 'overrides' | 'env' | 'hekaPort'> & { build: HindsightBuild };

export class RealHindsight extends TempDirOwner {
  readonly configDir: string;
  readonly runDir: string;
  readonly stateDir: string;
  hekaPort: number;
  private hindsight?: ManagedChild;
  /** Its output, across restarts. */
  private readonly log = new LogLines(2000);

  constructor(
    dir: string,
    private readonly options: RealHindsightOptions,
  ) {
    super(dir, 5000);
    this.configDir = path.join(dir, 'config');
    this.runDir = path.join(dir, 'run');
    this.stateDir = path.join(dir, 'state');
    this.hekaPort = options.hekaPort ?? 0;
  }

  logs(): string {
    return String(this.log);
  }

  /** The config directory as the DaemonSet mounts it, with this machine's paths and the test's settings. */
  private async prepare(): Promise<void> {
    if (existsSync(this.configDir)) return;
    if (this.hekaPort === 0) this.hekaPort = await freePort();
    await cp(this.options.configDir, this.configDir, { recursive: true });
    await Promise.all([this.runDir, this.stateDir].map((dir) => mkdir(dir, { recursive: true })));
    const dirs = { config: this.configDir, run: this.runDir, state: this.stateDir, build: this.options.build.dir };
    const edit = async (file: string, extra: CfgOverrides) => {
      const text = localPaths(await readFile(file, 'utf8'), dirs);
      await writeFile(file, Object.keys(extra).length ? `${text}\n-- test/support/hindsight-real.ts overrides\n${assignments(extra)}\n` : text);
    };
    await edit(path.join(this.configDir, 'hindsight.cfg'), { ...this.options.overrides?.hindsight });
    for (const type of ['input', 'output'] as const) {
      const dir = path.join(this.configDir, 'run', type);
      for (const name of (await readdir(dir).catch(() => [] as string[])).filter((file) => file.endsWith('.cfg'))) {
        const cfg = name.slice(0, -'.cfg'.length);
        const extra: CfgOverrides = { ...this.options.overrides?.[type]?.[cfg] };
        if (type === 'input' && cfg === PLUGINS.input.name) extra['port'] = this.hekaPort;
        await edit(path.join(dir, name), extra);
      }
    }
  }

  /** Starts Hindsight through the image's entrypoint; resolves once heka_tcp accepts connections. */
  async start(): Promise<void> {
    await this.prepare();
    const env = {
      ...process.env,
      ...this.options.env,
      TZ: 'UTC',
      HINDSIGHT_CONFIG_DIR: this.configDir,
      HINDSIGHT_RUN_DIR: this.runDir,
      HINDSIGHT_BIN: this.options.build.binary,
    };
    this.hindsight = new ManagedChild('hindsight', 'sh', [ENTRYPOINT], { env, log: this.log });
    await this.hindsight.waitFor(() => this.accepting(), `heka_tcp listening on ${this.hekaPort}`, 20_000);
  }

  private accepting(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = new net.Socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.connect(this.hekaPort, '127.0.0.1');
    });
  }

  /** SIGTERM: Hindsight's clean shutdown (timer_event with shutdown, checkpoints written). */
  async stop(graceMs = 10_000): Promise<void> {
    await this.hindsight?.stop(graceMs);
  }

  /** SIGKILL: replay from the last written checkpoint on start(). */
  async kill(): Promise<void> {
    await this.hindsight?.kill();
  }

  /** Bytes of heka_tcp's queue that reached the files. */
  queueBytes(): number {
    return queueFileBytes(this.stateDir);
  }

  /** The content of <run>/<type>/<name>.err (a terminated plugin), if any. */
  errFile(name: string = PLUGINS.output.name, type: 'input' | 'output' = 'output'): string | undefined {
    const file = path.join(this.runDir, type, `${name}.err`);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  /** Hindsight's plugins.tsv (written every few seconds while it runs). */
  pluginStats(): PluginStats[] {
    const file = path.join(this.stateDir, 'plugins.tsv');
    return existsSync(file) ? parsePluginsTsv(readFileSync(file, 'utf8')) : [];
  }
}

export async function startRealHindsight(options: RealHindsightOptions): Promise<RealHindsight> {
  return started(new RealHindsight(await makeTempDir('real-hindsight'), options));
}
