/** The dashboard's frame: sign-in, the top bar, the pages by the address's fragment, notices, errors and the confirmation dialog. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { HoodyApiError, HoodyClient } from '../sdk/index.ts';
import { ContainerPage } from './container-page.tsx';
import { ContainersPage } from './containers-page.tsx';
import { DashboardContext, type Dashboard } from './context.ts';
import { CreatePage } from './create-page.tsx';
import { EventFeed } from './event-feed.ts';
import { EventsPage } from './events-page.tsx';
import { ImagesPage } from './images-page.tsx';
import { LiveContainers } from './live-containers.ts';
import { ServersPage } from './servers-page.tsx';
import type { Session } from './session.ts';
import { TokensPage } from './tokens-page.tsx';
import { ConfirmDialog, describeError, useSubscription, type PendingQuestion } from './ui.tsx';

/** The page a fragment names: `#/`, `#/containers/<id>[/<tab>]`, `#/create`, `#/images`… */
export function routeOf(hash: string): { page: string; id?: string; tab?: string } {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (parts[0] === 'containers' && parts[1]) return { page: 'container', id: parts[1], tab: parts[2] ?? 'overview' };
  return { page: parts[0] ?? 'containers' };
}

/** Sent on the window when a `#token=` was taken from the address of an open page. */
export const SIGNED_IN_EVENT = 'hoody:signed-in';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = (): void => setHash(location.hash);
    addEventListener('hashchange', on);
    addEventListener(SIGNED_IN_EVENT, on);
    return () => {
      removeEventListener('hashchange', on);
      removeEventListener(SIGNED_IN_EVENT, on);
    };
  }, []);
  return hash;
}

type Theme = 'light' | 'dark' | 'auto';

function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('hoody.theme') as Theme | null) ?? 'auto');
  useEffect(() => {
    localStorage.setItem('hoody.theme', theme);
    // auto follows the system's choice, as it changes
    const system = matchMedia('(prefers-color-scheme: dark)');
    const apply = (): void => {
      document.documentElement.dataset.theme = theme === 'auto' ? (system.matches ? 'dark' : 'light') : theme;
    };
    apply();
    system.addEventListener('change', apply);
    return () => system.removeEventListener('change', apply);
  }, [theme]);
  return [theme, setTheme];
}

export function App({ session }: { session: Session }) {
  // the theme holds on the sign-in page too
  const theme = useTheme();
  const [token, setToken] = useState(session.token);
  const [reason, setReason] = useState<string>();
  const signOut = (why?: string): void => {
    session.signOut();
    setReason(why);
    setToken(undefined);
  };
  useEffect(() => {
    const signedIn = (): void => {
      setReason(undefined);
      setToken(session.token);
    };
    addEventListener(SIGNED_IN_EVENT, signedIn);
    return () => removeEventListener(SIGNED_IN_EVENT, signedIn);
  }, []);
  if (!token) {
    return (
      <SignIn
        reason={reason}
        onToken={(t) => {
          session.signIn(t);
          setReason(undefined);
          setToken(t);
        }}
      />
    );
  }
  return <SignedIn key={token} token={token} signOut={signOut} theme={theme} />;
}

