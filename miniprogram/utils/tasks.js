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

// Every task, following `next` until the last page.
async function loadAll() {
  const tasks = [];
  let query = { limit: 200 };
  for (;;) {
    const page = await api.get('/api/tasks', query);
    tasks.push(...page.tasks);
    if (!page.next) break;
    const cursor = /[?&]cursor=([^&]+)/.exec(page.next);
    if (!cursor) break;
    query = { limit: 200, cursor: decodeURIComponent(cursor[1]) };
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

// A live message applied to the list.
function apply(tasks, message) {
  if (message.type === 'task.created' || message.type === 'task.updated') {
    return upsert(tasks, message.task);
  }
  if (message.type === 'task.deleted') return remove(tasks, message.task.id);
  return tasks;
}

// A key for one create: sent again with a retry, it makes taskhub store the task once.
function idempotencyKey() {
  return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

function create(title) {
  const header = { 'Idempotency-Key': idempotencyKey() };
  return api.send('POST', '/api/tasks', { title }, header).then((data) => data.task);
}

// wx.request has no PATCH, so a change is a PUT of every editable field, guarded by
// If-Match so that it never overwrites a change made elsewhere meanwhile. On 412 it
// takes the task as it is now, applies the change again, and retries once.
async function change(task, changes) {
  let current = task;
  let etag = '"' + task.version + '"';
  for (let attempt = 0; ; attempt++) {
    const fields = Object.assign(
      {
        title: current.title,
        description: current.description,
        done: current.done,
        order: current.order,
      },
      changes,
    );
    try {
      return (await api.send('PUT', '/api/tasks/' + task.id, fields, { 'If-Match': etag })).task;
    } catch (err) {
      if (err.statusCode !== 412 || attempt > 0) throw err;
      const res = await api.request({ path: '/api/tasks/' + task.id });
      current = res.data.task;
      etag = headerOf(res, 'ETag') || '"' + current.version + '"';
    }
  }
}

function destroy(id) {
  return api.send('DELETE', '/api/tasks/' + id);
}

module.exports = { compare, loadAll, upsert, remove, apply, create, change, destroy };
