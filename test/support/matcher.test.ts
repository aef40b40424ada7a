/**
 * The stage's message_matcher (hindsight-stage/lib/matcher.lua), against lua_sandbox's grammar
 * and evaluation rules, on messages built by the mock Snap publisher.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OUTPUT_MESSAGE_MATCHER } from '../../compiler/collector/hindsight.ts';
import { stack } from '../../config/stack.ts';
import { boolField, concatBytes, encodeFramed, integerField, stringField, type HekaMessage } from './heka.ts';
import { LUA, STAGE_DIR } from './hindsight-stage.ts';
import { SnapPublisher, snapHekaMessage } from './snap-publisher.ts';


/** Each expression's result (or compile error) on each message. */
function match(messages: HekaMessage[], expressions: string[]): (boolean | { error: string })[][] {
  const result = spawnSync(LUA, [path.join(STAGE_DIR, 'tool.lua'), 'match', ...expressions], {
    input: Buffer.from(concatBytes(messages.map(encodeFramed))),
  });
  assert.equal(result.status, 0, result.stderr.toString());
  return result.stdout
    .toString()
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { matches: (boolean | { error: string })[] }).matches);
}

const publisher = new SnapPublisher({ port: 1, config: stack, seed: 3, tagOrder: 'sorted', nodes: [{ name: 'node-a', hostname: 'host-a' }] });
const node = publisher.nodes[0]!;
const metrics = publisher.collect(node, 1_700_000_000_000_000_000n);
const uuid = new Uint8Array(16).fill(1);
const cpu = snapHekaMessage(metrics.find((m) => m.name === 'intel.procfs.cpu.user_percentage' && m.dynamic?.value === '0')!, {
  uuid,
  publishTimeNs: 1_700_000_000_500_000_000n,
  tagOrder: ['hostname', 'plugin_running_on'],
});
const load = snapHekaMessage(metrics.find((m) => m.name === 'intel.procfs.load.min1')!, {
  uuid,
  publishTimeNs: 1_700_000_000_500_000_000n,
  tagOrder: ['hostname', 'plugin_running_on'],
});
const analysis: HekaMessage = { uuid, timestamp: 1n, type: 'stacklight.metric', logger: 'analysis.x', severity: 7, fields: [boolField('flag', true), integerField('n', 5, 6)] };
const other: HekaMessage = { uuid, timestamp: 1n, type: 'heka.all-report', fields: [stringField('name', "it's")] };

/** expression → expected result on [cpu, load, analysis, other] */
const CASES: [string, boolean[]][] = [
  [OUTPUT_MESSAGE_MATCHER, [true, true, true, false]],
  ["Type == 'snap.heka'", [true, true, false, false]],
  ['Type != "snap.heka"', [false, false, true, true]],
  ['Fields[cpuID] != NIL', [true, false, false, false]],
  ['Fields[cpuID] == NIL', [false, true, true, true]],
  ["Fields[cpuID] == '0' && Hostname == 'host-a'", [true, false, false, false]],
  ["Fields[name] == 'intel.procfs.load.min1'", [false, true, false, false]],
  ["(Type == 'nope' || Logger == 'snap.heka.logger') && Severity == 6", [true, true, false, false]],
  ["Type == 'nope' || Logger == 'snap.heka.logger' && Severity == 7", [false, false, false, false]], // && binds tighter
  ["Type == 'heka.all-report' || Type == 'snap.heka' && Severity == 6", [true, true, false, true]],
  ['Severity <= 6', [true, true, false, false]], // `other` has no Severity: lua_sandbox reads 7
  ['Pid > 0', [true, true, false, false]],
  ['Timestamp > 1000', [true, true, false, false]],
  ["Timestamp >= '2023-11-14T22:13:20Z'", [true, true, false, false]],
  ["Type =~ '^snap%.'", [true, true, false, false]],
  ["Type !~ 'heka'", [false, false, true, false]],
  ['Fields[value] >= 0', [true, true, false, false]],
  ["Fields[value] == 'x'", [false, false, false, false]], // a number never equals a string test
  ["Fields[dimensions][0][0] == 'cpuID'", [true, false, false, false]],
  ["Fields[dimensions][0][1] == 'hostname'", [true, false, false, false]],
  ["Fields[dimensions][0][2] == 'plugin_running_on'", [true, false, false, false]],
  ["Fields[dimensions][0][0] == 'hostname'", [false, true, false, false]],
  ['Fields[flag] == TRUE', [false, false, true, false]],
  ['Fields[flag] != FALSE', [false, false, true, false]],
  ['Fields[n][0][1] == 6', [false, false, true, false]],
  ["Fields[name] == 'it\\'s'", [false, false, false, true]],
  ["EnvVersion == ''", [true, true, true, true]], // a missing header compares as ""
  ['TRUE', [true, true, true, true]],
  ['FALSE || Type == "snap.heka"', [true, true, false, false]],
];

describe('the stage\'s message matcher', () => {
  it('evaluates like lua_sandbox (headers, Fields[] with indices, NIL, booleans, precedence, patterns)', () => {
    const results = match([cpu, load, analysis, other], CASES.map(([e]) => e));
    CASES.forEach(([expression, expected], i) => {
      assert.deepEqual(results.map((r) => r[i]), expected, expression);
    });
  });

  it('refuses what the grammar refuses', () => {
    const bad = [
      "Type = 'x'", // not an operator
      "Typ == 'x'", // not a header
      'Type == x', // unquoted
      "Type == 'x' &&", // dangling operator
      "(Type == 'x'", // unbalanced
      'Severity == "6"', // numeric header with a string
      "Fields[x] > TRUE", // booleans only with == and !=
      'Fields[x][256] == 1', // indices are 0..255
      "Type == 'unterminated",
      `Type == '${'a'.repeat(256)}'`, // strings are at most 255 bytes
      "Timestamp > '2023-11-14T22:13:20+01:00'", // offsets are written +0100
    ];
    const results = match([cpu], bad)[0]!;
    results.forEach((r, i) => assert.ok(typeof r === 'object' && 'error' in r, `${bad[i]} should not compile: ${JSON.stringify(r)}`));
  });
});
