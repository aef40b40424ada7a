/**
 * The real Snap for tests: snapteld and the plugins built from the image's pinned sources by
 * `bash images/snap/build-local.sh` (a cache outside the checkout), started as the image starts
 * it: the image's entrypoint renders the compiled task template for the node and the compiled
 * snapd.yaml (a template too) with the REST API password from a password file, as the Secret's
 * mount gives it (a random password per run, with a double quote, a backslash and a space, so
 * the real YAML parser reads what the entrypoint escaped), into a config of its own, and execs
 * snapteld on that. Only what a container's mounts and ports change is rewritten: the plugin and
 * task directories, the REST API's and the control port, the host mounts (each task setting
 * that names a mount path of the config names the host path instead, as the kubelet's mount
 * would make it), and the Heka port the task publishes to. The config template is edited as a
 * YAML document, so the password placeholder keeps the double quotes the compiler gave it.
 *
 *   const build = snapBuild();            // undefined until build-local.sh has run
 *   const snapd = await startSnapd({ build, config, hekaPort: stage.hekaPort, nodeName: 'node-a' });
 *   after(() => snapd.dispose());
 *   await snapd.tasks();                  // GET /v1/tasks, with the password
 *   await snapd.api('/v1/plugins', { password: 'wrong' });  // any request, any password or none
 *   await snapd.healthcheck('liveness');  // images/snap/healthcheck.sh against it, with the password file
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, parseDocument, stringify as stringifyYaml } from 'yaml';
import type { StackConfig } from '../../compiler/config/types.ts';
import { SNAP_FILES, snapFiles } from '../../compiler/collector/snap.ts';
import { SNAP } from '../../compiler/facts.ts';
import { makeTempDir, ManagedChild, started, TempDirOwner } from './child-process.ts';
import { freePort } from './influxdb.ts';
import { REPO_ROOT } from './hindsight-stage.ts';
import { localBuild, notBuilt } from './local-build.ts';

const ENTRYPOINT = path.join(REPO_ROOT, 'images/snap/entrypoint.sh');
const HEALTHCHECK = path.join(REPO_ROOT, 'images/snap/healthcheck.sh');

export interface SnapBuild {
  dir: string;
  snapteld: string;
  pluginDir: string;
}

/** The local build for the Dockerfile's current pins, if build-local.sh has made it. */
export function snapBuild(): SnapBuild | undefined {
  const dir = localBuild('snap', 'bin/snapteld');
  return dir ? { dir, snapteld: path.join(dir, 'bin', 'snapteld'), pluginDir: path.join(dir, 'plugins') } : undefined;
}

/** The one line a test prints when it cannot run for want of the build. */
export const SNAP_NOT_BUILT = notBuilt('real Snap', 'snap', 'about 90 s');

export interface SnapdOptions {
  build: SnapBuild;
  config: StackConfig;
  /** Where the task publishes (the Hindsight stage's heka_tcp port). */
  hekaPort: number;
  nodeName: string;
  /**
   * os.Hostname() for snapteld (Message Hostname, the plugin_running_on tag): set in a UTS
   * namespace of its own (unshare, root only); default: this machine's.
   */
  hostname?: string;
}

export interface TaskView {
  id: string;
  name: string;
  task_state: string;
  hit_count?: number;
  miss_count?: number;
  failed_count?: number;
  last_failure_message?: string;
}

export interface HealthcheckResult {
  code: number | null;
  output: string;
}

export interface ApiRequest {
  method?: string;
  body?: string | FormData;
  headers?: Record<string, string>;
  /** The basic-auth password: default the right one; null sends no credentials. */
  password?: string | null;
  /** The basic-auth user name: snapteld checks only the password. */
  user?: string;
  timeoutMs?: number;
}

/** The mounts a container would see, as the host paths a local process sees. */
function hostPathOf(config: StackConfig, value: unknown): unknown {
  for (const mount of Object.values(config.collector.hostMounts)) {
    if (value === mount.mountPath) return mount.hostPath;
  }
  return value;
}

