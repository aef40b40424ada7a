/**
 * The rendered diff of a change: base/, every overlay and every clusters/<env> built at the base
 * ref and at the head (the working tree, or a ref), compared object by object; and its markdown
 * form, the pull request comment.
 */
import { buildSide, checkoutRef, copyWorkingTree, removeSide, type Side } from './trees.ts';
import { compareBuilds, hasChanges, type EnvironmentDiff } from './compare.ts';

export interface DiffOptions {
  /** The repository (a git work tree). */
  root: string;
  base: string;
  /** A ref; the working tree when not given. */
  head?: string;
}

export interface SideInfo {
  label: string;
  commit?: string;
}

export interface RenderedDiff {
  base: SideInfo;
  head: SideInfo;
  /** Every build present on either side: `base`, then `overlays/<env>`, then `clusters/<env>`. */
  environments: EnvironmentDiff[];
}

export async function renderedDiff(options: DiffOptions): Promise<RenderedDiff> {
  const sides: Side[] = [];
  try {
    sides.push(await checkoutRef(options.root, options.base));
    sides.push(options.head === undefined ? await copyWorkingTree(options.root) : await checkoutRef(options.root, options.head));
    const [before, after] = await Promise.all(sides.map(buildSide));
    const rank = (target: string) => (target === 'base' ? 0 : target.startsWith('overlays/') ? 1 : 2);
    const targets = [...new Set([...before!.keys(), ...after!.keys()])].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    const info = ({ label, commit }: Side): SideInfo => (commit ? { label, commit } : { label });
    return {
      base: info(sides[0]!),
      head: info(sides[1]!),
      environments: targets.map((target) => compareBuilds(target, before!.get(target) ?? [], after!.get(target) ?? [])),
    };
  } finally {
    await Promise.all(sides.map(removeSide));
  }
}

export function changed(diff: RenderedDiff): boolean {
  return diff.environments.some(hasChanges);
}

/** A code span holding any text (backticks included). */
function code(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function fenced(lines: readonly string[], language: string): string[] {
  const longest = Math.max(2, ...lines.flatMap((line) => [...line.matchAll(/`+/g)].map((match) => match[0].length)));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}${language}`, ...lines, fence];
}

const sideName = ({ label, commit }: SideInfo) => (!commit ? label : label === commit ? code(commit.slice(0, 12)) : `${code(label)} (${commit.slice(0, 12)})`);

/** At most this many diff lines per field in the comment. */
const MAX_DIFF_LINES = 80;

export function toMarkdown(diff: RenderedDiff): string {
  const lines: string[] = [`### Rendered manifests: ${sideName(diff.base)} → ${sideName(diff.head)}`, ''];
  if (!changed(diff)) {
    lines.push('No changes: `base/`, every overlay and every `clusters/<env>` build the same objects.');
    return `${lines.join('\n')}\n`;
  }
  lines.push('| build | added | removed | changed |', '|---|---:|---:|---:|');
  for (const env of diff.environments) lines.push(`| ${env.name} | ${env.added.length} | ${env.removed.length} | ${env.changed.length} |`);
  for (const env of diff.environments.filter(hasChanges)) {
    lines.push('', `#### ${env.name}`, '');
    for (const id of env.added) lines.push(`- added ${code(id)}`);
    for (const id of env.removed) lines.push(`- removed ${code(id)}`);
    for (const object of env.changed) {
      lines.push(`- changed ${code(object.id)}`);
      for (const field of object.fields) {
        const summary = field.before !== undefined && field.after !== undefined ? `${code(field.before)} → ${code(field.after)}` : field.summary;
        lines.push(`  - ${code(field.path)}: ${summary}`);
      }
    }
    const diffs = env.changed.flatMap((object) => object.fields.filter((field) => field.diff).map((field) => ({ id: object.id, field })));
    for (const { id, field } of diffs) {
      const hunks = field.diff!;
      const shown = hunks.length > MAX_DIFF_LINES ? [...hunks.slice(0, MAX_DIFF_LINES), `… ${hunks.length - MAX_DIFF_LINES} more lines`] : hunks;
      lines.push('', `<details><summary><code>${escapeHtml(id)}</code> <code>${escapeHtml(field.path)}</code>: ${escapeHtml(field.summary)}</summary>`, '', ...fenced(shown, 'diff'), '', '</details>');
    }
  }
  return `${lines.join('\n')}\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
