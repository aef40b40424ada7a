/**
 * Last-resort cleanup of what the test support starts (influxd, the Hindsight stage): when the
 * test process exits, or is killed by SIGINT/SIGTERM/SIGHUP (node:test's timeouts), registered
 * functions run synchronously (SIGKILL children, remove temp directories), the last registered
 * first: a process is killed before the directory it was started in is removed. Tests should
 * still stop what they start (after() hooks, dispose()); this only keeps orphans from piling up.
 */
import { rmSync } from 'node:fs';

const cleanups = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const cleanup of [...cleanups].reverse()) {
    try {
      cleanup();
    } catch {
      // keep going: this is best effort
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      // someone else handles the signal (e.g. the stage's command line, which stops cleanly)
      if (process.listenerCount(signal) > 1) return;
      runAll();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal); // die of it, as without this handler
    };
    process.on(signal, handler);
  }
}

/** Registers a synchronous cleanup; returns a function that unregisters it. */
export function onProcessEnd(cleanup: () => void): () => void {
  install();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Removes `dir` at the test process's end; returns a function that unregisters it. */
export function removeAtProcessEnd(dir: string): () => void {
  return onProcessEnd(() => rmSync(dir, { recursive: true, force: true }));
}
