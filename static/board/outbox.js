// Task writes go out through a queue kept in localStorage (one per signed-in user), in
// the order made. A write made while taskhub cannot be reached waits there, is shown
// at once (a new task under a temporary id) and marked pending, and goes once taskhub
// answers again, even after the page was reloaded. Each write keeps the
// Idempotency-Key made when it was queued for every resend: a create is stored once
// (taskhub remembers the key), a change carries If-Match (a second one is refused as
// 412 and found applied already), and a delete answered 404 is done.

import { api, newKey, unreachable } from "./api.js";
import { offerMine } from "./conflicts.js";
import { toast } from "./dialogs.js";
import { $ } from "./dom.js";
import { refreshTask } from "./loading.js";
import { isOffline, renderBanner } from "./offline.js";
import { render } from "./render.js";
import { inbox, remove, state, upsert } from "./state.js";
import { refused } from "./writes.js";

const TEMPORARY = "pending-";
let running = null; // the drain under way: one at a time
let sending = null; // the key of the entry on the wire, which later writes leave alone
let knownBefore = null; // the tasks known when a create went on the wire (answeredLive)
const waiters = new Map(); // an entry's key -> the callers waiting for its outcome

export function storageKey() {
  return `taskhub.outbox.${state.user.id}`;
}

export function entries() {
  if (!state.user) return [];
  try {
    return JSON.parse(localStorage.getItem(storageKey())) || [];
  } catch {
    return []; // unreadable: nothing we could send
  }
}

function save(list) {
  localStorage.setItem(storageKey(), JSON.stringify(list));
  renderBanner();
}

function drop(key) {
  save(entries().filter((e) => e.key !== key));
}

export function waiting() {
  return entries().length;
}

// A write queued: {op: "create", fields} | {op: "change", task, fields} |
// {op: "delete", task}. A write to a task still waiting folds into the write queued
// for it (a change into its create, a delete cancels its create), so that the queue
// holds one per task besides the one on the wire. The entry the caller waits for, or
// null when nothing is left to send.
export function enqueue({ op, task, fields }) {
  const list = entries();
  const key = newKey();
  const taskId = task ? task.id : TEMPORARY + key;
  const queued = list.find((e) => e.taskId === taskId && e.key !== sending);
  let entry = null;
  if (queued && queued.op === "create") {
    if (op === "delete") list.splice(list.indexOf(queued), 1);
    else entry = Object.assign(queued, { fields: { ...queued.fields, ...fields } });
  } else if (queued && queued.op === "change" && op === "change") {
    entry = Object.assign(queued, { fields: { ...queued.fields, ...fields } });
  } else {
    if (queued) list.splice(list.indexOf(queued), 1); // a delete replaces a waiting change
    entry = {
      key,
      op,
      taskId,
      listId: task ? task.list_id : fields.list_id || inbox()?.id || null,
      fields: { ...fields },
      version: task ? task.version : undefined,
      at: new Date().toISOString(),
    };
    list.push(entry);
  }
  save(list);
  return entry;
}

// After a try that found taskhub away: writes queued apart while the write before
// them was on the wire fold into it now, as they would have had it been waiting.
function compact() {
  const list = entries();
  let folded = false;
  for (const later of [...list]) {
    if (later.op === "create") continue;
    const before = list.find((e) => e.taskId === later.taskId && e !== later && e.op !== "delete");
    if (!before || list.indexOf(before) > list.indexOf(later)) continue;
    folded = true;
    if (later.op === "delete" && before.op === "change") {
      list.splice(list.indexOf(before), 1); // a delete replaces a waiting change
      continue;
    }
    list.splice(list.indexOf(later), 1);
    if (later.op === "delete") list.splice(list.indexOf(before), 1);
    else before.fields = { ...before.fields, ...later.fields };
  }
  if (folded) save(list);
}

// Whether the task a create on the wire makes came over the live socket before the
// create's answer did: a task new since it went, in its list, with its title.
function answeredLive(entry) {
  if (entry.key !== sending || !knownBefore) return false;
  for (const [id, task] of state.tasks) {
    if (knownBefore.has(id) || id.startsWith(TEMPORARY)) continue;
    if (task.list_id === entry.listId && task.title === entry.fields.title) return true;
  }
  return false;
}

// The queued writes drawn over what the API answered: waiting creates as tasks,
// changes over their tasks, deletes gone. Called before each drawing.
export function applyPending() {
  const queue = entries();
  const queued = new Set(queue.map((e) => e.taskId));
  for (const id of state.tasks.keys()) {
    if (id.startsWith(TEMPORARY) && !queued.has(id)) state.tasks.delete(id); // sent by another tab
  }
  for (const e of queue) {
    if (e.op === "create" && answeredLive(e)) {
      state.tasks.delete(e.taskId); // shown once: as it came, not also as it was sent
      continue;
    }
    const known = state.tasks.get(e.taskId);
    if (e.op === "delete") remove(e.taskId);
    else if (known) state.tasks.set(e.taskId, { ...known, ...e.fields });
    else if (e.op === "create") {
      state.tasks.set(e.taskId, {
        id: e.taskId,
        list_id: e.listId,
        description: "",
        done: false,
        order: null,
        due: null,
        priority: 0,
        labels: [],
        version: 0,
        created_at: e.at,
        updated_at: e.at,
        ...e.fields,
      });
    }
  }
}

