// A mini-program runtime for Node: runs the mini-program's own files with a `wx`
// (or `tt`) object that makes real HTTP calls (Node's fetch) and real WebSocket
// connections (Node's WebSocket, or the `ws` package where Node has none, as
// Debian's Node 18), the way the WeChat and Toutiao clients do:
//
// - wx.request: `success` fires for every HTTP status; `data` goes into the query
//   string for GET and is serialised by content-type otherwise (JSON by default);
//   JSON answers are parsed; only the methods the platform allows (no PATCH); no
//   cookies.
// - wx.connectSocket: headers on the upgrade, no Origin; SocketTask callbacks.
// - wx.login / tt.login: a code from the local code2Session server's /dev/login,
//   as the phone's client would get one from WeChat or Toutiao.
// - storage, toasts, network status, App(), Page() and getApp().
//
// It enforces the platforms' rules, so that a mini-program breaking one fails its
// test: every breach calls `fail` as the client would and is recorded in
// `device.violations`, which the scenarios check is empty.
//
// - at most LIMITS.requests wx.request calls unanswered at once, and at most
//   LIMITS.sockets sockets open;
// - outside a development build (`env`), only https:// and wss:// addresses.
//
// Each Device has its own globals, storage and module cache, like one phone.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const ROOT = path.resolve(__dirname, '..');

// Node 22 has a WebSocket, Node 20 with --experimental-websocket; older ones use `ws`
// (npm ci in this folder), whose constructor takes the headers as a third argument.
function openWebSocket(url, headers, protocols) {
  if (typeof WebSocket !== 'undefined') {
    const init = { headers };
    if (protocols && protocols.length) init.protocols = protocols;
    return new WebSocket(url, init);
  }
  const WS = require('ws');
  return new WS(url, protocols && protocols.length ? protocols : [], { headers });
}

// WeChat documents 10 concurrent wx.request calls and 5 WebSocket connections.
// Toutiao / Douyin documents no numbers for tt.request and tt.connectSocket, so the
// same limits are held there: the sample then keeps within both.
const LIMITS = {
  wechat: { requests: 10, sockets: 5 },
  toutiao: { requests: 10, sockets: 5 },
};

// What each platform calls a development build: wx.getAccountInfoSync's
// miniProgram.envVersion, tt.getEnvInfoSync's microapp.envType. Only those reach
// plain http:// and ws:// hosts.
const DEVELOPMENT = { wechat: 'develop', toutiao: 'development' };
const RELEASE = { wechat: 'release', toutiao: 'production' };

const METHODS = {
  wechat: ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT'],
  toutiao: ['GET', 'POST', 'OPTIONS', 'PUT', 'HEAD', 'DELETE'],
};

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function encodeQuery(data) {
  return Object.keys(data)
    .filter((key) => data[key] !== undefined)
    .map((key) => {
      const value = data[key];
      const text =
        value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value);
      return encodeURIComponent(key) + '=' + encodeURIComponent(text);
    })
    .join('&');
}

// setData's paths: "tasks[2].done", "user.name"
function setPath(target, keyPath, value) {
  const parts = [];
  keyPath.replace(/([^.[\]]+)|\[(\d+)\]/g, (_, name, index) => {
    parts.push(index !== undefined ? Number(index) : name);
  });
  let node = target;
  for (let i = 0; i < parts.length - 1; i++) {
    if (node[parts[i]] === undefined || node[parts[i]] === null) {
      node[parts[i]] = typeof parts[i + 1] === 'number' ? [] : {};
    }
    node = node[parts[i]];
  }
  node[parts[parts.length - 1]] = value;
}

function later(fn, ...args) {
  if (typeof fn === 'function') setImmediate(() => fn(...args));
}

class SocketTask {
  constructor(device, url, header, protocols) {
    this.url = url;
    this.header = header;
    this.handlers = { open: [], message: [], close: [], error: [] };
    this.closed = false;
    this.device = device;
    device.openSockets += 1;
    device.peakSockets = Math.max(device.peakSockets, device.openSockets);
    if (!device.online) {
      // no network: the platform reports an error and a close, never an open
      setImmediate(() => this.emitClosed({ code: 1006, reason: 'network unreachable' }, true));
      return;
    }
    this.ws = openWebSocket(device.route(url), header, protocols);
    this.ws.addEventListener('open', () => this.emit('open', { header: {} }));
    this.ws.addEventListener('message', (event) => {
      device.received.push(event.data);
      this.emit('message', { data: event.data });
    });
    this.ws.addEventListener('error', () => {
      this.emit('error', { errMsg: 'socket error' });
      // Node 20's WebSocket reports a refused connection with an error alone and stays
      // CONNECTING; the platforms follow the error with onClose
      setImmediate(() => {
        if (this.ws.readyState !== 1) this.emitClosed({ code: 1006, reason: 'connect failed' }, false);
      });
    });
    this.ws.addEventListener('close', (event) =>
      this.emitClosed({ code: event.code, reason: event.reason }, false),
    );
  }

