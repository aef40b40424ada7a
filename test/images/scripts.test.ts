/**
 * The images' small scripts run here, without Docker: the Snap entrypoint with a fake daemon on
 * the compiler's real task template, the Snap healthcheck against a loopback HTTP server playing
 * snapteld's API, the Hindsight entrypoint on a ConfigMap-shaped directory, the Hindsight
 * healthcheck with and without a terminated plugin and a running process, and the dependency
 * plan of the Snap build's lock-file reader.
 */
import { entrypointEnv } from '../support/snapd.ts';
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { stack } from '../../config/stack.ts';
import { SNAP_FILES, snapFiles } from '../../compiler/collector/snap.ts';
import { SNAP } from '../../compiler/facts.ts';
import { imagePath, run, sleep } from './support.ts';

const SNAP_ENTRYPOINT = imagePath('snap', 'entrypoint.sh');
const SNAP_HEALTHCHECK = imagePath('snap', 'healthcheck.sh');
const HINDSIGHT_ENTRYPOINT = imagePath('hindsight', 'entrypoint.sh');
const HINDSIGHT_HEALTHCHECK = imagePath('hindsight', 'healthcheck.sh');
const FETCH_DEPS = imagePath('snap', 'fetch-deps.sh');

const temps: string[] = [];
async function temp(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `images-${prefix}-`));
  temps.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fake program that records its arguments (one per line) into a file and exits with a code. */
async function fakeProgram(dir: string, name: string, record: string, code = 0): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\nprintf '%s\\n' "$@" > '${record}'\nexit ${code}\n`);
  await chmod(file, 0o755);
  return file;
}

/** A fake daemon that records its arguments and its environment (`env`'s lines) and exits with a code. */
async function fakeDaemon(dir: string, code: number): Promise<{ program: string; args: string; env: string }> {
  const [program, args, env] = [path.join(dir, 'snapteld'), path.join(dir, 'daemon-args'), path.join(dir, 'daemon-env')];
  await writeFile(program, `#!/bin/sh\nprintf '%s\\n' "$@" > '${args}'\nenv > '${env}'\nexit ${code}\n`);
  await chmod(program, 0o755);
  return { program, args, env };
}

/** The snap-config ConfigMap's files as the compiler writes them (snapFiles is its data). */
function compiledSnapFiles(): { config: string; task: string } {
  const files = snapFiles(stack.collector);
  const [config, task] = [files[SNAP_FILES.config], files[SNAP_FILES.task]];
  assert.ok(config && task);
  return { config, task };
}

function compiledTaskTemplate(): string {
  return compiledSnapFiles().task;
}

/** A config template with the REST API password as the compiler writes it: the placeholder, double-quoted. */
const AUTH_TEMPLATE = `restapi:\n  enable: true\n  rest_auth: true\n  rest_auth_password: "${SNAP.apiPasswordPlaceholder}"\n  port: 8181\n`;

