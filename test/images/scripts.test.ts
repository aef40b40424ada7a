/**
 * The images' small scripts run here, without Docker: the Snap entrypoint with a fake daemon on
 * the compiler's real task template, the Snap healthcheck against a loopback HTTP server playing
 * snapteld's API, the Hindsight entrypoint on a ConfigMap-shaped directory, the Hindsight
 * healthcheck with and without a terminated plugin and a running process, and the dependency
 * plan of the Snap build's lock-file reader.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { stack } from '../../config/stack.ts';
import { buildStack } from '../../compiler/stack.ts';
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

function compiledTaskTemplate(): string {
  const objects = buildStack(stack, { lua: new Map([['output/influxdb_out.lua', '--']]), secrets: new Map() });
  const snapConfig = objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === 'snap-config');
  assert.ok(snapConfig?.kind === 'ConfigMap' && snapConfig.data?.['task.yaml']);
  return snapConfig.data['task.yaml'];
}

describe('snap entrypoint', () => {
  async function setup() {
    const dir = await temp('snap-entrypoint');
    const templates = path.join(dir, 'templates');
    const tasks = path.join(dir, 'tasks');
    await mkdir(templates);
    await mkdir(tasks);
    const record = path.join(dir, 'daemon-args');
    const daemon = await fakeProgram(dir, 'snapteld', record, 7);
    const env = { PATH: process.env.PATH, SNAP_TASK_TEMPLATE_DIR: templates, SNAP_TASK_DIR: tasks, SNAP_DAEMON: daemon };
    return { dir, templates, tasks, record, env };
  }

  it('renders the compiled task for the node and execs the daemon with the container arguments', async () => {
    const { templates, tasks, record, env } = await setup();
    const template = compiledTaskTemplate();
    assert.ok(template.includes(SNAP.nodeNamePlaceholder), 'the compiled template carries the placeholder');
    await writeFile(path.join(templates, 'task.yaml'), template);
    await writeFile(path.join(templates, 'README'), 'not a task');
    await writeFile(path.join(tasks, 'stale.yaml'), 'version: 1\n');

    const result = await run('sh', [SNAP_ENTRYPOINT, '--config', '/etc/snap/snapd.yaml'], { env: { ...env, [SNAP.nodeNameEnv]: 'worker-1.example' } });
    assert.equal(result.code, 7, 'the daemon is exec\'d: its exit status is the container\'s');
    assert.equal(await readFile(record, 'utf8'), '--config\n/etc/snap/snapd.yaml\n');
    assert.deepEqual(await readdir(tasks), ['task.yaml']);
    const rendered = await readFile(path.join(tasks, 'task.yaml'), 'utf8');
    assert.equal(rendered, template.replaceAll(SNAP.nodeNamePlaceholder, 'worker-1.example'));
    assert.ok(!rendered.includes('${'));
    const task = parseYaml(rendered) as { workflow: { collect: { tags: Record<string, Record<string, string>> } } };
    for (const tags of Object.values(task.workflow.collect.tags)) assert.equal(tags[SNAP.nodeTag], 'worker-1.example');
    assert.match(result.stderr, /skipping README/);
  });

  it('replaces every placeholder literally, in .yml and .json templates too', async () => {
    const { templates, tasks, env } = await setup();
    await writeFile(path.join(templates, 'a.yml'), 'a: ${NODE_NAME}-${NODE_NAME}\nb: $NODE_NAME ${NODE_NAMEX}\n');
    await writeFile(path.join(templates, 'b.json'), '{"tags":{"/intel":{"hostname":"${NODE_NAME}"}}}\n');
    const result = await run('sh', [SNAP_ENTRYPOINT], { env: { ...env, NODE_NAME: 'n.1' } });
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
      const { templates, record, env } = await setup();
      await writeFile(path.join(templates, 'task.yaml'), 'hostname: ${NODE_NAME}\n');
      const result = await run('sh', [SNAP_ENTRYPOINT], { env: nodeName === undefined ? env : { ...env, NODE_NAME: nodeName } });
      assert.equal(result.code, 1);
      assert.match(result.stderr, message);
      await assert.rejects(readFile(record, 'utf8'), 'the daemon must not run');
    });
  }

  it('fails when there is no template', async () => {
    const { env, record } = await setup();
    const result = await run('sh', [SNAP_ENTRYPOINT], { env: { ...env, NODE_NAME: 'n1' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no task template/);
    await assert.rejects(readFile(record, 'utf8'));
  });
});

describe('snap healthcheck', () => {
  let server: Server;
  let port = 0;
  let reply: { status: number; body: string } = { status: 200, body: '' };
  const requests: string[] = [];
  before(async () => {
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
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

  it('is unhealthy when the API answers an error or nothing, or the port is not configured', async () => {
    reply = { status: 500, body: '{"meta":{"code":500}}' };
    assert.equal((await check()).code, 1);
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
