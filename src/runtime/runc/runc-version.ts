/**
 * Which runc the driver talks to, and whether its direct paths (exec fifo, freezer, kill(2) of
 * init, state.json, forgetting a stopped container) may be used with it. Those paths do what
 * runc 1.1 does internally; any other runc gets its own CLI for every step.
 */

/** The parsed `runc --version`: the first line's version, and the numbers when they parse. */
export interface RuncVersion {
  /** As runc prints it, e.g. "1.1.5+ds1" ("unknown" when it printed no version). */
  text: string;
  major?: number;
  minor?: number;
  patch?: number;
}

/** How the driver runs the steps after create: directly (verified runc) or through runc's CLI. */
export type RuncMode = 'direct' | 'cli';

/** Reads `runc version 1.1.5+ds1` (the first line of `runc --version`). */
export function parseRuncVersion(output: string): RuncVersion {
  const text = /^runc version (\S+)/m.exec(output)?.[1];
  if (!text) return { text: 'unknown' };
  const numbers = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!numbers) return { text };
  return { text, major: Number(numbers[1]), minor: Number(numbers[2]), patch: Number(numbers[3]) };
}

/**
 * The direct paths were verified against runc 1.1.5, and hold for the 1.1 branch: a patch release
 * must manage containers an earlier 1.1 release created (a package upgrade under running
 * containers), so state.json and the exec fifo stay as they are within the branch, and the
 * freezer and kill(2) are kernel interfaces. Other branches (1.0, 1.2 and later) get the CLI.
 */
export function runcMode(version: RuncVersion): RuncMode {
  return version.major === 1 && version.minor === 1 ? 'direct' : 'cli';
}
