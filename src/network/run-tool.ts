/** Runs ip, nft and nsenter with an argv array and optional stdin (a batch or a script). */
import { spawn } from 'node:child_process';

/** A tool that exited non-zero: the message carries its last lines of stderr. */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** A fixed PATH and C messages: the daemon's environment (and its secrets) stays out of these tools. */
const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
const TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 16 * 1024 * 1024;

export function runTool(file: string, args: readonly string[], opts: { input?: string; signal?: AbortSignal } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: TOOL_ENV, signal: opts.signal, timeout: TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += d;
    });
    // a tool that exits before reading all of its input (on a bad first line) must not fail the write
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input);
    child.on('error', (err) => reject(new ToolError(`${file} ${args.join(' ')}: ${err.message}`, stderr)));
    child.on('close', (code, sig) => {
      if (code === 0) return resolve(stdout);
      const why = (stderr.trim() || `exited with ${code ?? sig}`).split('\n').slice(-4).join('; ');
      reject(new ToolError(`${file} ${args.join(' ')}: ${why}`, stderr));
    });
  });
}