describe('snap entrypoint', () => {
  async function setup(options: { template?: string; password?: string } = {}) {
    const dir = await temp('snap-entrypoint');
    const templates = path.join(dir, 'templates');
    const tasks = path.join(dir, 'tasks');
    const runDir = path.join(dir, 'run');
    await Promise.all([templates, tasks, runDir].map((sub) => mkdir(sub)));
    const daemon = await fakeDaemon(dir, 7);
    const configTemplate = path.join(dir, 'snapd.yaml');
    const config = path.join(runDir, 'snapd.yaml');
    const passwordFile = path.join(dir, 'snap-api');
    await writeFile(configTemplate, options.template ?? AUTH_TEMPLATE);
    await writeFile(passwordFile, options.password ?? 'the-password\n');
    const env = entrypointEnv({ templates, tasks, daemon: daemon.program, configTemplate, config, passwordFile });
    const args = ['--config', config];
    return {
      dir,
      templates,
      tasks,
      record: daemon.args,
      daemonEnv: daemon.env,
      configTemplate,
      config,
      configDir: runDir,
      passwordFile,
      env,
      args,
    };
  }

  /** The entrypoint run on a task template and the config template, as the container runs it. */
  async function render(options: { template?: string; password?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {}) {
    const context = await setup(options);
    await writeFile(path.join(context.templates, 'task.yaml'), 'hostname: ${NODE_NAME}\n');
    const env: NodeJS.ProcessEnv = { ...context.env, NODE_NAME: 'n1', ...options.env };
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
    const result = await run('sh', [SNAP_ENTRYPOINT, ...(options.args ?? context.args)], { env });
    return { ...context, result };
  }

  it('renders the compiled task for the node and execs the daemon with the container arguments', async () => {
    const { templates, tasks, record, env, args, config } = await setup();
    const template = compiledTaskTemplate();
    assert.ok(template.includes(SNAP.nodeNamePlaceholder), 'the compiled template carries the placeholder');
    await writeFile(path.join(templates, 'task.yaml'), template);
    await writeFile(path.join(templates, 'README'), 'not a task');
    await writeFile(path.join(tasks, 'stale.yaml'), 'version: 1\n');

    const result = await run('sh', [SNAP_ENTRYPOINT, ...args], { env: { ...env, [SNAP.nodeNameEnv]: 'worker-1.example' } });
    assert.equal(result.code, 7, 'the daemon is exec\'d: its exit status is the container\'s');
    assert.equal(await readFile(record, 'utf8'), `--config\n${config}\n`);
    assert.deepEqual(await readdir(tasks), ['task.yaml']);
    const rendered = await readFile(path.join(tasks, 'task.yaml'), 'utf8');
    assert.equal(rendered, template.replaceAll(SNAP.nodeNamePlaceholder, 'worker-1.example'));
    assert.ok(!rendered.includes('${'));
    const task = parseYaml(rendered) as { workflow: { collect: { tags: Record<string, Record<string, string>> } } };
    for (const tags of Object.values(task.workflow.collect.tags)) assert.equal(tags[SNAP.nodeTag], 'worker-1.example');
    assert.match(result.stderr, /skipping README/);
  });

  it('replaces every placeholder literally, in .yml and .json templates too', async () => {
    const { templates, tasks, env, args } = await setup();
    await writeFile(path.join(templates, 'a.yml'), 'a: ${NODE_NAME}-${NODE_NAME}\nb: $NODE_NAME ${NODE_NAMEX}\n');
    await writeFile(path.join(templates, 'b.json'), '{"tags":{"/intel":{"hostname":"${NODE_NAME}"}}}\n');
    const result = await run('sh', [SNAP_ENTRYPOINT, ...args], { env: { ...env, NODE_NAME: 'n.1' } });
    assert.equal(result.code, 7, result.stderr);
    assert.equal(await readFile(path.join(tasks, 'a.yml'), 'utf8'), 'a: n.1-n.1\nb: $NODE_NAME ${NODE_NAMEX}\n');
    assert.equal(await readFile(path.join(tasks, 'b.json'), 'utf8'), '{"tags":{"/intel":{"hostname":"n.1"}}}\n');
  });

  for (const [what, nodeName, message] of [
    ['an unset NODE_NAME', undefined, /NODE_NAME is not set/],
    ['an empty NODE_NAME', '', /NODE_NAME is not set/],
    ['a NODE_NAME that could break the YAML', 'a: b', /is not a valid node name/],
  ] as const) {
    it(`fails clearly on ${what}, without starting the daemon`, async () => {
      const { templates, record, env, args } = await setup();
      await writeFile(path.join(templates, 'task.yaml'), 'hostname: ${NODE_NAME}\n');
      const result = await run('sh', [SNAP_ENTRYPOINT, ...args], { env: nodeName === undefined ? env : { ...env, NODE_NAME: nodeName } });
      assert.equal(result.code, 1);
      assert.match(result.stderr, message);
      await assert.rejects(readFile(record, 'utf8'), 'the daemon must not run');
    });
  }

  it('fails when there is no template', async () => {
    const { env, record, args } = await setup();
    const result = await run('sh', [SNAP_ENTRYPOINT, ...args], { env: { ...env, NODE_NAME: 'n1' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no task template/);
    await assert.rejects(readFile(record, 'utf8'));
  });

  it('renders the compiled snapd config with the password from the file: YAML that reads back the exact password, mode 0600, written atomically, the password in neither the daemon\'s environment nor any output', async () => {
    const compiled = compiledSnapFiles().config;
    assert.ok(compiled.includes(`"${SNAP.apiPasswordPlaceholder}"`), 'the compiled config carries the password placeholder, double-quoted');
    const password = 'pa"ss\\word with \'quotes\', #: {a}, [b], & *c ${SNAP_API_PASSWORD} é€😀';
    const { result, config, configDir, configTemplate, passwordFile, record, daemonEnv } = await render({ template: compiled, password: `${password}\n` });
    assert.equal(result.code, 7, result.stderr);
    assert.equal(await readFile(record, 'utf8'), `--config\n${config}\n`);
    const rendered = await readFile(config, 'utf8');
    const escaped = password.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
    assert.equal(rendered, compiled.replaceAll(SNAP.apiPasswordPlaceholder, () => escaped), 'only the placeholder changes');
    const parsed = parseYaml(rendered) as { restapi: { rest_auth: boolean; rest_auth_password: string } };
    assert.equal(parsed.restapi.rest_auth, true);
    assert.equal(parsed.restapi.rest_auth_password, password);
    assert.deepEqual({ ...(parseYaml(rendered) as object), restapi: undefined }, { ...(parseYaml(compiled) as object), restapi: undefined }, 'the rest of the config as compiled');
    assert.equal((await stat(config)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(configDir), ['snapd.yaml'], 'no temporary file left beside it');
    assert.equal(await readFile(configTemplate, 'utf8'), compiled, 'the template is left as it is');
    const environment = await readFile(daemonEnv, 'utf8');
    assert.ok(environment.includes(`${SNAP.apiPasswordFileEnv}=${passwordFile}\n`), 'the daemon sees the file\'s path');
    for (const part of ['pa"ss', 'word with', 'é€😀']) {
      assert.ok(!environment.includes(part), 'the daemon\'s environment holds no password');
      assert.ok(!result.stdout.includes(part) && !result.stderr.includes(part), 'no output shows the password');
    }
    assert.match(result.stderr, new RegExp(`rendered ${config} from ${configTemplate} with the REST API password from ${passwordFile}`));
  });

  it('escapes any one-line password into a double-quoted scalar that reads back exactly; a file without a trailing newline too', async () => {
    for (const password of ['"', '\\', '\\"', '"\\', 'a\\nb', '\\u0041', ' leading and trailing ', "it's", '${SNAP_API_PASSWORD}${SNAP_API_PASSWORD}', '`$(id)`', '-', '~', 'null', 'true', '0x10']) {
      for (const ending of ['\n', '']) {
        const { result, config } = await render({ password: `${password}${ending}` });
        assert.equal(result.code, 7, `${JSON.stringify(password)}: ${result.stderr}`);
        const parsed = parseYaml(await readFile(config, 'utf8')) as { restapi: { rest_auth_password: unknown } };
        assert.equal(parsed.restapi.rest_auth_password, password, JSON.stringify(password));
      }
    }
  });

  it('replaces a config rendered by an earlier start, whatever its mode, with one of mode 0600', async () => {
    const context = await setup({ password: 'new\n' });
    await writeFile(path.join(context.templates, 'task.yaml'), 'a: 1\n');
    await writeFile(context.config, 'stale\n', { mode: 0o644 });
    await chmod(context.config, 0o644);
    const result = await run('sh', [SNAP_ENTRYPOINT, ...context.args], { env: { ...context.env, NODE_NAME: 'n1' } });
    assert.equal(result.code, 7, result.stderr);
    assert.equal((parseYaml(await readFile(context.config, 'utf8')) as { restapi: { rest_auth_password: string } }).restapi.rest_auth_password, 'new');
    assert.equal((await stat(context.config)).mode & 0o777, 0o600);
  });

  it('copies a template without the placeholder as it is, saying the REST API has no authentication', async () => {
    const template = 'restapi:\n  enable: true\n  port: 8181\n';
    const { result, config } = await render({ template });
    assert.equal(result.code, 7, result.stderr);
    assert.equal(await readFile(config, 'utf8'), template);
    assert.equal((await stat(config)).mode & 0o777, 0o600);
    assert.match(result.stderr, /has no \$\{SNAP_API_PASSWORD\}: copied as it is to .*; the REST API has no authentication/);
    assert.match(result.stderr, /SNAP_API_PASSWORD_FILE .* is not used/);
    // without a password file at all
    const bare = await render({ template, env: { [SNAP.apiPasswordFileEnv]: undefined } });
    assert.equal(bare.result.code, 7, bare.result.stderr);
    assert.equal(await readFile(bare.config, 'utf8'), template);
  });

  for (const [what, password, message] of [
    ['an empty password file', '', /the REST API password file .*\/snap-api \(SNAP_API_PASSWORD_FILE\) is empty/],
    ['a password file of one newline', '\n', /the REST API password file .*\/snap-api \(SNAP_API_PASSWORD_FILE\) is empty/],
    ['a password of two lines', 'secret-one\nsecret-two\n', /\/snap-api \(SNAP_API_PASSWORD_FILE\) holds a line break or a control character/],
    ['a password followed by two newlines', 'secret-one\n\n', /holds a line break or a control character/],
    ['a password ending in CR LF', 'secret-one\r\n', /holds a line break or a control character/],
    ['a password with a tab', 'secret\tone', /holds a line break or a control character/],
    ['a password with an escape character', 'secret\u001bone', /holds a line break or a control character/],
    ['a password with DEL', 'secret\u007fone', /holds a line break or a control character/],
    ['a password with NEL', 'secret\u0085one', /holds a line break or a control character/],
    ['a password with a line separator', 'secret\u2028one', /holds a line break or a control character/],
    ['a password with a NUL byte', 'secret\u0000one', /holds a NUL byte/],
  ] as const) {
    it(`fails clearly on ${what}, naming the file and not the value, without starting the daemon or writing a config`, async () => {
      const { result, record, configDir } = await render({ password });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, message);
      assert.ok(!result.stderr.includes('secret') && !result.stdout.includes('secret'), result.stderr);
      await assert.rejects(readFile(record, 'utf8'), 'the daemon must not run');
      assert.deepEqual(await readdir(configDir), []);
    });
  }

  it('fails clearly when the template needs the password and SNAP_API_PASSWORD_FILE is unset or names no readable file', async () => {
    const unset = await render({ env: { [SNAP.apiPasswordFileEnv]: undefined } });
    assert.equal(unset.result.code, 1);
    assert.match(unset.result.stderr, /sets the REST API password to \$\{SNAP_API_PASSWORD\} but SNAP_API_PASSWORD_FILE is not set/);
    await assert.rejects(readFile(unset.record, 'utf8'));
    const empty = await render({ env: { [SNAP.apiPasswordFileEnv]: '' } });
    assert.equal(empty.result.code, 1);
    assert.match(empty.result.stderr, /SNAP_API_PASSWORD_FILE is not set/);
    const missing = await render({ env: { [SNAP.apiPasswordFileEnv]: '/nonexistent/snap-api' } });
    assert.equal(missing.result.code, 1);
    assert.match(missing.result.stderr, /the REST API password file \/nonexistent\/snap-api \(SNAP_API_PASSWORD_FILE\) does not exist or is not readable/);
    await assert.rejects(readFile(missing.record, 'utf8'));
    assert.deepEqual(await readdir(missing.configDir), []);
    const directory = await render({ env: { [SNAP.apiPasswordFileEnv]: tmpdir() } });
    assert.equal(directory.result.code, 1);
    assert.match(directory.result.stderr, /does not exist or is not readable/);
  });

  it('fails clearly without the config template or a writable directory for the rendered config', async () => {
    const noTemplate = await render({ env: { [SNAP.configTemplateEnv]: '/nonexistent/snapd.yaml' } });
    assert.equal(noTemplate.result.code, 1);
    assert.match(noTemplate.result.stderr, /config template \/nonexistent\/snapd.yaml \(SNAP_CONFIG_TEMPLATE\) does not exist/);
    await assert.rejects(readFile(noTemplate.record, 'utf8'));
    const noDir = await render({ env: { [SNAP.configFileEnv]: '/nonexistent/snapd.yaml' }, args: ['--config', '/nonexistent/snapd.yaml'] });
    assert.equal(noDir.result.code, 1);
    assert.match(noDir.result.stderr, /the directory \/nonexistent of the rendered config \/nonexistent\/snapd.yaml \(SNAP_CONFIG\) does not exist or is not writable/);
  });

  it('refuses to start the daemon on another config than the rendered one (the template would make the placeholder the password)', async () => {
    const context = await setup();
    await writeFile(path.join(context.templates, 'task.yaml'), 'a: 1\n');
    const env = { ...context.env, NODE_NAME: 'n1' };
    for (const args of [['--config', context.configTemplate], [`--config=${context.configTemplate}`], ['--log-level', '1'], []]) {
      const result = await run('sh', [SNAP_ENTRYPOINT, ...args], { env });
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /not the rendered .*snapd.yaml \(SNAP_CONFIG\): run it with --config /);
      await assert.rejects(readFile(context.record, 'utf8'));
    }
    for (const args of [[`--config=${context.config}`], ['-config', context.config, '--log-level', '1']]) {
      const result = await run('sh', [SNAP_ENTRYPOINT, ...args], { env });
      assert.equal(result.code, 7, `${args.join(' ')}: ${result.stderr}`);
    }
  });
});

describe('snap healthcheck', () => {
  let server: Server;
  let port = 0;
  let reply: { status: number; body: string } = { status: 200, body: '' };
  const requests: string[] = [];
  /** When set, the server checks basic auth as snapteld does (any user, this password), else 401. */
  let requiredPassword: string | undefined;
  const users: (string | undefined)[] = [];
  before(async () => {
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '');
      const decoded = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8') : undefined;
      const colon = decoded?.indexOf(':') ?? -1;
      users.push(decoded && colon >= 0 ? decoded.slice(0, colon) : undefined);
      if (requiredPassword !== undefined && (!decoded || colon < 0 || decoded.slice(colon + 1) !== requiredPassword)) {
        // mgmt/rest/server.go authMiddleware's answer
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ meta: { code: 401, message: 'Not authorized. Please specify the same password that used to start snapteld.' } }));
        return;
      }
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      response.end(reply.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** A task as the v1 API lists it; counts of zero are left out, as Go's omitempty does. */
  interface TaskView {
    state: string;
    name?: string;
    hits?: number;
    failures?: number;
    failure?: string;
  }

  /** A /v1/tasks answer as snapteld's v1 API writes it (mgmt/rest/v1/rbody/task.go, indented). */
  const tasks = (...list: TaskView[]) =>
    JSON.stringify(
      {
        meta: { code: 200, message: 'Scheduled tasks retrieved', type: 'scheduled_task_list_returned', version: 1 },
        body: {
          ScheduledTasks: list.map((task, index) => ({
            id: `id-${index}`,
            name: task.name ?? `Task-${index}`,
            deadline: '5s',
            creation_timestamp: 1700000000,
            last_run_timestamp: 1700000010,
            ...(task.hits ?? 3 ? { hit_count: task.hits ?? 3 } : {}),
            ...(task.failures ?? (task.failure ? 1 : 0) ? { failed_count: task.failures ?? 1 } : {}),
            ...(task.failure ? { last_failure_message: task.failure } : {}),
            task_state: task.state,
            href: `http://127.0.0.1/v1/tasks/id-${index}`,
          })),
        },
      },
      null,
      2,
    );

  let stateDir = '';
  beforeEach(async () => {
    stateDir = await temp('snap-healthcheck');
    requiredPassword = undefined;
  });

  const check = (env: NodeJS.ProcessEnv = {}, args: string[] = []) =>
    run('sh', [SNAP_HEALTHCHECK, ...args], { env: { PATH: process.env.PATH, SNAP_API_PORT: String(port), SNAP_HEALTHCHECK_STATE_DIR: stateDir, ...env } });

  it('is healthy when every task is Running, asking the v1 task list on loopback', async () => {
    reply = { status: 200, body: tasks({ state: 'Running' }, { state: 'Running' }) };
    const result = await check();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /2 task\(s\) Running/);
    assert.equal(requests.at(-1), 'GET /v1/tasks');
  });

  it('is unhealthy when a task is Disabled (max-failures reached) or Stopped', async () => {
    reply = { status: 200, body: tasks({ state: 'Running' }, { state: 'Disabled', failure: 'Task disabled due to consecutive failures' }) };
    let result = await check();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /task Task-1 is Disabled \(last failure: Task disabled due to consecutive failures\)/);
    assert.doesNotMatch(result.stderr, /Task-0/);
    reply = { status: 200, body: tasks({ state: 'Stopped' }) };
    result = await check();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /task Task-0 is Stopped/);
  });

  it('is unhealthy without any task', async () => {
    reply = { status: 200, body: JSON.stringify({ meta: { code: 200 }, body: { ScheduledTasks: [] } }) };
    const result = await check();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no task/);
  });

  it('is not fooled by a task name or failure message that quotes a Running state', async () => {
    reply = {
      status: 200,
      body: tasks({ state: 'Disabled', name: 'x","task_state":"Running', failure: 'publish failed: "task_state": "Running"' }),
    };
    const result = await check();
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /is Disabled/);
  });

  it('is unhealthy while a Running task\'s runs keep failing, naming the last failure, and healthy again once they stop', async () => {
    const failure = 'CollectMetrics call error : read /proc/1/io: permission denied';
    reply = { status: 200, body: tasks({ state: 'Running', hits: 10 }) };
    assert.equal((await check({}, ['liveness'])).code, 0);
    // every run since the last check failed (the publisher cannot reach Hindsight, a collector fails)
    reply = { status: 200, body: tasks({ state: 'Running', hits: 12, failures: 2, failure }) };
    let result = await check({}, ['liveness']);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /task Task-0: 2 of 2 run\(s\) since the last check failed \(last failure: CollectMetrics call error : read \/proc\/1\/io: permission denied\)/);
    // the same counts again: nothing ran since, nothing failed since
    assert.equal((await check({}, ['liveness'])).code, 0);
    // a run still going counts as a hit without its failure yet: half the runs failing is enough
    reply = { status: 200, body: tasks({ state: 'Running', hits: 14, failures: 3, failure }) };
    assert.equal((await check({}, ['liveness'])).code, 1);
    // runs succeed again
    reply = { status: 200, body: tasks({ state: 'Running', hits: 17, failures: 3, failure }) };
    result = await check({}, ['liveness']);
    assert.equal(result.code, 0, result.stderr);
    // one failure in four runs is reported, not unhealthy
    reply = { status: 200, body: tasks({ state: 'Running', hits: 21, failures: 4, failure }) };
    result = await check({}, ['liveness']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /1 task\(s\) Running; task Task-0: 1 of 4 run\(s\) failed;/);
  });

  it('judges all runs so far at its first check, and keeps each probe\'s counts apart', async () => {
    reply = { status: 200, body: tasks({ state: 'Running', hits: 5, failures: 5, failure: 'connection refused' }) };
    assert.equal((await check({}, ['liveness'])).code, 1, 'every run so far failed');
    reply = { status: 200, body: tasks({ state: 'Running', hits: 5, failures: 5, failure: 'connection refused' }) };
    assert.equal((await check({}, ['readiness'])).code, 1, 'the readiness probe has not seen the liveness probe\'s counts');
    assert.equal((await check({}, ['liveness'])).code, 0, 'no run since the liveness probe\'s last check');
    assert.deepEqual((await readdir(stateDir)).sort(), ['snap-healthcheck.liveness', 'snap-healthcheck.readiness']);
    // a task counting anew (snapteld restarted with the same task id) is judged on its own runs
    reply = { status: 200, body: tasks({ state: 'Running', hits: 2 }) };
    assert.equal((await check({}, ['liveness'])).code, 0);
    // without a writable state dir it says so and still judges every run so far
    reply = { status: 200, body: tasks({ state: 'Running', hits: 4, failures: 1, failure: 'x' }) };
    const result = await check({ SNAP_HEALTHCHECK_STATE_DIR: '/proc/no-such-dir' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /cannot save the counts in \/proc\/no-such-dir/);
  });

  it('refuses an answer that is not a task list, and a probe name that is not a word', async () => {
    reply = { status: 200, body: '<html>not json</html>' };
    let result = await check();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /answered what is not a task list/);
    reply = { status: 200, body: tasks({ state: 'Running' }) };
    result = await check({}, ['../x']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /probe name '\.\.\/x' is not a word/);
  });

  /** A PATH whose curl records its arguments (one per line) before running the real one. */
  async function recordingCurl(dir: string): Promise<{ path: string; record: string }> {
    const real = await run('sh', ['-c', 'command -v curl'], { env: { PATH: process.env.PATH } });
    const bin = path.join(dir, 'bin');
    const record = path.join(dir, 'curl-args');
    await mkdir(bin);
    await writeFile(path.join(bin, 'curl'), `#!/bin/sh\nprintf '%s\\n' "$@" >> '${record}'\nexec '${real.stdout.trim()}' "$@"\n`);
    await chmod(path.join(bin, 'curl'), 0o755);
    return { path: `${bin}:${process.env.PATH}`, record };
  }

  it('sends the password from SNAP_API_PASSWORD_FILE as basic auth (user snap), on curl\'s stdin, never its command line', async () => {
    const dir = await temp('snap-healthcheck-auth');
    const password = 'pa"ss\\word with \'quotes\' ${x} é';
    const passwordFile = path.join(dir, 'snap-api');
    await writeFile(passwordFile, `${password}\n`);
    const curl = await recordingCurl(dir);
    requiredPassword = password;
    reply = { status: 200, body: tasks({ state: 'Running' }) };
    const result = await check({ [SNAP.apiPasswordFileEnv]: passwordFile, PATH: curl.path });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /1 task\(s\) Running/);
    assert.equal(users.at(-1), SNAP.apiUser);
    const args = await readFile(curl.record, 'utf8');
    assert.match(args, /--config\n-\n/);
    for (const part of ['pa"ss', 'word with', 'quotes']) {
      assert.ok(!args.includes(part), 'the password is not on curl\'s command line');
      assert.ok(!result.stdout.includes(part) && !result.stderr.includes(part));
    }
    // a file without the trailing newline is the same password
    await writeFile(passwordFile, password);
    assert.equal((await check({ [SNAP.apiPasswordFileEnv]: passwordFile })).code, 0);
  });

  it('is unhealthy, saying so, when the REST API refuses the password (401), or requires one and none is configured', async () => {
    const dir = await temp('snap-healthcheck-auth');
    const passwordFile = path.join(dir, 'snap-api');
    await writeFile(passwordFile, 'wrong-password\n');
    requiredPassword = 'right-password';
    reply = { status: 200, body: tasks({ state: 'Running' }) };
    const wrong = await check({ [SNAP.apiPasswordFileEnv]: passwordFile });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`^snap-healthcheck: unhealthy: the REST API refused the password from ${passwordFile} \\(401 at http://127\\.0\\.0\\.1:${port}/v1/tasks\\)\n$`));
    assert.ok(!wrong.stderr.includes('wrong-password') && !wrong.stderr.includes('right-password'));
    const none = await check();
    assert.equal(none.code, 1);
    assert.match(none.stderr, /requires a password \(401\) and SNAP_API_PASSWORD_FILE is not set/);
    await writeFile(passwordFile, 'right-password\n');
    assert.equal((await check({ [SNAP.apiPasswordFileEnv]: passwordFile })).code, 0);
  });

  it('is unhealthy, naming the file, when the password file is missing, empty or more than one line', async () => {
    const dir = await temp('snap-healthcheck-auth');
    const passwordFile = path.join(dir, 'snap-api');
    reply = { status: 200, body: tasks({ state: 'Running' }) };
    let result = await check({ [SNAP.apiPasswordFileEnv]: passwordFile });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`cannot read the REST API password from ${passwordFile} \\(SNAP_API_PASSWORD_FILE\\)`));
    await writeFile(passwordFile, '');
    result = await check({ [SNAP.apiPasswordFileEnv]: passwordFile });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\(SNAP_API_PASSWORD_FILE\) is empty/);
    await writeFile(passwordFile, 'secret\nuser = "x:y"\n');
    result = await check({ [SNAP.apiPasswordFileEnv]: passwordFile });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\(SNAP_API_PASSWORD_FILE\) is not one line of text/);
    assert.ok(!result.stderr.includes('secret'));
  });

  it('is unhealthy when the API answers an error or nothing, or the port is not configured', async () => {
    reply = { status: 500, body: '{"meta":{"code":500}}' };
    const error = await check();
    assert.equal(error.code, 1);
    assert.match(error.stderr, /answered HTTP 500: \{"meta":\{"code":500\}\}\n$/);
    const closed = await check({ SNAP_API_PORT: '9' });
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /did not answer/);
    const unset = await run('sh', [SNAP_HEALTHCHECK], { env: { PATH: process.env.PATH } });
    assert.equal(unset.code, 1);
    assert.match(unset.stderr, /SNAP_API_PORT is not set/);
  });
});

