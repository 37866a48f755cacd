/** The dashboard's entry: signs in with a `#token=` fragment (then removes it from the address bar) and renders the app. */
import { render } from 'preact';
import '@xterm/xterm/css/xterm.css';
import './style.css';
import { App } from './app.tsx';
import { Session, tokenOfFragment } from './session.ts';

const session = new Session(localStorage);
const given = tokenOfFragment(location.hash);
if (given) {
  session.signIn(given.token);
  history.replaceState(null, '', `${location.pathname}${location.search}${given.rest || '#/'}`);
}
render(<App session={session} />, document.getElementById('app') as HTMLElement);
