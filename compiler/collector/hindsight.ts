/**
 * Hindsight's files: hindsight.cfg, the heka_tcp input's cfg, the InfluxDB output's cfg, and
 * the Lua files from lua/. The output cfg's keys are the contract with the output plugin
 * (lua/output/influxdb_out.lua, which reads them through lua/modules/stacklight/influxdb_config.lua)
 * and are defined here only (InfluxdbOutputCfg).
 */
import type { Precision, StackConfig } from '../config/types.ts';
import { durationSeconds } from '../config/duration.ts';
import { HINDSIGHT } from '../facts.ts';
import { GENERATED_LUA_HEADER, luaAssignments } from '../render/lua.ts';
import { influxdbUrl } from '../influxdb/endpoint.ts';
import { credentialFile } from '../secrets/credentials.ts';
import { byCodeUnit } from '../render/order.ts';

/** Bind the Heka input to loopback: the pod shares the node's network and Snap is local. */
export const HEKA_INPUT_ADDRESS = '127.0.0.1';

/** The message types the output writes: Snap's metrics, and metrics of our analysis plugins. */
export const OUTPUT_MESSAGE_MATCHER = "Type == 'snap.heka' || Type == 'stacklight.metric'";

/** Plugin names: a cfg's name is the plugin's name (`output.influxdb`). */
export const PLUGINS = {
  input: { name: 'heka_tcp', filename: 'heka_tcp.lua' },
  output: { name: 'influxdb', filename: 'influxdb_out.lua' },
} as const;

/**
 * Every key the output plugin reads with read_config() from its own cfg (the reads are in
 * lua/modules/stacklight/influxdb_config.lua, called once at load). It also reads
 * memory_limit, which Hindsight adds to every output's runtime cfg from output_defaults
 * (hindsightCfg).
 */
export interface InfluxdbOutputCfg {
  filename: string;
  message_matcher: string;
  /** Seconds between timer_event calls: the batch's flush interval. */
  ticker_interval: number;
  /** Base URL of InfluxDB, without a trailing slash. */
  influxdb_url: string;
  database: string;
  retention_policy: string;
  /** The write-only user; its password is read from the file below (a mounted Secret). */
  username: string;
  password_file: string;
  precision: Precision;
  batch_max_points: number;
  batch_max_bytes: number;
  /** Seconds one socket operation of a write may take. */
  timeout: number;
  /** Longest wait, in seconds, between retries of a failed write. */
  max_retry_backoff: number;
  static_tags: Readonly<Record<string, string>>;
  excluded_tags: readonly string[];
}

export function influxdbOutputCfg(config: StackConfig): InfluxdbOutputCfg {
  const { output } = config.hindsight;
  return {
    filename: PLUGINS.output.filename,
    message_matcher: OUTPUT_MESSAGE_MATCHER,
    ticker_interval: durationSeconds(output.flushInterval),
    influxdb_url: influxdbUrl(config),
    database: config.influxdb.database,
    retention_policy: config.influxdb.retentionPolicy,
    username: config.credentials.influxdbWriter.username,
    password_file: credentialFile('influxdbWriter'),
    precision: output.precision,
    batch_max_points: output.batchMaxPoints,
    batch_max_bytes: output.batchMaxBytes,
    timeout: durationSeconds(output.timeout),
    max_retry_backoff: durationSeconds(output.maxRetryBackoff),
    static_tags: output.staticTags,
    excluded_tags: output.excludedTags,
  };
}

export function hekaTcpInputCfg(config: StackConfig) {
  return {
    filename: PLUGINS.input.filename,
    address: HEKA_INPUT_ADDRESS,
    port: config.collector.hekaPort,
    // heka_tcp.lua never returns from process_message: it must not be instruction-limited.
    instruction_limit: 0,
  };
}

/** Hindsight's own limit on a message, which no sandbox's output_limit may exceed. */
const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024;

