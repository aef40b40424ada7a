/**
 * The real Snap: snapteld and the plugins built from images/snap's pinned sources by
 * `bash images/snap/build-local.sh`, started through the image's entrypoint with the compiled
 * snapd.yaml and task (test/support/snapd.ts rewrites only paths and ports) and a REST API
 * password file, collecting this machine's /proc and publishing into Hindsight with the plugins
 * of lua/ (the real Hindsight when it is built, else the stage), into a real InfluxDB. Skipped,
 * with one line naming the build command, when the build is not there.
 *
 * SNAP_SOAK_SECONDS (default 120) sets how long the collection runs before it is judged.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { METRIC_FAMILIES, measurementName } from '../../compiler/collector/metrics.ts';
import { SNAP } from '../../compiler/facts.ts';
import { snapTask } from '../../compiler/collector/snap.ts';
import { stack } from '../../config/stack.ts';
import { runDashboards, valuedPoints } from '../support/dashboard-data.ts';
import { quoteIdentifier, quoteString } from '../support/influxdb.ts';
import { decodeMessage, parseFrames } from '../support/heka.ts';
import { startHekaRecorder, type HekaRecorder } from '../support/heka-recorder.ts';
import { hindsightBuild, type RealHindsight } from '../support/hindsight-real.ts';
import type { HindsightStage } from '../support/hindsight-stage.ts';
import { eventually, expectedPoint, startEnginePipeline, storedPoints, type EnginePipeline } from '../support/pipeline.ts';
import { publishedMetric } from '../support/snap-capture.ts';
import { SNAP_NOT_BUILT, snapBuild, startSnapd, type Snapd, type TaskView } from '../support/snapd.ts';

const build = snapBuild();
if (!build) console.log(`# skipped: ${SNAP_NOT_BUILT}`);
/** Into the real Hindsight when it is built (the whole real pipeline), else into the stage. */
const ENGINE = hindsightBuild() ? 'real' : 'stage';

const NODE = 'node-real-1';
const SOAK_MS = Number(process.env['SNAP_SOAK_SECONDS'] ?? 120) * 1000;
const INTERVAL_MS = Number.parseInt(stack.collector.interval, 10) * 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The only task, as the v1 API lists it. */
async function task(snapd: Snapd): Promise<TaskView> {
  const tasks = await snapd.tasks();
  assert.equal(tasks.length, 1, JSON.stringify(tasks));
  return tasks[0]!;
}

