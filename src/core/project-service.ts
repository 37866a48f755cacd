/** Projects group containers and belong to one user; tenancy is decided here. */
import { OwnerLimitError, type ProjectRecord, type Store } from '../store/store.ts';
import type { Actor } from './actor.ts';
import { notFound } from './errors.ts';
import { newId, nowIso } from './ids.ts';
import { ownerCapReached } from './limits.ts';

export const DEFAULT_PROJECT_NAME = 'default';

export class ProjectService {
  /**
   * Project owner by id; projects never change owner, so this is safe to keep. It holds at most
   * every project there is: a few per user, up to the per-user cap.
   */
  private readonly owners = new Map<string, string>();
  /** Each user's default project once read back from the store (projects are never renamed or deleted). */
  private readonly defaults = new Map<string, ProjectRecord>();

  /** `maxPerUser`: how many projects one user may make; no cap when not given. */
  constructor(
    private readonly store: Store,
    private readonly opts: { maxPerUser?: number } = {},
  ) {}

  async list(actor: Actor): Promise<ProjectRecord[]> {
    return this.store.listProjects(actor.userId);
  }

  /** Makes a project; QUOTA_EXCEEDED when the actor already has as many as allowed. */
  async create(actor: Actor, name: string): Promise<ProjectRecord> {
    return this.insert(actor, name, this.opts.maxPerUser);
  }

  private async insert(actor: Actor, name: string, max: number | undefined): Promise<ProjectRecord> {
    const project: ProjectRecord = { id: newId(), name, owner_id: actor.userId, created_at: nowIso() };
    try {
      await this.store.createProject(project, max);
    } catch (err) {
      if (err instanceof OwnerLimitError) throw ownerCapReached('projects', err.count, err.max);
      throw err;
    }
    this.owners.set(project.id, project.owner_id);
    return project;
  }

  /** A project the actor owns; another user's project is not found. */
  async get(actor: Actor, id: string): Promise<ProjectRecord> {
    const project = await this.store.getProject(id);
    if (!project || project.owner_id !== actor.userId) throw notFound('project', id);
    return project;
  }

  async isOwner(actor: Actor, projectId: string): Promise<boolean> {
    return (await this.ownerOf(projectId)) === actor.userId;
  }

  /** The user owning a project, or undefined when there is no such project. */
  async ownerOf(projectId: string): Promise<string | undefined> {
    let owner = this.owners.get(projectId);
    if (owner === undefined) {
      owner = (await this.store.getProject(projectId))?.owner_id;
      if (owner !== undefined) this.owners.set(projectId, owner);
    }
    return owner;
  }

  /** The owner when it is already known here, without asking the store (hot paths). */
  knownOwnerOf(projectId: string): string | undefined {
    return this.owners.get(projectId);
  }

  /** The actor's project named "default", made on first use (past the cap: it is one per user, and a container create needs it). */
  async defaultFor(actor: Actor): Promise<ProjectRecord> {
    const known = this.defaults.get(actor.userId);
    if (known) return known;
    const existing = (await this.store.listProjects(actor.userId)).find((p) => p.name === DEFAULT_PROJECT_NAME);
    // kept only once read back: of two made at once by two daemons, every daemon then uses the oldest
    if (existing) this.defaults.set(actor.userId, existing);
    return existing ?? this.insert(actor, DEFAULT_PROJECT_NAME, undefined);
  }
}
