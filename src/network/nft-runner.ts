/**
 * Runs nft scripts: in-process through libnftables (the library the nft command is built on,
 * through koffi) when it loads, otherwise by spawning `nft -f -`. In-process, a change is one
 * netlink transaction of about a millisecond instead of a process start (tens of milliseconds on
 * a loaded host), run on libuv's thread pool.
 */
import { onThreadPool, type NativeFn } from '../runtime/libc.ts';
import { runTool, ToolError } from './run-tool.ts';

export interface NftRunner {
  /** Runs the script as one transaction; `json` makes list commands answer in JSON. Resolves their output. */
  run(script: string, opts?: { json?: boolean; signal?: AbortSignal }): Promise<string>;
  readonly mode: 'library' | 'cli';
}

const NFT_CTX_OUTPUT_JSON = 1 << 4;

interface Libnftables {
  nft_ctx_new: (flags: number) => unknown;
  nft_ctx_free: (ctx: unknown) => void;
  nft_ctx_buffer_output: (ctx: unknown) => number;
  nft_ctx_buffer_error: (ctx: unknown) => number;
  nft_ctx_get_output_buffer: (ctx: unknown) => string | null;
  nft_ctx_get_error_buffer: (ctx: unknown) => string | null;
  nft_ctx_output_set_flags: (ctx: unknown, flags: number) => void;
  nft_run_cmd_from_buffer: NativeFn<[ctx: unknown, buf: string]>;
}

/** The library runner, or the CLI's when libnftables.so.1 (or koffi) cannot be loaded. */
export async function openNftRunner(preferCli = false): Promise<NftRunner> {
  const lib = preferCli ? undefined : await loadLibnftables().catch(() => undefined);
  if (!lib) {
    return {
      mode: 'cli',
      // with -j, nft would read a file as JSON input: a JSON listing is one command given as arguments
      run: (script, opts = {}) =>
        opts.json ? runTool('nft', ['-j', ...script.trim().split(/\s+/)], { signal: opts.signal }) : runTool('nft', ['-f', '-'], { input: script, signal: opts.signal }),
    };
  }
  return {
    mode: 'library',
    run: async (script, opts = {}) => {
      if (opts.signal?.aborted) throw opts.signal.reason;
      // a context per script: its cache is never older than the script
      const ctx = lib.nft_ctx_new(0);
      try {
        lib.nft_ctx_buffer_output(ctx);
        lib.nft_ctx_buffer_error(ctx);
        if (opts.json) lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
        // on the thread pool: the event loop goes on meanwhile (a transaction takes from a fraction of a
        // millisecond to ~10 ms when the kernel is busy with namespaces coming and going)
        const rc = await onThreadPool(lib.nft_run_cmd_from_buffer, ctx, script);
        if (rc !== 0) {
          const stderr = lib.nft_ctx_get_error_buffer(ctx) ?? '';
          throw new ToolError(`nft: ${stderr.trim().split('\n').slice(0, 3).join('; ') || `failed (${rc})`}`, stderr);
        }
        return lib.nft_ctx_get_output_buffer(ctx) ?? '';
      } finally {
        lib.nft_ctx_free(ctx);
      }
    },
  };
}

let loaded: Promise<Libnftables> | undefined;

/** The library's functions, bound once per process (koffi refuses a second declaration of its types). */
function loadLibnftables(): Promise<Libnftables> {
  loaded ??= bindLibnftables();
  // a failure is not kept: the next runner tries again
  loaded.catch(() => {
    loaded = undefined;
  });
  return loaded;
}

async function bindLibnftables(): Promise<Libnftables> {
  const { default: koffi } = await import('koffi');
  const lib = koffi.load('libnftables.so.1');
  koffi.opaque('nft_ctx');
  return {
    nft_ctx_new: lib.func('nft_ctx *nft_ctx_new(uint32_t flags)'),
    nft_ctx_free: lib.func('void nft_ctx_free(nft_ctx *ctx)'),
    nft_ctx_buffer_output: lib.func('int nft_ctx_buffer_output(nft_ctx *ctx)'),
    nft_ctx_buffer_error: lib.func('int nft_ctx_buffer_error(nft_ctx *ctx)'),
    nft_ctx_get_output_buffer: lib.func('const char *nft_ctx_get_output_buffer(nft_ctx *ctx)'),
    nft_ctx_get_error_buffer: lib.func('const char *nft_ctx_get_error_buffer(nft_ctx *ctx)'),
    nft_ctx_output_set_flags: lib.func('void nft_ctx_output_set_flags(nft_ctx *ctx, unsigned int flags)'),
    nft_run_cmd_from_buffer: lib.func('int nft_run_cmd_from_buffer(nft_ctx *nft, const char *buf)'),
  } as Libnftables;
}
