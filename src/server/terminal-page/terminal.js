// The terminal page: xterm.js on a WebSocket to /api/v1/containers/{id}/terminal. Keystrokes go as
// binary frames, resizes as JSON text frames; the server's bytes are written to the terminal, its
// JSON frames say the session's id and, at the end, the exit code. The token comes from the URL's
// fragment (#token=…, never sent to a server), then from this tab's storage, else from the form.
(function () {
  'use strict';
  // on a container's terminal host (served by the router at /), the session cookie of that host
  // signs in; under the API (/terminal/{id}), a token does
  var onOwnHost = location.pathname === '/';
  var id = onOwnHost ? location.hostname.split('.')[0] : location.pathname.split('/').filter(Boolean)[1];
  var stateEl = document.getElementById('state');
  var titleEl = document.getElementById('title');
  titleEl.textContent = 'Terminal · ' + id;
  var params = new URLSearchParams(location.hash.slice(1));
  if (params.get('token')) {
    sessionStorage.setItem('hoody.token', params.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  var token = sessionStorage.getItem('hoody.token');
  if (!token && !onOwnHost) {
    var form = document.getElementById('signin');
    form.hidden = false;
    stateEl.textContent = 'sign in';
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      sessionStorage.setItem('hoody.token', document.getElementById('token').value.trim());
      location.reload();
    });
    return;
  }
  var term = new Terminal({ cursorBlink: true, fontFamily: 'ui-monospace, Menlo, Consolas, monospace', fontSize: 14, scrollback: 5000 });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById('screen'));
  fit.fit();
  var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  var size = '?cols=' + term.cols + '&rows=' + term.rows;
  var ws = onOwnHost
    ? new WebSocket(scheme + location.host + '/__hoody/terminal' + size, ['hoody.terminal'])
    : new WebSocket(scheme + location.host + '/api/v1/containers/' + id + '/terminal' + size, ['hoody.terminal', 'hoody.token.' + token]);
  ws.binaryType = 'arraybuffer';
  var encoder = new TextEncoder();
  window.hoodyTerminal = { term: term, socket: ws, exitCode: undefined };
  ws.onopen = function () {
    stateEl.textContent = 'connected';
    term.focus();
  };
  ws.onmessage = function (e) {
    if (typeof e.data !== 'string') {
      term.write(new Uint8Array(e.data));
      return;
    }
    var msg = JSON.parse(e.data);
    if (msg.type === 'session') stateEl.textContent = msg.index ? 'shared session ' + msg.index : 'session ' + msg.id;
    if (msg.type === 'clients') stateEl.textContent = 'shared session ' + msg.index + ' · ' + msg.clients.length + (msg.clients.length === 1 ? ' client' : ' clients');
    if (msg.type === 'error') stateEl.textContent = msg.message + ' (' + msg.code + ')';
    if (msg.type === 'exit') {
      window.hoodyTerminal.exitCode = msg.code;
      stateEl.textContent = 'exited with ' + msg.code;
    }
  };
  ws.onclose = function (e) {
    if (window.hoodyTerminal.exitCode === undefined) stateEl.textContent = e.code === 1006 ? 'could not connect (is the container running? is the token valid?)' : 'closed (' + e.code + ')';
  };
  term.onData(function (d) {
    if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(d));
  });
  term.onBinary(function (d) {
    var bytes = new Uint8Array(d.length);
    for (var i = 0; i < d.length; i++) bytes[i] = d.charCodeAt(i) & 255;
    if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
  });
  term.onResize(function (size) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: size.cols, rows: size.rows }));
  });
  window.addEventListener('resize', function () {
    fit.fit();
  });
})();
