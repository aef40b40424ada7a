/**
 * Last-resort cleanup of what the test support starts (influxd, the Hindsight stage): when the
 * test process exits, or is killed by SIGINT/SIGTERM/SIGHUP (node:test's timeouts), registered
 * functions run synchronously (SIGKILL children, remove temp directories). Tests should still
 * stop what they start (after() hooks, dispose()); this only keeps orphans from piling up.
 */
const cleanups = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const cleanup of [...cleanups]) {
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
