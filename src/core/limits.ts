/**
 * What one tenant may take of the server: a maximum for each resource of a container and a cap on
 * how many containers a user may have. Pure: the service applies them, the config sets them.
 */
import type { Resources } from '../api/schemas.ts';
import { HoodyError } from './errors.ts';

export interface Limits {
  /** The most any one container may ask for, per resource. */
  maxResources: Resources;
  /** How many containers one user may have at once (every project counted). */
  maxContainersPerUser: number;
}

/** What a container gets when it does not say; clamped to the server's maxima. */
export const DEFAULT_RESOURCES: Resources = { cpu: 1, memory_mb: 512, pids: 1024 };

/** The resources a container gets: what it asked for over the defaults, the defaults lowered to the maxima. */
export function resourcesFor(asked: Partial<Resources> | undefined, max: Resources): Resources {
  return { ...lowerToMaxima(DEFAULT_RESOURCES, max), ...asked };
}

/** Each resource lowered to the server's maximum where it is above it. */
export function lowerToMaxima(r: Resources, max: Resources): Resources {
  return { cpu: Math.min(r.cpu, max.cpu), memory_mb: Math.min(r.memory_mb, max.memory_mb), pids: Math.min(r.pids, max.pids) };
}

/** Refuses resources above the server's maxima, naming the first one and its maximum. */
export function assertWithinMaxima(resources: Partial<Resources>, max: Resources): void {
  for (const key of ['cpu', 'memory_mb', 'pids'] as const) {
    const asked = resources[key];
    if (asked !== undefined && asked > max[key]) {
      throw new HoodyError('QUOTA_EXCEEDED', `resources.${key} ${asked} is above this server's maximum of ${max[key]}`, { resource: key, requested: asked, max: max[key] });
    }
  }
}

/** The refusal of a project or token past the per-user cap. */
export function ownerCapReached(resource: 'projects' | 'tokens', count: number, max: number): HoodyError {
  return new HoodyError('QUOTA_EXCEEDED', `a user may have at most ${max} ${resource}`, { resource, count, max });
}

/** The refusal of a create past the per-user cap. */
export function containerCapReached(count: number, max: number): HoodyError {
  return new HoodyError('QUOTA_EXCEEDED', `a user may have at most ${max} containers; delete one first`, { resource: 'containers', count, max });
}
