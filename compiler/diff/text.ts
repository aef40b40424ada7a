/**
 * Line diffs of long text values (ConfigMap files): Myers' O(ND) algorithm on the lines left
 * after the common prefix and suffix, and unified hunks for the report.
 */

export type Edit = { op: ' ' | '-' | '+'; line: string };

/** Beyond this many differing lines the diff is given as "all removed, all added". */
const MAX_EDIT_DISTANCE = 4000;

function myers(a: readonly string[], b: readonly string[]): Edit[] | undefined {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_EDIT_DISTANCE);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  // trace[d] holds v over k ∈ [-d-1, d+1] as it was before step d.
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(a, b, trace);
    }
  }
  return undefined;
}

function backtrack(a: readonly string[], b: readonly string[], trace: readonly Int32Array[]): Edit[] {
  const edits: Edit[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const snapshot = trace[d]!;
    const at = (k: number) => snapshot[k + d + 1]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      edits.push({ op: ' ', line: a[x - 1]! });
      x--;
      y--;
    }
    if (d > 0) {
      if (x === prevX) edits.push({ op: '+', line: b[y - 1]! });
      else edits.push({ op: '-', line: a[x - 1]! });
    }
    x = prevX;
    y = prevY;
  }
  return edits.reverse();
}

/** The edit script turning `before` into `after`, line by line. */
export function diffLines(before: readonly string[], after: readonly string[]): Edit[] {
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start++;
  let end = 0;
  while (
    end < before.length - start &&
    end < after.length - start &&
    before[before.length - 1 - end] === after[after.length - 1 - end]
  ) {
    end++;
  }
  const a = before.slice(start, before.length - end);
  const b = after.slice(start, after.length - end);
  const middle = myers(a, b) ?? [...a.map((line) => ({ op: '-' as const, line })), ...b.map((line) => ({ op: '+' as const, line }))];
  return [
    ...before.slice(0, start).map((line) => ({ op: ' ' as const, line })),
    ...middle,
    ...before.slice(before.length - end).map((line) => ({ op: ' ' as const, line })),
  ];
}

export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

export interface TextDiff {
  added: number;
  removed: number;
  /** Unified hunks (`@@ -a,b +c,d @@` and the lines), without file headers. */
  unified: string[];
}

/** A unified diff of two texts with `context` lines around each change. */
export function unifiedDiff(before: string, after: string, context = 2): TextDiff {
  const edits = diffLines(splitLines(before), splitLines(after));
  const added = edits.filter((edit) => edit.op === '+').length;
  const removed = edits.filter((edit) => edit.op === '-').length;
  const changed = edits.flatMap((edit, index) => (edit.op === ' ' ? [] : [index]));
  const unified: string[] = [];
  let i = 0;
  while (i < changed.length) {
    const first = changed[i]!;
    let last = first;
    while (i + 1 < changed.length && changed[i + 1]! - last <= 2 * context + 1) last = changed[++i]!;
    i++;
    const from = Math.max(0, first - context);
    const to = Math.min(edits.length - 1, last + context);
    // Line numbers: count the lines of each side before the hunk.
    let oldLine = 1;
    let newLine = 1;
    for (const edit of edits.slice(0, from)) {
      if (edit.op !== '+') oldLine++;
      if (edit.op !== '-') newLine++;
    }
    const hunk = edits.slice(from, to + 1);
    const oldCount = hunk.filter((edit) => edit.op !== '+').length;
    const newCount = hunk.filter((edit) => edit.op !== '-').length;
    unified.push(`@@ -${oldCount === 0 ? oldLine - 1 : oldLine},${oldCount} +${newCount === 0 ? newLine - 1 : newLine},${newCount} @@`);
    for (const edit of hunk) unified.push(`${edit.op}${edit.line}`);
  }
  return { added, removed, unified };
}