// Each task with a write waiting says so (but for the one on the wire while taskhub
// answers: a write that goes at once does not flash "Pending").
export function markPending() {
  const waitingFor = new Set(entries().filter((e) => e.key !== sending || isOffline()).map((e) => e.taskId));
  for (const item of document.querySelectorAll("#tasks .task")) {
    const pending = waitingFor.has(item.dataset.id);
    item.classList.toggle("pending", pending);
    const mark = $(".pending-mark", item);
    if (pending && !mark) {
      const chip = document.createElement("span");
      chip.className = "chip pending-mark";
      chip.textContent = "Pending";
      chip.title = "Saved on this device; sent when taskhub can be reached";
      $(".meta", item)?.prepend(chip);
    } else if (!pending && mark) mark.remove();
  }
}

// Later writes to a task start from what its last write made of it (and those to a
// task created just now learn its id).
function rebase(taskId, task) {
  const list = entries();
  for (const e of list) {
    if (e.taskId !== taskId) continue;
    e.taskId = task.id;
    e.listId = task.list_id;
    if (e.op === "change") e.version = task.version;
  }
  save(list);
}

async function send(entry) {
  const path = `/api/tasks/${encodeURIComponent(entry.taskId)}`;
  const key = entry.key;
  if (entry.op === "create") return (await api("POST", "/api/tasks", { body: entry.fields, key })).task;
  if (entry.op === "change") return (await api("PATCH", path, { body: entry.fields, version: entry.version, key })).task;
  try {
    await api("DELETE", path, { key });
  } catch (error) {
    if (error.status !== 404) throw error; // gone already: the outcome wanted
  }
  return null;
}

function landed(entry, task) {
  if (entry.op === "create") {
    state.tasks.delete(entry.taskId);
    if (state.openDetails === entry.taskId) state.openDetails = task.id;
  }
  if (entry.op === "delete") remove(entry.taskId);
  if (task) {
    rebase(entry.taskId, task);
    upsert(task);
  }
  render(task ? task.id : undefined);
}

// A write taskhub turned down: what it changed is undone in the page, and the user
// told why; a change that lost to another one is offered again.
async function turnedDown(entry, error) {
  if (entry.op === "create") {
    state.tasks.delete(entry.taskId);
    save(entries().filter((e) => e.taskId !== entry.taskId)); // the writes to it cannot go either
    render();
    await refused(error, entry.listId);
    return;
  }
  const current = await refreshTask(entry.taskId);
  if (error.status === 412 && current) offerMine(current, entry.fields);
  else if (error.status === 404 && entry.op === "change") {
    toast(`That task was deleted elsewhere, so your change${entry.fields.title ? ` “${entry.fields.title}”` : ""} was not saved.`);
  } else if (error.status !== 404) await refused(error, entry.listId);
}

function settle(key, outcome) {
  for (const resolve of waiters.get(key) || []) resolve(outcome);
  waiters.delete(key);
}

async function drain() {
  for (;;) {
    const [entry] = entries();
    if (!entry) return true;
    sending = entry.key;
    if (entry.op === "create") knownBefore = new Set(state.tasks.keys());
    try {
      const task = await send(entry);
      drop(entry.key);
      landed(entry, task);
      settle(entry.key, task ? { task } : true);
    } catch (error) {
      if (unreachable(error)) {
        sending = null;
        compact();
        return false;
      }
      if (error.status === 401) {
        await refused(error); // signed out; the queue waits for their next sign-in
        return false;
      }
      drop(entry.key);
      await turnedDown(entry, error);
      settle(entry.key, null);
    } finally {
      sending = null;
      knownBefore = null;
    }
  }
}

// Sends what is queued; true once the queue is empty, false while taskhub cannot be
// reached.
export function flush() {
  if (!running) {
    // one tab of this browser at a time sends (where the browser has Web Locks): each
    // reads the queue afresh, so no write goes twice at once
    const locked = navigator.locks ? navigator.locks.request("taskhub-outbox", drain) : drain();
    running = locked.finally(() => {
      running = null;
    });
  }
  return running;
}

// A task write: queued, drawn at once, and sent in turn. Its answer ({task}), true
// for a delete, {queued: true} while it waits (it counts as made: it is shown
// pending), or null when it was turned down.
export async function submit(write) {
  if (!state.user) return null;
  const entry = enqueue(write);
  render();
  if (!entry) return true;
  const outcome = new Promise((resolve) => waiters.set(entry.key, [...(waiters.get(entry.key) || []), resolve]));
  for (;;) {
    const done = await flush();
    if (!waiters.has(entry.key)) return outcome; // settled by the drain
    if (!done || !state.user) {
      settle(entry.key, state.user ? { queued: true } : null);
      return outcome;
    }
    if (!entries().some((e) => e.key === entry.key)) {
      settle(entry.key, true); // sent meanwhile by another tab of this user
      return outcome;
    }
    // a drain that ended before this write was queued: drain again
  }
}
