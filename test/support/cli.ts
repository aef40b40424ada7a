/**
 * Runs one of the project's CLIs (compiler/cli/<script>) as `npm run` does: through the launcher,
 * from its bundle, in a process of its own; returns its exit code and output, whether it
 * succeeded or not.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../compiler/tools.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `stdin`, when given, is written to the CLI's standard input (otherwise it reads an empty one). */
export function runCli(script: string, args: readonly string[], stdin = ''): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const cli = script.replace(/\.ts$/, '');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'compiler/cli/launch.mjs'), cli, ...args], { cwd: REPO_ROOT });
    child.stdin.on('error', reject);
    child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** runCli, failing with the CLI's output unless it exits 0. */
export async function runCliOk(script: string, args: readonly string[], stdin = ''): Promise<CliResult> {
  const result = await runCli(script, args, stdin);
  if (result.code !== 0) throw new Error(`${script} ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result;
}
