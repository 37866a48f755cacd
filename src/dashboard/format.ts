/** How the dashboard writes sizes, times and durations, and reads the create form's text fields. */

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d`;
}

/** "5 s ago", "3 min ago"… from an ISO time. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const ms = Math.max(0, now - t);
  return ms < 1000 ? 'just now' : `${duration(ms).replace(/ \d+ s$/, '')} ago`;
}

/** A local date and time, to the second. */
export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/**
 * A command line as words, the way a shell splits it: spaces separate, single and double quotes
 * group (a backslash escapes the next character outside single quotes). Throws on an open quote.
 */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`the command has an unclosed ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

/** Words back into a line that splitCommand reads as the same words. */
export function joinCommand(words: readonly string[]): string {
  return words.map((w) => (w !== '' && /^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'"'"'`)}'`)).join(' ');
}

/** `KEY=value` lines (blank lines and `#` comments skipped) as an object. Throws on a line without `=`. */
export function parseEnvironment(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`environment line ${i + 1}: expected NAME=value`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  });
  return env;
}

/**
 * Published ports as Docker writes them, separated by commas or spaces: `8080:80`, `80` (a free host
 * port), `127.0.0.1:8080:80/udp`. Throws on anything else.
 */
export function parsePorts(text: string): { container_port: number; host_port?: number; protocol?: 'tcp' | 'udp'; host_ip?: string }[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((spec) => {
      const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(spec);
      if (!m) throw new Error(`port "${spec}": expected [host_ip:][host_port:]container_port[/tcp|/udp]`);
      const [, ip, host, container, protocol] = m;
      return {
        container_port: Number(container),
        ...(host ? { host_port: Number(host) } : {}),
        ...(protocol ? { protocol: protocol as 'tcp' | 'udp' } : {}),
        ...(ip ? { host_ip: ip } : {}),
      };
    });
}

/** Programs as `name:port`, `name:port:public`, or with an instance index, `name.2:port`; separated by commas or spaces. */
export function parsePrograms(text: string): { name: string; port: number; index?: number; public?: boolean }[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((spec) => {
      const m = /^([a-z](?:[a-z0-9-]*[a-z0-9])?)(?:\.(\d{1,2}))?:(\d+)(:public)?$/.exec(spec);
      if (!m) throw new Error(`program "${spec}": expected name:port, name:port:public or name.index:port`);
      return { name: m[1] as string, port: Number(m[3]), ...(m[2] ? { index: Number(m[2]) } : {}), ...(m[4] ? { public: true } : {}) };
    });
}

/** Programs back as text parsePrograms reads as the same programs (the index written when it is not 1). */
export function programsText(programs: readonly { name: string; port: number; index: number; public: boolean }[]): string {
  return programs.map((p) => `${p.name}${p.index !== 1 ? `.${p.index}` : ''}:${p.port}${p.public ? ':public' : ''}`).join(', ');
}
