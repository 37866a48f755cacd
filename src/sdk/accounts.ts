/** `client.api.projects`, `.tokens` and `.users`: who owns what, and who may call. */
import { callOptions, segment, type CallOptions, type Transport } from './transport.ts';
import type { ApiResponse, CreateTokenBody, CreatedToken, DeletedToken, Project, Token, User } from './types.ts';

export class ProjectsApi {
  constructor(private readonly http: Transport) {}

  /** `GET /projects`: the caller's own projects. */
  list(options: CallOptions = {}): Promise<ApiResponse<{ projects: Project[] }>> {
    return this.http.request('GET', '/projects', callOptions(options));
  }

  /** `POST /projects`. */
  create(body: { name: string }, options: CallOptions = {}): Promise<ApiResponse<Project>> {
    return this.http.request('POST', '/projects', { body, ...callOptions(options) });
  }
}

export class TokensApi {
  constructor(private readonly http: Transport) {}

  /** `GET /tokens`: an admin sees every token, others their own. Secrets are never listed. */
  list(options: CallOptions = {}): Promise<ApiResponse<{ tokens: Token[] }>> {
    return this.http.request('GET', '/tokens', callOptions(options));
  }

  /** `POST /tokens`: `data.token` is the secret, answered this once. */
  create(body: CreateTokenBody, options: CallOptions = {}): Promise<ApiResponse<CreatedToken>> {
    return this.http.request('POST', '/tokens', { body, ...callOptions(options) });
  }

  /** `DELETE /tokens/{id}`: the token stops working at once. */
  delete(id: string, options: CallOptions = {}): Promise<ApiResponse<DeletedToken>> {
    return this.http.request('DELETE', `/tokens/${segment(id)}`, callOptions(options));
  }
}

export class UsersApi {
  constructor(private readonly http: Transport) {}

  /** `GET /users` (admin tokens only). */
  list(options: CallOptions = {}): Promise<ApiResponse<{ users: User[] }>> {
    return this.http.request('GET', '/users', callOptions(options));
  }

  /** `POST /users` (admin tokens only). */
  create(body: { name: string }, options: CallOptions = {}): Promise<ApiResponse<User>> {
    return this.http.request('POST', '/users', { body, ...callOptions(options) });
  }
}
