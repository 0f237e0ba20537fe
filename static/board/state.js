// What the board knows: the signed-in user, the lists and tasks as the API answers
// them, and the rules for merging answers and live changes that arrive out of order.
// No DOM and no requests here.

export const LIVE = document.body.dataset.live === "on";

export const ROLE_NAMES = { owner: "Owner", editor: "Editor", viewer: "Viewer" };

export const state = {
  user: null,
  lists: new Map(), // id -> list, as the API answers it (with the caller's role)
  current: "all", // the list shown: a list id, or "all"
  tasks: new Map(), // id -> task, as the API answers it
  deleted: new Set(), // ids deleted while a list fetch may still bring them back
  filter: "all",
  // the search, filters and sort chosen (search.js); "" is "any"
  query: { q: "", due: "", label: "", priority: "", sort: "order" },
  found: null, // the server's answer to that query, as task ids in its order; null when unfiltered
  hidden: new Set(), // ids deleted locally, waiting for an Undo before the DELETE is sent
  revision: 0, // counts changes to `tasks`, so that a filtered view knows it may be stale
  dragging: false, // a task is being dragged: no redraw under the pointer
  lastSeq: null, // the last change seen; a reconnect asks for what came after it
  socket: null,
  retries: 0,
  retryTimer: null,
  countdown: null,
  loading: new Map(), // what is being fetched ("lists", "all", a list id) -> its promise
  sharing: null, // the list whose sharing dialog is open: {id, members}
  openDetails: null, // the task whose details are open
  pendingRender: false,
};

export function mine(list) {
  return state.user && list.owner.id === state.user.id;
}

// Your Inbox first, then by name (the server's order, kept as lists come and go).
export function orderedLists() {
  return [...state.lists.values()].sort((a, b) => {
    const ad = a.default && mine(a) ? 0 : 1;
    const bd = b.default && mine(b) ? 0 : 1;
    if (ad !== bd) return ad - bd;
    return a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1);
  });
}

export function currentList() {
  return state.current === "all" ? null : state.lists.get(state.current) || null;
}

export function canEdit(listId) {
  const list = state.lists.get(listId);
  return !list || list.role !== "viewer"; // a list not known yet: let the server decide
}

export function inbox() {
  return orderedLists().find((l) => l.default && mine(l)) || null;
}

export function upsertList(list) {
  const known = state.lists.get(list.id);
  // a role change (list.updated) keeps the version: only an older version loses
  if (known && known.version > list.version) return false;
  state.lists.set(list.id, list);
  return true;
}

// The server's order: tasks with an order first, by order; then by creation time.
function compare(a, b) {
  const ao = a.order ?? Infinity;
  const bo = b.order ?? Infinity;
  if (ao !== bo) return ao < bo ? -1 : 1;
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
  return a.id < b.id ? -1 : 1;
}

function inView(task) {
  return !!task && !state.hidden.has(task.id) && (state.current === "all" || task.list_id === state.current);
}

// The tasks of the list shown (or of every list), in order.
export function sorted() {
  return [...state.tasks.values()].filter(inView).sort(compare);
}

// The tasks shown: the server's answer to a search, or sorted(); those that pass the filter.
export function visible() {
  const shown = state.found ? state.found.map((id) => state.tasks.get(id)).filter(inView) : sorted();
  return shown.filter((t) => state.filter === "all" || (state.filter === "done" ? t.done : !t.done));
}

// Changes may arrive twice (our own write, then its echo) or late: the newest wins.
export function upsert(task) {
  if (state.deleted.has(task.id)) return false;
  const known = state.tasks.get(task.id);
  if (known && known.version >= task.version) return false;
  state.tasks.set(task.id, task);
  state.revision += 1;
  return true;
}

export function remove(id) {
  state.deleted.add(id);
  state.hidden.delete(id);
  if (!state.tasks.delete(id)) return false;
  state.revision += 1;
  return true;
}
