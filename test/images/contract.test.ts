/**
 * The compiled manifests and the images agree (compiler/facts.ts is the contract): every
 * container's command and probe is a file the image installs, its user is the image's USER, its
 * ports are EXPOSEd, the paths it mounts are the paths the image's scripts use, and the
 * environment the scripts require is exactly what the manifest sets. Both sides are read as
 * they ship: the objects buildStack() emits and the files under images/.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { V1Container } from '@kubernetes/client-node';
import { Keyword } from 'dockerfile-ast';
import { stack } from '../../config/stack.ts';
import type { StackConfig } from '../../compiler/config/types.ts';
import { buildStack } from '../../compiler/stack.ts';
import type { BuildInputs } from '../../compiler/inputs.ts';
import { CREDENTIALS, GRAFANA, HINDSIGHT, INFLUXDB, SNAP } from '../../compiler/facts.ts';
import { credentialFile } from '../../compiler/secrets/credentials.ts';
import { imageReference, type Manifest } from '../../compiler/kube/objects.ts';
import { METRIC_FAMILIES } from '../../compiler/collector/metrics.ts';
import { snapdConfig } from '../../compiler/collector/snap.ts';
import { hindsightCfg, influxdbOutputCfg } from '../../compiler/collector/hindsight.ts';
import { influxdbConf } from '../../compiler/influxdb/index.ts';
import {
  IMAGE_NAMES,
  argumentsOf,
  copyDestinations,
  execForm,
  exposedPorts,
  finalUser,
  flag,
  instructionsOf,
  readDockerfile,
  readScript,
  scriptVariables,
  type ImageName,
  type ParsedDockerfile,
} from './dockerfiles.ts';
import { imagePath } from './support.ts';

const INPUTS: BuildInputs = { lua: new Map([['output/influxdb_out.lua', '--']]), secrets: new Map() };

/** The scripts each image runs, by role. */
const SCRIPTS: Record<ImageName, readonly string[]> = {
  snap: ['snap/entrypoint.sh', 'snap/healthcheck.sh'],
  hindsight: ['hindsight/entrypoint.sh', 'hindsight/healthcheck.sh'],
  influxdb: ['influxdb/entrypoint.sh', 'influxdb/bootstrap.sh'],
  grafana: ['grafana/start.sh'],
};

interface PlacedContainer {
  workload: string;
  image: ImageName;
  container: V1Container;
  init: boolean;
}

function containers(objects: readonly Manifest[], config: StackConfig): PlacedContainer[] {
  const byReference = new Map(IMAGE_NAMES.map((name) => [imageReference(config.images[name]), name] as const));
  const placed: PlacedContainer[] = [];
  for (const object of objects) {
    if (object.kind !== 'DaemonSet' && object.kind !== 'Deployment') continue;
    const spec = object.spec?.template.spec;
    for (const [init, list] of [
      [true, spec?.initContainers ?? []],
      [false, spec?.containers ?? []],
    ] as const) {
      for (const container of list) {
        const image = byReference.get(container.image ?? '');
        assert.ok(image, `${object.metadata.name}/${container.name} runs ${container.image}, not one of images/`);
        // a native sidecar (restartPolicy Always) runs beside the containers: it is no init step
        placed.push({ workload: object.metadata.name, image, container, init: init && container.restartPolicy !== 'Always' });
      }
    }
  }
  return placed;
}

/** The default a script gives a variable (`NAME="${VAR:-default}"`), which must exist. */
function scriptDefault(script: string, variable: string): string {
  const found = scriptVariables(readScript(script)).get(variable);
  assert.ok(found?.defaultValue !== undefined, `${script} gives ${variable} no default`);
  return found.defaultValue;
}

/** Variables a script requires: read without a default (the manifest or the image must set them). */
function requiredVariables(image: ImageName): Set<string> {
  const required = new Set<string>();
  for (const script of SCRIPTS[image]) {
    for (const variable of scriptVariables(readScript(script)).values()) {
      if (variable.defaultValue === undefined) required.add(variable.name);
    }
  }
  return required;
}

