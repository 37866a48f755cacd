/**
 * The dashboard's entry: signs in with a `#token=` fragment (at load, or pasted into an open tab),
 * removes it from the address bar at once, and renders the app.
 */
import { render } from 'preact';
import '@xterm/xterm/css/xterm.css';
import './style.css';
import { App, SIGNED_IN_EVENT } from './app.tsx';
import { Session, tokenOfFragment } from './session.ts';

const session = new Session(localStorage);
// the theme before the first paint (the app keeps it current after)
const theme = localStorage.getItem('hoody.theme');
document.documentElement.dataset.theme = theme === 'dark' || theme === 'light' ? theme : matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';

function takeToken(): boolean {
  const given = tokenOfFragment(location.hash);
  if (!given) return false;
  session.signIn(given.token);
  history.replaceState(null, '', `${location.pathname}${location.search}${given.rest || '#/'}`);
  return true;
}

takeToken();
// registered before the app's own listeners: they see the address without the token
addEventListener('hashchange', () => {
  if (takeToken()) dispatchEvent(new Event(SIGNED_IN_EVENT));
});
const root = document.getElementById('app') as HTMLElement;
// the page's "Loading" line goes: render() adds to what the element holds
root.replaceChildren();
render(<App session={session} />, root);
