/**
 * The process `runc exec --process` runs: the container's own process (its capabilities, limits,
 * no-new-privileges, environment) with the command's arguments, environment, working directory,
 * user and terminal, as `runc exec`'s flags would set them. Passing it as a file keeps the
 * environment off runc's command line (readable by anyone in /proc) and sets the terminal's size
 * before the command starts (with `--tty` alone, runc copies the size over after it started).
 */
import type { ExecSpec } from '../driver.ts';

/** The parts of an OCI process this reads and sets; everything else is kept as the container's. */
export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; additionalGids?: number[]; [k: string]: unknown };
  args: string[];
  env?: string[];
  cwd: string;
  [k: string]: unknown;
}

export function execProcess(container: OciProcess, spec: ExecSpec): OciProcess {
  const env = new Map<string, string>();
  for (const entry of container.env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  // the command's variables win over the container's
  for (const [k, v] of Object.entries(spec.env)) {
    env.delete(k);
    env.set(k, v);
  }
  const { consoleSize: _ignored, ...base } = container;
  return {
    ...base,
    args: [...spec.argv],
    env: [...env].map(([k, v]) => `${k}=${v}`),
    cwd: spec.cwd ?? container.cwd,
    user: spec.user ? { uid: spec.user.uid, gid: spec.user.gid, additionalGids: [...(spec.user.additionalGids ?? [])] } : container.user,
    terminal: spec.tty !== undefined,
    ...(spec.tty?.cols && spec.tty.rows ? { consoleSize: { height: spec.tty.rows, width: spec.tty.cols } } : {}),
  };
}
