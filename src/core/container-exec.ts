/**
 * Running a command in a running container (`POST /containers/{id}/exec`): argv, environment,
 * working directory, user (a name the container's /etc/passwd knows, or `uid[:gid]`), optional
 * stdin text and a timeout. The answer carries its exit code and output (each stream up to a cap;
 * the rest is counted, not kept), or streams the output as it comes. A command past its timeout,
 * or whose caller goes, is killed with everything it started in its session.
 */
import { EXEC_STDIN_MAX_BYTES, type ExecBody, type ExecResult } from '../api/schemas.ts';

export type { ExecResult } from '../api/schemas.ts';
import type { ContainerRecord } from '../store/store.ts';
import { RuntimeError, type ExecProcess, type ExecSpec, type RuntimeDriver } from '../runtime/driver.ts';
import type { Actor } from './actor.ts';
import { HoodyError, invalidInput } from './errors.ts';
import { TRANSITION_TABLE } from './transitions.ts';

/** What a caller asks to run (`ExecBody` of the API). */
export type ExecRequest = ExecBody;

/** A container checked for an exec, the user it runs as, and the bytes of its stdin. */
export interface Prepared {
  container: ContainerRecord;
  stdin: Buffer;
  user?: { uid: number; gid: number; additionalGids: number[] };
}

export interface ExecDeps {
  /** The container the actor may see, on this server (NOT_FOUND, WRONG_SERVER otherwise). */
  get(actor: Actor, id: string): Promise<ContainerRecord>;
  driver: Pick<RuntimeDriver, 'exec' | 'resolveUser'>;
  /** Bytes of each stream kept in an answer that is not streamed. */
  maxOutputBytes?: number;
}

/** Default cap of each stream in an answer. */
export const EXEC_OUTPUT_CAP = 1024 * 1024;
/** How long a command runs when the request does not say. */
export const EXEC_DEFAULT_TIMEOUT_S = 300;
/** After SIGTERM to a session past its timeout, how long before SIGKILL. */
const KILL_GRACE_MS = 2000;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The bytes of a request's stdin (UTF-8 text, or base64), or INVALID_INPUT when they are not valid or over 1 MiB. */
function stdinBytes(req: Pick<ExecRequest, 'stdin' | 'encoding'>): Buffer {
  const text = req.stdin ?? '';
  if (req.encoding === 'base64' && (text.length % 4 !== 0 || !BASE64.test(text))) throw invalidInput('stdin is not base64 (encoding "base64")', { field: 'stdin' });
  const bytes = Buffer.from(text, req.encoding ?? 'utf8');
  if (bytes.length > EXEC_STDIN_MAX_BYTES) throw invalidInput(`stdin is ${bytes.length} bytes, more than the ${EXEC_STDIN_MAX_BYTES} allowed`, { field: 'stdin' });
  return bytes;
}

export class ContainerExec {
  constructor(private readonly deps: ExecDeps) {}

  /** Refuses what `run` would refuse before anything runs: not found, not running (INVALID_TRANSITION), a user the container does not know. */
  async prepare(actor: Actor, id: string, req: ExecRequest): Promise<Prepared> {
    const c = await this.deps.get(actor, id);
    if (c.status !== 'running' || (c.current_operation && ['stop', 'force-stop', 'pause', 'restart', 'delete'].includes(c.current_operation.operation))) {
      throw new HoodyError('INVALID_TRANSITION', `cannot exec in container "${c.name}": it is ${c.current_operation ? `${c.status} (${c.current_operation.operation} in progress)` : c.status}`, {
        status: c.status,
        operation: 'exec',
        allowed_operations: TRANSITION_TABLE[c.status],
      });
    }
    for (const key of Object.keys(req.env ?? {})) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw invalidInput(`environment variable name "${key}" is not valid`, { field: 'env' });
    const stdin = stdinBytes(req);
    if (req.user === undefined) return { container: c, stdin };
    try {
      return { container: c, stdin, user: await this.deps.driver.resolveUser(c.id, req.user) };
    } catch (err) {
      if (err instanceof RuntimeError) throw invalidInput(err.message, { field: 'user' });
      throw err;
    }
  }

  /**
   * Runs the command; `onOutput` (when given) gets each chunk as it comes and may wait (the
   * reader's pace), and then nothing is kept in the answer. Resolves when it has ended.
   */
  async run(
    actor: Actor,
    id: string,
    req: ExecRequest,
    onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => Promise<void>,
    signal?: AbortSignal,
    /** What `prepare` answered, when the caller checked first (its container read and user lookup are not made again). */
    prepared?: Prepared,
  ): Promise<ExecResult> {
    const { container, user, stdin } = prepared ?? (await this.prepare(actor, id, req));
    const began = performance.now();
    const proc = await startExec(this.deps.driver, container.id, {
      argv: req.command,
      env: { ...container.environment_vars, ...req.env },
      ...(req.cwd ? { cwd: req.cwd } : {}),
      ...(user ? { user } : {}),
    });
    const { child } = proc;
    const cap = this.deps.maxOutputBytes ?? EXEC_OUTPUT_CAP;
    const kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const bytes = { stdout: 0, stderr: 0 };
    let timedOut = false;
    const collect = (stream: 'stdout' | 'stderr') => async (chunk: Buffer) => {
      const before = bytes[stream];
      bytes[stream] += chunk.length;
      if (onOutput) return onOutput(stream, chunk);
      if (before < cap) kept[stream].push(chunk.subarray(0, cap - before));
    };
    const pump = (stream: 'stdout' | 'stderr'): Promise<void> => {
      const source = child[stream];
      if (!source) return Promise.resolve();
      const take = collect(stream);
      return (async () => {
        for await (const chunk of source as AsyncIterable<Buffer>) await take(chunk);
      })().catch(() => undefined);
    };
    const ended = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, sig) => resolve({ code, sig }));
      child.once('error', () => resolve({ code: null, sig: null }));
    });
    const kill = async (): Promise<void> => {
      await proc.killSession('SIGTERM').catch(() => undefined);
      const late = setTimeout(() => void proc.killSession('SIGKILL').catch(() => undefined), KILL_GRACE_MS);
      await ended;
      clearTimeout(late);
    };
    const timer = setTimeout(
      () => {
        timedOut = true;
        void kill();
      },
      (req.timeout ?? EXEC_DEFAULT_TIMEOUT_S) * 1000,
    );
    const onAbort = (): void => void kill();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    }
    try {
      // what it started in the background and left running stays, as with `docker exec`
      const [exit] = await Promise.all([ended, pump('stdout'), pump('stderr')]);
      return {
        exit_code: exit.code,
        signal: exit.sig,
        stdout: Buffer.concat(kept.stdout).toString(req.encoding ?? 'utf8'),
        stderr: Buffer.concat(kept.stderr).toString(req.encoding ?? 'utf8'),
        stdout_bytes: bytes.stdout,
        stderr_bytes: bytes.stderr,
        timed_out: timedOut,
        duration_ms: Math.round(performance.now() - began),
      };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Starts a command in a container; a container the runtime cannot enter answers EXEC_UNSUPPORTED. */
export async function startExec(driver: Pick<RuntimeDriver, 'exec'>, containerId: string, spec: ExecSpec): Promise<ExecProcess> {
  try {
    return await driver.exec(containerId, spec);
  } catch (err) {
    if (err instanceof RuntimeError && err.kind === 'unsupported') throw new HoodyError('EXEC_UNSUPPORTED', err.message, err.details);
    throw err;
  }
}
