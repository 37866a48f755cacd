/**
 * When a container's process ends by itself, whether and when to start it again. Pure: the
 * service keeps the per-container history and the timers.
 */
import type { RestartPolicy } from '../api/schemas.ts';

export interface RestartPolicySettings {
  /** Delay before the first restart. */
  initialDelayMs: number;
  /** The delay doubles per consecutive restart up to this cap. */
  maxDelayMs: number;
  /** A run that lasted this long resets the back-off and the retry count. */
  resetAfterMs: number;
  /** on-failure gives up after this many consecutive restarts. */
  maxRetries: number;
}

export const DEFAULT_RESTART_SETTINGS: RestartPolicySettings = { initialDelayMs: 500, maxDelayMs: 30_000, resetAfterMs: 10_000, maxRetries: 5 };

export interface RestartHistory {
  /** Consecutive restarts made by the policy since the last long-enough run. */
  attempts: number;
}

export type RestartDecision = { restart: false; reason: string } | { restart: true; delayMs: number; attempt: number };

/**
 * Decides after an exit. `ranForMs` is how long the run that just ended lasted; `userStopped`
 * is true when the user asked for it to be stopped (a user's stop is never undone).
 */
export function decideRestart(
  policy: RestartPolicy,
  exitCode: number | null,
  ranForMs: number,
  history: RestartHistory,
  userStopped: boolean,
  settings: RestartPolicySettings = DEFAULT_RESTART_SETTINGS,
): RestartDecision {
  if (userStopped) return { restart: false, reason: 'stopped by the user' };
  if (policy === 'no') return { restart: false, reason: 'restart policy is "no"' };
  if (policy === 'on-failure' && exitCode === 0) return { restart: false, reason: 'exited successfully' };
  const previous = ranForMs >= settings.resetAfterMs ? 0 : history.attempts;
  if (policy === 'on-failure' && previous >= settings.maxRetries) return { restart: false, reason: `gave up after ${settings.maxRetries} restarts` };
  const delayMs = Math.min(settings.maxDelayMs, settings.initialDelayMs * 2 ** previous);
  return { restart: true, delayMs, attempt: previous + 1 };
}
