/** What every page of a signed-in dashboard reaches: the client, the live list, the feed, and the app's own dialogs. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { HoodyClient } from '../sdk/index.ts';
import type { EventFeed } from './event-feed.ts';
import type { LiveContainers } from './live-containers.ts';

export interface Dashboard {
  client: HoodyClient;
  live: LiveContainers;
  feed: EventFeed;
  /** The token signed in with (for links that carry it, e.g. to the API's terminal page). */
  token: string;
  /** Shows an error to the user (its message and code). */
  report(err: unknown, what?: string): void;
  /** Shows a short confirmation that something was done. */
  notice(text: string): void;
  /** Asks before a destructive action; resolves true when the user confirms. */
  confirm(question: string, action: string): Promise<boolean>;
  signOut(reason?: string): void;
}

export const DashboardContext = createContext<Dashboard | undefined>(undefined);

export function useDashboard(): Dashboard {
  const d = useContext(DashboardContext);
  if (!d) throw new Error('useDashboard outside a signed-in dashboard');
  return d;
}
