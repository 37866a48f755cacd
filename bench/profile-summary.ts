/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and prints where the time went: self time by package
 * (or by Hoody source file), the idle / GC / program shares, and the inclusive share of every
 * frame whose function name or URL contains one of the given patterns, also as a share of the busy
 * (not idle) samples:
 *
 *   node --import tsx bench/profile-summary.ts PROFILE.cpuprofile [pattern…]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, ...patterns] = process.argv.slice(2);
if (!file) throw new Error('usage: bench/profile-summary.ts PROFILE.cpuprofile [pattern…]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const where = (url: string): string => {
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.includes('/src/')) return `hoody: src/${url.split('/src/')[1]}`;
  if (url === '') return '(native and V8)';
  return url.startsWith('node:') ? '(node internals)' : url;
};

let total = 0;
const byPlace = new Map<string, number>();
const special = new Map<string, number>();
profile.samples.forEach((id, i) => {
  const t = profile.timeDeltas[i] ?? 0;
  const node = byId.get(id);
  if (!node) return;
  total += t;
  const name = node.callFrame.functionName;
  if (name.startsWith('(')) special.set(name, (special.get(name) ?? 0) + t);
  else byPlace.set(where(node.callFrame.url), (byPlace.get(where(node.callFrame.url)) ?? 0) + t);
});
const pct = (t: number): string => `${((t / total) * 100).toFixed(2).padStart(6)}%`;
console.log(`sampled ${(total / 1000).toFixed(0)} ms; ${[...special].map(([k, t]) => `${k} ${pct(t).trim()}`).join(', ')}`);
console.log('self time by place:');
for (const [k, t] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${pct(t)}  ${k}`);
if (patterns.length) console.log('inclusive time of frames matching:');
for (const pattern of patterns) {
  let inclusive = 0;
  profile.samples.forEach((id, i) => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const cf = byId.get(at)?.callFrame;
      if (cf && `${cf.functionName} ${cf.url}`.includes(pattern)) {
        inclusive += profile.timeDeltas[i] ?? 0;
        return;
      }
    }
  });
  const idle = special.get('(idle)') ?? 0;
  console.log(`${pct(inclusive)}  ${((inclusive / (total - idle)) * 100).toFixed(2).padStart(6)}% of busy  ${pattern}`);
}
