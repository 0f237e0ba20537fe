// Tasks: the list of tasks shown, and adding, editing, completing, moving and
// deleting them.

import { dueText } from "./dates.js";
import { showDetails, toggleDetails } from "./details.js";
import { $ } from "./dom.js";
import { submit } from "./outbox.js";
import { removeLater } from "./removal.js";
import { render } from "./render.js";
import { canEdit, currentList, sorted, state, visible } from "./state.js";

const ORDER_STEP = 1024;
export const PRIORITIES = ["", "Low", "Medium", "High"];

// Task writes go through the outbox, which shows them at once and sends them in
// order, now or once taskhub can be reached.

// Changes some of a task's fields; the answer, or null when it was turned down.
export async function patch(task, fields) {
  return submit({ op: "change", task, fields });
}

// A new task in the list shown (the Inbox when "All" is shown).
export async function addTask(title) {
  const list = currentList();
  return submit({ op: "create", fields: list ? { title, list_id: list.id } : { title } });
}

// Moves a task one place up or down.
export async function move(task, step) {
  const from = visible().findIndex((t) => t.id === task.id);
  await moveTo(task, from + step);
}

// Moves a task to place `to` of the tasks shown: a new order between its new
// neighbours, or when there is no room (or no orders yet), orders renumbered in steps.
export async function moveTo(task, to) {
  const list = visible();
  const from = list.findIndex((t) => t.id === task.id);
  if (from < 0 || to === from || to < 0 || to >= list.length) return;
  const all = sorted();
  const without = all.filter((t) => t.id !== task.id);
  const anchor = list[to];
  let index = without.findIndex((t) => t.id === anchor.id);
  if (to > from) index += 1;
  const before = without[index - 1];
  const after = without[index];
  let order = null;
  if (before && after && before.order != null && after.order != null && after.order - before.order > 1) {
    order = Math.floor((before.order + after.order) / 2);
  } else if (!after && before && before.order != null) {
    order = before.order + ORDER_STEP;
  } else if (!before && after && after.order != null) {
    order = after.order - ORDER_STEP;
  }
  if (order !== null) {
    await patch(task, { order });
    return;
  }
  without.splice(index, 0, task);
  const updates = without
    .map((t, i) => [t, (i + 1) * ORDER_STEP])
    .filter(([t, wanted]) => t.order !== wanted && canEdit(t.list_id));
  for (const [t, wanted] of updates) state.tasks.set(t.id, { ...t, order: wanted });
  render();
  await Promise.all(updates.map(([t, wanted]) => patch(t, { order: wanted })));
}

// The chips under a task's title: due date, priority, labels, list, who changed it.
function meta(task) {
  const parts = [];
  const chip = (text, kind) => {
    const span = document.createElement("span");
    span.className = `chip ${kind}`;
    span.textContent = text;
    parts.push(span);
  };
  const due = dueText(task);
  if (due) chip(due.text, `due ${due.kind}`);
  if (task.priority) chip(PRIORITIES[task.priority], `priority p${task.priority}`);
  for (const label of task.labels || []) chip(`#${label}`, "label");
  if (state.current === "all" && state.lists.size > 1) {
    const list = state.lists.get(task.list_id);
    if (list) chip(list.name, "in-list");
  }
  if (task.updated_by && state.user && task.updated_by.id !== state.user.id) {
    chip(`changed by ${task.updated_by.username}`, "by");
  }
  return parts;
}

function editingNow() {
  if (state.dragging) return true;
  const list = $("#tasks");
  if (list.querySelector(".title-edit:not([hidden])")) return true;
  const details = document.activeElement && document.activeElement.closest(".details");
  return !!details && list.contains(details);
}

