/** Who is calling: resolved from a bearer token by the server, passed to every core call. */
export interface Actor {
  userId: string;
  tokenId: string;
  tokenName: string;
  isAdmin: boolean;
  readOnly: boolean;
  /** Automation tokens add their name to the audit log (`metadata.token`), next to the user id. */
  automation: boolean;
}

/**
 * Who caused a change, as the audit trail records it: `triggeredBy` is always a real principal
 * (a user id or a reserved system actor); `token` names the automation token the user acted through.
 */
export interface Principal {
  triggeredBy: string;
  token?: string;
}

/** The actor as the audit trail records it: always its user id (never a name it chose), and its token's name for an automation token. */
export const principalOf = (actor: Actor): Principal => (actor.automation ? { triggeredBy: actor.userId, token: actor.tokenName } : { triggeredBy: actor.userId });

/** What a principal adds to a log row's or an operation event's metadata. */
export const principalMetadata = (p: Principal): { token?: string } => (p.token === undefined ? {} : { token: p.token });

/** Who acts when no user does. */
export const SYSTEM = 'system';

/** Who acts when the daemon starts containers again after a server reboot. */
export const AUTOSTART = 'autostart';

/** Who acts when a container's restart policy starts it again. */
export const RESTART_POLICY = 'restart-policy';

/** The actors the daemon itself logs as; no user or token may be named like them. */
export const SYSTEM_ACTORS = [SYSTEM, AUTOSTART, RESTART_POLICY] as const;