export function hindsightCfg(config: StackConfig) {
  const { limits } = config.hindsight;
  return {
    max_message_size: Math.max(DEFAULT_MAX_MESSAGE_SIZE, limits.outputLimit),
    output_path: HINDSIGHT.outputDir,
    output_size: config.hindsight.queueFileSize,
    sandbox_load_path: '',
    sandbox_run_path: HINDSIGHT.runDir,
    sandbox_install_path: HINDSIGHT.installDir,
    analysis_threads: 1,
    // Inputs and outputs may use LuaSocket (io_modules); analysis sandboxes get the plain modules only.
    io_lua_path: `${HINDSIGHT.projectModuleDir}/?.lua;${HINDSIGHT.moduleDir}/?.lua;${HINDSIGHT.plainModuleDir}/?.lua`,
    io_lua_cpath: `${HINDSIGHT.moduleDir}/?.so;${HINDSIGHT.plainModuleDir}/?.so`,
    analysis_lua_path: `${HINDSIGHT.projectModuleDir}/?.lua;${HINDSIGHT.plainModuleDir}/?.lua`,
    analysis_lua_cpath: `${HINDSIGHT.plainModuleDir}/?.so`,
    // Hindsight 0.16 refuses a cfg without these three tables. Each plugin of the type starts
    // from them; Hindsight hands the result to the plugin in its runtime cfg.
    input_defaults: {},
    analysis_defaults: {},
    output_defaults: { output_limit: limits.outputLimit, memory_limit: limits.memoryLimit, instruction_limit: limits.instructionLimit },
  };
}

/** One file of the Hindsight ConfigMap: its key, and its path under HINDSIGHT.configDir. */
export interface ConfigFile {
  key: string;
  path: string;
  content: string;
}

/** Lua files from lua/: plugins go to the run directory of their type, modules to the module path. */
function luaConfigFile(relativePath: string, content: string): ConfigFile {
  const [root, ...rest] = relativePath.split('/');
  const path = root === 'modules' ? `modules/${rest.join('/')}` : `run/${relativePath}`;
  return { key: relativePath.replaceAll('/', '.'), path, content };
}

export function hindsightFiles(config: StackConfig, lua: ReadonlyMap<string, string>): ConfigFile[] {
  const render = (values: object) => luaAssignments(GENERATED_LUA_HEADER, values);
  return [
    { key: 'hindsight.cfg', path: 'hindsight.cfg', content: render(hindsightCfg(config)) },
    { key: `${PLUGINS.input.name}.cfg`, path: `run/input/${PLUGINS.input.name}.cfg`, content: render(hekaTcpInputCfg(config)) },
    { key: `${PLUGINS.output.name}.cfg`, path: `run/output/${PLUGINS.output.name}.cfg`, content: render(influxdbOutputCfg(config)) },
    ...[...lua.entries()].sort(([a], [b]) => byCodeUnit(a, b)).map(([path, content]) => luaConfigFile(path, content)),
  ];
}

/**
 * The output plugin's self-monitoring points, written in a request of their own at every
 * timer_event (every ticker_interval) while InfluxDB accepts writes (documented in
 * lua/output/influxdb_out.lua); the "Pipeline health" dashboard reads them. Counters are
 * cumulative since the plugin started. The pipeline test checks these names against what the
 * plugin really writes.
 */
export const SELF_MONITORING = {
  measurement: 'hindsight_output',
  counters: {
    messagesBatched: 'messages_batched',
    pointsWritten: 'points_written',
    pointsDropped: 'points_dropped',
    requests: 'requests',
    requestFailures: 'request_failures',
    retries: 'retries',
    authFailures: 'auth_failures',
    typeConflicts: 'type_conflicts',
  },
  gauges: {
    batchLatencyMs: 'batch_latency_ms',
    backlogPoints: 'backlog_points',
    backoffSeconds: 'backoff_seconds',
    lastStatus: 'last_status',
    lastError: 'last_error',
  },
  dropped: { measurement: 'hindsight_output_dropped', reasonTag: 'reason', field: 'points' },
  /** Tags on every self-monitoring point: Hindsight's host (the node, with hostNetwork) and the plugin. */
  tags: { host: 'hostname', plugin: 'plugin' },
} as const;
