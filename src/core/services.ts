/**
 * Programs and their service host names, as pure functions: what a container declares
 * (`programs: [{name: "web", port: 8080}]`) becomes program instances with an index each, and
 * each instance a host label `{project}-{container}-{program}-{index}`, served by the router at
 * `{label}.{server}.{domain}`. A label is a DNS label (63 characters at most): one too long is
 * refused, never cut, so two containers can never end up behind one name.
 */
import type { ProgramRequest, ServiceView } from '../api/schemas.ts';
import type { ContainerRecord, ProgramRecord } from '../store/store.ts';
import { invalidInput } from './errors.ts';

/** The longest DNS label. */
export const MAX_LABEL = 63;

/** Program names the kit's built-in programs hold: a container may not declare them. */
export const KIT_PROGRAM_NAMES = ['terminal', 'display'] as const;

/** How many shared terminals (terminal-1 …) and displays (display-1) the kit gives a container. */
export const KIT_TERMINALS = 3;
export const KIT_DISPLAYS = 1;

/** A container's built-in programs, served by the daemon itself: with `hoody_kit`, its shared terminals and its display. */
export function kitPrograms(c: { hoody_kit: boolean }): ProgramRecord[] {
  if (!c.hoody_kit) return [];
  const programs: ProgramRecord[] = [];
  for (let index = 1; index <= KIT_TERMINALS; index++) programs.push({ name: 'terminal', port: 0, index, public: false });
  for (let index = 1; index <= KIT_DISPLAYS; index++) programs.push({ name: 'display', port: 0, index, public: false });
  return programs;
}

/** Every program instance of a container: its declared ones, then its built-in ones (the order of its service labels). */
export function allPrograms(c: Pick<ContainerRecord, 'programs' | 'hoody_kit'>): ProgramRecord[] {
  return [...(c.programs ?? []), ...kitPrograms(c)];
}

/** Whether a program instance is built in (served by the daemon, not by the container). */
export const isBuiltin = (p: ProgramRecord): boolean => p.port === 0;

/** The programs as stored: each with its index (the next free one of its name when absent) and `public` filled in. */
export function normalizePrograms(requests: readonly ProgramRequest[]): ProgramRecord[] {
  const taken = new Map<string, Set<number>>();
  for (const r of requests) if (r.index !== undefined) addIndex(taken, r.name, r.index);
  const programs: ProgramRecord[] = [];
  const seen = new Set<string>();
  for (const r of requests) {
    if ((KIT_PROGRAM_NAMES as readonly string[]).includes(r.name)) {
      throw invalidInput(`program name "${r.name}" is the kit's own (hoody_kit: true gives a container its terminals and display): choose another`, { field: 'programs', program: r.name });
    }
    let index = r.index;
    if (index === undefined) {
      index = 1;
      while (taken.get(r.name)?.has(index)) index++;
      addIndex(taken, r.name, index);
    }
    const key = `${r.name}-${index}`;
    if (seen.has(key)) throw invalidInput(`program "${r.name}" has index ${index} twice`, { field: 'programs', program: r.name, index });
    seen.add(key);
    programs.push({ name: r.name, port: r.port, index, public: r.public ?? false });
  }
  return programs;
}

function addIndex(taken: Map<string, Set<number>>, name: string, index: number): void {
  let set = taken.get(name);
  if (!set) taken.set(name, (set = new Set()));
  set.add(index);
}

/** Any text as a DNS label's characters: lowercase letters, digits and single dashes, no dash at either end (`x` when nothing is left). */
export function dnsLabel(text: string): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return label.length > 0 ? label : 'x';
}

/** The host labels of a container's programs, in the programs' order; INVALID_INPUT when one is longer than a DNS label may be. */
export function serviceLabels(projectName: string, containerName: string, programs: readonly ProgramRecord[]): string[] {
  const prefix = `${dnsLabel(projectName)}-${containerName}`;
  return programs.map((p) => {
    const label = `${prefix}-${p.name}-${p.index}`;
    if (label.length > MAX_LABEL) {
      throw invalidInput(`the service name "${label}" ({project}-{container}-{program}-{index}) is ${label.length} characters; a DNS label holds ${MAX_LABEL}: use a shorter container, program or project name`, {
        field: 'programs',
        label,
      });
    }
    return label;
  });
}

/** Where service URLs point: the router's domain and how its URLs are written. */
export interface ServiceUrls {
  /** `{server}` of the host names: the server's name as a DNS label. */
  readonly serverLabel: string;
  /** `{domain}` of the host names. */
  readonly domain: string;
  /** The URL of a host through the router; null when this server runs no router. */
  url(host: string): string | null;
}

/** The host of a program instance. */
export const serviceHost = (urls: ServiceUrls, label: string): string => `${label}.${urls.serverLabel}.${urls.domain}`;

/** The host of a proxy alias. */
export const aliasHost = (urls: ServiceUrls, alias: string): string => `${alias}.${urls.domain}`;

/**
 * A container's services as shown; `listening` are the ports something listens on inside it now,
 * `displayReady` whether its kit display answers (the terminal is the daemon's own: it answers
 * whenever the container runs).
 */
export function serviceViews(c: ContainerRecord, urls: ServiceUrls, listening: readonly number[], running: boolean, displayReady = false): ServiceView[] {
  const labels = c.service_labels ?? [];
  return allPrograms(c).map((p, i) => {
    // no label: a host another container held when this program came (not routed)
    const label = labels[i] ?? '';
    const host = label ? serviceHost(urls, label) : '';
    const isListening = running && (isBuiltin(p) ? p.name !== 'display' || displayReady : listening.includes(p.port));
    return {
      program: p.name,
      index: p.index,
      port: p.port,
      public: p.public,
      host,
      url: host ? urls.url(host) : null,
      listening: isListening && host !== '',
      status: !running || !host ? 'unavailable' : isListening ? 'active' : 'inactive',
    };
  });
}

/** Finds a program instance of a container. */
export const findProgram = (c: Pick<ContainerRecord, 'programs' | 'hoody_kit'>, name: string, index: number): ProgramRecord | undefined =>
  allPrograms(c).find((p) => p.name === name && p.index === index);
