/** Which of a container's actions the state table allows now, and why a refused one is refused. */
import type { Container, ContainerStatus, RestartPolicy } from '../sdk/index.ts';
import { TRANSITION_TABLE, type Action } from '../core/transitions.ts';

/** Every status, in the table's order (from the table itself: the schemas' module is not for the browser's bundle). */
export const STATUSES = Object.keys(TRANSITION_TABLE) as ContainerStatus[];

/**
 * The restart policies, for the forms' menus. The API's own list (api/schemas.ts) is not imported:
 * that module brings TypeBox into the browser's bundle; the type keeps the two in step.
 */
export const RESTART_POLICIES = ['no', 'on-failure', 'always'] as const satisfies readonly RestartPolicy[];

/** The actions the dashboard offers on a container, in the order of its buttons. */
export const BUTTON_ACTIONS = ['start', 'stop', 'force-stop', 'restart', 'pause', 'resume', 'delete'] as const;
export type ButtonAction = (typeof BUTTON_ACTIONS)[number];

/** Actions that lose work or data: asked again before they are sent. */
export const DESTRUCTIVE: ReadonlySet<ButtonAction> = new Set(['force-stop', 'delete']);

export const LABELS: Record<ButtonAction, string> = {
  start: 'Start',
  stop: 'Stop',
  'force-stop': 'Force stop',
  restart: 'Restart',
  pause: 'Pause',
  resume: 'Resume',
  delete: 'Delete',
};

/** Undefined when `action` may be taken now; otherwise the sentence a disabled button shows. */
export function refusal(c: Pick<Container, 'status' | 'current_operation' | 'server_status'>, action: Action): string | undefined {
  if (c.server_status === 'offline') return 'its server is offline';
  if (c.current_operation) return `${c.current_operation.operation} is in progress`;
  // the table lets a stopped container be stopped again (it changes nothing); a button for it would only confuse
  if (c.status === 'stopped' && (action === 'stop' || action === 'force-stop')) return 'it is already stopped';
  if (TRANSITION_TABLE[c.status].includes(action)) return undefined;
  return `cannot ${action} while ${c.status}`;
}

/** Whether every one of `statuses` lets `action` through: for the bulk bar's buttons. */
export function allowedForAll(statuses: readonly ContainerStatus[], action: Action): boolean {
  return statuses.length > 0 && statuses.every((s) => TRANSITION_TABLE[s].includes(action));
}
