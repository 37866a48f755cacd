/**
 * The files a container with a network sees at /etc/hosts, /etc/resolv.conf and /etc/hostname:
 * written on the host and bind-mounted read-only. The hosts file is rewritten in place (the
 * same inode), since a bind mount holds the file it was made from.
 */
import { closeSync, ftruncateSync, openSync, writeFileSync, writeSync } from 'node:fs';
import type { HostEntry } from './types.ts';

/** A name goes into a hosts file only when it is one word a resolver reads back as it was written. */
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/;

/** /etc/hosts: localhost, the container's own address and name, then the names it resolves. */
export function hostsFile(own: { address: string; hostname: string }, hosts: readonly HostEntry[]): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (HOST_NAME.test(own.hostname)) lines.push(`${own.address}\t${own.hostname}`);
  for (const h of hosts) if (HOST_NAME.test(h.name) && !/\s/.test(h.address) && h.address !== '') lines.push(`${h.address}\t${h.name}`);
  return `${lines.join('\n')}\n`;
}

/** /etc/resolv.conf: the server's name servers (none: a container resolves only what its hosts file says). */
export function resolvFile(nameservers: readonly string[]): string {
  return nameservers.map((ns) => `nameserver ${ns}\n`).join('');
}

export const hostnameFile = (hostname: string): string => `${hostname}\n`;

/**
 * Writes `text` into the file at `path`, keeping its inode when it exists (truncate + write).
 * Synchronous: the files are a few hundred bytes on a tmpfs (microseconds), and a start waits
 * for them; through the thread pool each step would wait its turn behind slower work.
 */
export function rewriteInPlace(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    writeFileSync(path, text, { mode: 0o644 });
    return;
  }
  try {
    const data = Buffer.from(text);
    ftruncateSync(fd, 0);
    writeSync(fd, data, 0, data.length, 0);
  } finally {
    closeSync(fd);
  }
}
