// Drag-and-drop reordering by a task's handle, with a mouse, a pen or a finger
// (pointer events for all three); ↑/↓ stay for the keyboard. A drop is saved the way
// ↑/↓ save, through the task's order (moveTo()). Only the list's own order can be
// dragged: a search or another sort shows no handles.

import { $ } from "./dom.js";
import { render } from "./render.js";
import { state } from "./state.js";
import { moveTo } from "./tasks.js";

function middle(element) {
  const box = element.getBoundingClientRect();
  return box.top + box.height / 2;
}

export function setupDragging() {
  const list = $("#tasks");
  list.addEventListener("pointerdown", (start) => {
    const handle = start.target.closest(".drag-handle");
    if (!handle || start.button !== 0 || state.found !== null) return;
    const item = handle.closest(".task");
    const task = state.tasks.get(item.dataset.id);
    if (!task) return;
    start.preventDefault(); // no text selection, no scrolling
    const from = [...list.children].indexOf(item);
    state.dragging = true; // renderTasks() waits: the list is not redrawn under the pointer
    item.classList.add("dragging");

    // the neighbours step aside once the pointer passes their middle; the dragged
    // item itself stays in the document, so the pointer's events keep coming
    const follow = (event) => {
      if (event.pointerId !== start.pointerId) return;
      let next = item.nextElementSibling;
      while (next && event.clientY > middle(next)) {
        list.insertBefore(next, item);
        next = item.nextElementSibling;
      }
      let previous = item.previousElementSibling;
      while (previous && event.clientY < middle(previous)) {
        list.insertBefore(previous, item.nextElementSibling);
        previous = item.previousElementSibling;
      }
    };
    const drop = async (event) => {
      if (event.pointerId !== start.pointerId) return;
      document.removeEventListener("pointermove", follow);
      document.removeEventListener("pointerup", drop);
      document.removeEventListener("pointercancel", drop);
      item.classList.remove("dragging");
      state.dragging = false;
      const to = [...list.children].indexOf(item);
      if (event.type === "pointerup" && to !== from) await moveTo(task, to);
      else render(); // cancelled: back as it was
    };
    document.addEventListener("pointermove", follow);
    document.addEventListener("pointerup", drop);
    document.addEventListener("pointercancel", drop);
  });
}
