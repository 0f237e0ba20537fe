// Drives the sample mini-program's pages against a running taskhub.
//
//   (cd miniprogram/test && npm ci)   # the `ws` package, for a Node without WebSocket
//   TASKHUB_URL=http://127.0.0.1:8000 C2S_URL=http://127.0.0.1:9100 \
//     node miniprogram/test/run.js <scenario>
//
// Node 18 or later; Node 20 takes --experimental-websocket to use its own WebSocket.
// C2S_URL is a code2Session server with /dev/login (tests/code2session_server.py).
// Prints "RESULT <json>" and exits 0 when every check of the scenario held and no
// device broke a platform rule (runtime.js) it was not made to break.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Device, ROOT, LIMITS, waitFor, tapOn } = require('./runtime.js');

const TASKHUB_URL = process.env.TASKHUB_URL;
const C2S_URL = process.env.C2S_URL;
const TASKS = 'pages/tasks/tasks';
const SCORE = 'pages/score/score';

let openids = 0;
function openid(prefix = 'o') {
  openids += 1;
  return (prefix + process.pid + 'x' + openids + 'harness' + '0'.repeat(28)).slice(0, 28);
}

const devices = []; // every device of the scenario, whose violations are checked at its end

function device(options = {}) {
  const dev = new Device({ baseUrl: TASKHUB_URL, c2sUrl: C2S_URL, openid: openid(), ...options });
  devices.push(dev);
  return dev.boot();
}

// A breach a scenario made on purpose: it happened, and is then forgotten.
function expectViolation(dev, pattern) {
  assert.equal(dev.violations.length, 1, JSON.stringify(dev.violations));
  assert.match(dev.violations[0], pattern);
  dev.violations.length = 0;
}