  emit(kind, event) {
    for (const handler of this.handlers[kind]) handler(event);
  }

  emitClosed(event, withError) {
    if (this.closed) return;
    this.closed = true;
    this.device.openSockets -= 1;
    if (withError) this.emit('error', { errMsg: 'connectSocket:fail ' + event.reason });
    this.emit('close', event);
  }

  onOpen(handler) {
    this.handlers.open.push(handler);
  }

  onMessage(handler) {
    this.handlers.message.push(handler);
  }

  onClose(handler) {
    this.handlers.close.push(handler);
  }

  onError(handler) {
    this.handlers.error.push(handler);
  }

  get readyState() {
    return this.ws ? this.ws.readyState : 3;
  }

  send({ data, success, fail }) {
    if (!this.ws || this.ws.readyState !== 1) {
      later(fail, { errMsg: 'sendSocketMessage:fail socket is not open' });
      return;
    }
    this.device.sent.push(data);
    this.ws.send(data);
    later(success, { errMsg: 'sendSocketMessage:ok' });
  }

  close({ code = 1000, reason = '', success } = {}) {
    if (this.ws) this.ws.close(code, reason);
    later(success, { errMsg: 'closeSocket:ok' });
  }

  // what a dropped mobile connection looks like to the page: a close it did not ask for
  drop() {
    if (this.ws && this.ws.readyState <= 1) this.ws.close(4001, 'network lost');
  }
}

class Device {
  constructor({
    platform = 'wechat',
    baseUrl,
    c2sUrl,
    openid,
    unionid,
    name = 'device',
    release = false,
  }) {
    this.platform = platform;
    this.limits = LIMITS[platform];
    // a development build unless told otherwise: the tests' taskhub is plain http
    this.envVersion = (release ? RELEASE : DEVELOPMENT)[platform];
    this.baseUrl = baseUrl;
    this.c2sUrl = c2sUrl;
    this.openid = openid;
    this.unionid = unionid;
    this.name = name;
    this._online = true;
    this.networkListeners = [];
    this.unreachable = null; // a closed port's address: the server refuses every call
    this.loseAnswers = 0; // answers to drop after the server acted: a lost response
    this.violations = []; // every platform rule the mini-program broke
    this.inFlight = 0;
    this.peakRequests = 0;
    this.openSockets = 0;
    this.peakSockets = 0;
    this.storage = new Map();
    this.requests = []; // every wx.request: {method, url, header, body, statusCode}
    this.sockets = []; // every SocketTask
    this.received = []; // every socket message received
    this.sent = []; // every socket message sent
    this.toasts = [];
    this.logins = 0; // codes the platform handed out (wx.login calls that succeeded)
    this.modules = new Map();
    this.pageOptions = null;
    this.app = null;
    this.pages = [];
    this.api = this.platformApi();
    const globals = {
      console,
      setTimeout,
      clearTimeout,
      setInterval,
      clearInterval,
      App: (options) => {
        this.app = options;
      },
      Page: (options) => {
        this.pageOptions = options;
      },
      getApp: () => this.app,
      getCurrentPages: () => this.pages.slice(),
    };
    globals[platform === 'toutiao' ? 'tt' : 'wx'] = this.api;
    this.context = vm.createContext(globals);
  }

  // The phone's network: going off or on tells wx.onNetworkStatusChange's listeners.
  get online() {
    return this._online;
  }

  set online(value) {
    if (value === this._online) return;
    this._online = value;
    const status = { isConnected: value, networkType: value ? 'wifi' : 'none' };
    for (const listener of this.networkListeners) later(listener, status);
  }

  // Where a call really goes: the closed port while the server is unreachable.
  route(url) {
    if (!this.unreachable) return url;
    const target = new URL(url);
    const closed = new URL(this.unreachable);
    target.host = closed.host;
    return target.toString();
  }

  development() {
    return this.envVersion === DEVELOPMENT[this.platform];
  }

  // A breach of the platform's rules: recorded, and failed as the client fails it.
  violate(what) {
    this.violations.push(what);
  }

  // --- the mini-program's own files ---

