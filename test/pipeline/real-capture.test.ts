/**
 * Golden test on what the real Snap sends: the committed capture (test/fixtures/snap/, made by
 * test/support/snap-capture.ts from snapteld and the plugins built from images/snap) replayed
 * byte for byte into Hindsight with the plugins of lua/ (the stage, and the real Hindsight when
 * it is built), into a real InfluxDB. Every
 * message must become exactly the point the contract gives (docs/pipeline.md: What Snap sends), read from
 * the message independently of the plugin (publishedMetric), with the catalogue's field type.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { METRIC_FAMILIES, measurementName } from '../../compiler/collector/metrics.ts';
import { CAPTURE_FILE, captureConfig, publishedMetric, readCapture } from '../support/snap-capture.ts';
import { availableEngines, eventually, expectedPoint, fieldTypes, startEnginePipeline, storedPoints, type EnginePipeline, type ExpectedPoint } from '../support/pipeline.ts';

const config = captureConfig();
const expected = readCapture().map((message) => expectedPoint(publishedMetric(message), config));

async function replay(port: number, bytes: Uint8Array): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  await new Promise<void>((resolve, reject) => socket.end(bytes, () => resolve()).once('error', reject));
}

for (const engine of availableEngines()) {
  describe(`the real Snap capture through the plugin into InfluxDB, on ${engine === 'real' ? 'the real Hindsight' : 'the Hindsight stage'}`, () => {
    let pipeline: EnginePipeline;
    let stored: Awaited<ReturnType<typeof storedPoints>>;

    before(async () => {
      // the capture's points keep their collection times: a retention of any age keeps them
      pipeline = await startEnginePipeline(engine, { config, retention: 'INF', output: { ticker_interval: 1 } });
      await replay(pipeline.hindsight.hekaPort, gunzipSync(readFileSync(CAPTURE_FILE)));
      stored = await eventually('every captured message in InfluxDB', () => storedPoints(pipeline.influx), (points) => points.size >= new Set(expected.map((p) => p.key)).size);
    });
    after(() => pipeline?.dispose());

    it('every message is exactly its point: measurement, tags, time, value', () => {
      assert.ok(expected.length > 500, `${expected.length} messages in the capture`);
      const wrong: string[] = [];
      for (const point of expected) {
        const found = stored.get(point.key);
        if (!found) wrong.push(`missing ${point.key}`);
        else if (!sameValue(found.value, point)) wrong.push(`${point.key}: ${String(found.value)} instead of ${String(point.value)}`);
      }
      const extra = [...stored.keys()].filter((key) => !expected.some((point) => point.key === key));
      assert.deepEqual(wrong, []);
      assert.deepEqual(extra, [], 'points that no message asked for');
      assert.equal(pipeline.hindsight.errFile(), undefined);
    });

    it('each measurement has the catalogue\'s field type', async () => {
      const types = await fieldTypes(pipeline.influx);
      for (const name of config.collector.families) {
        const family = METRIC_FAMILIES[name];
        for (const metric of family.metrics) {
          const measurement = measurementName(family, metric);
          assert.equal(types.get(measurement), metric.type, measurement);
        }
      }
    });

    it('interfaces are tagged interface=<name>, without their MTU or MAC (excludedTags)', () => {
      const interfaces = expected.filter((point) => point.measurement === 'intel.procfs.iface.bytes_recv');
      assert.ok(interfaces.some((point) => point.tags['interface'] === 'eth0'), JSON.stringify(interfaces.map((point) => point.tags)));
      for (const point of interfaces) {
        assert.deepEqual(Object.keys(point.tags).sort(), ['hostname', 'interface']);
        assert.ok(stored.has(point.key), point.key);
      }
    });
  });
}

/** InfluxDB's JSON gives integers as numbers: compare as the point's type says. */
function sameValue(stored: unknown, point: ExpectedPoint): boolean {
  if (point.type === 'float') return Math.abs(Number(stored) - Number(point.value)) <= Math.abs(Number(point.value)) * 1e-12;
  return String(stored) === String(point.value);
}
