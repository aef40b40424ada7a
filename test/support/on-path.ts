/** A command as `command -v` finds it: the first executable file of that name on PATH. */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