// The API as another client sees it, to check what the pages did.
async function direct(dev, method, urlPath, body) {
  const token = dev.storage.get('taskhub_token');
  const response = await fetch(TASKHUB_URL + urlPath, {
    method,
    headers: { Authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  return { status: response.status, data, headers: response.headers };
}

async function openTasks(dev) {
  const page = dev.open(TASKS);
  const ready = () => page.data.live === 'live' && !page.data.loading;
  await waitFor(ready, dev.name + ' live and loaded');
  return page;
}

async function add(page, title) {
  page.onTitleInput({ detail: { value: title } });
  await page.onAdd();
  const task = page.data.tasks.find((t) => t.title === title);
  assert.ok(task, 'the page shows the new task ' + title + ': ' + JSON.stringify(page.data));
  return task;
}

function titles(page) {
  return page.data.tasks.map((t) => t.title);
}

const scenarios = {
  // log in with wx.login, then list, add, toggle and delete
  async tasks() {
    const a = device({ name: 'A' });
    const page = await openTasks(a);
    assert.match(page.data.user.username, /^wx_[0-9a-f]{10}$/);
    assert.deepEqual(page.data.tasks, []);
    assert.equal(a.logins, 1);

    const task = await add(page, '买牛奶 🥛');
    assert.equal(page.data.newTitle, '');
    assert.equal(task.done, false);

    page.onTitleInput({ detail: { value: '   ' } });
    const before = a.requests.length;
    await page.onAdd();
    assert.equal(a.requests.length, before, 'an empty title is not sent');
    assert.equal(a.toasts.at(-1).title, '请输入任务');

    await page.onToggle(tapOn(task.id));
    assert.equal(page.data.tasks[0].done, true);
    assert.equal((await direct(a, 'GET', '/api/tasks/' + task.id)).data.task.done, true);
    await page.onToggle(tapOn(task.id));
    assert.equal(page.data.tasks[0].done, false);

    const second = await add(page, 'second');
    await page.onDelete(tapOn(task.id));
    assert.deepEqual(titles(page), ['second']);
    assert.equal((await direct(a, 'GET', '/api/tasks/' + task.id)).status, 404);
    assert.equal((await direct(a, 'GET', '/api/tasks/' + second.id)).status, 200);

    // what went over the wire is what a phone sends
    const api = a.requests.filter((r) => r.url.startsWith(TASKHUB_URL + '/api/tasks'));
    assert.ok(api.every((r) => r.header.authorization.startsWith('Bearer ')));
    assert.ok(a.requests.every((r) => !('cookie' in r.header)));
    assert.ok(api.every((r) => r.method !== 'PATCH'));
    assert.ok(api.some((r) => r.method === 'PUT' && r.header['if-match']));
    const socket = a.sockets[0];
    assert.equal(socket.url, TASKHUB_URL.replace(/^http/, 'ws') + '/api/live');
    assert.match(socket.header.Authorization, /^Bearer /);
    return { username: page.data.user.username, requests: a.requests.length };
  },

  // a change on one phone shows on the other phone of the same user, not on a stranger's
  async live() {
    const shared = openid();
    const a = device({ name: 'A', openid: shared });
    const b = device({ name: 'B', openid: shared });
    const c = device({ name: 'C' });
    const [pa, pb, pc] = [await openTasks(a), await openTasks(b), await openTasks(c)];
    assert.equal(pa.data.user.id, pb.data.user.id);
    assert.notEqual(pa.data.user.id, pc.data.user.id);

    const task = await add(pb, 'from B');
    const latency = await waitFor(() => titles(pa).includes('from B'), 'A to see B\'s task', 2000);
    await pb.onToggle(tapOn(task.id));
    await waitFor(() => pa.data.tasks[0] && pa.data.tasks[0].done, 'A to see it done', 2000);
    await pa.onDelete(tapOn(task.id));
    await waitFor(() => pb.data.tasks.length === 0, 'B to see it deleted', 2000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(pc.data.tasks, []);
    assert.ok(!c.received.some((m) => m.includes('from B')), 'C received nothing of it');

    // the client's pings are answered
    pa.live.ping();
    await waitFor(() => a.received.some((m) => JSON.parse(m).type === 'pong'), 'a pong');
    return { latency_ms: latency };
  },

  // the connection drops; changes made meanwhile arrive once it is back (?since=)
  async reconnect() {
    const shared = openid();
    const a = device({ name: 'A', openid: shared });
    const b = device({ name: 'B', openid: shared });
    const [pa, pb] = [await openTasks(a), await openTasks(b)];
    await add(pb, 'before');
    await waitFor(() => titles(pa).includes('before'), 'A to see the first task');

    a.online = false;
    a.sockets.at(-1).drop();
    await waitFor(() => pa.data.live === 'offline', 'A to notice');
    await add(pb, 'while away 1');
    await add(pb, 'while away 2');
    // it keeps redialling meanwhile, and those attempts fail like a phone's would
    await waitFor(() => a.sockets.length >= 3, 'A to try again while offline', 10000);
    assert.deepEqual(titles(pa), ['before']);
    assert.notEqual(pa.data.live, 'live');

    a.online = true;
    await waitFor(
      () => pa.data.live === 'live' && titles(pa).length === 3,
      'A to catch up',
      10000,
    );
    assert.deepEqual(titles(pa), ['before', 'while away 1', 'while away 2']);
    const resumed = a.sockets.filter((s) => s.ws).at(-1);
    assert.match(resumed.url, /\/api\/live\?since=\d+$/);
    return { since: resumed.url.split('since=')[1], sockets: a.sockets.length };
  },

  // back from the background: /api/changes first, then the socket from there on
  async background() {
    const shared = openid();
    const a = device({ name: 'A', openid: shared });
    const b = device({ name: 'B', openid: shared });
    const [pa, pb] = [await openTasks(a), await openTasks(b)];
    await add(pb, 'before');
    await waitFor(() => titles(pa).includes('before'), 'A to see the first task');

    a.hide(pa);
    await waitFor(() => pa.data.live === 'offline', 'A to go quiet in the background');
    const socketsBefore = a.sockets.length;
    await add(pb, 'while hidden 1');
    await add(pb, 'while hidden 2');
    assert.equal(a.sockets.length, socketsBefore, 'no redial while in the background');

    a.show(pa);
    await waitFor(() => titles(pa).length === 3, 'A to catch up', 10000);
    await waitFor(() => pa.data.live === 'live', 'A to be live again', 10000);
    assert.deepEqual(titles(pa), ['before', 'while hidden 1', 'while hidden 2']);
    const fetched = a.requests.filter((r) => r.url.includes('/api/changes?'));
    assert.ok(fetched.length >= 1, 'caught up through /api/changes');
    const resumed = a.sockets.filter((s) => s.ws).at(-1);
    assert.match(resumed.url, /\/api\/live\?since=\d+$/);
    return { changes_requests: fetched.length, since: resumed.url.split('since=')[1] };
  },

  // the token is revoked: the next call gets 401, logs in again and goes on
  async relogin() {
    const a = device({ name: 'A' });
    const page = await openTasks(a);
    const oldToken = a.storage.get('taskhub_token');
    assert.equal((await direct(a, 'POST', '/api/logout')).status, 204);

    await add(page, 'after a new login');
    const newToken = a.storage.get('taskhub_token');
    assert.notEqual(newToken, oldToken);
    assert.ok(a.logins >= 2);
    const retried = a.requests.filter((r) => r.statusCode === 401);
    assert.ok(retried.length >= 1, 'a 401 came back first');
    // the live connection comes back with the new token too
    const withNewToken = () =>
      page.data.live === 'live' && a.sockets.at(-1).header.Authorization === 'Bearer ' + newToken;
    await waitFor(withNewToken, 'live again with the new token', 10000);
    return { logins: a.logins, sockets: a.sockets.length };
  },

  // a stale view does not overwrite a change made elsewhere (If-Match, 412, retry)
  async conflict() {
    const shared = openid();
    const a = device({ name: 'A', openid: shared });
    const b = device({ name: 'B', openid: shared });
    const pa = await openTasks(a);
    const task = await add(pa, 'original title');
    pa.live.stop(); // A's view goes stale

    const current = (await direct(b, 'GET', '/api/tasks/' + task.id)).data.task;
    const renamed = await direct(b, 'PUT', '/api/tasks/' + task.id, {
      title: 'renamed on B',
      description: current.description,
      done: current.done,
      order: current.order,
    });
    assert.equal(renamed.status, 200);

    await pa.onToggle(tapOn(task.id));
    const after = (await direct(a, 'GET', '/api/tasks/' + task.id)).data.task;
    assert.equal(after.title, 'renamed on B');
    assert.equal(after.done, true);
    assert.equal(pa.data.tasks[0].title, 'renamed on B');
    assert.ok(a.requests.some((r) => r.statusCode === 412));
    return { version: after.version };
  },

  // the classic scoring form: JSON.stringify'd values, a form post, string answers
  async score() {
    const a = device({ name: 'A' });
    await a.app.ready;
    const page = a.open(SCORE);
    const values = {
      acc_nbr: '13800138000',
      grade1: 90, // sliders give numbers
      grade2: 85,
      grade3: 100,
      txt1: '很好',
      txt2: '',
      txt3: '回复"及时"',
    };
    await page.onSubmit({ detail: { value: values } });
    assert.deepEqual(a.toasts.at(-1), { title: '数据提交成功', icon: 'success' });
    assert.equal(page.data.message, '数据提交成功');
    assert.equal(page.data.scores.length, 1);
    assert.equal(page.data.scores[0].grade1, 90);
    assert.equal(page.data.scores[0].txt1, '很好');
    assert.equal(page.data.scores[0].txt3, '回复"及时"');

    const post = a.requests.find((r) => r.url === TASKHUB_URL + '/score');
    assert.equal(post.header['content-type'], 'application/x-www-form-urlencoded');
    assert.ok(post.body.includes('grade1=90'));
    assert.ok(post.body.includes('txt1=' + encodeURIComponent('"很好"')));

    await page.onSubmit({ detail: { value: { ...values, grade1: 150 } } });
    assert.match(a.toasts.at(-1).title, /grade1/);
    assert.match(page.data.error, /grade1/);
    await page.loadMine('13800138000');
    assert.equal(page.data.scores.length, 1, 'the invalid one was not stored');
    return { toast: a.toasts[0].title, error: page.data.error };
  },

  // Toutiao / Douyin: tt.login with its anonymous code, the same pages
  async toutiao() {
    const t = device({ name: 'T', platform: 'toutiao', openid: openid('_000') });
    const page = await openTasks(t);
    assert.match(page.data.user.username, /^tt_[0-9a-f]{10}$/);
    await add(page, '抖音里加的');
    const login = t.requests.find((r) => r.url.endsWith('/api/login/toutiao'));
    const body = JSON.parse(login.body);
    assert.ok(body.code && body.anonymous_code);
    return { username: page.data.user.username };
  },

  // the harness holds the platform's limits: an 11th request or a 6th socket fails,
  // and the app's own calls queue below them; a release build calls only https://
  async limits() {
    const a = device({ name: 'A' });
    await a.app.ready;
    const token = a.storage.get('taskhub_token');
    const { requests, sockets } = LIMITS.wechat;

    const answers = [];
    for (let i = 0; i <= requests; i++) {
      answers.push(
        new Promise((resolve) =>
          a.api.request({ url: TASKHUB_URL + '/healthz', success: resolve, fail: resolve }),
        ),
      );
    }
    const results = await Promise.all(answers);
    assert.deepEqual(results.slice(0, requests).map((r) => r.statusCode), Array(requests).fill(200));
    assert.equal(results[requests].errMsg, 'request:fail exceed max task count');
    expectViolation(a, /beyond 10 unanswered/);

    // every status is an answer: `success`, with statusCode for the caller to check
    const missing = await new Promise((resolve, reject) =>
      a.api.request({ url: TASKHUB_URL + '/api/nothing-here', success: resolve, fail: reject }),
    );
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.data.error.code, 'not_found');

    const url = TASKHUB_URL.replace(/^http/, 'ws') + '/api/live';
    const open = [];
    for (let i = 0; i < sockets; i++) {
      open.push(a.api.connectSocket({ url, header: { Authorization: 'Bearer ' + token } }));
    }
    const refused = await new Promise((resolve) =>
      a.api.connectSocket({ url, fail: resolve, success: () => resolve(null) }),
    );
    assert.equal(refused.errMsg, 'connectSocket:fail exceed max task count');
    expectViolation(a, /beyond 5 open/);
    await waitFor(() => open.every((socket) => socket.readyState === 1), 'the sockets to open');
    for (const socket of open) socket.close({});
    await waitFor(() => a.openSockets === 0, 'the sockets to close');

    // the app's own calls: thirty at once, every one answered, never more than ten out
    a.peakRequests = 0;
    const http = a.require(path.join(ROOT, 'utils/http.js'));
    const many = await Promise.all(
      Array.from({ length: 30 }, () => http.call({ path: '/healthz' })),
    );
    assert.ok(many.every((r) => r.statusCode === 200));
    assert.equal(a.peakRequests, requests);

    // a release build: the app refuses a plain http:// taskhub itself
    const r = device({ name: 'R', release: true });
    await assert.rejects(r.app.ready, /only https:\/\/ outside development/);
    const page = r.open(TASKS);
    await waitFor(() => page.data.error !== '', 'the page to say why');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(r.requests.length, 0);
    assert.equal(r.sockets.length, 0);
    r.close(page);
    // and the harness fails one that tries
    const denied = await new Promise((resolve) =>
      r.api.request({ url: TASKHUB_URL + '/healthz', fail: resolve, success: resolve }),
    );
    assert.equal(denied.errMsg, 'request:fail url not in domain list');
    expectViolation(r, /outside development/);
    r.api.connectSocket({ url });
    expectViolation(r, /outside development/);
    return { peak_requests: a.peakRequests, release_error: page.data.error };
  },

  // every handler a page's WXML binds exists in its Page(), and the files parse
  async files() {
    const app = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'));
    const d = new Device({ baseUrl: 'http://127.0.0.1:1', c2sUrl: 'http://127.0.0.1:1' });
    const checked = {};
    for (const route of app.pages) {
      for (const ext of ['.js', '.json', '.wxml', '.wxss']) {
        assert.ok(fs.existsSync(path.join(ROOT, route + ext)), route + ext + ' exists');
      }
      JSON.parse(fs.readFileSync(path.join(ROOT, route + '.json'), 'utf8'));
      const wxml = fs.readFileSync(path.join(ROOT, route + '.wxml'), 'utf8');
      const bound = [...wxml.matchAll(/\b(?:bind|catch)[a-z]+="(\w+)"/g)].map((m) => m[1]);
      assert.ok(bound.length > 0, route + ' binds handlers');
      const options = d.pageDefinition(route);
      for (const name of bound) {
        assert.equal(typeof options[name], 'function', route + ' has ' + name + '()');
      }
      checked[route] = [...new Set(bound)].sort();
    }
    for (const tab of app.tabBar.list) assert.ok(app.pages.includes(tab.pagePath));
    return { checked };
  },
};

async function main() {
  const name = process.argv[2];
  const scenario = scenarios[name];
  if (!scenario) {
    console.error('usage: run.js <' + Object.keys(scenarios).join('|') + '>');
    process.exit(2);
  }
  if (name !== 'files' && (!TASKHUB_URL || !C2S_URL)) {
    console.error('set TASKHUB_URL and C2S_URL');
    process.exit(2);
  }
  if (typeof WebSocket === 'undefined') {
    try {
      require.resolve('ws');
    } catch {
      console.error('this Node has no WebSocket: run npm ci in ' + __dirname + ' for `ws`');
      process.exit(2);
    }
  }
  const result = await scenario();
  for (const dev of devices) {
    assert.deepEqual(dev.violations, [], dev.name + ' broke a platform rule');
    assert.ok(dev.peakRequests <= dev.limits.requests && dev.peakSockets <= dev.limits.sockets);
  }
  result.peaks = devices.map((dev) => [dev.peakRequests, dev.peakSockets]);
  console.log('RESULT ' + JSON.stringify(result));
  // keep-alive connections and live sockets would hold the process open
  process.exit(0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