function SignIn({ reason, onToken }: { reason: string | undefined; onToken: (t: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <main class="signin">
      <img src="favicon.svg" alt="" width={56} height={56} />
      <h1>Sign in to Hoody</h1>
      {reason && (
        <p class="error" role="alert">
          {reason}
        </p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onToken(value.trim());
        }}
      >
        <label class="field">
          <span class="label">Token</span>
          <input type="password" autocomplete="current-password" required value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
          <span class="hint">
            The daemon's admin token is in <code>data/admin-token</code>; <code>hoody dashboard</code> prints a link that signs in.
          </span>
        </label>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}

const TOKEN_REFUSED = 'Signed out: the token is not valid (it was revoked, or mistyped).';

interface Toast {
  id: number;
  text: string;
  code?: string;
  error: boolean;
}

function SignedIn({ token, signOut, theme: [theme, setTheme] }: { token: string; signOut: (why?: string) => void; theme: [Theme, (t: Theme) => void] }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [pending, setPending] = useState<PendingQuestion>();
  const [loadError, setLoadError] = useState<unknown>();
  const hash = useHash();
  const dashboard = useMemo<Dashboard>(() => {
    let ended = false;
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      feed.stop();
      signOut(why);
    };
    const unauthorized = (err: unknown): boolean => err instanceof HoodyApiError && err.code === 'UNAUTHORIZED';
    const client = new HoodyClient({
      // the page's own folder: a daemon served under a path prefix works as at the root
      baseUrl: new URL('.', location.href).href,
      token,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        // the token was revoked (or never was one): this session ends
        if (res.status === 401) queueMicrotask(() => end(TOKEN_REFUSED));
        return res;
      },
    });
    const live = new LiveContainers({
      // without a page, the SDK reads every page (1,000 a page) and answers them as one
      all: async () => (await client.api.containers.list()).data.containers,
      one: async (id) => {
        try {
          return (await client.api.containers.get(id)).data;
        } catch (err) {
          if (err instanceof HoodyApiError && err.code === 'NOT_FOUND') return undefined;
          throw err;
        }
      },
    });
    const feed = new EventFeed(client, live, (err) => {
      if (unauthorized(err)) return end(TOKEN_REFUSED);
      const e = describeError(err);
      toast(`the event stream stopped: ${e.message}`, true, e.code);
    });
    let next = 0;
    const toast = (text: string, error: boolean, code?: string): void => {
      const id = ++next;
      setToasts((t) => [...t.slice(-4), { id, text, error, ...(code ? { code } : {}) }]);
      setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), error ? 10_000 : 4000);
    };
    // the stream first (what happens from now on is told), then the list, while the first render is drawn
    feed.start();
    live.load().catch((err: unknown) => setLoadError(err));
    return {
      client,
      live,
      feed,
      token,
      report: (err, what) => {
        if (unauthorized(err)) return;
        const e = describeError(err);
        toast(`${what ? `${what}: ` : ''}${e.message}`, true, e.code);
      },
      notice: (text) => toast(text, false),
      confirm: (question, action) => new Promise<boolean>((resolve) => setPending({ question, action, answer: (yes) => (setPending(undefined), resolve(yes)) })),
      signOut: (why) => end(why ?? 'Signed out.'),
    };
  }, [token]);
  useEffect(() => () => dashboard.feed.stop(), [dashboard]);
  useSubscription((notify) => dashboard.feed.subscribe((e) => e === undefined && notify()), [dashboard]);
  const route = routeOf(hash);
  const nav = [
    ['containers', 'Containers', '#/'],
    ['images', 'Images', '#/images'],
    ['servers', 'Servers', '#/servers'],
    ['tokens', 'Tokens', '#/tokens'],
    ['events', 'Events', '#/events'],
  ] as const;
  const active = route.page === 'container' || route.page === 'create' ? 'containers' : route.page;
  return (
    <DashboardContext.Provider value={dashboard}>
      <a class="skip" href="#main">
        Skip to the content
      </a>
      <header class="top">
        <a class="brand" href="#/" aria-label="Hoody: containers">
          <img src="favicon.svg" alt="" width={28} height={28} />
          <span>Hoody</span>
        </a>
        <nav aria-label="Pages">
          {nav.map(([id, label, href]) => (
            <a key={id} href={href} aria-current={active === id ? 'page' : undefined}>
              {label}
            </a>
          ))}
          <a href="docs" target="_blank" rel="noopener">
            API
          </a>
        </nav>
        <span class={`stream stream-${dashboard.feed.state}`} data-stream={dashboard.feed.state} title="The event stream">
          {dashboard.feed.state === 'live' ? 'live' : dashboard.feed.state === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        <select aria-label="Theme" value={theme} onChange={(e) => setTheme((e.target as HTMLSelectElement).value as Theme)}>
          <option value="auto">auto</option>
          <option value="light">light</option>
          <option value="dark">dark</option>
        </select>
        <button type="button" onClick={() => dashboard.signOut('Signed out.')}>
          Sign out
        </button>
      </header>
      <main id="main">
        {loadError ? (
          <p class="error" role="alert">
            {describeError(loadError).message} <code class="code">{describeError(loadError).code}</code>
          </p>
        ) : null}
        {route.page === 'container' && route.id ? <ContainerPage key={route.id} id={route.id} tab={route.tab ?? 'overview'} /> : null}
        {route.page === 'create' && <CreatePage />}
        {route.page === 'images' && <ImagesPage />}
        {route.page === 'servers' && <ServersPage />}
        {route.page === 'tokens' && <TokensPage />}
        {route.page === 'events' && <EventsPage />}
        {route.page === 'containers' && <ContainersPage />}
      </main>
      <div class="toasts" aria-live="assertive">
        {toasts.map((t) => (
          <p key={t.id} class={t.error ? 'toast error' : 'toast'} role={t.error ? 'alert' : 'status'}>
            {t.text}
            {t.code && <code class="code">{t.code}</code>}
          </p>
        ))}
      </div>
      <ConfirmDialog pending={pending} />
    </DashboardContext.Provider>
  );
}