describe('snap build patches', () => {
  const patches = readdirSync(imagePath('snap', 'patches')).filter((name) => name.startsWith('snap-') && name.endsWith('.sh'));

  it('there is one per fix, named after its repository', () => {
    for (const repository of ['snap-plugin-publisher-heka', 'snap-plugin-collector-disk', 'snap-plugin-collector-processes', 'snap-plugin-collector-interface', 'snap-plugin-collector-smart']) {
      assert.ok(patches.includes(`${repository}.sh`), `no patch for ${repository}`);
    }
  });

  for (const patch of patches) {
    it(`${patch} stops the build, naming what it looked for, on a source it was not written for`, async () => {
      const dir = await temp('snap-patch');
      await mkdir(path.join(dir, 'vendor'), { recursive: true });
      const result = await run('bash', [imagePath('snap', 'patches', patch)], { cwd: dir, env: { PATH: process.env.PATH } });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /^[a-z]+ patch: .+ (is missing|expected .+)$/m);
    });
  }
});

describe('hindsight entrypoint', () => {
  /** A directory laid out as the kubelet mounts a ConfigMap with items: symlinks into ..data. */
  async function configMapDir(root: string, files: Record<string, string>) {
    const versioned = path.join(root, '..2024_01_01_00_00_00.000000001');
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(versioned, file)), { recursive: true });
      await writeFile(path.join(versioned, file), content);
      await chmod(path.join(versioned, file), 0o444);
    }
    await symlink(path.basename(versioned), path.join(root, '..data'));
    const tops = new Set(Object.keys(files).map((file) => file.split('/')[0] ?? file));
    for (const top of tops) await symlink(path.join('..data', top), path.join(root, top));
  }

  it('copies run/ out of the read-only config into a clean run dir and execs hindsight on hindsight.cfg', async () => {
    const dir = await temp('hindsight-entrypoint');
    const config = path.join(dir, 'config');
    const runDir = path.join(dir, 'run');
    await mkdir(config);
    await mkdir(path.join(runDir, 'output'), { recursive: true });
    await writeFile(path.join(runDir, 'output', 'influxdb.err'), 'old failure');
    await writeFile(path.join(runDir, 'output', 'removed_plugin.cfg'), 'filename = "x.lua"');
    await configMapDir(config, {
      'hindsight.cfg': 'output_path = "/var/lib/hindsight"\n',
      'run/input/heka_tcp.cfg': 'filename = "heka_tcp.lua"\n',
      'run/output/influxdb.cfg': 'filename = "influxdb_out.lua"\n',
      'run/output/influxdb_out.lua': '-- plugin\n',
      'modules/stacklight/util.lua': 'return {}\n',
    });
    const record = path.join(dir, 'hindsight-args');
    const hindsight = await fakeProgram(dir, 'hindsight', record, 3);

    const result = await run('sh', [HINDSIGHT_ENTRYPOINT, '7'], {
      env: { PATH: process.env.PATH, HINDSIGHT_CONFIG_DIR: config, HINDSIGHT_RUN_DIR: runDir, HINDSIGHT_BIN: hindsight },
    });
    assert.equal(result.code, 3, result.stderr);
    assert.equal(await readFile(record, 'utf8'), `${path.join(config, 'hindsight.cfg')}\n7\n`);
    assert.deepEqual((await readdir(runDir)).sort(), ['analysis', 'input', 'output']);
    assert.deepEqual(await readdir(path.join(runDir, 'input')), ['heka_tcp.cfg']);
    assert.deepEqual((await readdir(path.join(runDir, 'output'))).sort(), ['influxdb.cfg', 'influxdb_out.lua']);
    const copied = await lstat(path.join(runDir, 'output', 'influxdb_out.lua'));
    assert.ok(copied.isFile() && !copied.isSymbolicLink(), 'a real file, not a link into the ConfigMap');
    assert.ok((copied.mode & 0o200) !== 0, 'writable by its owner');
    assert.equal(await readFile(path.join(runDir, 'output', 'influxdb_out.lua'), 'utf8'), '-- plugin\n');
  });

  it('fails clearly without hindsight.cfg or run/', async () => {
    const dir = await temp('hindsight-entrypoint-bad');
    await mkdir(path.join(dir, 'run'));
    const result = await run('sh', [HINDSIGHT_ENTRYPOINT], {
      env: { PATH: process.env.PATH, HINDSIGHT_CONFIG_DIR: path.join(dir, 'missing'), HINDSIGHT_RUN_DIR: path.join(dir, 'run'), HINDSIGHT_BIN: '/bin/false' },
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /hindsight\.cfg does not exist/);
  });
});

