/**
 * The signed-in token: kept in this browser's local storage until sign-out, taken from the page's
 * `#token=` fragment (which a browser never sends to the server) and then removed from the address bar.
 */
const KEY = 'hoody.dashboard.token';

export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The token of a `#token=…` fragment, if there is one; `rest` is the fragment without it. */
export function tokenOfFragment(hash: string): { token: string; rest: string } | undefined {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  if (text.startsWith('/')) return undefined;
  const params = new URLSearchParams(text);
  const token = params.get('token')?.trim();
  if (!token) return undefined;
  params.delete('token');
  const rest = params.toString();
  return { token, rest: rest ? `#${rest}` : '' };
}

export class Session {
  constructor(private readonly storage: TokenStorage) {}

  get token(): string | undefined {
    return this.storage.getItem(KEY) || undefined;
  }

  signIn(token: string): void {
    this.storage.setItem(KEY, token.trim());
  }

  signOut(): void {
    this.storage.removeItem(KEY);
  }
}
