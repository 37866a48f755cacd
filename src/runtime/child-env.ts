/**
 * The environment a child process of the daemon gets: an allow-list, never the daemon's own
 * environment, which holds secrets (HOODY_ADMIN_TOKEN, a database URL with its password) that a
 * long-lived child would expose in /proc/<pid>/environ for as long as it runs.
 */

/** Variables a child may need to find programs and format times; nothing else is passed on. */
const PASSED_ON = ['PATH', 'TZ', 'TMPDIR', 'LANG', 'LC_ALL'] as const;

/** Where programs are looked for when the daemon itself has no PATH. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The allow-listed part of `from`, plus `extra` (the child's own settings). */
export function childEnv(extra: Record<string, string> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: DEFAULT_PATH };
  for (const name of PASSED_ON) {
    const value = from[name];
    if (value !== undefined && value !== '') env[name] = value;
  }
  return { ...env, ...extra };
}
