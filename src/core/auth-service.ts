/** Users and their bearer tokens (SPEC §8). Secrets are shown once; only their hashes are kept. */
import type { CreateTokenBody } from '../api/schemas.ts';
import { OwnerLimitError, type Store, type TokenRecord, type UserRecord } from '../store/store.ts';
import type { Actor } from './actor.ts';
import { HoodyError, forbidden, notFound } from './errors.ts';
import { hashSecret, newId, newTokenSecret, newUserId, nowIso } from './ids.ts';
import { ownerCapReached } from './limits.ts';
import { ADMIN_NAME, assertNameNotReserved } from './reserved-names.ts';

/** An Authorization header carrying a bearer token. */
const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** The most authenticated tokens remembered at once; past it the oldest is forgotten. */
const MAX_REMEMBERED = 10_000;

export class AuthService {
  /** Actors of recently authenticated tokens by secret hash (the secrets themselves are not kept). */
  private readonly remembered = new Map<string, { actor: Actor; until: number }>();
  /** Grows with every forget: a lookup that began before a delete must not remember its token. */
  private forgets = 0;

  /**
   * `maxTokensPerUser`: how many tokens one user may hold (the admin's own from the bootstrap not
   * refused); no cap when not given. `rememberMs`: how long a token that authenticated is trusted
   * without reading the store again. A token deleted through this service stops working at once;
   * one deleted through another daemon of the same database, within `rememberMs`. 0 reads every time.
   */
  constructor(
    private readonly store: Store,
    private readonly opts: { maxTokensPerUser?: number; rememberMs?: number } = {},
  ) {}

  /**
   * On first start, creates the admin user and its token (from `adminToken` when given). Returns
   * the new secret when one was generated. With an `adminToken` on a later start, makes sure it
   * works (the environment is the source of truth: a deleted one comes back) and retires the
   * token an earlier start generated (`generated`, the secret kept in the data folder).
   */
  async bootstrap(adminToken?: string, generated?: string): Promise<{ generatedSecret?: string; retiredGenerated?: boolean }> {
    const users = await this.store.listUsers();
    let admin = users.find((u) => u.is_admin);
    if (!admin) {
      admin = { id: newUserId(), name: ADMIN_NAME, is_admin: true, created_at: nowIso() };
      await this.store.createUser(admin);
    }
    if (adminToken) {
      if (!(await this.store.findTokenByHash(hashSecret(adminToken)))) await this.storeToken(admin.id, ADMIN_NAME, adminToken, {});
      if (generated === undefined || generated === adminToken) return {};
      // two admin secrets where the operator chose one: the one nobody chose stops working
      const old = await this.store.findTokenByHash(hashSecret(generated));
      if (old?.user_id === admin.id) {
        await this.store.deleteToken(old.id);
        this.forget(old.id);
      }
      return { retiredGenerated: true };
    }
    if ((await this.store.listTokens(admin.id)).length > 0) return {};
    const secret = newTokenSecret();
    await this.storeToken(admin.id, ADMIN_NAME, secret, {});
    return { generatedSecret: secret };
  }

  /** The actor of a token that authenticated within `rememberMs`, without reading the store; undefined otherwise. */
  rememberedActor(header: string | undefined): Actor | undefined {
    const match = header ? BEARER.exec(header) : null;
    if (!match?.[1]) return undefined;
    const known = this.remembered.get(hashSecret(match[1]));
    return known && known.until > performance.now() ? known.actor : undefined;
  }

