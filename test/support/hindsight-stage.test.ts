/**
 * The Hindsight stage itself, with small fixture plugins (hindsight-stage/fixtures/, NOT the
 * product plugin): the heka_tcp input, the sandbox, read_message/decode_message, every
 * process_message return code, timer events, terminations and their .err file, checkpoints and
 * replay after kill -9, and loading the compiler's layout.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OUTPUT_MESSAGE_MATCHER } from '../../compiler/collector/hindsight.ts';
import { luaAssignments, type LuaValue } from '../../compiler/render/lua.ts';
import { stack } from '../../config/stack.ts';
import { boolField, decodeMessage, doubleField, encodeFramed, encodeMessage, integerField, nowNs, parseFrames, stringField, type HekaMessage } from './heka.ts';
import {
  FIXTURES_DIR,
  readLuaTree,
  REPO_ROOT,
  startHindsightStage,
  writeHindsightConfig,
  type HindsightStage,
  type HindsightStageOptions,
} from './hindsight-stage.ts';
import { craft, SnapPublisher } from './snap-publisher.ts';
import { HINDSIGHT_NOT_BUILT, hindsightBuild } from './hindsight-real.ts';

interface Fixture {
  dir: string;
  log: string;
}

/** A config directory in the compiler's layout with a fixture output plugin called `name`. */
async function fixture(plugin: string, cfg: Record<string, LuaValue> = {}, name = 'scripted'): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stage-fixture-'));
  await mkdir(path.join(dir, 'run/input'), { recursive: true });
  await mkdir(path.join(dir, 'run/output'), { recursive: true });
  const log = path.join(dir, 'plugin.log');
  await writeFile(path.join(dir, 'run/input/heka_tcp.cfg'), luaAssignments('', { filename: 'heka_tcp.lua', address: '127.0.0.1', port: 5565, instruction_limit: 0 }));
  await writeFile(
    path.join(dir, `run/output/${name}.cfg`),
    luaAssignments('', { filename: plugin, message_matcher: OUTPUT_MESSAGE_MATCHER, ticker_interval: 1, log_path: log, ...cfg }),
  );
  await cp(path.join(FIXTURES_DIR, plugin), path.join(dir, 'run/output', plugin));
  await cp(path.join(FIXTURES_DIR, 'modules'), path.join(dir, 'modules'), { recursive: true });
  return { dir, log };
}

async function withStage(
  plugin: string,
  cfg: Record<string, LuaValue>,
  options: Partial<HindsightStageOptions>,
  body: (stage: HindsightStage, f: Fixture, send: (...messages: HekaMessage[]) => Promise<void>) => Promise<void>,
): Promise<void> {
  const f = await fixture(plugin, cfg);
  const stage = await startHindsightStage({ configDir: f.dir, checkpointIntervalMs: 100, retryDelayMs: 150, ...options });
  const publisher = new SnapPublisher({ port: stage.hekaPort, config: stack });
  const send = async (...messages: HekaMessage[]) => {
    const result = await publisher.publishCrafted(messages.map((message, i) => ({ label: `m${i}`, message })));
    assert.ok(result.ok, result.error);
  };
  try {
    await body(stage, f, send);
  } finally {
    await stage.dispose();
    await rm(f.dir, { recursive: true, force: true });
  }
}

/** A message for scripted_out.lua: `script` says what process_message returns, attempt by attempt. */
function scripted(id: string, script: string, extra: Partial<HekaMessage> = {}): HekaMessage {
  return {
    uuid: randomBytes(16),
    timestamp: nowNs(),
    type: 'snap.heka',
    logger: 'test',
    severity: 6,
    hostname: 'test-host',
    ...extra,
    fields: [stringField('id', id), stringField('script', script), ...(extra.fields ?? [])],
  };
}

function logLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** "pm <id> <attempt> <action>" lines of scripted_out.lua */
function calls(file: string): string[] {
  return logLines(file)
    .filter((l) => l.startsWith('pm '))
    .map((l) => l.split(' ').slice(1, 4).join(' '));
}

/** No single test may take longer than this (a hang fails instead of blocking the suite). */
const T = { timeout: 30_000 };

async function settle(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('the stage\'s heka_tcp input', () => {
  it('queues only the records lua_sandbox would accept, per connection', T, async () => {
    await withStage('scripted_out.lua', {}, {}, async (stage, f) => {
      const publisher = new SnapPublisher({ port: stage.hekaPort, config: stack });
      const a = scripted('a', '0');
      const c = scripted('c', '0');
      const e = scripted('e', '0');
      // garbage, a valid record, then a record cut short when the connection closes
      await publisher.sendRaw([craft.garbage(300, { recordSeparators: true, seed: 9 }), encodeFramed(a), craft.truncated(encodeFramed(scripted('b', '0')), -5)]);
      // the next connection starts afresh: valid, invalid (no uuid), garbage, valid, sent in pieces
      const second = [encodeFramed(c), encodeFramed(craft.withoutUuid(scripted('d', '0'))), craft.garbage(64, { seed: 2 }), encodeFramed(e)];
      const bytes = Buffer.concat(second);
      await publisher.sendRaw([bytes.subarray(0, 7), bytes.subarray(7, 150), bytes.subarray(150)], { pauseMs: 20 });
      await publisher.sendRaw([craft.truncated(encodeFramed(scripted('f', '0')), 30)]);
      await stage.waitFor(() => stage.inputStats()?.connections === 3 && stage.inputStats()?.open_connections === 0, 5000, 'the connections');
      await stage.waitFor(() => stage.outputStats('scripted')?.read === 3, 5000, 'three messages');
      assert.deepEqual(calls(f.log), ['a 1 0', 'c 1 0', 'e 1 0']);
      const stats = stage.inputStats()!;
      // both processes decode with the C decoder (heka-native.test.ts holds it to the Lua one)
      assert.equal(stats.decoder, 'c');
      assert.equal(stage.outputStats('scripted')?.decoder, 'c');
      assert.equal(stats.messages, 3);
      assert.ok(stats.discarded_bytes >= 300, `discarded ${stats.discarded_bytes}`);
      assert.ok(stats.unconsumed_bytes > 0);
      // the queue holds the three messages, re-framed, bytes unchanged
      const queue = readFileSync(path.join(stage.outputDir, 'input', '0.log'));
      const frames = parseFrames(queue);
      assert.deepEqual(frames.map((fr) => Buffer.from(decodeMessage(fr.message).uuid!).toString('hex')), [a, c, e].map((m) => Buffer.from(m.uuid!).toString('hex')));
      assert.deepEqual(Buffer.from(frames[1]!.message), Buffer.from(encodeFramed(c).subarray(5)));
    });
  });
});

describe('the stage\'s output sandbox', { concurrency: 2 }, () => {
  it('offers what lua_sandbox offers an output plugin, and nothing it removes', T, async () => {
    await withStage('probe_out.lua', { custom: { nested: 'yes' } }, { env: { STAGE_TEST_PASSWORD: 's3cret' } }, async (_stage, f) => {
      const probe = Object.fromEntries(logLines(f.log).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      assert.deepEqual(
        { ...probe },
        {
          ...probe,
          string_before_require: 'nil', // lua_sandbox preloads, does not open, the libraries
          table_before_require: 'nil',
          os_before_require: 'nil',
          io_before_require: 'nil',
          loadstring: 'nil',
          load: 'nil',
          loadfile: 'nil',
          dofile: 'nil',
          newproxy: 'nil',
          print: 'function',
          collectgarbage: 'function',
          setfenv: 'function',
          read_config: 'function',
          read_message: 'function',
          decode_message: 'function',
          update_checkpoint: 'function',
          inject_message: 'nil',
          output: 'nil',
          string_after_require: 'table',
          'string.dump': 'nil',
          'string.format': 'function',
          'os.exit': 'nil',
          'os.setlocale': 'nil',
          'os.getenv': 'function',
          'os.time': 'function',
          'io.open': 'function',
          'coroutine.wrap': 'function',
          'socket.http.request': 'function',
          'socket.url.escape': 'function',
          'ltn12.sink.table': 'function',
          'mime.b64': 'function',
          'cjson.encode': 'function',
          'lpeg.match': 'function',
          module: 'hello-stage',
          module_cached: 'true',
          missing_module: 'false',
          debug: 'false',
          Logger: 'output.scripted',
          Pid_is_number: 'true',
          ticker_interval: '1',
          instruction_limit: '1000000',
          custom_table: 'yes',
          message_matcher: OUTPUT_MESSAGE_MATCHER,
          env_password: 's3cret',
          read_message_outside: 'nil',
          tz: '00', // lua_sandbox sets TZ=UTC
        },
      );
      assert.ok(probe['Hostname']);
    });
  });

  it('gives read_message and decode_message lua_sandbox\'s semantics', T, async () => {
    await withStage('scripted_out.lua', {}, {}, async (stage, f, send) => {
      const uuid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
      const message = scripted('i', 'inspect', {
        uuid,
        timestamp: 1_700_000_000_123_456_789n,
        pid: 4242,
        payload: 'payload',
        fields: [
          stringField('name', 'first'),
          stringField('name', 'second'), // a dynamic element called "name" gives two name fields
          stringField('dimensions', 'a', 'b', 'c'),
          doubleField('value', 0.1),
          integerField('ints', 10, -20, 2n ** 53n + 2n),
          boolField('flag', false),
          integerField('timestamp', 1_700_000_000_000_000_001n),
        ],
      });
      await send(message);
      await stage.waitFor(() => calls(f.log).length === 1, 5000, 'the message');
      const line = logLines(f.log).find((l) => l.startsWith('pm i 1 inspect '))!;
      const seen = JSON.parse(line.slice('pm i 1 inspect '.length));
      assert.equal(seen.Uuid, uuid.toString('hex'));
      assert.equal(seen.Timestamp, '1.7000000001234568e+18'); // a double
      assert.equal(seen.Pid, 4242);
      assert.equal(seen.Severity, 6);
      assert.equal(seen.Hostname, 'test-host');
      assert.equal(seen.EnvVersion, 'nil');
      assert.equal(seen.Payload_len, 7);
      assert.equal(seen.name_first, 'first'); // the FIRST field of a name
      assert.equal(seen.name_second, 'second'); // field index 1
      assert.deepEqual(seen.dimensions, ['a', 'b', 'c']); // 0-based array indices
      assert.equal(seen.value, '0.10000000000000001');
      assert.equal(seen.value_type, 'number');
      assert.deepEqual(seen.ints, ['10', '-20', '9007199254740994']);
      assert.equal(seen.flag, 'false');
      assert.equal(seen.ts_field, '1.7e+18');
      assert.equal(seen.missing, 'nil');
      assert.equal(seen.unknown_header, 'nil');
      assert.equal(seen.raw_len, encodeMessage(message).length);
      assert.equal(seen.framed_ends_with_raw, true);
      const framed = encodeFramed(message);
      assert.equal(seen.framed_head, Buffer.from(framed.subarray(0, 3 + framed[1]!)).toString('hex')); // 1e hlen 08 <len> 1f
      assert.deepEqual(seen.decoded_fields, ['id:0:1', 'script:0:1', 'name:0:1', 'name:0:1', 'dimensions:0:3', 'value:3:1', 'ints:2:3', 'flag:4:1', 'timestamp:2:1']);
      assert.equal(seen.decoded_uuid, uuid.toString('hex'));
      assert.equal(seen.seq_type, 'userdata'); // process_message(sequence_id): a light userdata in lua_sandbox
    });
  });
});

// independent stages (own ports, directories): run side by side
describe('the stage\'s process_message return codes', { concurrency: 4 }, () => {
  it('0 commits, -1 and -2 advance, unmatched messages advance', T, async () => {
    await withStage('scripted_out.lua', {}, {}, async (stage, f, send) => {
      await send(scripted('a', '0'), scripted('x', '0', { type: 'other.type' }), scripted('b', '-1'), scripted('c', '-2'));
      await stage.waitFor(() => stage.outputStats('scripted')?.read === 4 && stage.checkpoint('scripted')?.offset === stage.queueBytes(), 5000, 'the checkpoint');
      assert.deepEqual(calls(f.log), ['a 1 0', 'b 1 -1', 'c 1 -2']);
      const stats = stage.outputStats('scripted')!;
      assert.equal(stats.matched, 3);
      assert.deepEqual(stats.returns, { '0': 1, '-1': 1, '-2': 1 });
      assert.equal(stats.failures, 1);
      assert.match(stage.logs(), /process_message returned: -1 scripted failure/);
    });
  });

  it('-4 holds the checkpoint until a later 0 or update_checkpoint(); -1 while batching keeps holding it', T, async () => {
    await withStage('scripted_out.lua', {}, {}, async (stage, f, send) => {
      const start = stage.checkpoint('scripted');
      assert.deepEqual(start, { id: 0, offset: 0 });
      await send(scripted('a', '-4'), scripted('b', '-4'), scripted('b2', '-1'));
      await stage.waitFor(() => calls(f.log).length === 3, 5000, 'three calls');
      await settle(300); // several checkpoint intervals
      assert.deepEqual(stage.checkpoint('scripted'), start);
      await send(scripted('c', '0'));
      await stage.waitFor(() => stage.checkpoint('scripted')?.offset === stage.queueBytes(), 5000, 'the commit');
      const afterC = stage.queueBytes();
      await send(scripted('d', '-4'), scripted('e', 'ucp'));
      await stage.waitFor(() => stage.inputStats()?.messages === 6 && calls(f.log).length === 6, 5000, 'six calls');
      // update_checkpoint() in e's process_message commits e itself; e's own -4 starts a new batch
      await stage.waitFor(() => stage.checkpoint('scripted')?.offset === stage.queueBytes(), 5000, 'update_checkpoint');
      assert.ok(stage.queueBytes() > afterC);
      // the stats file is written just after the checkpoint file: wait for it rather than race it
      await stage.waitFor(() => stage.outputStats('scripted')?.batching === true, 3000, 'the batching flag after e');
    });
  });

  it('-3 offers the same message again after the retry delay, then goes on', T, async () => {
    await withStage('scripted_out.lua', {}, { retryDelayMs: 200 }, async (stage, f, send) => {
      const started = Date.now();
      await send(scripted('a', '-3,-3,0'), scripted('b', '0'));
      await stage.waitFor(() => calls(f.log).length === 4, 5000, 'the retries');
      assert.ok(Date.now() - started >= 400, `retried too fast: ${Date.now() - started} ms`);
      assert.deepEqual(calls(f.log), ['a 1 -3', 'a 2 -3', 'a 3 0', 'b 1 0']);
      assert.equal(stage.outputStats('scripted')?.retries, 2);
    });
  });

  it('-5 (async) holds the checkpoint until update_checkpoint(sequence_id); without async_buffer_size it terminates', T, async () => {
    await withStage('scripted_out.lua', { async_buffer_size: 10, ticker_interval: 30 }, {}, async (stage, f, send) => {
      await send(scripted('a', 'async'), scripted('b', 'async'));
      await stage.waitFor(() => calls(f.log).length === 2, 5000, 'two calls');
      await settle(300);
      assert.deepEqual(stage.checkpoint('scripted'), { id: 0, offset: 0 });
      // c acknowledges a only: the checkpoint moves to the end of a, not further
      await send(scripted('c', 'ack1'));
      await stage.waitFor(() => calls(f.log).length === 3, 5000, 'c');
      const frames = parseFrames(readFileSync(path.join(stage.outputDir, 'input', '0.log')));
      await stage.waitFor(() => stage.checkpoint('scripted')?.offset === frames[1]!.offset, 3000, 'the acknowledgement of a');
      await settle(300);
      assert.deepEqual(stage.checkpoint('scripted'), { id: 0, offset: frames[1]!.offset });
    });
    await withStage('scripted_out.lua', {}, {}, async (stage, _f, send) => {
      await send(scripted('a', 'async'));
      await stage.waitFor(() => stage.errFile('scripted') !== undefined, 5000, 'the .err file');
      assert.match(stage.errFile('scripted')!, /\tcannot use async checkpointing without a configured buffer\n$/);
    });
  });

  const terminations: [string, Record<string, LuaValue>, RegExp][] = [
    ['1', {}, /\tprocess_message\(\) received a termination status code\n$/],
    ['error', {}, /\tprocess_message\(\) .*scripted_out\.lua:\d+: scripted error\n$/],
    ['nonnumber', {}, /\tprocess_message\(\) must return a numeric status code\n$/],
    ['badmsg', {}, /\tprocess_message\(\) must return a nil or string error message\n$/],
    ['spin', { instruction_limit: 100_000 }, /\tprocess_message\(\) .*scripted_out\.lua:\d+: instruction_limit exceeded\n$/],
    ['hog', { memory_limit: 4 * 1024 * 1024 }, /\tprocess_message\(\) not enough memory\n$/],
  ];
  for (const [action, cfg, expected] of terminations) {
    it(`terminates the plugin on "${action}", writes <run>/output/<name>.err and keeps the last commit`, T, async () => {
      await withStage('scripted_out.lua', cfg, {}, async (stage, f, send) => {
        await send(scripted('a', '0'));
        // a in the queue file (the input flushes once a second) and its commit checkpointed
        await stage.waitFor(() => calls(f.log).length === 1 && stage.checkpoint('scripted')?.offset === stage.queueBytes(), 5000, 'a committed');
        const committed = stage.checkpoint('scripted');
        await send(scripted('b', action), scripted('c', '0'));
        await stage.waitFor(() => stage.errFile('scripted') !== undefined, 10_000, 'the .err file');
        assert.match(stage.errFile('scripted')!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\t/);
        assert.match(stage.errFile('scripted')!, expected);
        await stage.waitFor(() => stage.events.some((e) => e.event === 'terminated' && e.plugin === 'output.scripted'), 5000, 'the event');
        // nothing more reaches the plugin, the input still queues, the checkpoint stays
        await send(scripted('d', '0'));
        await stage.waitFor(() => stage.inputStats()?.messages === 4, 5000, 'the input');
        await settle(200);
        assert.deepEqual(calls(f.log), ['a 1 0', `b 1 ${action}`]);
        assert.deepEqual(stage.checkpoint('scripted'), committed);
        assert.equal(stage.outputStats('scripted')?.terminated, true);
      });
    });
  }

  it('a timer_event error while idle terminates the sandbox; the next message detaches it (lua_sandbox\'s message)', T, async () => {
    await withStage('scripted_out.lua', { timer_script: 'error' }, {}, async (stage, f, send) => {
      await stage.waitFor(() => logLines(f.log).some((l) => l.startsWith('te ')), 3000, 'a timer_event');
      await settle(200);
      assert.equal(stage.errFile('scripted'), undefined);
      await send(scripted('a', '0'));
      await stage.waitFor(() => stage.errFile('scripted') !== undefined, 5000, 'the .err file');
      assert.match(stage.errFile('scripted')!, /\tprocess_message\(\) function was not found\n$/);
      assert.deepEqual(calls(f.log), []);
    });
  });
});

describe('the stage\'s timer events and checkpoints', { concurrency: 4 }, () => {
  it('calls timer_event every ticker_interval, and once with shutdown = true on a clean stop', T, async () => {
    await withStage('scripted_out.lua', {}, {}, async (stage, f) => {
      await stage.waitFor(() => logLines(f.log).filter((l) => l.startsWith('te ')).length >= 2, 4000, 'two timer events');
      await stage.stop();
      const events = logLines(f.log).filter((l) => l.startsWith('te '));
      assert.ok(events.slice(0, -1).every((l) => l.endsWith(' false')));
      assert.ok(events.at(-1)!.endsWith(' true'));
      const [first, second] = events.map((l) => Number(l.split(' ')[1]));
      assert.equal(first! % 1e9, 0); // whole seconds, in ns
      assert.ok(second! - first! >= 1e9);
      assert.equal(stage.outputStats('scripted')?.shutdown_timer_events, 1);
    });
  });

  it('stops cleanly on SIGTERM from the command line (timer_event with shutdown = true)', T, async () => {
    const f = await fixture('scripted_out.lua');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/support/hindsight-stage.ts'), '--config-dir', f.dir], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', () => undefined);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const deadline = Date.now() + 15_000;
      while (!/hindsight stage running: heka_tcp on 127\.0\.0\.1:\d+/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) {
          child.kill('SIGKILL');
          assert.fail(`the command line did not start: ${out}`);
        }
        await settle(50);
      }
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(out, /stopped; checkpoint/);
      assert.ok(logLines(f.log).filter((l) => l.startsWith('te ')).at(-1)!.endsWith(' true'));
    } finally {
      await rm(f.dir, { recursive: true, force: true });
    }
  });

  it('replays from the last committed position after kill -9 (at-least-once), not after a clean stop', T, async () => {
    await withStage('scripted_out.lua', {}, {}, async (stage, f, send) => {
      // a held batch is replayed
      await send(scripted('a', '-4'), scripted('b', '-4'));
      await stage.waitFor(() => calls(f.log).length === 2, 5000, 'the batch');
      await stage.kill();
      await stage.start();
      await stage.waitFor(() => calls(f.log).length === 4, 5000, 'the replay');
      assert.deepEqual(calls(f.log), ['a 1 -4', 'b 1 -4', 'a 1 -4', 'b 1 -4']);
      // committed messages are not, once the checkpoint is written
      await send(scripted('c', '0'));
      await stage.waitFor(() => stage.checkpoint('scripted')?.offset === stage.queueBytes(), 5000, 'the commit');
      await stage.kill();
      await stage.start();
      await settle(300);
      assert.deepEqual(calls(f.log).slice(4), ['c 1 0']);
      // a clean stop writes the checkpoint: nothing replayed
      await send(scripted('d', '0'));
      await stage.waitFor(() => calls(f.log).length === 6, 5000, 'd');
      await stage.stop();
      await stage.start();
      await settle(300);
      assert.deepEqual(calls(f.log).slice(5), ['d 1 0']);
    });
  });

  it('holds what the input received in its write buffer until a flush, as Hindsight: kill -9 loses it, a clean stop writes it', T, async () => {
    await withStage('scripted_out.lua', {}, { queueFlushIntervalMs: 60_000 }, async (stage, f, send) => {
      await send(scripted('a', '0'));
      await stage.waitFor(() => stage.inputStats()?.messages === 1, 5000, 'a received');
      await settle(300);
      assert.equal(stage.queueBytes(), 0, 'a reached the queue file before a flush');
      await stage.kill();
      await stage.start();
      await send(scripted('b', '0'));
      await stage.waitFor(() => stage.inputStats()?.messages === 1, 5000, 'b received');
      await stage.stop(); // closing the queue flushes it
      assert.ok(stage.queueBytes() > 0, 'a clean stop left the queue file empty');
      await stage.start();
      await stage.waitFor(() => calls(f.log).length === 1, 5000, 'b delivered');
      await settle(300);
      assert.deepEqual(calls(f.log), ['b 1 0']);
    });
  });

  it('replays what was committed after the last checkpoint write (the ~1 s window)', T, async () => {
    await withStage('scripted_out.lua', {}, { checkpointIntervalMs: 60_000 }, async (stage, f, send) => {
      await send(scripted('a', '0'));
      await stage.waitFor(() => calls(f.log).length === 1, 5000, 'a');
      await stage.kill(); // before the checkpoint was written
      await stage.start();
      await stage.waitFor(() => calls(f.log).length === 2, 5000, 'the replay');
      assert.deepEqual(calls(f.log), ['a 1 0', 'a 1 0']);
    });
  });
});

