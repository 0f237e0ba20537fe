// Deleting tasks with a few seconds to take it back: one task (its ✕) or a list's
// completed tasks ("Clear completed"), with an "Undo" toast.
//
// The delete is delayed rather than undone by re-creating: the tasks are only hidden
// here until the toast expires, and the DELETE is sent then (or as the page goes
// away). Other members never see a task vanish and come back, and an undone task
// keeps its id, version, position and history, which a re-created one would lose.

import { api } from "./api.js";
import { $ } from "./dom.js";
import { enqueue, submit } from "./outbox.js";
import { render } from "./render.js";
import { canEdit, currentList, sorted, state } from "./state.js";

export const UNDO_MS = 6000;

let pending = null; // {tasks, timer}: the deletes waiting for the toast to go

function deletePath(task) {
  return `/api/tasks/${encodeURIComponent(task.id)}`;
}

// The delete goes through the outbox, which hides the task from now on, and sends it
// in turn (once taskhub can be reached), or brings it back if it is refused.
function send(task) {
  state.hidden.delete(task.id);
  if (!state.tasks.has(task.id)) return; // deleted meanwhile, by someone else
  return submit({ op: "delete", task });
}

// Hides the toast; a focus inside it goes to `next` (after it is drawn), or to the
// new task field.
function hideToast(next = () => $("#add-task [name=title]")) {
  const box = $("#undo-toast");
  const hadFocus = box.contains(document.activeElement);
  box.hidden = true;
  return () => hadFocus && (next() || $("#add-task [name=title]")).focus();
}

// Sends the waiting deletes now.
export function commit() {
  if (!pending) return;
  const { tasks, timer } = pending;
  pending = null;
  clearTimeout(timer);
  const refocus = hideToast();
  render();
  refocus();
  return Promise.all(tasks.map(send));
}

function undo() {
  if (!pending) return;
  const { tasks, timer } = pending;
  pending = null;
  clearTimeout(timer);
  for (const task of tasks) state.hidden.delete(task.id);
  const refocus = hideToast(() => $(`.task[data-id="${CSS.escape(tasks[0].id)}"] .delete`));
  render(tasks[0].id);
  refocus();
}

function startTimer() {
  clearTimeout(pending.timer);
  pending.timer = setTimeout(commit, UNDO_MS);
}

// Hides `tasks` and offers to take it back; deleted for good when the toast goes.
export function removeLater(tasks, text) {
  commit(); // one Undo at a time: an earlier delete goes through now
  if (!tasks.length) return;
  const focused = document.activeElement;
  const focusLost =
    focused?.matches(":focus-visible") && tasks.some((t) => focused.closest(`[data-id="${CSS.escape(t.id)}"]`));
  for (const task of tasks) state.hidden.add(task.id);
  pending = { tasks, timer: null };
  render();
  $("#undo-text").textContent = text;
  $("#undo-toast").hidden = false;
  // a keyboard user whose focused task went lands on the Undo button, and the
  // toast then waits for them to move on
  if (focusLost) $("#undo").focus();
  if (!$("#undo-toast").contains(document.activeElement)) startTimer();
}

// The list shown's completed tasks, for an editor or its owner.
function completed() {
  const list = currentList();
  if (!list || !canEdit(list.id)) return [];
  return sorted().filter((t) => t.done);
}

export function renderClearButton() {
  const button = $("#clear-completed");
  const count = completed().length;
  button.hidden = count === 0;
  button.textContent = `Clear completed (${count})`;
}

export function setupRemoval() {
  $("#undo").addEventListener("click", undo);
  $("#undo-dismiss").addEventListener("click", commit);
  const box = $("#undo-toast");
  // the toast waits while someone reads it or reaches for it (WCAG: timing adjustable)
  const hold = () => pending && clearTimeout(pending.timer);
  const resume = (event) => {
    if (pending && !box.contains(event.relatedTarget)) startTimer();
  };
  box.addEventListener("mouseenter", hold);
  box.addEventListener("focusin", hold);
  box.addEventListener("mouseleave", resume);
  box.addEventListener("focusout", resume);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || box.hidden) return;
    // Escape elsewhere belongs to what has the focus (a field, a dialog)
    if (!box.contains(document.activeElement) && document.activeElement !== document.body) return;
    event.preventDefault();
    commit();
  });
  $("#clear-completed").addEventListener("click", () => {
    const tasks = completed();
    const list = currentList();
    if (!tasks.length || !list) return;
    const count = tasks.length === 1 ? "1 completed task" : `${tasks.length} completed tasks`;
    removeLater(tasks, `Cleared ${count} from “${list.name}”.`);
  });
  // leaving the page (or signing out) sends what is waiting; keepalive outlives the page
  // (and the outbox keeps them: a delete that did not make it goes on the next visit)
  window.addEventListener("pagehide", () => {
    if (!pending) return;
    const { tasks } = pending;
    pending = null;
    for (const task of tasks) {
      const entry = state.user && enqueue({ op: "delete", task });
      if (entry) api("DELETE", deletePath(task), { key: entry.key, keepalive: true }).catch(() => {});
    }
  });
  document.addEventListener("click", (event) => event.target.closest?.("#logout") && commit(), true);
}