  require(file) {
    const resolved = file.endsWith('.js') ? file : file + '.js';
    if (this.modules.has(resolved)) return this.modules.get(resolved).exports;
    const module = { exports: {} };
    this.modules.set(resolved, module);
    const source = fs.readFileSync(resolved, 'utf8');
    const wrapper = vm.runInContext(
      '(function (require, module, exports, __filename, __dirname) {' + source + '\n})',
      this.context,
      { filename: resolved },
    );
    const dir = path.dirname(resolved);
    const localRequire = (request) =>
      this.require(request.startsWith('/') ? path.join(ROOT, request) : path.resolve(dir, request));
    wrapper(localRequire, module, module.exports, resolved, dir);
    return module.exports;
  }

  // Starts the app as the client does: app.js registers it, then onLaunch runs.
  // The base URL replaces config.js's, as a build for this server would.
  boot() {
    this.require(path.join(ROOT, 'app.js'));
    if (!this.app) throw new Error('app.js did not call App()');
    this.app.globalData.baseUrl = this.baseUrl;
    if (this.app.onLaunch) {
      this.app.onLaunch.call(this.app, { path: 'pages/tasks/tasks', query: {} });
    }
    return this;
  }

  pageDefinition(route) {
    const file = path.join(ROOT, route + '.js');
    if (!this.modules.has(file)) {
      this.pageOptions = null;
      this.require(file);
      if (!this.pageOptions) throw new Error(route + '.js did not call Page()');
      this.modules.get(file).page = this.pageOptions;
    }
    return this.modules.get(file).page;
  }

  // A page instance, loaded and shown, as navigating to it would.
  open(route, query = {}) {
    const options = this.pageDefinition(route);
    const page = { route };
    for (const [key, value] of Object.entries(options)) {
      page[key] = typeof value === 'function' ? value : clone(value);
    }
    page.data = clone(options.data || {});
    page.setData = (changes, callback) => {
      for (const [key, value] of Object.entries(changes)) setPath(page.data, key, clone(value));
      if (callback) later(callback);
    };
    this.pages.push(page);
    if (page.onLoad) page.onLoad(query);
    if (page.onShow) page.onShow();
    return page;
  }

  // The app going to the background and back, as the platform shows and hides it.
  hide(page) {
    if (page.onHide) page.onHide();
  }

  show(page) {
    if (page.onShow) page.onShow();
  }

  close(page) {
    if (page.onUnload) page.onUnload();
    this.pages = this.pages.filter((p) => p !== page);
  }

  // The mini-program closed and started again: its pages and memory go, its
  // storage stays, as on a phone.
  restart() {
    for (const page of this.pages.slice()) this.close(page);
    this.modules = new Map();
    this.networkListeners = [];
    this.app = null;
    return this.boot();
  }

  // --- the platform's API object ---

  platformApi() {
    const device = this;
    const storage = this.storage;
    return {
      request(options) {
        return device.request(options);
      },
      login(options) {
        device.login(options);
      },
      connectSocket(options) {
        const { url, header = {}, protocols, success, fail } = options;
        if (!/^wss?:\/\//.test(url)) {
          later(fail, { errMsg: 'connectSocket:fail invalid url' });
          return undefined;
        }
        if (!device.development() && !url.startsWith('wss://')) {
          device.violate('connectSocket to ' + url + ' outside development');
          later(fail, { errMsg: 'connectSocket:fail url not in domain list' });
          return undefined;
        }
        if (device.openSockets >= device.limits.sockets) {
          device.violate('a socket beyond ' + device.limits.sockets + ' open ones');
          later(fail, { errMsg: 'connectSocket:fail exceed max task count' });
          return undefined;
        }
        const task = new SocketTask(device, url, header, protocols);
        device.sockets.push(task);
        later(success, { errMsg: 'connectSocket:ok' });
        return task;
      },
      getStorageSync(key) {
        return storage.has(key) ? clone(storage.get(key)) : '';
      },
      setStorageSync(key, value) {
        storage.set(key, clone(value));
      },
      removeStorageSync(key) {
        storage.delete(key);
      },
      showToast(options) {
        device.toasts.push({ title: options.title, icon: options.icon });
        later(options.success, { errMsg: 'showToast:ok' });
      },
      getAccountInfoSync() {
        return { miniProgram: { appId: 'touristappid', envVersion: device.envVersion } };
      },
      getEnvInfoSync() {
        return { microapp: { appId: 'touristappid', envType: device.envVersion } };
      },
      getNetworkType({ success, complete } = {}) {
        const result = { networkType: device.online ? 'wifi' : 'none', errMsg: 'getNetworkType:ok' };
        later(success, result);
        later(complete, result);
      },
      onNetworkStatusChange(listener) {
        device.networkListeners.push(listener);
      },
      offNetworkStatusChange(listener) {
        device.networkListeners = device.networkListeners.filter((l) => l !== listener);
      },
      showLoading() {},
      hideLoading() {},
      stopPullDownRefresh() {},
    };
  }

