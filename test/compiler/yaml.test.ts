/**
 * The renderer (compiler/render/yaml.ts) against an independent YAML 1.1 reader: the `yaml`
 * package in its 1.1 mode, which reads `yes`, `0755` or `1_000` as Go's go-yaml v2 does. Every
 * string must come back as the same string, whatever it looks like.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { DoubleQuoted, parseYamlDocuments, toYaml } from '../../compiler/render/yaml.ts';

const readAsYaml11 = (text: string) => parse(text, { version: '1.1' }) as Record<string, unknown>;

/** Strings YAML 1.1 or 1.2 would read as something else, and strings that need quoting or a block. */
const AMBIGUOUS = [
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'on', 'On', 'ON', 'off', 'Off', 'OFF'],
  ...['true', 'True', 'FALSE', 'null', 'Null', 'NULL', '~', ''],
  ...['0', '-1', '+1', '0755', '0o755', '0b101', '0b1_01', '0x1F', '0x1_F', '1_000', '-1_000', '1:20', '190:20:30'],
  ...['1.0', '1_000.5', '.5', '1e3', '1.5e+3', '1:20.5', '.inf', '-.Inf', '.NaN', '.'],
  ...['2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5'],
  ...['=', '<<', '-', '--config', '- a', 'a: b', '#x', 'x #y', '@x', '`x', '!x', '&x', '*x', '%x', '|', '>', '?', ':x', 'x:'],
  ...['[x]', '{x}', '"x"', "'x'", ' x', 'x ', 'tab\there', 'é', 'a\nb', 'a\nb\n', 'a\n\nb\n\n', ' lead\nx'],
  ...['2024-1-2', '2024-1-2 3:04:05', '0X1F', '0B11', '0O17', '+_1', '1_', '09', '1Gi', '250m'],
  ...['127.0.0.1', '65532:65532', '10.0.0.0/8', 'http://influxdb.stacklight.svc:8086', '/intel/procfs/cpu/*/utilization_percentage'],
];

test('every string renders as one that a YAML 1.1 reader and the compiler read back unchanged', () => {
  for (const value of AMBIGUOUS) {
    const text = toYaml({ key: value });
    assert.equal(readAsYaml11(text).key, value, `${JSON.stringify(value)} rendered as ${JSON.stringify(text)}`);
    assert.deepEqual(parseYamlDocuments(text, 'test'), [{ key: value }], `${JSON.stringify(value)} rendered as ${JSON.stringify(text)}`);
  }
});

test('the forms only YAML 1.1 or go-yaml read as numbers or times are quoted; addresses, quantities and words are not', () => {
  for (const value of ['1_000', '0b1_01', '1_000.5', '2024-1-2', '2024-1-2 3:04:05', '0X1F', '0B11', '0O17', '+_1', '1_']) {
    assert.match(toYaml({ key: value }), /^key: "/, value);
  }
  for (const value of ['127.0.0.1', '1Gi', '250m', 'stacklight', '/intel/procfs/load/load1']) assert.equal(toYaml({ key: value }), `key: ${value}\n`);
});

test('numbers, booleans and null render as themselves', () => {
  const text = toYaml({ port: 5565, ratio: 0.5, enabled: false, nothing: null, list: [1, true] });
  assert.equal(text, 'port: 5565\nratio: 0.5\nenabled: false\nnothing: null\nlist:\n  - 1\n  - true\n');
  assert.deepEqual(readAsYaml11(text), { port: 5565, ratio: 0.5, enabled: false, nothing: null, list: [1, true] });
});

test('long and multi-line strings are never folded: a literal block, one source line per line', () => {
  const long = 'x'.repeat(500);
  assert.equal(toYaml({ long }), `long: ${long}\n`);
  const lua = 'local a = 1\n\n  return a -- indented\n';
  const text = toYaml({ 'plugin.lua': lua });
  assert.equal(text, 'plugin.lua: |\n  local a = 1\n\n    return a -- indented\n');
  assert.equal(readAsYaml11(text)['plugin.lua'], lua);
});

test('DoubleQuoted renders double-quoted, escaped as YAML reads it back', () => {
  assert.equal(toYaml({ node: new DoubleQuoted('__NODE_NAME__') }), 'node: "__NODE_NAME__"\n');
  for (const value of ['1234', 'true', 'a "quoted" \\ value', 'tab\tand\nnewline', 'é']) {
    assert.equal(readAsYaml11(toYaml({ value: new DoubleQuoted(value) })).value, value, value);
  }
});

test('shared objects are written out at each place, never as anchors and aliases', () => {
  const shared = { app: 'grafana' };
  const text = toYaml({ selector: shared, labels: shared });
  assert.doesNotMatch(text, /[&*]/);
  assert.deepEqual(readAsYaml11(text), { selector: shared, labels: shared });
});

test('a file of several documents parses to each; a broken one names its source', () => {
  assert.deepEqual(parseYamlDocuments('a: 1\n---\nb: 2\n', 'two.yaml'), [{ a: 1 }, { b: 2 }]);
  assert.throws(() => parseYamlDocuments('a: [1\n', 'broken.yaml'), /^Error: broken\.yaml: .*flow collection \(line 2, column 1\)$/);
});
