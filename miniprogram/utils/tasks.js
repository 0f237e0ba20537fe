// The task list as the page shows it: loading every page of /api/tasks, and
// applying live changes so that a change seen twice (in the list and as an event)
// is applied once.
const api = require('./request.js');
const { headerOf } = require('./http.js');

// taskhub's own order: `order` (tasks without one last), then creation, then id
function compare(a, b) {
  const ao = a.order === null || a.order === undefined ? Infinity : a.order;
  const bo = b.order === null || b.order === undefined ? Infinity : b.order;
  if (ao !== bo) return ao < bo ? -1 : 1;
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

// Every task of one list, following `next` until the last page.
async function loadAll(listId) {
  const tasks = [];
  const first = { limit: 200, list_id: listId };
  let query = first;
  for (;;) {
    const page = await api.get('/api/tasks', query);
    tasks.push(...page.tasks);
    if (!page.next) break;
    const cursor = /[?&]cursor=([^&]+)/.exec(page.next);
    if (!cursor) break;
    query = Object.assign({}, first, { cursor: decodeURIComponent(cursor[1]) });
  }
  return tasks.sort(compare);
}

// The list with `task` in it, unless the list already has that version or a newer one.
function upsert(tasks, task) {
  const index = tasks.findIndex((t) => t.id === task.id);
  if (index >= 0 && tasks[index].version >= task.version) return tasks;
  const next = tasks.filter((t) => t.id !== task.id);
  next.push(task);
  return next.sort(compare);
}

function remove(tasks, id) {
  return tasks.filter((t) => t.id !== id);
}

// A live message applied to one list's tasks: a task moved to another list leaves it.
function apply(tasks, message, listId) {
  if (message.type === 'task.created' || message.type === 'task.updated') {
    if (listId && message.task.list_id !== listId) return remove(tasks, message.task.id);
    return upsert(tasks, message.task);
  }
  if (message.type === 'task.deleted') return remove(tasks, message.task.id);
  return tasks;
}

// A key for one write, kept for its resends: taskhub stores a create once per key
// (it reads the header on POST only; If-Match and 404 make a resent PUT or DELETE safe).
function idempotencyKey() {
  return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

// `fields`: title, and perhaps list_id, due, labels, priority.
function create(fields, key = idempotencyKey()) {
  const header = { 'Idempotency-Key': key };
  return api.send('POST', '/api/tasks', fields, header).then((data) => data.task);
}

// What a PUT replaces: every field not sent would take its default.
const EDITABLE = ['title', 'description', 'done', 'order', 'due', 'priority', 'labels'];

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Changed elsewhere in a field the user changed too: taskhub keeps the other change,
// and the page offers the user's own text again rather than overwrite it.
class ConflictError extends Error {
  constructor(current, changes) {
    super('已在别处修改，你的内容已保留，可再次保存');
    this.name = 'ConflictError';
    this.statusCode = 412;
    this.current = current;
    this.changes = changes;
  }
}

// wx.request has no PATCH, so a change is a PUT of every editable field, guarded by
// If-Match so that it never overwrites a change made elsewhere meanwhile. On 412 it
// takes the task as it is now: when it already holds the change (an earlier send
// whose answer was lost) that is the outcome; when another change touched none of
// the fields changed here it applies the change again and retries once; otherwise it
// raises ConflictError.
async function change(task, changes, header = {}) {
  let current = task;
  let etag = '"' + task.version + '"';
  for (let attempt = 0; ; attempt++) {
    const fields = {};
    for (const name of EDITABLE) fields[name] = current[name];
    Object.assign(fields, changes);
    const headers = Object.assign({}, header, { 'If-Match': etag });
    try {
      return (await api.send('PUT', '/api/tasks/' + task.id, fields, headers)).task;
    } catch (err) {
      if (err.statusCode !== 412 || attempt > 0) throw err;
      const res = await api.request({ path: '/api/tasks/' + task.id });
      current = res.data.task;
      etag = headerOf(res, 'ETag') || '"' + current.version + '"';
      const names = Object.keys(changes);
      if (names.every((name) => same(current[name], changes[name]))) return current;
      if (names.some((name) => !same(current[name], task[name]))) {
        throw new ConflictError(current, changes);
      }
    }
  }
}

function destroy(id, header = {}) {
  return api.send('DELETE', '/api/tasks/' + id, undefined, header);
}

module.exports = {
  compare,
  loadAll,
  upsert,
  remove,
  apply,
  idempotencyKey,
  create,
  change,
  destroy,
  ConflictError,
};