/** The compiled task template with the host mounts and the Heka port of this machine. */
export function localTask(config: StackConfig, template: string, hekaPort: number): string {
  const task = parseYaml(template) as {
    workflow: { collect: { config?: Record<string, Record<string, unknown>>; publish: { config: { port: number } }[] } };
  };
  for (const settings of Object.values(task.workflow.collect.config ?? {})) {
    for (const [key, value] of Object.entries(settings)) settings[key] = hostPathOf(config, value);
  }
  for (const publisher of task.workflow.collect.publish) publisher.config.port = hekaPort;
  // the node name placeholder stays: the entrypoint fills it in
  return stringifyYaml(task);
}

export class Snapd extends TempDirOwner {
  private snapteld?: ManagedChild;

  constructor(
    dir: string,
    readonly apiPort: number,
    readonly logFile: string,
    /** The REST API password, and the file it is read from (what the Secret's mount would be). */
    readonly apiPassword: string,
    readonly apiPasswordFile: string,
    /** The config the entrypoint renders and snapteld reads. */
    readonly configFile: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly args: string[],
    private readonly hostname?: string,
  ) {
    super(dir);
  }

  async start(): Promise<void> {
    const [command, ...args] = this.hostname
      ? ['unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec sh "$@"', this.hostname, ENTRYPOINT, ...this.args]
      : ['sh', ENTRYPOINT, ...this.args];
    this.snapteld = new ManagedChild('snapteld', command!, args, { env: this.env, logFile: this.logFile });
    const taskRunning = async () => (await this.tasks().catch(() => [])).some((task) => task.task_state === 'Running');
    await this.snapteld.waitFor(taskRunning, 'a Running task', 60_000, 250);
  }

  /** One request to the REST API on loopback, with basic auth as snaptel sends it (user snap) unless told otherwise. */
  api(apiPath: string, request: ApiRequest = {}): Promise<Response> {
    const password = request.password === undefined ? this.apiPassword : request.password;
    const headers: Record<string, string> = { ...request.headers };
    if (password !== null) headers['authorization'] = `Basic ${Buffer.from(`${request.user ?? SNAP.apiUser}:${password}`).toString('base64')}`;
    return fetch(`http://127.0.0.1:${this.apiPort}${apiPath}`, {
      method: request.method ?? 'GET',
      headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: AbortSignal.timeout(request.timeoutMs ?? 5_000),
    });
  }

