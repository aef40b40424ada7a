/**
 * `npm run preview [-- --out <dir>]`: renders every panel of every provisioned dashboard to a PNG
 * (default preview/<dashboard uid>/<nn>-<panel>.png), from a test InfluxDB filled by the real
 * pipeline (the mock Snap publisher through the Hindsight stage and the plugins of lua/), so a
 * reviewer can look at the dashboards in a pull request without a cluster.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stack } from '../../config/stack.ts';
import { fillFromPipeline, runDashboards } from '../support/dashboard-data.ts';
import { renderPanel, type TableLook } from './render.ts';
import type { Transformation } from '../support/grafana-tables.ts';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = resolve(values.out ?? 'preview');

interface PanelJson {
  id: number;
  type: string;
  title: string;
  fieldConfig?: {
    defaults?: { unit?: string };
    overrides?: { matcher: { id: string; options: string }; properties: { id: string; value: string }[] }[];
  };
  options?: { sortBy?: { displayName: string }[] };
  targets?: { refId: string; alias?: string }[];
  transformations?: Transformation[];
}

function tableLook(panel: PanelJson): TableLook {
  const units: Record<string, string> = {};
  for (const override of panel.fieldConfig?.overrides ?? []) {
    const unit = override.properties.find((property) => property.id === 'unit');
    if (override.matcher.id === 'byName' && unit) units[override.matcher.options] = unit.value;
  }
  const sortBy = panel.options?.sortBy?.[0]?.displayName;
  return { transformations: panel.transformations ?? [], units, ...(sortBy !== undefined && { sortBy }) };
}

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

const filled = await fillFromPipeline(stack);
try {
  const runs = await runDashboards(filled.pipeline.influx, stack, filled);
  await rm(out, { recursive: true, force: true });
  let count = 0;
  for (const run of runs) {
    const dir = join(out, run.uid);
    await mkdir(dir, { recursive: true });
    const panels = (run.dashboard.panels as PanelJson[]).filter((panel) => panel.type !== 'row');
    for (const [index, panel] of panels.entries()) {
      const results = run.panels.filter((result) => result.query.panel === panel.title);
      const png = renderPanel(
        { type: panel.type, title: panel.title, unit: panel.fieldConfig?.defaults?.unit ?? 'short', aliases: (panel.targets ?? []).map((target) => target.alias), table: tableLook(panel) },
        results,
      );
      const file = join(dir, `${String(index + 1).padStart(2, '0')}-${slug(panel.title)}.png`);
      await writeFile(file, png);
      count += 1;
    }
    console.log(`${run.title}: ${panels.length} panels → ${dir}`);
  }
  console.log(`preview: ${count} PNG files in ${out}`);
} finally {
  await filled.pipeline.dispose();
}
