/** Parsers for option values; a bad value is a usage error (exit code 2), reported by commander. */
import { InvalidArgumentError } from 'commander';

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
