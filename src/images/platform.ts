/**
 * Platforms (`linux/arm64/v8`): the host's, parsed from text, and picked from an OCI image
 * index or a Docker manifest list as containerd's matcher does (arm64 without a variant is v8).
 */
import type { Descriptor, Platform } from './types.ts';

/** A platform text that is not `os/arch[/variant]`. */
export class InvalidPlatformError extends Error {
  constructor(readonly text: string) {
    super(`platform "${text}" is not valid: expected os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8`);
    this.name = 'InvalidPlatformError';
  }
}

/** No entry of an index matches the platform asked for. */
export class PlatformNotFoundError extends Error {
  constructor(
    readonly wanted: Platform,
    readonly available: Platform[],
  ) {
    const list = available.length ? available.map(formatPlatform).join(', ') : 'none';
    super(`no image for platform "${formatPlatform(wanted)}" (available: ${list})`);
    this.name = 'PlatformNotFoundError';
  }
}

const ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64' };

/** The platform this process runs on, in OCI names (x64 → amd64, arm64 → arm64/v8). */
export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  if (architecture === 'arm64') return { os, architecture, variant: 'v8' };
  if (architecture === 'arm') return { os, architecture, variant: armVariant() };
  return { os, architecture };
}

function armVariant(): string {
  // node reports the ARM version it was built for; v7 is the common case
  const v = (process.config.variables as { arm_version?: string }).arm_version;
  return v ? `v${v}` : 'v7';
}

const PART = /^[a-z0-9][a-z0-9._-]*$/;

/** Parses `os/architecture[/variant]` (lower-case; `linux/x86_64` and `linux/aarch64` are normalised). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => PART.test(p))) throw new InvalidPlatformError(text);
  const [os, arch, variant] = parts as [string, string, string | undefined];
  return normalisePlatform({ os, architecture: arch, ...(variant ? { variant } : {}) });
}

/** Common aliases to OCI names: x86_64 → amd64, aarch64 → arm64, arm64 with variant v8 kept. */
export function normalisePlatform(p: Platform): Platform {
  let { architecture, variant } = p;
  if (architecture === 'x86_64' || architecture === 'x86-64') architecture = 'amd64';
  if (architecture === 'aarch64') architecture = 'arm64';
  if (architecture === 'armhf') [architecture, variant] = ['arm', variant ?? 'v7'];
  if (architecture === 'armel') [architecture, variant] = ['arm', variant ?? 'v6'];
  return variant ? { os: p.os, architecture, variant } : { os: p.os, architecture };
}

/** `linux/arm64/v8`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Whether an index entry's platform can run where `want` is asked. */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalisePlatform(want);
  const h = normalisePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if (!w.variant || !h.variant) {
    // an entry without a variant is the default one (arm64 → v8, arm → v7); a request without one takes any
    if (!w.variant) return true;
    return !h.variant && (w.variant === defaultVariant(w.architecture) || w.architecture !== 'arm');
  }
  return w.variant === h.variant;
}

function defaultVariant(arch: string): string | undefined {
  return arch === 'arm64' ? 'v8' : arch === 'arm' ? 'v7' : undefined;
}

/**
 * Picks the manifest for `platform` from an index's entries; skips attestation entries
 * (`unknown/unknown`); prefers an exact variant match. Throws PlatformNotFoundError.
 */
export function selectManifest(index: { manifests?: Descriptor[] | null }, platform: Platform): Descriptor {
  const entries = (index.manifests ?? []).filter((d) => d.platform && !isAttestation(d));
  const want = normalisePlatform(platform);
  const matching = entries.filter((d) => platformMatches(want, d.platform as Platform));
  const chosen = matching.find((d) => normalisePlatform(d.platform as Platform).variant === want.variant) ?? matching[0];
  if (!chosen) throw new PlatformNotFoundError(want, entries.map((d) => d.platform as Platform));
  return chosen;
}

function isAttestation(d: Descriptor): boolean {
  return d.platform?.os === 'unknown' || d.platform?.architecture === 'unknown' || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}
