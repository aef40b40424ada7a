/**
 * The Grafana table emulation the dashboard proof relies on: the datasource's table frames and
 * the organize and merge transformations, on small frames whose Grafana result is known.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tableFrame, transformTable, type Frame } from './grafana-tables.ts';

const cpu: Frame = { fields: ['Time', 'hostname', 'cpu'], rows: [[1000, 'a', 50], [1000, 'b', 40]] };
const fullest: Frame = { fields: ['Time', 'hostname', 'fs'], rows: [[1300, 'a', 90], [1000, 'b', 80]] };
const dropTime = { id: 'organize', options: { excludeByName: { Time: true } } };

test('tableFrame: Time, the GROUP BY tags, the value columns; one row per series', () => {
  const frame = tableFrame([
    { statement: 0, name: 'm', tags: { hostname: 'a' }, columns: ['time', 'cpu'], values: [[1000, 50]] },
    { statement: 0, name: 'm', tags: { hostname: 'b' }, columns: ['time', 'cpu'], values: [[1000, null]] },
  ]);
  assert.deepEqual(frame, { fields: ['Time', 'hostname', 'cpu'], rows: [[1000, 'a', 50], [1000, 'b', null]] });
});

test('merge joins on every shared field, Time included: rows stamped differently stay apart', () => {
  const table = transformTable([cpu, fullest], [{ id: 'merge' }]);
  assert.deepEqual(table.fields, ['Time', 'hostname', 'cpu', 'fs']);
  assert.deepEqual(table.rows, [[1000, 'a', 50, null], [1000, 'b', 40, 80], [1300, 'a', null, 90]]);
});

test('with Time dropped first, one row per node', () => {
  const table = transformTable([cpu, fullest], [dropTime, { id: 'merge' }, { id: 'organize', options: { renameByName: { hostname: 'node' } } }]);
  assert.deepEqual(table, { fields: ['node', 'cpu', 'fs'], rows: [['a', 50, 90], ['b', 40, 80]] });
});

test('a row whose values disagree with an earlier row of its key is a row of its own (several filesystems per node)', () => {
  const perMount: Frame = { fields: ['hostname', 'fs'], rows: [['a', 90], ['a', 70]] };
  const memory: Frame = { fields: ['hostname', 'mem'], rows: [['a', 5]] };
  const table = transformTable([perMount, memory], [{ id: 'merge' }]);
  assert.deepEqual(table.rows, [['a', 90, 5], ['a', 70, null]]);
});

test('an incoming null conflicts with a value already there; a null already there takes the value', () => {
  // Only hostname is in every frame, so it alone is the key.
  const first: Frame = { fields: ['hostname', 'v'], rows: [['a', 1], ['b', null]] };
  const other: Frame = { fields: ['hostname', 'w'], rows: [['a', 5], ['b', 6]] };
  const third: Frame = { fields: ['hostname', 'v'], rows: [['a', null], ['b', 2]] };
  const table = transformTable([first, other, third], [{ id: 'merge' }]);
  assert.deepEqual(table.fields, ['hostname', 'v', 'w']);
  assert.deepEqual(table.rows, [['a', 1, 5], ['b', 2, 6], ['a', null, null]]);
});

test('one frame comes back unchanged; frames sharing no field are not merged', () => {
  const twice: Frame = { fields: ['hostname', 'v'], rows: [['a', 1], ['a', 1]] };
  assert.deepEqual(transformTable([twice], [{ id: 'merge' }]), twice);
  assert.throws(() => transformTable([{ fields: ['x'], rows: [[1]] }, { fields: ['y'], rows: [[2]] }], [{ id: 'merge' }]), /ends with 2 frames/);
});
