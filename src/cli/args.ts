/** Parsers for option values; a bad value is a usage error (exit code 2), reported by commander. */
import { InvalidArgumentError } from 'commander';
import { SnapshotAlias } from '../api/schemas.ts';

/** Collects repeated or variadic `KEY=VALUE` words into one object. */
export function keyValue(word: string, previous: Record<string, string> | undefined): Record<string, string> {
  const at = word.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got "${word}"`);
  return { ...previous, [word.slice(0, at)]: word.slice(at + 1) };
}

/** A whole number within bounds. */
export const integer =
  (min: number, max: number) =>
  (word: string): number => {
    const n = Number(word);
    if (!/^-?\d+$/.test(word.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${word}"`);
    return n;
  };

/** A positive number (CPU cores may be fractions). */
export function positiveNumber(word: string): number {
  const n = Number(word);
  if (word.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${word}"`);
  return n;
}

/** `true`/`false` (also yes/no, 1/0), for options such as `--runtime true`. */
export function boolean(word: string): boolean {
  const w = word.toLowerCase();
  if (['true', 'yes', '1'].includes(w)) return true;
  if (['false', 'no', '0'].includes(w)) return false;
  throw new InvalidArgumentError(`expected true or false, got "${word}"`);
}

/** Appends one more word to a variadic list. */
export const collect = (word: string, previous: string[] | undefined): string[] => [...(previous ?? []), word];

/** A number within bounds, fractions allowed (e.g. seconds). */
export const numberIn =
  (min: number, max: number) =>
  (word: string): number => {
    const n = Number(word);
    if (word.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got "${word}"`);
    return n;
  };

/** A comma-separated list of words from `allowed`, e.g. `--types transition,operation`. */
export const oneOrMoreOf =
  <T extends string>(allowed: readonly T[]) =>
  (word: string): T[] => {
    const words = word.split(',').map((w) => w.trim());
    const bad = words.filter((w) => !(allowed as readonly string[]).includes(w));
    if (words.length === 0 || bad.length) throw new InvalidArgumentError(`expected a comma-separated list of ${allowed.join(', ')}, got "${word}"`);
    return [...new Set(words)] as T[];
  };

/** A published port as `--publish` gives it, docker's `-p` forms. */
export interface PublishSpec {
  container_port: number;
  host_port?: number;
  protocol?: 'tcp' | 'udp';
  host_ip?: string;
}

const PORT_WORD = /^\d{1,5}$/;
const IPV4_WORD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function portOf(word: string, what: string, whole: string): number {
  const n = Number(word);
  if (!PORT_WORD.test(word) || n < 1 || n > 65535) throw new InvalidArgumentError(`expected ${what} from 1 to 65535 in "${whole}"`);
  return n;
}

/**
 * One `--publish` value: `80` (a free host port is chosen), `8080:80`, `8080:80/udp`,
 * `127.0.0.1:8080:80` or `127.0.0.1::80` (a free host port on that address).
 */
export function parsePublish(word: string): PublishSpec {
  const w = word.trim();
  const slash = w.lastIndexOf('/');
  const [ports, protocol] = slash >= 0 ? [w.slice(0, slash), w.slice(slash + 1)] : [w, undefined];
  if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp') throw new InvalidArgumentError(`expected tcp or udp after "/" in "${word}"`);
  const parts = ports.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && !(parts.length === 3 && i === 1))) {
    throw new InvalidArgumentError(`expected CONTAINER_PORT, HOST_PORT:CONTAINER_PORT or HOST_IP:HOST_PORT:CONTAINER_PORT (with /tcp or /udp), got "${word}"`);
  }
  const spec: PublishSpec = { container_port: portOf(parts[parts.length - 1] as string, 'a container port', word) };
  if (parts.length >= 2 && parts[parts.length - 2] !== '') spec.host_port = portOf(parts[parts.length - 2] as string, 'a host port', word);
  if (parts.length === 3) {
    const ip = parts[0] as string;
    const m = IPV4_WORD.exec(ip);
    if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new InvalidArgumentError(`expected an IPv4 address before the host port in "${word}"`);
    spec.host_ip = ip;
  }
  if (protocol) spec.protocol = protocol;
  return spec;
}

/** Collects repeated `--publish` values. */
export const collectPublish = (word: string, previous: PublishSpec[] | undefined): PublishSpec[] => [...(previous ?? []), parsePublish(word)];

/** A program as `--program` gives it. */
export interface ProgramSpec {
  name: string;
  port: number;
  index?: number;
  public?: boolean;
}

/** One `--program` value: `web:8080`, `web/2:8081` (instance 2), `web:8080:public` (served without a token). */
export function parseProgram(word: string): ProgramSpec {
  const m = /^([a-z](?:[a-z0-9-]{0,30}[a-z0-9])?)(?:\/(\d{1,2}))?:(\d{1,5})(:public)?$/.exec(word.trim());
  if (!m) throw new InvalidArgumentError(`expected NAME:PORT, NAME/INDEX:PORT or NAME:PORT:public (e.g. web:8080), got "${word}"`);
  const spec: ProgramSpec = { name: m[1] as string, port: portOf(m[3] as string, 'a port', word) };
  if (m[2] !== undefined) {
    const index = Number(m[2]);
    if (index < 1 || index > 99) throw new InvalidArgumentError(`expected an index from 1 to 99 in "${word}"`);
    spec.index = index;
  }
  if (m[4]) spec.public = true;
  return spec;
}

/** Collects repeated `--program` values. */
export const collectProgram = (word: string, previous: ProgramSpec[] | undefined): ProgramSpec[] => [...(previous ?? []), parseProgram(word)];

const SNAPSHOT_ALIAS = new RegExp(SnapshotAlias.pattern as string);

/** A snapshot's `--alias`: 1-128 letters, digits, `.`, `_` or `-`, starting with a letter or digit (the API's own rule). */
export function snapshotAlias(word: string): string {
  if (!SNAPSHOT_ALIAS.test(word)) throw new InvalidArgumentError(`expected 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. pre-deploy-2025-11-09), got "${word}"`);
  return word;
}
