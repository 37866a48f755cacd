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
  return oneNamed('project', ref, (await client.api.projects.list()).data.projects);
}

/** The id of the server `ref` names: an id as is, else the one server with that name. */
export async function serverId(client: HoodyClient, ref: string): Promise<string> {
  if (ID.test(ref)) return ref;
  return oneNamed('server', ref, (await client.api.servers.list()).data.servers);
}

/** A server as a request body names it: `server_id` for an id, `server_name` for a name. */
export const serverRef = (ref: string): { server_id: string } | { server_name: string } => (ID.test(ref) ? { server_id: ref } : { server_name: ref });

/** The id of the one item named `ref` (NOT_FOUND with none, AMBIGUOUS_NAME with several). */
function oneNamed(what: string, ref: string, items: readonly { id: string; name: string }[]): string {
  const matches = items.filter((i) => i.name === ref);
  if (matches.length === 1 && matches[0]) return matches[0].id;
  if (matches.length === 0) throw new HoodyApiError({ statusCode: 404, code: 'NOT_FOUND', message: `${what} "${ref}" not found` });
  throw new HoodyApiError({ statusCode: 409, code: 'AMBIGUOUS_NAME', message: `${matches.length} ${what}s are named "${ref}": use an id (${matches.map((i) => i.id).join(', ')})` });
}
