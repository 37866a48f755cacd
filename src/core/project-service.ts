/** Projects group containers and belong to one user; tenancy is decided here. */
import type { ProjectRecord, Store } from '../store/store.ts';
import type { Actor } from './actor.ts';
import { notFound } from './errors.ts';
import { newId, nowIso } from './ids.ts';

export const DEFAULT_PROJECT_NAME = 'default';

export class ProjectService {
  /** Project owner by id; projects never change owner, so this is safe to keep. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly store: Store) {}

  async list(actor: Actor): Promise<ProjectRecord[]> {
    return this.store.listProjects(actor.userId);
  }

  async create(actor: Actor, name: string): Promise<ProjectRecord> {
    const project: ProjectRecord = { id: newId(), name, owner_id: actor.userId, created_at: nowIso() };
    await this.store.createProject(project);
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

  /** The actor's project named "default", made on first use. */
  async defaultFor(actor: Actor): Promise<ProjectRecord> {
    const existing = (await this.store.listProjects(actor.userId)).find((p) => p.name === DEFAULT_PROJECT_NAME);
    return existing ?? this.create(actor, DEFAULT_PROJECT_NAME);
  }
}