describe(`the real Snap, with the compiled task, into the plugin on ${ENGINE === 'real' ? 'the real Hindsight' : 'the Hindsight stage'} and InfluxDB`, { skip: build ? false : SNAP_NOT_BUILT }, () => {
  let pipeline: EnginePipeline;
  let recorder: HekaRecorder;
  let snapd: Snapd;
  let startedMs = 0;

  before(async () => {
    pipeline = await startEnginePipeline(ENGINE, { config: stack, output: { ticker_interval: 1 } });
    // Snap publishes through a recorder: the test knows every message it sent
    recorder = await startHekaRecorder({ forwardTo: pipeline.hindsight.hekaPort });
    startedMs = Date.now();
    snapd = await startSnapd({ build: build!, config: stack, hekaPort: recorder.port, nodeName: NODE });
  });
  after(async () => {
    await snapd?.dispose();
    await recorder?.close();
    await pipeline?.dispose();
  });

  it('auto-loads the task the image entrypoint rendered for the node from auto_discover_path, Running', async () => {
    const log = await snapd.log();
    assert.match(log, new RegExp(`rendered 1 task\\(s\\) for node ${NODE}`));
    const running = await task(snapd);
    assert.equal(running.task_state, 'Running');
    const response = await snapd.api(`/v1/tasks/${running.id}`);
    type Collect = { metrics: Record<string, unknown>; tags: Record<string, Record<string, string>> };
    const detail = (await response.json()) as { body: { workflow: { collect: Collect } } };
    const metrics = Object.keys(detail.body.workflow.collect.metrics).sort();
    const compiled = Object.keys(snapTask(stack.collector).workflow.collect.metrics).sort();
    assert.deepEqual(metrics, compiled);
    assert.deepEqual(Object.values(detail.body.workflow.collect.tags).map((tags) => tags[SNAP.nodeTag]), [NODE]);
  });

  it('reads its REST API password from the config the entrypoint rendered (mode 0600) from the compiled one and the password file, which no log shows', async () => {
    const log = await snapd.log();
    assert.match(log, /rendered .*snapd\.yaml from .*snapd\.yaml with the REST API password from /);
    assert.match(log, /Using REST API authentication without HTTPS enabled/, "snapteld turned basic auth on");
    assert.ok(!log.includes(snapd.apiPassword), 'the log shows the password');
    assert.equal((await stat(snapd.configFile)).mode & 0o777, 0o600);
    const rendered = parseYaml(await readFile(snapd.configFile, 'utf8')) as { restapi: { rest_auth: boolean; rest_auth_password: string } };
    assert.equal(rendered.restapi.rest_auth, true);
    assert.equal(rendered.restapi.rest_auth_password, snapd.apiPassword);
  });

  it('the REST API answers 401 without the password and to a wrong one, 200 with it (whatever the user name), on v1 and v2', async () => {
    for (const apiPath of ['/v1/tasks', '/v1/plugins', '/v2/plugins']) {
      const none = await snapd.api(apiPath, { password: null });
      assert.equal(none.status, 401, `${apiPath} without a password`);
      assert.match(await none.text(), /Not authorized/);
      const wrong = await snapd.api(apiPath, { password: `${snapd.apiPassword}x` });
      assert.equal(wrong.status, 401, `${apiPath} with a wrong password`);
      await wrong.arrayBuffer();
      const empty = await snapd.api(apiPath, { password: '' });
      assert.equal(empty.status, 401, `${apiPath} with an empty password`);
      await empty.arrayBuffer();
      const right = await snapd.api(apiPath);
      assert.equal(right.status, 200, `${apiPath} with the password: ${await right.text()}`);
      const otherUser = await snapd.api(apiPath, { user: 'anyone' });
      assert.equal(otherUser.status, 200, `${apiPath} with the password and another user name`);
      await otherUser.arrayBuffer();
    }
  });

  it('a plugin load (POST /v1/plugins) without the password, or with a wrong one, is refused with 401 and runs nothing; with it, snapteld runs the upload', async () => {
    const plugins = async () => {
      const response = await snapd.api('/v1/plugins');
      assert.equal(response.status, 200);
      const body = (await response.json()) as { body: { loaded_plugins?: { name: string; type: string; version: number }[] } };
      return (body.body.loaded_plugins ?? []).map((plugin) => `${plugin.type}:${plugin.name}:${plugin.version}`).sort();
    };
    // what the upload would do, had snapteld run it as a plugin (trust level 0: unsigned plugins run)
    const marker = path.join(snapd.dir, 'tmp', 'intruder-ran');
    const loaded = await plugins();
    assert.ok(loaded.length > 0, 'the image\'s plugins are loaded');
    const upload = () => {
      const form = new FormData();
      form.append('snap-plugins', new Blob([Buffer.from(`#!/bin/sh\ntouch '${marker}'\n`)]), 'snap-plugin-collector-intruder');
      return form;
    };
    for (const password of [null, 'wrong', `${snapd.apiPassword} `]) {
      const response = await snapd.api('/v1/plugins', { method: 'POST', body: upload(), password });
      assert.equal(response.status, 401, `a plugin load with ${password === null ? 'no password' : 'a wrong password'}`);
      assert.match(await response.text(), /Not authorized/);
    }
    assert.deepEqual(await plugins(), loaded);
    await assert.rejects(stat(marker), 'the upload never ran');
    // the same upload with the password: snapteld runs it (unsigned plugins are trusted), which
    // is what the password guards; not a plugin, it fails to load
    const allowed = await snapd.api('/v1/plugins', { method: 'POST', body: upload(), timeoutMs: 60_000 });
    const answer = await allowed.text();
    assert.notEqual(allowed.status, 401, answer);
    await stat(marker);
    assert.deepEqual(await plugins(), loaded);
  });

  it('the image\'s healthcheck passes with the password file, and says so when it has none or a wrong one', async () => {
    const right = snapd.healthcheck('auth');
    assert.equal(right.code, 0, right.output);
    assert.match(right.output, /1 task\(s\) Running/);
    const none = snapd.healthcheck('auth', null);
    assert.equal(none.code, 1, none.output);
    assert.match(none.output, /unhealthy: the REST API at .* requires a password \(401\) and SNAP_API_PASSWORD_FILE is not set/);
    const wrongFile = path.join(snapd.dir, 'tmp', 'wrong-password');
    await writeFile(wrongFile, 'not-the-password\n');
    const wrong = snapd.healthcheck('auth', wrongFile);
    assert.equal(wrong.code, 1, wrong.output);
    assert.match(wrong.output, new RegExp(`unhealthy: the REST API refused the password from ${wrongFile}`));
    assert.ok(!right.output.includes(snapd.apiPassword) && !wrong.output.includes(snapd.apiPassword));
  });

  it(`collects every family for ${SOAK_MS / 1000} s without a failed run, the healthcheck healthy throughout`, async () => {
    const unhealthy: string[] = [];
    while (Date.now() - startedMs < SOAK_MS) {
      await sleep(20_000);
      const check = snapd.healthcheck('liveness');
      if (check.code !== 0) unhealthy.push(check.output);
    }
    const done = await task(snapd);
    assert.equal(done.failed_count ?? 0, 0, `failed runs; the last: ${done.last_failure_message}`);
    assert.ok((done.hit_count ?? 0) >= Math.floor(SOAK_MS / INTERVAL_MS) - 2, `only ${done.hit_count} runs in ${SOAK_MS / 1000} s`);
    assert.deepEqual(unhealthy, []);
  });

  it('every metric of every family is in InfluxDB tagged with the node, and its instance where it has one, and nothing else', async () => {
    const { influx } = pipeline;
    const runs = (await task(snapd)).hit_count ?? 0;
    const missing: string[] = [];
    for (const name of stack.collector.families) {
      const family = METRIC_FAMILIES[name];
      for (const metric of family.metrics) {
        const measurement = measurementName(family, metric);
        const series = await influx.query(`SELECT count("value") FROM ${quoteIdentifier(measurement)} WHERE "hostname" = ${quoteString(NODE)} GROUP BY *`, 'reader');
        if (series.length === 0) {
          missing.push(measurement);
          continue;
        }
        for (const one of series) {
          // the node and the instance, nothing else: excludedTags keeps the interface's mtu and hardware_addr out
          const tagKeys = Object.entries(one.tags ?? {}).filter(([, value]) => value !== '').map(([key]) => key).sort();
          assert.deepEqual(tagKeys, [SNAP.nodeTag, ...(family.dynamic ? [family.dynamic] : [])].sort(), `${measurement}: ${JSON.stringify(one.tags)}`);
          const count = Number(one.values[0]?.[1]);
          // cpu percentages need two samples, so the first run has none of them
          assert.ok(count >= runs - 2, `${measurement} ${JSON.stringify(one.tags)}: ${count} points from ${runs} runs`);
        }
      }
    }
    assert.deepEqual(missing, [], `measurements with no point from ${NODE}`);
  });

  it('every message Snap sent so far is its point in InfluxDB, exactly: none lost, none changed, none made up', async () => {
    const messages = recorder.publishes.flatMap((publish) => parseFrames(publish).map((frame) => decodeMessage(frame.message)));
    assert.ok(messages.length > 0);
    const expected = new Map(messages.map((message) => expectedPoint(publishedMetric(message), stack)).map((point) => [point.key, point]));
    const lastMs = Math.max(...[...expected.values()].map((point) => point.timeMs));
    const stored = await eventually(`${expected.size} points in InfluxDB`, () => storedPoints(pipeline.influx), (points) => [...expected.keys()].every((key) => points.has(key)));
    for (const [key, point] of expected) {
      const found = stored.get(key)!;
      if (point.type === 'float') assert.ok(Math.abs(Number(found.value) - Number(point.value)) <= Math.abs(Number(point.value)) * 1e-12, key);
      else assert.equal(String(found.value), String(point.value), key);
    }
    const unasked = [...stored.keys()].filter((key) => !expected.has(key) && Number(key.split('|')[2]) <= lastMs);
    assert.deepEqual(unasked, []);
    assert.equal(pipeline.hindsight.errFile(), undefined);
    if (pipeline.engine === 'stage') {
      const stage = pipeline.hindsight as HindsightStage;
      assert.equal(stage.inputStats()!.discarded_bytes, 0, 'the stage could not frame some of what Snap sent');
      assert.equal(stage.outputStats()!.returns['-1'] ?? 0, 0, `messages the plugin refused: ${JSON.stringify(stage.outputStats()!.returns)}`);
    } else {
      const output = (pipeline.hindsight as RealHindsight).pluginStats().find((row) => row.plugin === 'output.influxdb');
      assert.equal(output?.process_message_failures ?? 0, 0, 'messages the plugin refused');
    }
  });

  it('every dashboard panel and variable query returns data from what the real Snap collected', async () => {
    const runs = await runDashboards(pipeline.influx, stack, { fromMs: startedMs, toMs: Date.now() });
    const empty: string[] = [];
    for (const run of runs) {
      for (const [name, variable] of Object.entries(run.variables)) if (variable.values.length === 0) empty.push(`${run.title}: variable ${name}`);
      for (const result of run.panels) {
        const where = `${result.query.dashboard} / ${result.query.panel} / ${result.query.refId}`;
        assert.equal(result.error, undefined, `${where}: ${result.error}`);
        if (valuedPoints(result) === 0) empty.push(`${where}: ${result.text}`);
      }
    }
    assert.deepEqual(empty, []);
  });

  it('Hindsight\'s input gone for 20 s: the failed runs are counted and the healthcheck turns unhealthy, then healthy again', async () => {
    assert.equal(snapd.healthcheck('liveness').code, 0);
    const before = await task(snapd);
    await pipeline.hindsight.kill();
    await recorder.unlisten();
    await sleep(20_000);
    const during = snapd.healthcheck('liveness');
    const failed = await task(snapd);
    await pipeline.hindsight.start();
    await recorder.listen();
    assert.equal(during.code, 1, during.output);
    assert.match(during.output, /run\(s\) since the last check failed \(last failure: .+\)/);
    assert.ok((failed.failed_count ?? 0) > (before.failed_count ?? 0), 'the failed runs are counted');
    // back: the runs succeed again, and the next checks say so
    let after = snapd.healthcheck('liveness');
    for (let i = 0; i < 6 && after.code !== 0; i++) {
      await sleep(INTERVAL_MS);
      after = snapd.healthcheck('liveness');
    }
    assert.equal(after.code, 0, after.output);
  });
});
