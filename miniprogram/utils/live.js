// Live updates over /api/live with wx.connectSocket / tt.connectSocket.
//
// The token goes in the upgrade's Authorization header. The server sends
// {"type": "task.created" | "task.updated" | "task.deleted", "task", "seq"}, then
// {"type": "ready", "seq"} once caught up; a client reconnecting with ?since=<last
// seq> gets what it missed, or {"type": "resync"} when that is gone. Pings keep the
// connection (and the carrier's NAT) alive; a silent socket is dropped and redialled
// with backoff.
const { mp, allowed } = require('./platform.js');
const http = require('./http.js');
const auth = require('./auth.js');
const api = require('./request.js');

const PING_INTERVAL = 20000;
const SILENCE_LIMIT = 50000; // no message at all for this long: the socket is dead
const MAX_BACKOFF = 30000;

class Live {
  // onChange(message): a task changed. onSync(): fetch the whole list now (first
  // connection, or changes were missed). onState(state): 'connecting' | 'live' | 'offline'.
  constructor({ onChange, onSync, onState }) {
    this.onChange = onChange;
    this.onSync = onSync;
    this.onState = onState || (() => {});
    this.seq = null; // the last seq seen; null until the first "ready"
    this.socket = null;
    this.stopped = true;
    this.failures = 0;
    this.timers = {};
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.close('page closed');
  }

  close(reason) {
    this.clearTimers();
    const socket = this.socket;
    this.socket = null; // its onClose is then ours no longer
    if (socket) socket.close({ code: 1000, reason });
  }

  // Into the background: the platform suspends the mini-program and its socket dies
  // anyway; closing it now leaves no redial running while suspended.
  pause() {
    if (this.stopped) return;
    this.close('in the background');
    this.onState('offline');
  }

  // Back from the background: catch up over HTTP from the last seq seen
  // (/api/changes), then reopen the socket from where that left off.
  async resume() {
    if (this.stopped || this.socket) return;
    if (this.seq !== null) {
      try {
        await this.catchUp();
      } catch (err) {
        // offline still: the socket's own ?since= catch-up will do once it connects
      }
    }
    if (!this.stopped && !this.socket) this.connect();
  }

  async catchUp() {
    for (;;) {
      const page = await api.get('/api/changes', { since: this.seq, limit: 200 });
      if (page.resync) {
        this.seq = page.seq;
        this.onSync();
        return;
      }
      for (const message of page.changes) {
        this.seq = message.seq;
        this.onChange(message);
      }
      if (!page.more) return;
    }
  }

  async connect() {
    this.onState('connecting');
    let token;
    try {
      token = await auth.ensureToken();
    } catch (err) {
      this.retry();
      return;
    }
    if (this.stopped) return;
    const base = http.baseUrl().replace(/^http/, 'ws');
    const query = this.seq === null ? '' : '?since=' + this.seq;
    const url = base + '/api/live' + query;
    if (!allowed(url)) {
      this.onState('offline');
      return; // a ws:// host in a release build: the platform would refuse it
    }
    // one socket per page; the platform allows five
    const socket = mp.connectSocket({
      url,
      header: { Authorization: 'Bearer ' + token },
    });
    this.socket = socket;
    let opened = false;
    socket.onOpen(() => {
      opened = true;
      this.lastHeard = Date.now();
      this.timers.ping = setInterval(() => this.ping(), PING_INTERVAL);
    });
    socket.onMessage((event) => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      this.receive(event.data);
    });
    socket.onError(() => {}); // onClose follows and decides
    socket.onClose(() => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.clearTimers();
      if (this.stopped) return;
      this.onState('offline');
      // Refused before opening: perhaps the token is gone. A call through the
      // request wrapper logs in again when it is.
      const check = opened ? Promise.resolve() : api.get('/api/me').catch(() => {});
      check.then(() => this.retry());
    });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (err) {
      return;
    }
    if (typeof message.seq === 'number' && message.type !== 'ready' && message.type !== 'resync') {
      if (this.seq === null || message.seq > this.seq) this.seq = message.seq;
      this.onChange(message);
    } else if (message.type === 'ready') {
      const first = this.seq === null;
      this.seq = message.seq;
      this.failures = 0;
      this.onState('live');
      if (first) this.onSync();
    } else if (message.type === 'resync') {
      this.seq = message.seq;
      this.onSync();
    }
  }

  ping() {
    if (!this.socket) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT) {
      this.socket.close({ code: 4000, reason: 'silent' });
      return;
    }
    this.socket.send({ data: JSON.stringify({ type: 'ping' }) });
  }

  retry() {
    if (this.stopped) return;
    this.failures += 1;
    const delay = Math.min(MAX_BACKOFF, 500 * Math.pow(2, this.failures - 1));
    this.timers.retry = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }

  clearTimers() {
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.retry);
    this.timers = {};
  }
}

module.exports = { Live };
