/** What the CLI prints: aligned plain tables and key/value blocks for people, `data` as JSON for scripts. */
import { Option } from 'commander';

/** Colour only for a terminal that wants it (https://no-color.org). */
export const colourEnabled = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';

const STATUS_COLOURS: Record<string, number> = { running: 32, paused: 33, stopped: 90, failed: 31, creating: 36, copying: 36, ready: 32, maintenance: 33, offline: 31 };

/** A status word, coloured on a terminal. */
export function statusText(status: string): string {
  const code = STATUS_COLOURS[status];
  return colourEnabled() && code ? `\x1b[${code}m${status}\x1b[0m` : status;
}

/** One table column: its header, how to read a cell, and an optional paint applied after padding. */
export interface Column<T> {
  header: string;
  value: (row: T) => string;
  paint?: (text: string) => string;
}

/** Columns aligned with two spaces between them; widths from the plain text, so colour never shifts them. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (values: string[], paint: boolean): string =>
    values
      .map((v, i) => {
        const padded = i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0);
        const p = columns[i]?.paint;
        return paint && p ? padded.replace(v, p(v)) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header), false), ...cells.map((r) => line(r, true))].join('\n') + '\n';
}

/** `label:  value` lines with the values aligned. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n';
}

export function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A command line as a shell would read it back. */
export function shellJoin(args: readonly string[]): string {
  return args.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export const dash = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : String(v));
export const yesNo = (v: boolean): string => (v ? 'yes' : 'no');

/** Every command's `--json`: print the response's `data` instead of a table. */
export const jsonOption = (): Option => new Option('--json', 'print the response data as JSON');
