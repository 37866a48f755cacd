/**
 * Proxy aliases: `{alias}.{domain}` served by one program instance of one container. An alias is
 * unique on the database and its container is fixed: pointing a name elsewhere is a delete and a
 * create (blue-green). Only the container's owner sees or changes its aliases; another user's are
 * not found. Each change is handed to the router before the call returns, so the next request to
 * the name already goes where the answer says.
 */
import type { CreateProxyAliasBody } from '../api/schemas.ts';
import { AliasTakenError, type ProxyAliasRecord, type Store } from '../store/store.ts';
import type { Actor } from './actor.ts';
import type { ContainerService } from './container-service.ts';
import { HoodyError, invalidInput, notFound } from './errors.ts';
import { newId, nowIso } from './ids.ts';
import type { ProjectService } from './project-service.ts';
import { findProgram } from './services.ts';

export interface ProxyAliasDeps {
  store: Store;
  containers: ContainerService;
  projects: ProjectService;
  /** Told of every change (the router reads the container's routes again); awaited before answering. */
  changed?: (containerId: string) => Promise<void>;
}

export class ProxyAliasService {
  constructor(private readonly deps: ProxyAliasDeps) {}

  async create(actor: Actor, body: CreateProxyAliasBody): Promise<ProxyAliasRecord> {
    const c = await this.deps.containers.get(actor, body.container_id);
    const index = body.index ?? 1;
    const program = findProgram(c, body.program, index);
    if (!program) {
      const declared = (c.programs ?? []).map((p) => `${p.name}-${p.index}`);
      throw invalidInput(`container "${c.name}" declares no program "${body.program}" with index ${index} (it declares ${declared.length > 0 ? declared.join(', ') : 'none'})`, {
        field: 'program',
        programs: declared,
      });
    }
    const alias: ProxyAliasRecord = {
      id: newId(),
      alias: body.alias,
      container_id: c.id,
      server_id: c.server_id,
      program: program.name,
      index,
      target_path: body.target_path ?? '/',
      public: body.public ?? program.public,
      created_by: actor.userId,
      created_at: nowIso(),
    };
    try {
      await this.deps.store.createProxyAlias(alias);
    } catch (err) {
      if (err instanceof AliasTakenError) throw new HoodyError('ALIAS_TAKEN', `proxy alias "${body.alias}" already exists: delete it first to point it elsewhere`, { alias: body.alias });
      throw err;
    }
    // the container may have been deleted between the read and the insert: its aliases go with it
    if (!(await this.deps.store.getContainer(c.id))) {
      await this.deps.store.deleteProxyAlias(alias.id);
      throw notFound('container', c.id);
    }
    await this.deps.changed?.(c.id);
    return alias;
  }

  async list(actor: Actor, filter: { container_id?: string } = {}): Promise<ProxyAliasRecord[]> {
    if (filter.container_id) await this.deps.containers.get(actor, filter.container_id);
    return this.deps.store.listProxyAliases({ owner_id: actor.userId, ...filter });
  }

  async get(actor: Actor, id: string): Promise<ProxyAliasRecord> {
    const alias = await this.deps.store.getProxyAlias(id);
    if (!alias) throw notFound('proxy alias', id);
    const c = await this.deps.store.getContainer(alias.container_id);
    if (!c || !(await this.deps.projects.isOwner(actor, c.project_id))) throw notFound('proxy alias', id);
    return alias;
  }

  async remove(actor: Actor, id: string): Promise<void> {
    const alias = await this.get(actor, id);
    if (!(await this.deps.store.deleteProxyAlias(id))) throw notFound('proxy alias', id);
    await this.deps.changed?.(alias.container_id);
  }
}