  /** GET /v1/tasks (with the password): the tasks with their hit, miss and failure counts. */
  async tasks(): Promise<TaskView[]> {
    const response = await this.api('/v1/tasks');
    if (!response.ok) throw new Error(`GET /v1/tasks answered ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as { body?: { ScheduledTasks?: TaskView[] } };
    return body.body?.ScheduledTasks ?? [];
  }

  /**
   * The image's healthcheck, run as the kubelet's probe `probe` runs it: with the password file
   * the manifest names in SNAP_API_PASSWORD_FILE, unless given another (null: none).
   */
  healthcheck(probe: string, passwordFile: string | null = this.apiPasswordFile): HealthcheckResult {
    const result = spawnSync('sh', [HEALTHCHECK, probe], {
      encoding: 'utf8',
      env: {
        PATH: process.env['PATH'],
        [SNAP.apiPortEnv]: String(this.apiPort),
        SNAP_HEALTHCHECK_STATE_DIR: path.join(this.dir, 'tmp'),
        ...(passwordFile === null ? {} : { [SNAP.apiPasswordFileEnv]: passwordFile }),
      },
    });
    return { code: result.status, output: `${result.stdout}${result.stderr}` };
  }

  log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  async stop(graceMs = 10_000): Promise<void> {
    await this.snapteld?.stop(graceMs);
  }
}

/**
 * The compiled snapd config template with this machine's plugin and task directories and ports.
 * Edited as a document: everything else, the double-quoted password placeholder with it, stays
 * as the compiler wrote it.
 */
export function localSnapdConfig(
  template: string,
  paths: { pluginDir: string; taskDir: string; apiPort: number; controlPort: number },
): string {
  const document = parseDocument(template);
  if (document.errors.length > 0) throw new Error(`the compiled ${SNAP_FILES.config}: ${document.errors[0]!.message}`);
  document.setIn(['control', 'auto_discover_path'], `${paths.pluginDir}:${paths.taskDir}`);
  document.setIn(['restapi', 'port'], paths.apiPort);
  document.setIn(['control', 'listen_port'], paths.controlPort);
  return document.toString();
}

/** Where images/snap/entrypoint.sh finds its files outside the image (the image's paths are its defaults). */
export interface EntrypointLayout {
  templates: string;
  tasks: string;
  daemon: string;
  configTemplate: string;
  config: string;
  passwordFile: string;
}

/** The environment the entrypoint reads for that layout (PATH included, nothing else of ours). */
export function entrypointEnv(layout: EntrypointLayout): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    SNAP_TASK_TEMPLATE_DIR: layout.templates,
    SNAP_TASK_DIR: layout.tasks,
    SNAP_DAEMON: layout.daemon,
    [SNAP.configTemplateEnv]: layout.configTemplate,
    [SNAP.configFileEnv]: layout.config,
    [SNAP.apiPasswordFileEnv]: layout.passwordFile,
  };
}

/** A random REST API password, with the characters the entrypoint escapes and a space. */
export function randomApiPassword(): string {
  return `${randomBytes(18).toString('base64url')} "\\ ${randomBytes(6).toString('hex')}`;
}

/**
 * Starts snapteld through the image's entrypoint, with the compiled config and task and a
 * password file, and resolves once the task it auto-loaded is Running.
 */
export async function startSnapd(options: SnapdOptions): Promise<Snapd> {
  const dir = await makeTempDir('snapd');
  let snapd: Snapd;
  try {
    snapd = await prepareSnapd(dir, options);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return started(snapd);
}

/** snapteld's files in `dir` as the DaemonSet lays them out: templates, config template, the API password. */
async function prepareSnapd(dir: string, options: SnapdOptions): Promise<Snapd> {
  const { build, config, hekaPort, nodeName } = options;
  const templates = path.join(dir, 'templates');
  const tasks = path.join(dir, 'tasks');
  // SNAP.configDir: a memory emptyDir in the pod
  const runDir = path.join(dir, 'run');
  const credentials = path.join(dir, 'credentials');
  await Promise.all([templates, tasks, runDir, credentials, path.join(dir, 'tmp')].map((sub) => mkdir(sub, { recursive: true })));
  const files = snapFiles(config.collector);
  const apiPort = await freePort();
  const configTemplate = path.join(dir, SNAP_FILES.config);
  await writeFile(
    configTemplate,
    localSnapdConfig(files[SNAP_FILES.config]!, { pluginDir: build.pluginDir, taskDir: tasks, apiPort, controlPort: await freePort() }),
  );
  await writeFile(path.join(templates, SNAP_FILES.task), localTask(config, files[SNAP_FILES.task]!, hekaPort));
  // the Secret's key as its read-only mount shows it; with a trailing newline, as a hand-made Secret may have it
  const apiPassword = randomApiPassword();
  const apiPasswordFile = path.join(credentials, 'snap-api');
  await writeFile(apiPasswordFile, `${apiPassword}\n`, { mode: 0o400 });
  const configFile = path.join(runDir, path.basename(SNAP.configFile));
  const env = {
    ...entrypointEnv({ templates, tasks, daemon: build.snapteld, configTemplate, config: configFile, passwordFile: apiPasswordFile }),
    TMPDIR: path.join(dir, 'tmp'),
    NODE_NAME: nodeName,
  };
  return new Snapd(dir, apiPort, path.join(dir, 'snapteld.log'), apiPassword, apiPasswordFile, configFile, env, ['--config', configFile], options.hostname);
}
