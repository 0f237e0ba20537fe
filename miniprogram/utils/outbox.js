// Writes waiting for the network: kept in storage, so that they outlive a restart,
// and sent one at a time, in the order made, once taskhub answers again.
//
// Each write carries an Idempotency-Key made when it was queued, and keeps it for
// every resend: a create sent again after a lost answer is stored once. A change is
// a PUT with If-Match (tasks.change), a delete answered 404 is done already, so a
// resend of either never applies twice.
const { mp } = require('./platform.js');
const tasks = require('./tasks.js');

const KEY = 'taskhub_outbox';
const PENDING_PREFIX = 'pending-';

const listeners = [];
let running = null; // the flush under way: one at a time
let sending = null; // the key of the entry on the wire, which later writes leave alone

function entries() {
  return mp.getStorageSync(KEY) || [];
}

function save(list) {
  mp.setStorageSync(KEY, list);
}

// fn({type: 'sent' | 'failed' | 'queued', entry, task?, error?})
function subscribe(fn) {
  listeners.push(fn);
  return () => listeners.splice(listeners.indexOf(fn), 1);
}

function tell(event) {
  for (const fn of listeners.slice()) fn(event);
}

// A write queued: {op: 'create', listId, fields} | {op: 'change', listId, base,
// changes} | {op: 'delete', listId, base}. Writes to a task still waiting fold
// into the write already queued for it, so that the queue holds one per task.
function add(write) {
  const list = entries();
  const key = tasks.idempotencyKey();
  const taskId = write.base ? write.base.id : PENDING_PREFIX + key;
  const open = (e) => e.taskId === taskId && e.key !== sending;
  const queued = list.find(open);
  let entry;
  if (queued && queued.op === 'create') {
    if (write.op === 'delete') list.splice(list.indexOf(queued), 1);
    else Object.assign(queued.fields, write.changes);
    entry = queued;
  } else if (queued && queued.op === 'change' && write.op === 'change') {
    Object.assign(queued.changes, write.changes);
    entry = queued;
  } else {
    if (queued) list.splice(list.indexOf(queued), 1); // a delete replaces a change
    entry = Object.assign({ key, taskId }, write);
    if (entry.op === 'create') entry.fields = Object.assign({}, write.fields);
    list.push(entry);
  }
  save(list);
  tell({ type: 'queued', entry });
  return entry;
}

function remove(key) {
  save(entries().filter((e) => e.key !== key));
}

// After a write went through, later ones to the same task start from its outcome
// (and those to a task created just now learn its id).
function rebase(taskId, task) {
  const list = entries();
  for (const e of list) {
    if (e.taskId !== taskId || !e.base) continue;
    e.taskId = task.id;
    e.base = task;
  }
  save(list);
}

function send(entry) {
  const header = { 'Idempotency-Key': entry.key };
  if (entry.op === 'create') {
    return tasks.create(Object.assign({ list_id: entry.listId }, entry.fields), entry.key);
  }
  if (entry.op === 'change') return tasks.change(entry.base, entry.changes, header);
  return tasks.destroy(entry.base.id, header).then(
    () => null,
    (err) => {
      if (err.statusCode === 404) return null; // gone already: the same outcome
      throw err;
    },
  );
}

// No answer, or one saying "later": the write stays queued for the next try.
function transient(err) {
  const status = err && err.statusCode;
  return !status || status === 408 || status === 429 || status >= 500;
}

async function drain() {
  for (;;) {
    const [entry] = entries();
    if (!entry) return true;
    sending = entry.key;
    try {
      const task = await send(entry);
      remove(entry.key);
      if (task) rebase(entry.taskId, task);
      tell({ type: 'sent', entry, task });
    } catch (err) {
      if (transient(err)) return false;
      remove(entry.key);
      tell({ type: 'failed', entry, error: err });
    } finally {
      sending = null;
    }
  }
}

// Sends what is queued; resolves true once the queue is empty, false when taskhub
// cannot be reached yet.
function flush() {
  if (!running) {
    running = drain().finally(() => {
      running = null;
    });
  }
  return running;
}

module.exports = { entries, add, flush, subscribe };
