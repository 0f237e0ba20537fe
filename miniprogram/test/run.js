// Drives the sample mini-program's pages against a running taskhub.
//
//   (cd miniprogram/test && npm ci)   # the `ws` package, for a Node without WebSocket
//   TASKHUB_URL=http://127.0.0.1:8000 C2S_URL=http://127.0.0.1:9100 \
//     CLOSED_URL=http://127.0.0.1:9 node miniprogram/test/run.js <scenario>
//
// Node 18 or later; Node 20 takes --experimental-websocket to use its own WebSocket.
// C2S_URL is a code2Session server with /dev/login (tests/code2session_server.py);
// CLOSED_URL an address nothing listens on, where calls go while taskhub is "down".
// Prints "RESULT <json>" and exits 0 when every check of the scenario held and no
// device broke a platform rule (runtime.js) it was not made to break.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Device, ROOT, LIMITS, waitFor, tapOn } = require('./runtime.js');

const TASKHUB_URL = process.env.TASKHUB_URL;
const C2S_URL = process.env.C2S_URL;
const CLOSED_URL = process.env.CLOSED_URL;
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

function username(dev) {
  return dev.storage.get('taskhub_user').username;
}

async function serverTasks(dev, listId) {
  const query = '/api/tasks?limit=200' + (listId ? '&list_id=' + listId : '');
  const answer = await direct(dev, 'GET', query);
  assert.equal(answer.status, 200);
  return answer.data.tasks;
}

async function pickList(page, name) {
  await waitFor(() => page.data.lists.some((l) => l.name === name), 'the list ' + name, 5000);
  const index = page.data.lists.findIndex((l) => l.name === name);
  await page.onListChange({ detail: { value: String(index) } });
  assert.equal(page.data.list.name, name);
  return page.data.list;
}

// The phone's calendar day, n days from today (what the date picker gives)
function day(n) {
  const date = new Date();
  date.setDate(date.getDate() + n);
  const pad = (v) => String(v).padStart(2, '0');
  return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate());
}

// What an input or picker bound to onField with data-field hands its handler
function fill(page, field, value) {
  page.onField({ detail: { value }, currentTarget: { dataset: { field } } });
}

async function editTask(page, id, { title, due, labels }) {
  page.onEdit(tapOn(id));
  assert.equal(page.data.editingId, id);
  if (title !== undefined) fill(page, 'draftTitle', title);
  if (due === null) page.onClearDue();
  else if (due !== undefined) fill(page, 'draftDue', due);
  if (labels !== undefined) fill(page, 'draftLabels', labels);
  await page.onSave();
}

// Two phones of one user; A adds a task, then stops listening, so its view goes stale.
async function staleView(title) {
  const shared = openid();
  const a = device({ name: 'A', openid: shared });
  const b = device({ name: 'B', openid: shared });
  const pa = await openTasks(a);
  const task = await add(pa, title);
  pa.live.stop();
  return { a, b, pa, task };
}

// A new title given on another phone: a PUT of the task's editable fields.
async function renameElsewhere(dev, id, title) {
  const current = (await direct(dev, 'GET', '/api/tasks/' + id)).data.task;
  const { description, done, order, due, priority, labels } = current;
  const fields = { title, description, done, order, due, priority, labels };
  assert.equal((await direct(dev, 'PUT', '/api/tasks/' + id, fields)).status, 200);
}