function imageEnv(parsed: ParsedDockerfile): Set<string> {
  return new Set(
    instructionsOf(parsed.final, Keyword.ENV).flatMap((instruction) => argumentsOf(instruction).map((pair) => pair.split('=')[0] ?? '')),
  );
}

/** Minimal TOML reader for flat sections of key = value (what both influxdb configs use). */
function toml(text: string): Map<string, string> {
  const values = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = `${header[1]}.`;
      continue;
    }
    const pair = /^([\w-]+)\s*=\s*(.+)$/.exec(line);
    if (pair) values.set(`${section}${pair[1]}`, (pair[2] ?? '').replace(/^"(.*)"$/, '$1'));
  }
  return values;
}

describe('manifests and images agree', () => {
  const objects = buildStack(stack, INPUTS);
  /** The password files a container sees: the projected credentials volume it mounts at CREDENTIALS.dir, read-only. */
  const mountedCredentialFiles = (container: V1Container): string[] => {
    const mount = (container.volumeMounts ?? []).find((m) => m.mountPath === CREDENTIALS.dir);
    assert.ok(mount?.readOnly, `${container.name}: the credentials are mounted read-only at ${CREDENTIALS.dir}`);
    const volumes = objects.flatMap((o) => (o.kind === 'DaemonSet' || o.kind === 'Deployment' ? (o.spec?.template.spec?.volumes ?? []) : []));
    const volume = volumes.find((v) => v.name === mount.name && v.projected);
    return (volume?.projected?.sources ?? []).flatMap((source) => source.secret?.items?.map((item) => item.path) ?? []);
  };
  const placed = containers(objects, stack);
  const dockerfiles = new Map(IMAGE_NAMES.map((name) => [name, readDockerfile(name)] as const));
  const dockerfile = (name: ImageName) => dockerfiles.get(name) as ParsedDockerfile;

  it('every container runs one of the four images, and each image is used', () => {
    assert.deepEqual(new Set(placed.map((entry) => entry.image)), new Set(IMAGE_NAMES));
  });

  for (const { workload, image, container, init } of placed) {
    const name = `${workload}/${container.name}${init ? ' (init)' : ''} [images/${image}]`;
    const parsed = dockerfile(image);
    const installed = new Set(copyDestinations(parsed.final));

    it(`${name}: command and probes are files the image installs, executable`, () => {
      const commands = [
        container.command?.[0],
        container.livenessProbe?.exec?.command?.[0],
        container.readinessProbe?.exec?.command?.[0],
      ].filter((command): command is string => command !== undefined);
      for (const command of commands) {
        if (!command.startsWith('/')) {
          // A plain program (chown in the volume-owner init container) comes from the base image.
          assert.match(parsed.final.image, /^debian:/, `${command} needs a Debian base with coreutils`);
          continue;
        }
        assert.ok(installed.has(command), `${command} is not installed by images/${image}/Dockerfile`);
        const copy = instructionsOf(parsed.final, Keyword.COPY).find((instruction) => argumentsOf(instruction).at(-1) === command);
        assert.equal(copy && flag(copy, 'chmod'), '0755', `${command} is not made executable`);
      }
      // The image's own ENTRYPOINT is installed too, and is the manifest's command when it sets one.
      const entrypoint = instructionsOf(parsed.final, Keyword.ENTRYPOINT).at(-1);
      assert.ok(entrypoint, `images/${image} has no ENTRYPOINT`);
      const [program] = execForm(entrypoint);
      assert.ok(program && installed.has(program), `the image's ENTRYPOINT ${program} is not installed`);
      if (container.command && !init) assert.equal(container.command[0], program, 'the manifest runs what the image would');
    });

    if (!init) {
      it(`${name}: runs as the image's user`, () => {
        const user = Number.parseInt(finalUser(parsed)?.split(':')[0] ?? '', 10);
        const facts = { snap: SNAP.user, hindsight: HINDSIGHT.user, influxdb: INFLUXDB.user, grafana: GRAFANA.user }[image];
        assert.equal(user, facts, `images/${image} runs as ${user}, compiler/facts.ts says ${facts}`);
        const runAs = container.securityContext?.runAsUser;
        if (image === 'snap' && runAs === 0) {
          // Root only with exactly the capability the collected families need.
          assert.deepEqual(container.securityContext?.capabilities?.add, ['SYS_PTRACE']);
        } else {
          assert.equal(runAs, user);
        }
      });

      it(`${name}: every container port is EXPOSEd by the image`, () => {
        for (const port of container.ports ?? []) assert.ok(exposedPorts(parsed).includes(port.containerPort), `${port.containerPort}`);
      });

      it(`${name}: the environment the image's scripts require is set, and nothing of ours is set that no one reads`, () => {
        const set = new Set((container.env ?? []).map((variable) => variable.name));
        for (const variable of requiredVariables(image)) {
          assert.ok(set.has(variable) || imageEnv(parsed).has(variable), `the scripts of images/${image} require ${variable}`);
        }
        if (image === 'influxdb') {
          assert.deepEqual(set, requiredVariables('influxdb'), 'the manifest sets exactly what the bootstrap reads');
          assert.deepEqual(set, new Set(Object.values(INFLUXDB.env)));
        }
        if (image === 'snap') {
          const snapVariables = [SNAP.nodeNameEnv, SNAP.apiPortEnv, SNAP.configTemplateEnv, SNAP.configFileEnv, SNAP.apiPasswordFileEnv];
          assert.deepEqual(set, new Set(snapVariables));
          assert.equal(container.env?.find((variable) => variable.name === SNAP.apiPasswordFileEnv)?.value, credentialFile('snapApi'));
          assert.deepEqual(mountedCredentialFiles(container), [path.basename(credentialFile('snapApi'))]);
        }
        // No password in the environment: the plugin reads it from the mounted Secret (password_file).
        if (image === 'hindsight') {
          assert.deepEqual(set, new Set());
          assert.deepEqual(mountedCredentialFiles(container), [path.basename(credentialFile('influxdbWriter'))]);
          assert.equal(influxdbOutputCfg(stack).password_file, credentialFile('influxdbWriter'));
        }
      });
    }
  }

  it('snap: the mounts are where the entrypoint and the daemon look', () => {
    const snap = placed.find((entry) => entry.image === 'snap' && !entry.init)?.container;
    assert.ok(snap);
    const mounts = new Map((snap.volumeMounts ?? []).map((mount) => [mount.mountPath, mount]));
    assert.equal(scriptDefault('snap/entrypoint.sh', 'SNAP_TASK_DIR'), SNAP.taskDir);
    assert.equal(scriptDefault('snap/entrypoint.sh', 'SNAP_TASK_TEMPLATE_DIR'), SNAP.taskTemplateDir);
    assert.ok(mounts.get(SNAP.taskDir) && !mounts.get(SNAP.taskDir)?.readOnly, 'the task dir is a writable mount');
    assert.ok([...mounts.keys()].some((mountPath) => mountPath.startsWith(`${SNAP.taskTemplateDir}/`)), 'a template is mounted into the template dir');
    // the compiled config is the template; snapteld reads what the entrypoint renders from it, in memory
    assert.ok(mounts.get(SNAP.configTemplate)?.readOnly, 'the config template is mounted read-only');
    assert.ok(mounts.get(SNAP.configDir) && !mounts.get(SNAP.configDir)?.readOnly, 'the rendered config has a writable mount');
    assert.ok(path.dirname(SNAP.configFile) === SNAP.configDir);
    assert.equal(scriptDefault('snap/entrypoint.sh', SNAP.configTemplateEnv), SNAP.configTemplate);
    assert.equal(scriptDefault('snap/entrypoint.sh', SNAP.configFileEnv), SNAP.configFile);
    assert.deepEqual(snap.args, ['--config', SNAP.configFile]);
    assert.deepEqual(execForm(instructionsOf(dockerfile('snap').final, Keyword.CMD).at(-1) as never), ['--config', SNAP.configFile]);
    assert.ok(readScript('snap/entrypoint.sh').includes(`PLACEHOLDER='${SNAP.nodeNamePlaceholder}'`));
    assert.ok(readScript('snap/entrypoint.sh').includes(`\${${SNAP.nodeNameEnv}:-}`));
    assert.ok(readScript('snap/healthcheck.sh').includes(`\${${SNAP.apiPortEnv}:-}`));
    assert.equal(scriptDefault('snap/healthcheck.sh', 'SNAP_API_HOST'), snapdConfig(stack.collector).restapi.addr);
  });

  it('snap: the image builds every plugin the config can collect with, into the plugin dir snapteld discovers', () => {
    const text = dockerfile('snap').text;
    for (const family of Object.values(METRIC_FAMILIES)) {
      assert.match(text, new RegExp(`snap-build plugin ${family.plugin} "\\$\\{\\w+_COMMIT\\}"`), `${family.plugin} is not built`);
    }
    assert.match(text, /snap-build plugin snap-plugin-publisher-heka /);
    assert.ok(copyDestinations(dockerfile('snap').final).includes(`${SNAP.pluginDir}/`));
    assert.deepEqual(snapdConfig(stack.collector).control.auto_discover_path.split(':'), [SNAP.pluginDir, SNAP.taskDir]);
    assert.match(text, /apt-snapshot\.sh[^\n]*util-linux/, 'lscpu for the load plugin');
    assert.match(text, /apt-snapshot\.sh[^\n]* curl jq /, 'curl and jq for the healthcheck');
  });

  it('hindsight: the mounts are where the entrypoint, the healthcheck and hindsight.cfg look', () => {
    const hindsight = placed.find((entry) => entry.image === 'hindsight' && !entry.init)?.container;
    assert.ok(hindsight);
    const mounts = new Map((hindsight.volumeMounts ?? []).map((mount) => [mount.mountPath, mount]));
    assert.equal(scriptDefault('hindsight/entrypoint.sh', 'HINDSIGHT_CONFIG_DIR'), HINDSIGHT.configDir);
    assert.equal(scriptDefault('hindsight/entrypoint.sh', 'HINDSIGHT_RUN_DIR'), HINDSIGHT.runDir);
    assert.equal(scriptDefault('hindsight/healthcheck.sh', 'HINDSIGHT_RUN_DIR'), HINDSIGHT.runDir);
    assert.ok(mounts.get(HINDSIGHT.configDir)?.readOnly);
    assert.ok(mounts.get(HINDSIGHT.runDir) && !mounts.get(HINDSIGHT.runDir)?.readOnly);
    assert.ok(mounts.get(HINDSIGHT.outputDir) && !mounts.get(HINDSIGHT.outputDir)?.readOnly);
    const cfg = hindsightCfg(stack);
    assert.equal(cfg.sandbox_run_path, HINDSIGHT.runDir);
    assert.equal(cfg.output_path, HINDSIGHT.outputDir);
    assert.equal(cfg.sandbox_install_path, HINDSIGHT.installDir);
    // The init container hands the state volume to the image's user.
    const init = placed.find((entry) => entry.image === 'hindsight' && entry.init)?.container;
    assert.deepEqual(init?.command, ['chown', `${HINDSIGHT.user}:${HINDSIGHT.user}`, HINDSIGHT.outputDir]);
  });

  it('hindsight: a native sidecar started before Snap, which starts once the Heka input listens, and stopped after it', () => {
    const pod = objects.find((object) => object.kind === 'DaemonSet')?.spec?.template.spec;
    const initNames = (pod?.initContainers ?? []).map((container) => container.name);
    const hindsight = pod?.initContainers?.find((container) => container.name === 'hindsight');
    assert.equal(hindsight?.restartPolicy, 'Always');
    assert.deepEqual(initNames.at(-1), 'hindsight', 'after the volume owner init, last before the containers');
    assert.deepEqual(hindsight?.startupProbe?.tcpSocket, { host: '127.0.0.1', port: stack.collector.hekaPort });
    assert.deepEqual((pod?.containers ?? []).map((container) => container.name), ['snap']);
  });

  it('hindsight: the build installs heka_tcp.lua and the modules where hindsight.cfg points', () => {
    const build = readScript('hindsight/build.sh');
    assert.ok(build.includes(`${HINDSIGHT.installDir.slice(1)}/input/heka_tcp.lua`), 'heka_tcp.lua under the install path');
    for (const module of ['cjson.so', 'socket.lua', 'socket/core.so', 'heka/util.lua']) {
      assert.ok(build.includes(`${HINDSIGHT.moduleDir.slice(1)}/${module}`), `${module} in the module dir`);
    }
    const cfg = hindsightCfg(stack);
    assert.ok(cfg.io_lua_cpath.split(';').includes(`${HINDSIGHT.moduleDir}/?.so`));
    assert.ok(cfg.io_lua_path.split(';').includes(`${HINDSIGHT.moduleDir}/?.lua`));
  });

  it('influxdb: the config file and data dir are where the image and its entrypoint look', () => {
    const influxdb = placed.find((entry) => entry.image === 'influxdb' && !entry.init)?.container;
    assert.ok(influxdb);
    const mounts = new Map((influxdb.volumeMounts ?? []).map((mount) => [mount.mountPath, mount]));
    assert.equal(scriptDefault('influxdb/entrypoint.sh', 'INFLUXDB_CONFIG_PATH'), INFLUXDB.configFile);
    assert.ok(mounts.get(INFLUXDB.configFile)?.readOnly);
    assert.ok(mounts.get(INFLUXDB.dataDir) && !mounts.get(INFLUXDB.dataDir)?.readOnly);
    assert.ok(copyDestinations(dockerfile('influxdb').final).includes(INFLUXDB.configFile));
    assert.equal(scriptDefault('influxdb/bootstrap.sh', 'INFLUXDB_BOOTSTRAP_URL'), `http://127.0.0.1:${INFLUXDB.port}`);
    assert.equal(scriptDefault('influxdb/entrypoint.sh', 'INFLUXDB_BOOTSTRAP_URL'), `http://127.0.0.1:${INFLUXDB.port}`);

    // The image's default config and the compiled one agree on everything the image relies on.
    const image = toml(readFileSync(imagePath('influxdb', 'influxdb.conf'), 'utf8'));
    const compiled = toml(influxdbConf());
    for (const key of ['meta.dir', 'data.dir', 'data.wal-dir', 'http.bind-address', 'http.auth-enabled', 'http.enabled', 'bind-address']) {
      assert.equal(image.get(key), compiled.get(key), key);
    }
    assert.equal(compiled.get('http.auth-enabled'), 'true');
    assert.equal(compiled.get('http.bind-address'), `:${INFLUXDB.port}`);
    for (const key of ['meta.dir', 'data.dir', 'data.wal-dir']) assert.ok(compiled.get(key)?.startsWith(`${INFLUXDB.dataDir}/`), key);
  });

  it('grafana: the data and provisioning paths the manifest mounts are the ones Grafana is told to use', () => {
    const grafana = placed.find((entry) => entry.image === 'grafana')?.container;
    assert.ok(grafana);
    const env = new Map((grafana.env ?? []).map((variable) => [variable.name, variable.value]));
    assert.equal(env.get('GF_PATHS_DATA'), GRAFANA.dataDir);
    assert.equal(env.get('GF_PATHS_PROVISIONING'), GRAFANA.provisioningDir);
    const mounts = (grafana.volumeMounts ?? []).map((mount) => mount.mountPath);
    assert.ok(mounts.includes(GRAFANA.dataDir));
    assert.ok(mounts.some((mountPath) => mountPath === GRAFANA.provisioningDir || mountPath.startsWith(`${GRAFANA.provisioningDir}/`)));
    assert.equal(grafana.command?.[0], GRAFANA.entrypoint);
    assert.deepEqual(exposedPorts(dockerfile('grafana')), [GRAFANA.port]);
  });

  it('the checks catch a disagreement (a moved entrypoint, another user, an unexposed port)', () => {
    const parsed = dockerfile('snap');
    assert.ok(!copyDestinations(parsed.final).includes('/usr/bin/snap-entrypoint'));
    assert.notEqual(Number.parseInt(finalUser(dockerfile('hindsight'))?.split(':')[0] ?? '', 10), INFLUXDB.user);
    assert.ok(!exposedPorts(dockerfile('influxdb')).includes(INFLUXDB.port + 1));
    const renamed = new Set(requiredVariables('influxdb'));
    renamed.delete(INFLUXDB.env.readerPasswordFile);
    assert.notDeepEqual(renamed, new Set(Object.values(INFLUXDB.env)));
  });
});
