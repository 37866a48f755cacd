/**
 * The files a container with a network sees at /etc/hosts, /etc/resolv.conf and /etc/hostname:
 * written on the host and bind-mounted read-only. The hosts file is rewritten in place (the
 * same inode), since a bind mount holds the file it was made from.
 */
import { open, writeFile } from 'node:fs/promises';
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

/** Writes `text` into the file at `path`, keeping its inode when it exists (truncate + write). */
export async function rewriteInPlace(path: string, text: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await writeFile(path, text, { mode: 0o644 });
    return;
  }
  try {
    const data = Buffer.from(text);
    await handle.truncate(0);
    await handle.write(data, 0, data.length, 0);
  } finally {
    await handle.close();
  }
}