describe('hindsight healthcheck', () => {
  let dir: string;
  let runDir: string;
  let processName: string;
  let child: ChildProcess | undefined;
  before(async () => {
    dir = await temp('hindsight-health');
    runDir = path.join(dir, 'run');
    for (const type of ['input', 'analysis', 'output']) await mkdir(path.join(runDir, type), { recursive: true });
    await writeFile(path.join(runDir, 'output', 'influxdb.cfg'), 'filename = "influxdb_out.lua"\n');
    // A process whose name (comm, at most 15 characters) is unique to this test run.
    processName = `hsck${process.pid % 100000}`;
    await copyFile('/bin/sleep', path.join(dir, processName));
    await chmod(path.join(dir, processName), 0o755);
  });
  after(() => {
    child?.kill('SIGKILL');
  });

  const check = () =>
    run('sh', [HINDSIGHT_HEALTHCHECK], {
      env: { PATH: process.env.PATH, HINDSIGHT_RUN_DIR: runDir, HINDSIGHT_PROCESS_NAME: processName },
    });

  it('is unhealthy while no hindsight process runs', async () => {
    const result = await check();
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`no ${processName} process is running`));
  });

  it('is healthy while hindsight runs and no plugin was terminated', async () => {
    child = spawn(path.join(dir, processName), ['60'], { stdio: 'ignore' });
    await sleep(200);
    const result = await check();
    assert.equal(result.code, 0, result.stderr);
  });

  it('is unhealthy once a plugin left an .err file, naming the plugin and its error', async () => {
    await writeFile(path.join(runDir, 'output', 'influxdb.err'), 'process_message() influxdb_out.lua:42: attempt to index nil\n');
    const result = await check();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /output\.influxdb terminated: process_message\(\) influxdb_out\.lua:42: attempt to index nil/);
    await rm(path.join(runDir, 'output', 'influxdb.err'));
    assert.equal((await check()).code, 0);
  });
});

