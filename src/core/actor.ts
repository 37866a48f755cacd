/** Who is calling: resolved from a bearer token by the server, passed to every core call. */
export interface Actor {
  userId: string;
  tokenId: string;
  tokenName: string;
  isAdmin: boolean;
  readOnly: boolean;
  /** Automation tokens sign the audit log with their own name instead of the user id. */
  automation: boolean;
}

/** The actor as the status log names it (`triggered_by`). */
export const triggeredBy = (actor: Actor): string => (actor.automation ? actor.tokenName : actor.userId);

/** Who acts when no user does. */
export const SYSTEM = 'system';

/** Who acts when the daemon starts containers again after a server reboot. */
export const AUTOSTART = 'autostart';

/** Who acts when a container's restart policy starts it again. */
export const RESTART_POLICY = 'restart-policy';
