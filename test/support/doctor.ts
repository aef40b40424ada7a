/**
 * `npm run doctor`: checks that this machine has everything the tests load or spawn, and prints
 * one line per missing piece with the command that installs it. `npm test` runs it first, so a
 * missing dependency stops the run at once with a clear message instead of a stack trace in the
 * middle of the suite; `npm run setup` runs it last.
 *
 * REQUIREMENTS is the one list of the tests' machine dependencies: `.ci/setup` installs the
 * Debian packages it names (`--debian-packages` prints them) and `npm run tools` the pinned Go
 * tools. The Lua modules are the ones the test stage offers plugins as lua_sandbox_extensions
 * does (HOST_MODULES in hindsight-stage/lib/sandbox.lua; doctor.test.ts holds the two lists equal).
 *
 *   node --import tsx test/support/doctor.ts                     # check; exit 1 if anything is missing
 *   node --import tsx test/support/doctor.ts --debian-packages   # the Debian packages, one line
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { findPinned, TOOLS, type ToolName } from '../../compiler/tools.ts';
import { CC, LUA_INCLUDE } from './heka-native.ts';
import { onPath } from './on-path.ts';
import { INFLUXD } from './influxdb.ts';
import { REDIS_SERVER } from './argocd.ts';
import { CLUSTER_BUILD_COMMAND, clusterBuild, ETCD } from './cluster.ts';

const run = promisify(execFile);

/** What a check found: nothing (present) or why the piece counts as missing. */
type Finding = string | undefined;

export interface Requirement {
  /** What is needed and what for, as printed. */
  what: string;
  /** The command that installs it. */
  install: string;
  /** The Debian package that provides it, for `.ci/setup`. */
  debian?: string;
  check(): Promise<Finding>;
}

/** The Lua modules the stage offers plugins, each with the Debian package that provides it. */
export const LUA_MODULES: Readonly<Record<string, string>> = {
  socket: 'lua-socket', 'socket.core': 'lua-socket', 'socket.http': 'lua-socket', 'socket.url': 'lua-socket',
  'socket.headers': 'lua-socket', 'socket.tp': 'lua-socket', 'socket.ftp': 'lua-socket', 'socket.smtp': 'lua-socket',
  ltn12: 'lua-socket', mime: 'lua-socket', 'mime.core': 'lua-socket',
  cjson: 'lua-cjson', 'cjson.safe': 'lua-cjson',
  lpeg: 'lua-lpeg',
  lfs: 'lua-filesystem',
};

const LUA = 'lua5.1';
const apt = (pkg: string) => `apt-get install ${pkg}`;

async function runs(command: string, args: string[]): Promise<Finding> {
  try {
    await run(command, args, { timeout: 20_000 });
    return undefined;
  } catch (error) {
    const { code, stderr } = error as { code?: unknown; stderr?: string };
    if (code === 'ENOENT') return `${command} not found`;
    return `${command} ${args.join(' ')} failed: ${(stderr ?? String(error)).trim().split('\n')[0]}`;
  }
}

const fileExists = async (file: string): Promise<Finding> => {
  try {
    accessSync(file, constants.R_OK);
    return undefined;
  } catch {
    return `${file} not found`;
  }
};

const commandOnPath = async (name: string): Promise<Finding> => (onPath(name) ? undefined : `${name} not on PATH`);

/**
 * Loads every module in one lua5.1 process (a process per module would cost a second); the
 * answer for each module is shared by the requirements that ask.
 */
let luaModuleProbe: Promise<Map<string, Finding>> | undefined;
function probeLuaModules(): Promise<Map<string, Finding>> {
  luaModuleProbe ??= (async () => {
    const names = [...Object.keys(LUA_MODULES), 'busted.runner'];
    // lua5.1 takes what follows `-e chunk` as a script to run, so the names go in the chunk
    const script = `for _, name in ipairs({${names.map((name) => JSON.stringify(name)).join(', ')}}) do
      local ok, err = pcall(require, name)
      io.write(name, "\\t", ok and "" or (tostring(err):match("^[^\\n]*"):gsub(":$", "")), "\\n")
    end`;
    const found = new Map<string, Finding>();
    const failure = await run(LUA, ['-e', script], { timeout: 20_000 }).then(
      ({ stdout }) => {
        for (const line of stdout.split('\n').filter(Boolean)) {
          const [name = '', error = ''] = line.split('\t');
          found.set(name, error || undefined);
        }
        return undefined;
      },
      (error: { code?: unknown; stderr?: string }) => (error.code === 'ENOENT' ? `${LUA} not found` : `${LUA} failed: ${error.stderr?.trim().split('\n')[0]}`),
    );
    for (const name of names) if (!found.has(name)) found.set(name, `not loaded: ${failure ?? `${LUA} said nothing about it`}`);
    return found;
  })();
  return luaModuleProbe;
}

const luaModuleLoads = (name: string) => async (): Promise<Finding> => (await probeLuaModules()).get(name) ?? undefined;

