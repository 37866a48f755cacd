/** Runs a program with an argv array (never a shell string) and returns its output. */
import { spawn } from 'node:child_process';
import { childEnv } from './child-env.ts';
import { RuntimeError } from './driver.ts';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

const MAX_OUTPUT = 16 * 1024 * 1024;

/** Rejects with a RuntimeError carrying the program's stderr when it exits non-zero. */
export function runCommand(file: string, args: readonly string[], signal?: AbortSignal, timeoutMs = 60_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(), signal, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += d;
    });
    child.on('error', (err) => reject(new RuntimeError('failed', `${describe(file, args)}: ${err.message}`, { stderr })));
    child.on('close', (code, sig) => {
      if (code === 0) return resolve({ stdout, stderr });
      const message = (stderr.trim() || `exited with ${code ?? sig}`).split('\n').slice(-3).join('; ');
      reject(new RuntimeError('failed', `${describe(file, args)}: ${message}`, { exit: code ?? sig, stderr: stderr.slice(-4096) }));
    });
  });
}

const describe = (file: string, args: readonly string[]): string => `${file.slice(file.lastIndexOf('/') + 1)} ${args.find((a) => !a.startsWith('-')) ?? ''}`.trim();
