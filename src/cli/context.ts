/** Where the CLI finds the API (flags, then HOODY_API_URL / HOODY_TOKEN) and how it reports failures. */
import type { Command } from 'commander';
import { HoodyApiError, HoodyClient } from '../sdk/index.ts';

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

interface GlobalOptions {
  apiUrl?: string;
  token?: string;
}

/** The API settings for this invocation: `--api-url`/`--token`, else the environment, else the default URL. */
export function apiConfig(cmd: Command, env: NodeJS.ProcessEnv = process.env): { baseUrl: string; token: string | undefined } {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return { baseUrl: g.apiUrl || env.HOODY_API_URL || DEFAULT_API_URL, token: g.token || env.HOODY_TOKEN || undefined };
}

export function clientFor(cmd: Command): HoodyClient {
  return new HoodyClient(apiConfig(cmd));
}

/** `error: <message> (<CODE>)`, plus a hint when the daemon could not be reached. */
export function describeError(err: unknown): string {
  if (err instanceof HoodyApiError) {
    const lines = [`error: ${err.message} (${err.code})`];
    if (err.code === 'NETWORK_ERROR') lines.push('hint: is `hoody serve` running? Set HOODY_API_URL or --api-url to where it listens.');
    if (err.code === 'IMAGE_TOO_LARGE' && typeof err.details?.setting === 'string') lines.push(`hint: the server's limit is ${err.details.setting}=${String(err.details.max)} (its operator may raise it).`);
    if (err.code === 'UNAUTHORIZED') lines.push('hint: set HOODY_TOKEN or --token (a generated admin token is in <data-dir>/admin-token).');
    return lines.join('\n');
  }
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}