  request(options) {
    const {
      url,
      data,
      header = {},
      method = 'GET',
      dataType = 'json',
      timeout = 60000,
      success,
      fail,
      complete,
    } = options;
    const done = (callback, value) => {
      later(callback, value);
      later(complete, value);
    };
    const verb = String(method).toUpperCase();
    if (!METHODS[this.platform].includes(verb)) {
      done(fail, { errMsg: 'request:fail invalid method ' + verb });
      return { abort() {} };
    }
    if (!/^https?:\/\//.test(url)) {
      done(fail, { errMsg: 'request:fail invalid url' });
      return { abort() {} };
    }
    if (!this.development() && !url.startsWith('https://')) {
      this.violate('request to ' + url + ' outside development');
      done(fail, { errMsg: 'request:fail url not in domain list' });
      return { abort() {} };
    }
    if (this.inFlight >= this.limits.requests) {
      this.violate('a request beyond ' + this.limits.requests + ' unanswered ones');
      done(fail, { errMsg: 'request:fail exceed max task count' });
      return { abort() {} };
    }
    const headers = {};
    for (const [name, value] of Object.entries(header)) headers[name.toLowerCase()] = String(value);
    if (!headers['content-type']) headers['content-type'] = 'application/json';
    let target = url;
    let body;
    if (verb === 'GET' || verb === 'HEAD') {
      if (data !== undefined && data !== null) {
        const query = typeof data === 'string' ? data : encodeQuery(data);
        if (query) target += (url.includes('?') ? '&' : '?') + query;
      }
    } else if (data !== undefined) {
      if (typeof data === 'string') body = data;
      else if (headers['content-type'].startsWith('application/x-www-form-urlencoded')) {
        body = encodeQuery(data);
      } else body = JSON.stringify(data);
    }
    const record = { method: verb, url: target, header: headers, body, statusCode: null };
    this.requests.push(record);
    if (!this.online) {
      done(fail, { errMsg: 'request:fail network unreachable' });
      return { abort() {} };
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    this.inFlight += 1;
    this.peakRequests = Math.max(this.peakRequests, this.inFlight);
    const init = { method: verb, headers, body, signal: controller.signal, redirect: 'manual' };
    fetch(this.route(target), init)
      .then(async (response) => {
        const text = await response.text();
        record.statusCode = response.status;
        if (this.loseAnswers > 0) {
          // the server did it, but the answer never reached the phone
          this.loseAnswers -= 1;
          record.lost = true;
          throw new Error('connection reset');
        }
        let parsed = text;
        if (dataType === 'json') {
          try {
            parsed = JSON.parse(text);
          } catch (err) {
            // not JSON: the client hands over the text
          }
        }
        const responseHeader = {};
        response.headers.forEach((value, name) => {
          responseHeader[name] = value;
        });
        done(success, {
          data: parsed,
          statusCode: response.status,
          header: responseHeader,
          cookies: [],
          errMsg: 'request:ok',
        });
      })
      .catch((err) => {
        const why = err.name === 'AbortError' ? 'timeout' : err.message;
        done(fail, { errMsg: 'request:fail ' + why });
      })
      .finally(() => {
        clearTimeout(timer);
        this.inFlight -= 1;
      });
    return { abort: () => controller.abort() };
  }

  login({ success, fail, complete }) {
    const body = { platform: this.platform, openid: this.openid, unionid: this.unionid };
    fetch(this.c2sUrl + '/dev/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
      .then((response) => response.json())
      .then((answer) => {
        this.logins += 1;
        const result = { code: answer.code, errMsg: 'login:ok' };
        if (this.platform === 'toutiao') {
          result.anonymousCode = answer.anonymous_code;
          result.isLogin = true;
        }
        later(success, result);
        later(complete, result);
      })
      .catch((err) => {
        later(fail, { errMsg: 'login:fail ' + err.message });
        later(complete, { errMsg: 'login:fail ' + err.message });
      });
  }
}

async function waitFor(condition, what, timeout = 5000) {
  const started = Date.now();
  for (;;) {
    const value = condition();
    if (value) return Date.now() - started;
    if (Date.now() - started > timeout) throw new Error('timed out waiting for ' + what);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// An event as WXML hands it to a handler bound on an element with data-id
function tapOn(id) {
  return { type: 'tap', currentTarget: { dataset: { id } }, target: { dataset: { id } } };
}

module.exports = { Device, ROOT, LIMITS, waitFor, tapOn, setPath, encodeQuery };
