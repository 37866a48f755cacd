/** Lets people name things: a container or project may be given by id or by name. */
import { HoodyApiError, type HoodyClient } from '../sdk/index.ts';

const ID = /^[0-9a-f]{24}$/;

/** The id of the container `ref` names: an id as is, else the one container with that name. */
export async function containerId(client: HoodyClient, ref: string): Promise<string> {
  if (ID.test(ref)) return ref;
  const { data } = await client.api.containers.list({ name: ref });
  const [first, second] = data.containers;
  if (!first) throw new HoodyApiError({ statusCode: 404, code: 'NOT_FOUND', message: `container "${ref}" not found` });
  if (second) {
    throw new HoodyApiError({
      statusCode: 409,
      code: 'AMBIGUOUS_NAME',
      message: `${data.containers.length} containers are named "${ref}" (in different projects): use an id (${data.containers.map((c) => c.id).join(', ')})`,
    });
  }
  return first.id;
}

/** The id of the project `ref` names: an id as is, else the caller's project with that name. */
export async function projectId(client: HoodyClient, ref: string): Promise<string> {
  if (ID.test(ref)) return ref;
  const { data } = await client.api.projects.list();
  const matches = data.projects.filter((p) => p.name === ref);
  if (matches.length === 1 && matches[0]) return matches[0].id;
  if (matches.length === 0) throw new HoodyApiError({ statusCode: 404, code: 'NOT_FOUND', message: `project "${ref}" not found` });
  throw new HoodyApiError({ statusCode: 409, code: 'AMBIGUOUS_NAME', message: `${matches.length} projects are named "${ref}": use an id (${matches.map((p) => p.id).join(', ')})` });
}

/** The id of the server `ref` names: an id as is, else the one server with that name. */
export async function serverId(client: HoodyClient, ref: string): Promise<string> {
  if (ID.test(ref)) return ref;
  const { data } = await client.api.servers.list();
  const matches = data.servers.filter((s) => s.name === ref);
  if (matches.length === 1 && matches[0]) return matches[0].id;
  if (matches.length === 0) throw new HoodyApiError({ statusCode: 404, code: 'NOT_FOUND', message: `server "${ref}" not found` });
  throw new HoodyApiError({ statusCode: 409, code: 'AMBIGUOUS_NAME', message: `${matches.length} servers are named "${ref}": use an id (${matches.map((s) => s.id).join(', ')})` });
}
