/**
 * The rendered diff's comparison rules on hand-made objects: list items by name or position,
 * long values as line diffs, Secrets by key only; and the line diff itself on random inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareBuilds, compareObjects, type FieldChange } from '../../compiler/diff/compare.ts';
import { diffLines, unifiedDiff } from '../../compiler/diff/text.ts';

const summaries = (changes: FieldChange[]) => Object.fromEntries(changes.map((change) => [change.path, change.summary]));

function daemonSet(snapMemory: string, env: { name: string; value: string }[], args: string[]) {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'collector', namespace: 'stacklight', annotations: { 'stacklight.ms/config-hash': 'a' } },
    spec: {
      template: {
        spec: {
          containers: [
            { name: 'snap', args, env, resources: { limits: { memory: snapMemory } } },
            { name: 'hindsight', resources: { limits: { memory: '256Mi' } } },
          ],
          tolerations: [{ operator: 'Exists' }],
        },
      },
    },
  };
}

test('list items are matched by name, plain lists compared whole, keys quoted when they must be', () => {
  const before = daemonSet('256Mi', [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ['--log', 'info']);
  const after = daemonSet('512Mi', [{ name: 'B', value: '2' }, { name: 'C', value: '3' }], ['--log', 'debug']);
  after.metadata.annotations['stacklight.ms/config-hash'] = 'b';
  after.spec.template.spec.containers.reverse(); // order alone is reported once, not as changes of every item
  after.spec.template.spec.tolerations = [{ operator: 'Equal' }];
  assert.deepEqual(summaries(compareObjects(before, after)), {
    'metadata.annotations["stacklight.ms/config-hash"]': 'a → b',
    'spec.template.spec.containers[snap].args': '["--log","info"] → ["--log","debug"]',
    'spec.template.spec.containers[snap].env[A]': '{"name":"A","value":"1"} → (none)',
    'spec.template.spec.containers[snap].env[C]': '(none) → {"name":"C","value":"3"}',
    'spec.template.spec.containers[snap].resources.limits.memory': '256Mi → 512Mi',
    'spec.template.spec.containers': 'order changed: snap, hindsight → hindsight, snap',
    'spec.template.spec.tolerations[0].operator': 'Exists → Equal',
  });
});

test('values that read as other types are quoted; long text is a line count with a unified diff', () => {
  const config = (text: string, port: unknown) => ({ kind: 'ConfigMap', metadata: { name: 'c' }, data: { 'task.yaml': text, port } });
  const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`);
  const changed = [...lines];
  changed[10] = 'line ten';
  changed.push('line 20');
  const [port, field] = compareObjects(config(`${lines.join('\n')}\n`, '8086'), config(`${changed.join('\n')}\n`, 8086));
  assert.deepEqual(field!.path, 'data["task.yaml"]');
  assert.equal(field!.summary, 'changed (+2 −1 lines)');
  assert.deepEqual(field!.diff, ['@@ -9,5 +9,5 @@', ' line 8', ' line 9', '-line 10', '+line ten', ' line 11', ' line 12', '@@ -19,2 +19,3 @@', ' line 18', ' line 19', '+line 20']);
  assert.equal(port!.summary, '"8086" → 8086');
});

test('a Secret: which keys changed, never a value or ciphertext; recipients, which are public', () => {
  const enc = (data: string) => `ENC[AES256_GCM,data:${data},iv:aXY=,tag:dGFn,type:str]`;
  const secret = (stringData: Record<string, string>, recipients: string[], mac: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's' },
    stringData,
    sops: { age: recipients.map((recipient) => ({ recipient, enc: `-----BEGIN AGE ENCRYPTED FILE-----\n${mac}\n` })), mac: enc(mac), lastmodified: mac },
  });
  const before = secret({ password: enc('b2xk'), username: enc('dXNlcg=='), gone: enc('Z29uZQ==') }, ['age1one'], 'bWFjMQ==');
  const after = secret({ password: enc('bmV3'), username: enc('dXNlcg=='), token: enc('dG9rZW4=') }, ['age1one', 'age1two'], 'bWFjMg==');
  const changes = compareObjects(before, after);
  assert.deepEqual(summaries(changes), {
    'stringData.gone': 'key removed',
    'stringData.password': 'value changed (encrypted)',
    'stringData.token': 'key added',
    'sops.age': '+age1two (recipients)',
  });
  const printed = JSON.stringify(changes);
  for (const material of ['b2xk', 'bmV3', 'Z29uZQ==', 'dG9rZW4=', 'bWFjMQ==', 'bWFjMg==', 'ENC[', 'AGE ENCRYPTED']) assert.ok(!printed.includes(material), material);
  // A plain (unencrypted) value is not shown either.
  assert.deepEqual(summaries(compareObjects({ kind: 'Secret', data: { k: 'YQ==' } }, { kind: 'Secret', data: { k: 'Yg==' } })), { 'data.k': 'value changed' });
});

test('objects are matched by kind, namespace and name', () => {
  const object = (kind: string, name: string, namespace?: string, value = 1) => ({
    kind,
    metadata: { name, ...(namespace && { namespace }) },
    spec: { value },
  });
  const diff = compareBuilds(
    'overlays/x',
    [object('Namespace', 'stacklight'), object('Service', 'a', 'ns1'), object('Service', 'b', 'ns1')],
    [object('Namespace', 'stacklight'), object('Service', 'a', 'ns2'), object('Service', 'b', 'ns1', 2)],
  );
  assert.deepEqual(diff, {
    name: 'overlays/x',
    added: ['Service/ns2/a'],
    removed: ['Service/ns1/a'],
    changed: [{ id: 'Service/ns1/b', fields: [{ path: 'spec.value', summary: '1 → 2', before: '1', after: '2' }] }],
  });
  assert.throws(() => compareBuilds('base', [object('Service', 'a'), object('Service', 'a')], []), /Service\/a appears twice/);
});

test('the line diff turns one side into the other, and is minimal on simple edits', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 300; round++) {
    const a = Array.from({ length: Math.floor(random() * 30) }, () => String.fromCharCode(97 + Math.floor(random() * 4)));
    const b = a.flatMap((line) => (random() < 0.2 ? [] : random() < 0.2 ? [line, 'x'] : random() < 0.1 ? ['y'] : [line]));
    const edits = diffLines(a, b);
    assert.deepEqual(edits.filter((edit) => edit.op !== '+').map((edit) => edit.line), a);
    assert.deepEqual(edits.filter((edit) => edit.op !== '-').map((edit) => edit.line), b);
  }
  assert.deepEqual(diffLines(['a', 'b', 'c'], ['a', 'x', 'c']), [
    { op: ' ', line: 'a' },
    { op: '-', line: 'b' },
    { op: '+', line: 'x' },
    { op: ' ', line: 'c' },
  ]);
  assert.deepEqual(unifiedDiff('', 'one\ntwo\n'), { added: 2, removed: 0, unified: ['@@ -0,0 +1,2 @@', '+one', '+two'] });
});
