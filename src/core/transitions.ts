/** The transition table (SPEC §5) as data, with the check every operation goes through. Pure. */
import type { ContainerStatus } from '../api/schemas.ts';

/** Everything a user can ask of a container, lifecycle or not. */
export const ACTIONS = ['start', 'stop', 'force-stop', 'restart', 'pause', 'resume', 'delete', 'update', 'snapshot', 'restore', 'copy', 'move'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * Which actions each status allows. creating and copying allow none: they are in flight.
 * stop and force-stop of a stopped container succeed and change nothing: the state asked for holds.
 * A running container can be snapshotted and copied (frozen while its files are cut), a paused one
 * cannot (its freeze is the user's); a restore, and a move to another server, need it stopped.
 */
export const TRANSITION_TABLE: Readonly<Record<ContainerStatus, readonly Action[]>> = {
  running: ['stop', 'force-stop', 'restart', 'pause', 'snapshot', 'copy'],
  stopped: ['start', 'stop', 'force-stop', 'restart', 'delete', 'update', 'snapshot', 'restore', 'copy', 'move'],
  paused: ['resume', 'stop', 'force-stop'],
  failed: ['start', 'delete', 'update', 'snapshot', 'restore', 'copy', 'move'],
  creating: [],
  copying: [],
};

/** Statuses that only an in-flight operation produces. */
export const TRANSITIONAL_STATUSES: readonly ContainerStatus[] = ['creating', 'copying'];

export type TransitionCheck = { ok: true } | { ok: false; reason: 'in-progress' | 'not-allowed'; allowed: readonly Action[] };

export function checkAction(status: ContainerStatus, action: Action): TransitionCheck {
  const allowed = TRANSITION_TABLE[status];
  if (allowed.includes(action)) return { ok: true };
  return { ok: false, reason: TRANSITIONAL_STATUSES.includes(status) ? 'in-progress' : 'not-allowed', allowed };
}
