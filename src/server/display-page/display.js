/* global window, document, location, history */
// The display page: noVNC on the WebSocket /__hoody/display of this host, whose binary frames are
// the RFB stream of the container's desktop. In control mode the desktop takes the window's size
// and gets keys, pointer and clipboard; view-only (#view, or the toggle) asks the daemon for a
// connection whose input it drops, and scales the desktop to the window instead.
import RFB from '/display/assets/novnc/core/rfb.js';

const screenEl = document.getElementById('screen');
const stateEl = document.getElementById('state');
const reconnectEl = document.getElementById('reconnect');
const modeEl = document.getElementById('mode');
const clipboardEl = document.getElementById('clipboard');
const pasteEl = document.getElementById('paste');

// on a display host, the first label names the project, the container and the display
const label = location.hostname.split('.')[0];
document.getElementById('title').textContent = label;
document.title = label + ' · Display';

// what the page shows for tests and benchmarks: the connection, and the frame updates drawn over
// the page's life (counted across reconnects, so a difference of two readings is a frame count)
const hoody = { rfb: null, frames: 0, viewOnly: false };
window.hoodyDisplay = hoody;

let rfb = null;
/** Whether the connection in rfb has ended (noVNC logs an error for a disconnect() after that). */
let ended = true;

function wantsViewOnly() {
  return location.hash === '#view';
}

function setState(text) {
  stateEl.textContent = text;
}

function connect() {
  if (rfb && !ended) rfb.disconnect();
  const viewOnly = wantsViewOnly();
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const url = scheme + location.host + '/__hoody/display' + (viewOnly ? '?view_only=1' : '');
  const current = new RFB(screenEl, url, { shared: true });
  rfb = current;
  ended = false;
  hoody.rfb = current;
  hoody.viewOnly = viewOnly;
  current.viewOnly = viewOnly;
  current.scaleViewport = viewOnly;
  current.resizeSession = !viewOnly;
  current.focusOnClick = !viewOnly;
  // a bare X server's root cursor is empty (no window manager sets one): show a dot where it is
  current.showDotCursor = true;
  countFrames(current);

  modeEl.setAttribute('aria-pressed', String(viewOnly));
  pasteEl.disabled = viewOnly;
  reconnectEl.hidden = true;
  setState('connecting…');

  let connected = false;
  let failure = '';
  current.addEventListener('connect', function () {
    if (current !== rfb) return;
    connected = true;
    setState('connected');
    // keys go to the desktop at once, unless a control of the page has the focus
    if (!viewOnly && (document.activeElement === null || document.activeElement === document.body)) current.focus();
  });
  current.addEventListener('securityfailure', function (e) {
    failure = e.detail.reason || 'refused';
  });
  current.addEventListener('disconnect', function (e) {
    if (current !== rfb) return;
    ended = true;
    // the page disconnects only a connection it replaces, so this end came from elsewhere
    const reason = failure || (!connected ? 'could not connect: is the container running?' : e.detail.clean ? 'closed by the server' : 'connection lost');
    setState('disconnected (' + reason + ')');
    reconnectEl.hidden = false;
  });
  current.addEventListener('clipboard', function (e) {
    clipboardEl.value = e.detail.text;
  });
}

// a measurement aid: noVNC flips its display once a frame update is complete (and again, with
// fromQueue, when one waited for its images: not counted twice)
function countFrames(current) {
  const display = current._display;
  const flip = display.flip;
  display.flip = function (fromQueue) {
    if (!fromQueue) hoody.frames++;
    return flip.call(display, fromQueue);
  };
}

modeEl.addEventListener('click', function () {
  const viewOnly = !wantsViewOnly();
  history.replaceState(null, '', location.pathname + location.search + (viewOnly ? '#view' : ''));
  connect();
});

window.addEventListener('hashchange', function () {
  if (wantsViewOnly() !== hoody.viewOnly) connect();
});

reconnectEl.addEventListener('click', connect);

pasteEl.addEventListener('click', function () {
  if (rfb) rfb.clipboardPasteFrom(clipboardEl.value);
});

connect();
