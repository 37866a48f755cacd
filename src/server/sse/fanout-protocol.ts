/**
 * What the daemon and its event fan-out process must agree on. The child's files are read from
 * disk each time it starts, so after an upgrade in place a running daemon could start a newer
 * child: its `ready` message carries both values and the daemon refuses a child that differs.
 */

/** The version of the daemon <-> fan-out message protocol; raise it whenever a message changes. */
export const FANOUT_PROTOCOL = 1;
