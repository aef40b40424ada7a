/**
 * The life cycle of what the test support starts (influxd, the Hindsight stage's processes, the
 * real Hindsight, snapteld, the control plane): ManagedChild is one child process, its output
 * kept (the last lines, or appended to a log file), SIGKILLed at the test process's end should
 * nobody stop it (cleanup.ts); TempDirOwner is a harness with a temp directory of its own,
 * removed by dispose() or, should a test forget, at the test process's end.
 */
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { onProcessEnd, removeAtProcessEnd } from './cleanup.ts';

/** Resolves true when `promise` settles within `ms`, false otherwise; the timer never holds the process. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  return Promise.race([promise.then(() => true), expired]).finally(() => clearTimeout(timer));
}

/** The last `max` lines of output, of one process or of several (the stage's), kept across restarts. */
export class LogLines {
  private readonly lines: string[] = [];
  constructor(
    private readonly max = 500,
    /** Copy each line to this process's stderr as it comes. */
    private readonly echo = false,
  ) {}

  readonly add = (line: string): void => {
    if (!line) return;
    if (this.echo) process.stderr.write(`${line}\n`);
    if (this.lines.push(line) > this.max) this.lines.shift();
  };

  toString(): string {
    return this.lines.join('\n');
  }
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Append stdout and stderr to this file (the child writes it itself) instead of keeping lines. */
  logFile?: string;
  /** Where the lines go (default: a LogLines of the child's own). */
  log?: LogLines;
  /** stdout's lines go here instead of the log (the stage's events). */
  onStdout?: (line: string) => void;
  /** A pipe to stdin (default: none). */
  stdin?: StdioPipe | StdioNull;
  /** How stop() asks the program to stop (default: SIGTERM). */
  terminate?: (child: ChildProcess) => void;
}

function spawnLogging(command: string, args: readonly string[], options: ChildOptions): ChildProcess {
  const out = options.logFile === undefined ? 'pipe' : openSync(options.logFile, 'a');
  try {
    return spawn(command, args, { env: options.env ?? process.env, stdio: [options.stdin ?? 'ignore', out, out] });
  } finally {
    if (typeof out === 'number') closeSync(out); // the child has its own copy
  }
}

/** One child process: spawned at construction, stopped with SIGTERM (or `terminate`) and then SIGKILL. */
export class ManagedChild {
  readonly child: ChildProcess;
  /** Resolves when the process has exited, or could not be started. */
  readonly exited: Promise<void>;
  readonly log: LogLines;
  /** Why the program could not be started (ENOENT, EACCES), if it could not. */
  spawnError?: Error;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    private readonly options: ChildOptions = {},
  ) {
    this.log = options.log ?? new LogLines();
    const child = (this.child = spawnLogging(command, args, options));
    child.stdin?.on('error', () => undefined); // EPIPE when it has gone
    if (child.stdout) createInterface({ input: child.stdout }).on('line', options.onStdout ?? this.log.add);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', this.log.add);
    const forget = onProcessEnd(() => this.killSync());
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (error) => {
        if (child.pid !== undefined) return; // a failed kill(), not a failed spawn
        this.spawnError = error;
        this.log.add(`${name}: could not start: ${error.message}`);
        resolve();
      });
    }).finally(forget);
  }

  get running(): boolean {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** How it ended: the exit code, the signal, or why it could not start. */
  get exitStatus(): string {
    return this.spawnError?.message ?? String(this.child.exitCode ?? this.child.signalCode ?? 'could not start');
  }

  /** Its output: the log file's, and the lines kept (with a logFile, only why it could not start). */
  logs(): string {
    const file = this.options.logFile;
    const written = file && existsSync(file) ? readFileSync(file, 'utf8').trimEnd() : '';
    return [written, String(this.log)].filter(Boolean).join('\n');
  }

  logTail(lines = 20): string {
    return this.logs().split('\n').slice(-lines).join('\n');
  }

  /** Polls `ready` every intervalMs until it holds; throws, with the output, if the process exits first or timeoutMs passes. */
  async waitFor(ready: () => Promise<boolean>, what: string, timeoutMs: number, intervalMs = 50): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      if (!this.running) throw new Error(`${this.name} exited (${this.exitStatus}) while starting:\n${this.logs()}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: ${what} not within ${timeoutMs} ms:\n${this.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  /** Asks it to stop (SIGTERM, or `terminate`), SIGKILL after graceMs; resolves when it is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    (this.options.terminate ?? ((child) => child.kill('SIGTERM')))(this.child);
    if (!(await within(this.exited, graceMs))) await this.kill();
  }

  /** SIGKILL; resolves when it is gone (waiting 5 s at most). */
  async kill(): Promise<void> {
    this.killSync();
    await within(this.exited, 5000);
  }

  /** SIGKILL without waiting (the process-end hook). */
  killSync(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

/**
 * A harness whose files live in a temp directory of its own (influxd's data, the stage's copy of
 * the config): dispose() stops its processes and removes the directory, once (later calls wait
 * for the first); should a test forget, the directory goes at the test process's end, after the
 * processes started in it were killed (cleanup.ts runs the last registered first).
 */
export abstract class TempDirOwner implements AsyncDisposable {
  private disposing?: Promise<void>;
  private readonly forget: () => void;

  constructor(
    readonly dir: string,
    /** The grace dispose() gives the processes before SIGKILL (default: stop()'s). */
    private readonly disposeGraceMs?: number,
  ) {
    this.forget = removeAtProcessEnd(dir);
  }

  abstract stop(graceMs?: number): Promise<void>;

  get disposed(): boolean {
    return this.disposing !== undefined;
  }

  /** Stops the processes and removes the directory. */
  dispose(): Promise<void> {
    this.disposing ??= this.stop(this.disposeGraceMs).then(async () => {
      this.forget();
      await rm(this.dir, { recursive: true, force: true });
    });
    return this.disposing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** A new temp directory for a harness: stacklight-<name>-XXXXXX (the prefix tells whose it is). */
export function makeTempDir(name: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `stacklight-${name}-`));
}

/** Starts `owner`, disposing of it (its directory with it) should the start fail. */
export async function started<T extends TempDirOwner & { start(): Promise<void> }>(owner: T): Promise<T> {
  try {
    await owner.start();
  } catch (error) {
    await owner.dispose().catch(() => undefined);
    throw error;
  }
  return owner;
}