// The task page as text, from its data, element by element as tasks.wxml lays it
// out: what a phone would show, for the README and tests/artifacts/.
function sketch(page) {
  const d = page.data;
  const lines = [(d.user ? d.user.username : '') + '  (' + d.liveLabel + ')'];
  if (d.list) lines.push(d.list.label + ' ▾  [' + d.roleName + ']');
  if (d.list && !d.canEdit) lines.push('只读：这个列表由 ' + d.list.owner.username + ' 分享给你查看');
  if (d.pendingCount) lines.push(d.pendingCount + ' 项修改待发送，联网后自动同步');
  if (d.canEdit) lines.push('[新任务        ] [添加]', '[' + (d.newDue || '截止日期') + '] [标签，用逗号分隔]');
  for (const t of d.tasks) {
    const check = t.done ? '✓' : '○';
    lines.push((d.canEdit ? '(' + check + ')' : ' ' + check + ' ') + ' ' + t.title + (d.canEdit ? '  删除' : ''));
    const meta = [t.dueText, ...t.labels.map((l) => '#' + l), t.pending ? '待发送' : ''];
    if (meta.some(Boolean)) lines.push('    ' + meta.filter(Boolean).join('  '));
  }
  return lines.join('\n');
}

function writes(dev) {
  return dev.requests.filter((r) => r.method !== 'GET' && r.url.includes('/api/tasks'));
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
    const { a, b, pa, task } = await staleView('original title');
    await renameElsewhere(b, task.id, 'renamed on B');

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

  // the picker holds the user's lists, the default one first; each shows its own tasks
  async lists() {
    const a = device({ name: 'A' });
    const page = await openTasks(a);
    assert.equal(page.data.lists.length, 1);
    assert.equal(page.data.list.default, true);
    assert.equal(page.data.list.role, 'owner');
    assert.equal(page.data.canEdit, true);
    const home = await add(page, 'at home');
    const defaultId = page.data.list.id;
    assert.equal(home.list_id, defaultId);

    // a list made elsewhere appears in the picker through the live feed, after the default
    const made = await direct(a, 'POST', '/api/lists', { name: 'Work' });
    assert.equal(made.status, 201);
    const work = await pickList(page, 'Work');
    assert.equal(page.data.lists[0].id, defaultId, 'the default list stays first');
    assert.equal(page.data.listIndex, 1);
    assert.deepEqual(titles(page), []);
    const task = await add(page, 'at work');
    assert.equal(task.list_id, work.id);
    assert.equal((await direct(a, 'GET', '/api/tasks/' + task.id)).data.task.list_id, work.id);

    // a task created in the other list, elsewhere, does not show in this one
    await direct(a, 'POST', '/api/tasks', { title: 'also at home', list_id: defaultId });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(titles(page), ['at work']);

    await pickList(page, page.data.lists[0].name);
    assert.deepEqual(titles(page), ['at home', 'also at home']);
    const listed = a.requests.filter((r) => r.url.includes('/api/tasks?'));
    assert.ok(listed.every((r) => /[?&]list_id=[0-9a-f]{24}/.test(r.url)), 'one list at a time');
    return { lists: page.data.lists.map((l) => l.label) };
  },

  // an owner shares a list with an editor and a viewer: both see it, with their role;
  // the viewer gets no edit controls; a write refused with 403 is explained
  async shared() {
    const o = device({ name: 'owner' });
    const e = device({ name: 'editor' });
    const v = device({ name: 'viewer' });
    const [po, pe, pv] = [await openTasks(o), await openTasks(e), await openTasks(v)];
    const made = await direct(o, 'POST', '/api/lists', { name: 'Family' });
    const listId = made.data.list.id;
    const member = (dev, role) =>
      direct(o, 'PUT', '/api/lists/' + listId + '/members/' + username(dev), { role });
    assert.equal((await member(e, 'editor')).status, 200);
    assert.equal((await member(v, 'viewer')).status, 200);

    await pickList(po, 'Family');
    const el = await pickList(pe, 'Family');
    const vl = await pickList(pv, 'Family');
    assert.equal(el.role, 'editor');
    assert.equal(vl.role, 'viewer');
    assert.match(el.label, new RegExp(username(o) + ' · 可编辑$'));
    assert.match(vl.label, new RegExp(username(o) + ' · 只读$'));
    assert.equal(pe.data.canEdit, true);
    assert.equal(pv.data.canEdit, false);
    assert.equal(pv.data.roleName, '只读');

    const task = await add(pe, 'from the editor');
    await waitFor(() => titles(po).includes('from the editor'), 'the owner to see it');
    await waitFor(() => titles(pv).includes('from the editor'), 'the viewer to see it');
    assert.equal(task.created_by.username, username(e));

    // the viewer's page writes nothing: its controls are hidden and the handlers refuse
    const before = v.requests.length;
    await pv.onToggle(tapOn(task.id));
    pv.onTitleInput({ detail: { value: 'not mine to add' } });
    await pv.onAdd();
    assert.equal(v.requests.length, before);
    assert.equal(pv.data.error, '你在「Family」只有查看权限，不能修改');
    assert.deepEqual(writes(v), []);
    const viewerPage = sketch(pv);
    assert.match(viewerPage, /只读：这个列表由 /);
    assert.ok(!viewerPage.includes('删除') && !viewerPage.includes('[添加]'));

    // demoted while its page was not listening: the write gets 403, which is explained
    pe.live.stop();
    assert.equal((await member(e, 'viewer')).status, 200);
    await pe.onToggle(tapOn(task.id));
    assert.ok(e.requests.some((r) => r.statusCode === 403));
    assert.equal(pe.data.error, '你在「Family」只有查看权限，不能修改');
    await waitFor(() => pe.data.canEdit === false, 'the editor to see their new role');
    assert.equal((await direct(o, 'GET', '/api/tasks/' + task.id)).data.task.done, false);
    assert.equal(pe.data.tasks[0].pending, false, 'nothing is left waiting');
    return { roles: [el.role, vl.role], forbidden: pe.data.error, viewer_page: viewerPage };
  },

  // due dates from the date picker and labels, there and back; a toggle keeps them
  async due() {
    const a = device({ name: 'A' });
    const page = await openTasks(a);
    page.onTitleInput({ detail: { value: 'water the plants' } });
    fill(page, 'newDue', day(0));
    fill(page, 'newLabels', ' home, weekend，home ');
    await page.onAdd();
    let [task] = page.data.tasks;
    assert.equal(task.due, day(0));
    assert.deepEqual(task.labels, ['home', 'weekend']);
    assert.equal(task.dueText, '今天');
    assert.equal(page.data.newDue, '');

    await editTask(page, task.id, { due: day(1), labels: 'weekend' });
    [task] = page.data.tasks;
    assert.equal(task.dueText, '明天');
    let stored = (await direct(a, 'GET', '/api/tasks/' + task.id)).data.task;
    assert.equal(stored.due, day(1));
    assert.deepEqual(stored.labels, ['weekend']);

    // a PUT replaces every field: toggling must send the due date and labels back
    await page.onToggle(tapOn(task.id));
    stored = (await direct(a, 'GET', '/api/tasks/' + task.id)).data.task;
    assert.equal(stored.done, true);
    assert.equal(stored.due, day(1));
    assert.deepEqual(stored.labels, ['weekend']);

    // made elsewhere, due yesterday: overdue while not done
    await direct(a, 'POST', '/api/tasks', { title: 'pay the bill', due: day(-1), labels: ['money'] });
    await waitFor(() => titles(page).includes('pay the bill'), 'the other task');
    const late = page.data.tasks.find((t) => t.title === 'pay the bill');
    assert.equal(late.dueKind, 'overdue');
    assert.equal(late.dueText, '已过期 ' + day(-1).slice(5));

    await editTask(page, task.id, { title: 'water the plants 🌱', due: null });
    stored = (await direct(a, 'GET', '/api/tasks/' + task.id)).data.task;
    assert.equal(stored.due, null);
    assert.equal(stored.title, 'water the plants 🌱');
    assert.deepEqual(stored.labels, ['weekend'], 'fields not edited are kept');
    const edits = writes(a).filter((r) => r.method === 'PUT');
    assert.ok(edits.every((r) => r.header['if-match']));
    return { overdue: late.dueText, labels: stored.labels };
  },

  // writes while taskhub is out of reach wait in storage, shown as pending, and go
  // out in order, once each, when it answers again
  async offline() {
    assert.ok(CLOSED_URL, 'set CLOSED_URL');
    const a = device({ name: 'A' });
    const page = await openTasks(a);
    const first = await add(page, 'first');

    // taskhub refuses: every call goes to a port nothing listens on
    a.unreachable = CLOSED_URL;
    a.sockets.at(-1).drop();
    await waitFor(() => page.data.live === 'offline', 'the page to notice');
    await add(page, 'offline 1');
    await page.onToggle(tapOn(first.id));
    await add(page, 'offline 2');
    assert.equal(page.data.pendingCount, 3);
    assert.deepEqual(titles(page), ['first', 'offline 1', 'offline 2']);
    assert.ok(page.data.tasks.every((t) => t.pending));
    assert.equal(page.data.tasks[0].done, true, 'the toggle shows at once');
    // edited while waiting: folds into its create, and shows in the sketch
    await editTask(page, page.data.tasks[1].id, { due: day(0), labels: 'home, weekend' });
    const offlinePage = sketch(page);
    assert.match(offlinePage, /3 项修改待发送/);
    assert.match(offlinePage, /今天 {2}#home {2}#weekend {2}待发送/);
    assert.equal(a.storage.get('taskhub_outbox').length, 3);
    const queued = a.storage.get('taskhub_outbox');
    assert.deepEqual(queued.map((e) => e.op), ['create', 'change', 'create']);
    assert.ok(a.requests.some((r) => r.method === 'POST' && r.statusCode === null));
    assert.deepEqual((await serverTasks(a)).map((t) => t.title), ['first']);

    // back: the next answer (the live connection's own retry) sends them
    a.unreachable = null;
    await waitFor(() => page.data.pendingCount === 0, 'the queue to drain', 20000);
    await waitFor(() => page.data.live === 'live', 'live again', 20000);
    let stored = await serverTasks(a);
    assert.deepEqual(stored.map((t) => t.title), ['first', 'offline 1', 'offline 2']);
    assert.equal(stored[0].done, true);
    assert.ok(page.data.tasks.every((t) => !t.pending));
    const sent = writes(a).filter((r) => r.statusCode !== null);
    const order = sent.map((r) => r.method + ' ' + (r.body && JSON.parse(r.body).title));
    assert.deepEqual(order.slice(-3), ['POST offline 1', 'PUT first', 'POST offline 2']);
    assert.ok(sent.every((r) => r.header['idempotency-key']));

    // the phone loses its network: the platform says when it is back
    a.online = false;
    await page.onDelete(tapOn(stored[1].id));
    const third = await add(page, 'offline 3');
    await page.onToggle(tapOn(third.id)); // folds into the create still waiting
    assert.equal(page.data.pendingCount, 2);
    assert.equal(page.data.tasks.find((t) => t.title === 'offline 3').done, true);
    a.online = true;
    await waitFor(() => page.data.pendingCount === 0, 'the queue to drain again', 20000);
    assert.equal((await serverTasks(a)).find((t) => t.title === 'offline 3').done, true);

    // taskhub creates it but the answer is lost: the resend with the same key is
    // answered from the first, and stores nothing more
    a.loseAnswers = 1;
    await add(page, 'answer lost');
    assert.equal(page.data.pendingCount, 1);
    a.hide(page);
    a.show(page);
    await waitFor(() => page.data.pendingCount === 0, 'the resend', 20000);
    const posts = writes(a).filter((r) => r.method === 'POST' && r.body.includes('answer lost'));
    assert.equal(posts.length, 2);
    assert.equal(posts[0].lost, true);
    assert.equal(posts[0].header['idempotency-key'], posts[1].header['idempotency-key']);
    assert.equal(posts[1].statusCode, 201);

    // queued, then the app closed: the write waits in storage for the next start
    a.unreachable = CLOSED_URL;
    a.sockets.at(-1).drop();
    await add(page, 'across a restart');
    a.restart();
    const again = a.open(TASKS);
    await waitFor(() => again.data.pendingCount === 1, 'the restarted page to show it waiting');
    assert.equal(a.storage.get('taskhub_outbox')[0].fields.title, 'across a restart');
    // the page as last seen, under the write waiting, and why it is not newer
    const lastSeen = ['first', 'offline 2', 'offline 3', 'answer lost', 'across a restart'];
    assert.deepEqual(titles(again), lastSeen);
    assert.deepEqual(again.data.tasks.map((t) => t.pending), [false, false, false, false, true]);
    await waitFor(() => again.data.error === '网络不可用，显示的是上次同步的内容', 'the page to say so');
    a.unreachable = null;
    await waitFor(() => again.data.pendingCount === 0, 'the write to go out', 20000);

    stored = await serverTasks(a);
    const expected = lastSeen;
    assert.deepEqual(stored.map((t) => t.title), expected);
    await waitFor(() => titles(again).join() === expected.join(), 'the page to match', 20000);
    return { titles: stored.map((t) => t.title), offline_page: offlinePage };
  },

  // a change that meets another to the same field keeps the user's text to save again
  async keep() {
    const { a, b, pa, task } = await staleView('draft');
    await renameElsewhere(b, task.id, 'theirs');

    await editTask(pa, task.id, { title: 'mine, typed with care' });
    assert.ok(a.requests.some((r) => r.statusCode === 412));
    assert.equal((await direct(a, 'GET', '/api/tasks/' + task.id)).data.task.title, 'theirs');
    assert.equal(pa.data.editingId, task.id, 'the editor is open again');
    assert.equal(pa.data.draftTitle, 'mine, typed with care');
    assert.match(pa.data.conflict, /已保留/);
    assert.equal(pa.data.tasks[0].title, 'theirs');

    await pa.onSave(); // saved again, over what is there now
    const after = (await direct(a, 'GET', '/api/tasks/' + task.id)).data.task;
    assert.equal(after.title, 'mine, typed with care');
    return { version: after.version };
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

    const tasksWxml = fs.readFileSync(path.join(ROOT, TASKS + '.wxml'), 'utf8');

    // Toutiao / Douyin read .ttml and .ttss: the same pages, with tt: for wx:
    const twins = [['app.wxss', 'app.ttss']];
    for (const route of app.pages) {
      twins.push([route + '.wxml', route + '.ttml'], [route + '.wxss', route + '.ttss']);
    }
    for (const [wechat, toutiao] of twins) {
      const expected = fs.readFileSync(path.join(ROOT, wechat), 'utf8').replace(/\bwx:/g, 'tt:');
      const actual = fs.readFileSync(path.join(ROOT, toutiao), 'utf8');
      assert.equal(actual, expected, toutiao + ' is ' + wechat + ' for Toutiao');
      assert.ok(!/\bwx:/.test(actual), toutiao + ' has no wx: attribute');
    }

    // every input bound to onField names a field the page has
    const fields = [...tasksWxml.matchAll(/data-field="(\w+)"/g)].map((m) => m[1]);
    const tasksData = d.pageDefinition(TASKS).data;
    for (const field of fields) assert.ok(field in tasksData, TASKS + ' has data.' + field);

    // the task page's writing controls only show to those who may write
    for (const handler of ['onToggle', 'onDelete']) {
      const tag = new RegExp('<[^>]*="' + handler + '"[^>]*>').exec(tasksWxml)[0];
      assert.match(tag, /wx:if="\{\{canEdit\}\}"/, handler + ' is for editors');
    }
    assert.match(tasksWxml, /<view class="card add" wx:if="\{\{canEdit\}\}">/);

    const project = JSON.parse(fs.readFileSync(path.join(ROOT, 'project.config.json'), 'utf8'));
    assert.match(project.libVersion, /^\d+\.\d+\.\d+$/);
    return { checked, twins: twins.length, libVersion: project.libVersion };
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