describe('snap build: dependencies from lock files', () => {
  const plan = async (files: Record<string, string>) => {
    const dir = await temp('fetch-deps');
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), content);
    }
    return run('bash', [FETCH_DEPS, '--plan', dir]);
  };

  it('reads glide.lock imports (not testImports) and resolves vanity import paths to repositories', async () => {
    const result = await plan({
      'glide.lock': [
        'hash: 5e20e63a305141d8725aceaa198ae9cd73f6bbfdb14c51ce7a69fc40978e3fb5',
        'updated: 2017-07-31T13:10:38.494952622-07:00',
        'imports:',
        '- name: github.com/intelsdi-x/snap-plugin-lib-go',
        '  version: 3e667d03c92e7d5247e536e4df037f6c84692229 ',
        '  subpackages:',
        '  - v1/plugin',
        '- name: github.com/Sirupsen/logrus',
        '  version: be52937128b38f1d99787bb476c789e2af1147f1',
        '- name: golang.org/x/net',
        '  version: 054b33e6527139ad5b1ec2f6232c3b175bd9a30c',
        '- name: google.golang.org/grpc',
        '  version: b8669c35455183da6d5c474ea6e72fbf55183274',
        '- name: google.golang.org/genproto',
        '  version: 40b7550fd0ba4b8f7e9d70ed40fcd4f3375db1de',
        '- name: gopkg.in/yaml.v2',
        '  version: c1cd2254a6dd314c9d73c338c12688c9325d85c6',
        '- name: go4.org',
        '  version: 034d17a462f7b2dcd1a4a73553ec5357ff6e6c6e',
        '- name: github.com/example/forked',
        '  version: 0123456789012345678901234567890123456789',
        '  repo: https://github.com/ms-stacklight/forked',
        'testImports:',
        '- name: github.com/smartystreets/goconvey',
        '  version: 9e8dc3f972df6c8fcc0375ef492c24d0bb204857',
        '',
      ].join('\n'),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        'github.com/intelsdi-x/snap-plugin-lib-go https://github.com/intelsdi-x/snap-plugin-lib-go 3e667d03c92e7d5247e536e4df037f6c84692229',
        'github.com/Sirupsen/logrus https://github.com/Sirupsen/logrus be52937128b38f1d99787bb476c789e2af1147f1',
        'golang.org/x/net https://github.com/golang/net 054b33e6527139ad5b1ec2f6232c3b175bd9a30c',
        'google.golang.org/grpc https://github.com/grpc/grpc-go b8669c35455183da6d5c474ea6e72fbf55183274',
        'google.golang.org/genproto https://github.com/googleapis/go-genproto 40b7550fd0ba4b8f7e9d70ed40fcd4f3375db1de',
        'gopkg.in/yaml.v2 https://github.com/go-yaml/yaml c1cd2254a6dd314c9d73c338c12688c9325d85c6',
        'go4.org https://github.com/go4org/go4 034d17a462f7b2dcd1a4a73553ec5357ff6e6c6e',
        'github.com/example/forked https://github.com/ms-stacklight/forked 0123456789012345678901234567890123456789',
        '',
      ].join('\n'),
    );
  });

  it('reads Godeps.json, one repository per root however many packages it lists', async () => {
    const result = await plan({
      'Godeps/Godeps.json': JSON.stringify(
        {
          ImportPath: 'github.com/intelsdi-x/snap-plugin-publisher-heka',
          GoVersion: 'go1.6',
          Deps: [
            { ImportPath: 'github.com/intelsdi-x/snap/control/plugin', Comment: 'v0.15.0-beta-98-g0b228f5', Rev: '0b228f56109f6f1d27a3f3bb9039497dbec1d6a0' },
            { ImportPath: 'github.com/intelsdi-x/snap/core/ctypes', Rev: '0b228f56109f6f1d27a3f3bb9039497dbec1d6a0' },
            { ImportPath: 'github.com/mozilla-services/heka/message', Rev: 'b0fb2c1c5ae88d05563feccae5e079da6bb91806' },
            { ImportPath: 'golang.org/x/net/http2/hpack', Rev: '154d9f9ea81208afed560f4cf27b4860c8ed1904' },
          ],
        },
        null,
        '\t',
      ),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        'github.com/intelsdi-x/snap https://github.com/intelsdi-x/snap 0b228f56109f6f1d27a3f3bb9039497dbec1d6a0',
        'github.com/mozilla-services/heka https://github.com/mozilla-services/heka b0fb2c1c5ae88d05563feccae5e079da6bb91806',
        'golang.org/x/net https://github.com/golang/net 154d9f9ea81208afed560f4cf27b4860c8ed1904',
        '',
      ].join('\n'),
    );
  });

  for (const [what, files, message] of [
    ['a project without a lock', { 'main.go': 'package main' }, /neither glide\.lock nor Godeps/],
    ['a revision that is not a full commit', { 'glide.lock': 'imports:\n- name: github.com/a/b\n  version: v1.2.0\n' }, /pinned to 'v1\.2\.0', not a full commit/],
    ['an unknown import host', { 'glide.lock': `imports:\n- name: example.org/pkg\n  version: ${'a'.repeat(40)}\n` }, /no rule for the import path example\.org\/pkg/],
    [
      'one repository pinned to two commits',
      {
        'Godeps/Godeps.json': `{"Deps": [\n{"ImportPath": "github.com/a/b/c",\n"Rev": "${'a'.repeat(40)}"},\n{"ImportPath": "github.com/a/b/d",\n"Rev": "${'b'.repeat(40)}"}\n]}`,
      },
      /github\.com\/a\/b is pinned to two commits/,
    ],
  ] as const) {
    it(`refuses ${what}`, async () => {
      const result = await plan(files);
      assert.equal(result.code, 1);
      assert.match(result.stderr, message);
    });
  }
});