// The tasks shown, their counts and the empty-list text (through render()).
export function renderTasks(flashId) {
  const list = $("#tasks");
  if (editingNow()) {
    state.pendingRender = true; // don't redraw under someone typing; done when they finish
    return;
  }
  state.pendingRender = false;
  const tasks = visible();
  const movable = state.found === null; // a search's order is the server's, not the list's
  const template = $("#task-template");
  list.replaceChildren(
    ...tasks.map((task, i) => {
      const item = template.content.firstElementChild.cloneNode(true);
      const editable = canEdit(task.list_id);
      item.dataset.id = task.id;
      item.classList.toggle("done", task.done);
      item.classList.toggle("readonly", !editable);
      $(".title", item).textContent = task.title;
      $(".description", item).textContent = task.description;
      $(".meta", item).replaceChildren(...meta(task));
      const box = $(".check input", item);
      box.checked = task.done;
      if (editable) {
        box.addEventListener("change", () => patch(task, { done: box.checked }));
        $(".title", item).addEventListener("click", () => startEdit(item, task));
        $(".up", item).disabled = i === 0;
        $(".down", item).disabled = i === tasks.length - 1;
        for (const control of item.querySelectorAll(".up, .down, .drag-handle")) control.hidden = !movable;
        $(".up", item).addEventListener("click", () => move(task, -1));
        $(".down", item).addEventListener("click", () => move(task, +1));
        $(".delete", item).addEventListener("click", () => removeLater([task], `Deleted “${task.title}”.`));
        const toggle = $(".details-toggle", item);
        toggle.setAttribute("aria-label", `Details of ${task.title}`);
        toggle.addEventListener("click", () => toggleDetails(item, task));
        if (state.openDetails === task.id) showDetails(item, task);
      } else {
        // a viewer reads: no control that would only be refused
        $(".check", item).remove();
        if (task.done) {
          const done = document.createElement("span");
          done.className = "chip done-chip";
          done.textContent = "Done";
          $(".meta", item).prepend(done);
        }
        const title = document.createElement("span");
        title.className = "title";
        title.textContent = task.title;
        $(".title", item).replaceWith(title);
        $(".actions", item).remove();
        $(".drag-handle", item).remove();
        $(".details", item).remove();
        $(".title-edit", item).remove();
      }
      if (task.id === flashId) {
        item.classList.add("flash");
        requestAnimationFrame(() => requestAnimationFrame(() => item.classList.remove("flash")));
      }
      return item;
    })
  );
  const shown = sorted();
  const open = shown.filter((t) => !t.done).length;
  const done = shown.length - open;
  const found = state.found ? `${tasks.length} found · ` : "";
  $("#counts").textContent = shown.length ? `${found}${open} open · ${done} done` : "";
  $("#empty").hidden = tasks.length > 0;
  const viewer = currentList() && currentList().role === "viewer";
  $("#empty").textContent = state.found
    ? "No tasks match."
    : shown.length
      ? "No tasks in this view."
      : viewer
        ? "Nothing in this list yet."
        : "Nothing here yet. Add your first task above.";
}

// Edits a task's title in place: Enter or leaving the field saves, Escape cancels.
function startEdit(item, task) {
  const label = $(".title", item);
  const input = $(".title-edit", item);
  input.value = task.title;
  label.hidden = true;
  input.hidden = false;
  input.focus();
  input.select();
  let finished = false;
  const finish = async (save) => {
    if (finished) return;
    finished = true;
    const title = input.value.trim();
    input.hidden = true;
    label.hidden = false;
    if (save && title && title !== task.title) {
      label.textContent = title;
      await patch(task, { title });
    }
    render();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish(true);
    if (event.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

export function setupTasks() {
  $("#add-task").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.currentTarget.elements.namedItem("title"); // form.title is an attribute
    const title = input.value.trim();
    if (!title) return;
    input.value = "";
    if (!(await addTask(title))) input.value = title;
  });

  for (const button of document.querySelectorAll("[data-filter]")) {
    button.addEventListener("click", () => {
      state.filter = button.dataset.filter;
      for (const b of document.querySelectorAll("[data-filter]")) {
        b.setAttribute("aria-pressed", String(b === button));
      }
      render();
    });
  }
}