describe('the stage\'s loading', { concurrency: 2 }, () => {
  it('refuses a plugin that does not load, or an invalid matcher (Hindsight: create_output_plugin failed)', T, async () => {
    const bad = await fixture('bad_syntax_out.lua');
    try {
      await assert.rejects(startHindsightStage({ configDir: bad.dir }), /output\.scripted: .*bad_syntax_out\.lua:\d+:/);
      const stage = await startHindsightStage({ configDir: bad.dir, allowLoadFailure: true });
      try {
        assert.ok(stage.events.some((e) => e.event === 'load_failed'));
        assert.equal(stage.errFile('scripted'), undefined);
      } finally {
        await stage.dispose();
      }
    } finally {
      await rm(bad.dir, { recursive: true, force: true });
    }
    const matcher = await fixture('scripted_out.lua', { message_matcher: "Type = 'x'" });
    try {
      await assert.rejects(startHindsightStage({ configDir: matcher.dir }), /invalid message_matcher/);
    } finally {
      await rm(matcher.dir, { recursive: true, force: true });
    }
  });

  // What Hindsight 0.16 answers to each (src/hs_config.c), after "config_parser loading <path> failed: ".
  const REFUSED_CFGS: [string, (cfg: string) => string, string][] = [
    ['without input_defaults', (cfg) => cfg.replace(/^input_defaults = .*$/m, ''), 'input_defaults must be a table'],
    ['with output_defaults not a table', (cfg) => cfg.replace(/^output_defaults = .*$/m, 'output_defaults = 1'), 'output_defaults must be a table'],
    ['with an unknown default', (cfg) => cfg.replace(/^analysis_defaults = .*$/m, 'analysis_defaults = {memory_limt = 1}'), "invalid option: 'analysis_defaults.memory_limt'"],
    ['with an unknown option', (cfg) => `${cfg}\nsandbox_lod_path = ""\n`, "invalid option: 'sandbox_lod_path'"],
    ['with an output_limit above max_message_size', (cfg) => cfg.replace(/^max_message_size = .*$/m, 'max_message_size = 2048'), 'max_message_size must be greater than or equal to the sandbox output_limit'],
    ['without output_path', (cfg) => cfg.replace(/^output_path = .*$/m, ''), 'output_path must be set to a string'],
    ['with a negative limit', (cfg) => cfg.replace(/^input_defaults = .*$/m, 'input_defaults = {memory_limit = -1}'), 'memory_limit must be an unsigned int'],
  ];
  const realHindsight = hindsightBuild();
  for (const [what, edit, message] of REFUSED_CFGS) {
    it(`the real Hindsight refuses a hindsight.cfg ${what}, with the message the stage gives`, { ...T, skip: realHindsight ? false : HINDSIGHT_NOT_BUILT }, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'real-refused-'));
      try {
        await writeHindsightConfig(dir, stack, await readLuaTree());
        const file = path.join(dir, 'hindsight.cfg');
        await writeFile(file, edit(await readFile(file, 'utf8')));
        const result = spawnSync(realHindsight!.binary, [file], { encoding: 'utf8', timeout: 10_000 });
        assert.notEqual(result.status, 0, 'hindsight started');
        assert.ok(`${result.stdout}${result.stderr}`.includes(`config_parser loading ${file} failed: ${message}\n`), `${result.stdout}${result.stderr}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
    it(`refuses a hindsight.cfg ${what}, as Hindsight does and with its message`, T, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'stage-refused-'));
      try {
        await writeHindsightConfig(dir, stack, await readLuaTree());
        const file = path.join(dir, 'hindsight.cfg');
        await writeFile(file, edit(await readFile(file, 'utf8')));
        await assert.rejects(startHindsightStage({ configDir: dir }), (error: Error) => {
          // the stage copies the config directory: the path is the copy's; the message ends its
          // line, which may be the last of the output or be followed by another process's
          assert.match(error.message, new RegExp(`config_parser loading /\\S+/hindsight\\.cfg failed: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\n|$)`));
          return true;
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('runs the compiler\'s layout: hindsight.cfg, run/input/heka_tcp.cfg, run/output/influxdb.cfg, modules/', T, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stage-compiled-'));
    const log = path.join(dir, 'probe.log');
    // the compiler's files, with a fixture in place of lua/output/influxdb_out.lua
    const lua = new Map([
      ['output/influxdb_out.lua', await readFile(path.join(FIXTURES_DIR, 'probe_out.lua'), 'utf8')],
      ['modules/stagetest/helper.lua', await readFile(path.join(FIXTURES_DIR, 'modules/stagetest/helper.lua'), 'utf8')],
    ]);
    await writeHindsightConfig(dir, stack, lua);
    const passwordFile = path.join(dir, 'writer-password');
    await writeFile(passwordFile, 'from-the-secret');
    const stage = await startHindsightStage({
      configDir: dir,
      env: {},
      overrides: {
        output: {
          influxdb: {
            log_path: log,
            password_file: passwordFile,
            influxdb_url: 'http://127.0.0.1:1',
            probe_keys: ['influxdb_url', 'database', 'retention_policy', 'username', 'precision', 'static_tags', 'excluded_tags', 'batch_max_points', 'timeout', 'memory_limit', 'instruction_limit', 'output_limit'],
          },
        },
      },
    });
    try {
      const probe = Object.fromEntries(logLines(log).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      assert.equal(probe['Logger'], 'output.influxdb');
      assert.equal(probe['message_matcher'], OUTPUT_MESSAGE_MATCHER);
      assert.equal(probe['cfg.influxdb_url'], 'http://127.0.0.1:1');
      assert.equal(probe['cfg.database'], stack.influxdb.database);
      assert.equal(probe['cfg.precision'], 'ms');
      assert.equal(probe['cfg.static_tags'], '{}');
      assert.equal(probe['cfg.excluded_tags'], JSON.stringify(stack.hindsight.output.excludedTags));
      assert.equal(probe['password_from_file'], 'from-the-secret');
      // the sandbox limits come from hindsight.cfg's output_defaults, as Hindsight hands them over
      assert.equal(probe['cfg.memory_limit'], String(stack.hindsight.limits.memoryLimit));
      assert.equal(probe['cfg.instruction_limit'], String(stack.hindsight.limits.instructionLimit));
      assert.equal(probe['cfg.output_limit'], String(stack.hindsight.limits.outputLimit));
      assert.notEqual(stage.hekaPort, stack.collector.hekaPort); // the test port, not 5565
      // a Snap collection run reaches the plugin through the compiled matcher
      const publisher = new SnapPublisher({ port: stage.hekaPort, config: stack, nodes: 2 });
      const results = await publisher.tick();
      const sent = results.flatMap((r) => r.records).length;
      await stage.waitFor(() => stage.outputStats()?.process_message === sent, 5000, 'every metric');
      await stage.stop();
      assert.ok(logLines(log).includes(`received=${sent}`));
    } finally {
      await stage.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