  /** The actor behind an Authorization header, or UNAUTHORIZED. */
  async authenticate(header: string | undefined): Promise<Actor> {
    const match = header ? BEARER.exec(header) : null;
    if (!match?.[1]) throw new HoodyError('UNAUTHORIZED', 'missing bearer token: send "Authorization: Bearer <token>"');
    const hash = hashSecret(match[1]);
    const now = performance.now();
    const known = this.remembered.get(hash);
    if (known && known.until > now) return known.actor;
    const forgets = this.forgets;
    const token = await this.store.findTokenByHash(hash);
    if (!token) {
      this.remembered.delete(hash);
      throw new HoodyError('UNAUTHORIZED', 'invalid or revoked token');
    }
    const user = await this.store.getUser(token.user_id);
    if (!user) throw new HoodyError('UNAUTHORIZED', 'the token\'s user no longer exists');
    const actor: Actor = { userId: user.id, tokenId: token.id, tokenName: token.name, isAdmin: user.is_admin, readOnly: token.read_only, automation: token.automation };
    if (forgets === this.forgets) this.remember(hash, actor, now);
    return actor;
  }

  /** Keeps an authenticated actor for `rememberMs` (re-inserted, so the Map's first entry is the oldest). */
  private remember(hash: string, actor: Actor, now: number): void {
    const ms = this.opts.rememberMs ?? 0;
    if (ms <= 0) return;
    this.remembered.delete(hash);
    if (this.remembered.size >= MAX_REMEMBERED) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
    this.remembered.set(hash, { actor, until: now + ms });
  }

  /** Stops trusting a token this process remembered (it was deleted). */
  private forget(tokenId: string): void {
    this.forgets++;
    for (const [hash, { actor }] of this.remembered) if (actor.tokenId === tokenId) this.remembered.delete(hash);
  }

  async createUser(actor: Actor, name: string): Promise<UserRecord> {
    requireAdmin(actor);
    assertNameNotReserved('user', name);
    const user: UserRecord = { id: newUserId(), name, is_admin: false, created_at: nowIso() };
    await this.store.createUser(user);
    return user;
  }

  async listUsers(actor: Actor): Promise<UserRecord[]> {
    requireAdmin(actor);
    return this.store.listUsers();
  }

  /** Creates a token and answers its secret, once. Non-admins create tokens for themselves only. QUOTA_EXCEEDED past the per-user cap. */
  async createToken(actor: Actor, body: CreateTokenBody): Promise<{ token: TokenRecord; secret: string }> {
    const userId = body.user_id ?? actor.userId;
    assertNameNotReserved('token', body.name);
    if (userId !== actor.userId) {
      requireAdmin(actor);
      if (!(await this.store.getUser(userId))) throw notFound('user', userId);
    }
    // a read-only token cannot mint a token that may write
    const readOnly = actor.readOnly || (body.read_only ?? false);
    const secret = newTokenSecret();
    const token = await this.storeToken(userId, body.name, secret, { read_only: readOnly, automation: body.automation ?? false }, this.opts.maxTokensPerUser);
    return { token, secret };
  }

  async listTokens(actor: Actor): Promise<TokenRecord[]> {
    return this.store.listTokens(actor.isAdmin ? undefined : actor.userId);
  }

  /** Deletes a token the actor may see (any, for an admin); another user's is not found. */
  async deleteToken(actor: Actor, id: string): Promise<void> {
    const token = await this.store.getToken(id);
    if (!token || (!actor.isAdmin && token.user_id !== actor.userId)) throw notFound('token', id);
    await this.store.deleteToken(id);
    this.forget(id);
  }

  /** Inserts a token; with `max`, refused past that many for the user. */
  private async storeToken(userId: string, name: string, secret: string, flags: { read_only?: boolean; automation?: boolean }, max?: number): Promise<TokenRecord> {
    const token: TokenRecord = {
      id: newId(),
      name,
      user_id: userId,
      secret_hash: hashSecret(secret),
      read_only: flags.read_only ?? false,
      automation: flags.automation ?? false,
      created_at: nowIso(),
    };
    try {
      await this.store.createToken(token, max);
    } catch (err) {
      if (err instanceof OwnerLimitError) throw ownerCapReached('tokens', err.count, err.max);
      throw err;
    }
    return token;
  }
}

function requireAdmin(actor: Actor): void {
  if (!actor.isAdmin) throw forbidden('this endpoint is for admin tokens only');
}