function debianRequirement(what: string, pkg: string, check: () => Promise<Finding>): Requirement {
  return { what, install: apt(pkg), debian: pkg, check };
}

function luaModuleRequirements(): Requirement[] {
  return Object.entries(LUA_MODULES).map(([name, pkg]) =>
    debianRequirement(`Lua module ${name} (the test stage offers it to plugins)`, pkg, luaModuleLoads(name)));
}

function pinnedToolRequirement(name: ToolName): Requirement {
  return {
    what: `${name} ${TOOLS[name].version} (pinned in compiler/tools.ts)`,
    install: 'npm run tools',
    check: async () => ((await findPinned(name)) ? undefined : `no ${name} reporting ${TOOLS[name].version} in .tools/bin or on PATH`),
  };
}

export const REQUIREMENTS: readonly Requirement[] = [
  debianRequirement('lua5.1 (the test stage, the busted specs, the benchmarks)', 'lua5.1', () => runs(LUA, ['-v'])),
  ...luaModuleRequirements(),
  debianRequirement('busted (the Lua specs in test/lua/)', 'lua-busted', async () => (await commandOnPath('busted')) ?? (await luaModuleLoads('busted.runner')())),
  debianRequirement('luacheck (the Lua linter, test/lua/luacheck.test.ts)', 'lua-check', () => commandOnPath('luacheck')),
  debianRequirement(`influxd (the real InfluxDB the pipeline tests write to, ${INFLUXD})`, 'influxdb', () => runs(INFLUXD, ['version'])),
  debianRequirement(`a C compiler (${CC}) for the stage's Heka decoder`, 'gcc', () => runs(CC, ['--version'])),
  debianRequirement('the C library headers for the stage\'s Heka decoder', 'libc6-dev', () => fileExists('/usr/include/string.h')),
  debianRequirement('the Lua 5.1 headers for the stage\'s Heka decoder', 'liblua5.1-0-dev', () => fileExists(path.join(LUA_INCLUDE, 'lua.h'))),
  debianRequirement('shellcheck (the image and Grafana scripts)', 'shellcheck', () => commandOnPath('shellcheck')),
  debianRequirement('curl (the images\' scripts under test)', 'curl', () => commandOnPath('curl')),
  debianRequirement('jq (the Snap healthcheck under test)', 'jq', () => commandOnPath('jq')),
  debianRequirement('git (npm run diff, the GitOps tests)', 'git', () => commandOnPath('git')),
  debianRequirement('tar (npm run diff, the tools tests)', 'tar', () => commandOnPath('tar')),
  debianRequirement('the DejaVu fonts (npm run preview draws the panels with them)', 'fonts-dejavu-core', () => fileExists('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')),
  debianRequirement(`etcd (the local control plane's store, ${ETCD})`, 'etcd-server', () => runs(ETCD, ['--version'])),
  debianRequirement('openssl (the local control plane\'s certificates)', 'openssl', () => commandOnPath('openssl')),
  debianRequirement(`redis-server (Argo CD's cache in the GitOps tests, ${REDIS_SERVER})`, 'redis-server', () => runs(REDIS_SERVER, ['--version'])),
  ...(Object.keys(TOOLS) as ToolName[]).map(pinnedToolRequirement),
  {
    what: 'kube-apiserver, kube-controller-manager, the Flux controllers and Argo CD (test/cluster/modules)',
    install: CLUSTER_BUILD_COMMAND,
    check: async () => (clusterBuild() ? undefined : 'not built for the current test/cluster/modules'),
  },
];

/** The Debian packages the requirements name, each once, in order. */
export function debianPackages(requirements: readonly Requirement[] = REQUIREMENTS): string[] {
  return [...new Set(requirements.flatMap((requirement) => (requirement.debian ? [requirement.debian] : [])))];
}

export interface Missing {
  requirement: Requirement;
  finding: string;
}

export async function findMissing(requirements: readonly Requirement[] = REQUIREMENTS): Promise<Missing[]> {
  const findings = await Promise.all(requirements.map((requirement) => requirement.check()));
  return requirements.flatMap((requirement, i) => {
    const finding = findings[i];
    return finding === undefined ? [] : [{ requirement, finding }];
  });
}

/** One line per missing piece: what, why it counts as missing, and the command that installs it. */
export function report(missing: readonly Missing[], checked: number): string[] {
  if (missing.length === 0) return [`doctor: all ${checked} test dependencies present`];
  return [
    ...missing.map(({ requirement, finding }) => `doctor: missing ${requirement.what}: ${finding}; install: ${requirement.install}`),
    `doctor: ${missing.length} of ${checked} test dependencies missing; \`npm run setup\` installs them all`,
  ];
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--debian-packages')) {
    console.log(debianPackages().join(' '));
    return 0;
  }
  const missing = await findMissing();
  const lines = report(missing, REQUIREMENTS.length);
  (missing.length ? console.error : console.log)(lines.join('\n'));
  return missing.length ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
