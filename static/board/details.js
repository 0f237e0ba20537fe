// A task's details form: description, due date, priority and labels.

import { dueDay } from "./dates.js";
import { $ } from "./dom.js";
import { render } from "./render.js";
import { state } from "./state.js";
import { patch } from "./tasks.js";

function parseLabels(text) {
  const labels = [];
  for (const part of text.split(",")) {
    const label = part.trim();
    if (label && !labels.includes(label)) labels.push(label);
  }
  return labels;
}

export function toggleDetails(item, task) {
  if (state.openDetails === task.id) {
    state.openDetails = null;
    render();
    $(`.task[data-id="${CSS.escape(task.id)}"] .details-toggle`)?.focus();
  } else {
    state.openDetails = task.id;
    render();
    const fresh = $(`.task[data-id="${CSS.escape(task.id)}"]`);
    if (fresh) $("[name=description]", fresh).focus();
  }
}

// Opens the details form of a task's item, filled in and wired to save its changes.
export function showDetails(item, task) {
  const form = $(".details", item);
  const toggle = $(".details-toggle", item);
  toggle.setAttribute("aria-expanded", "true");
  item.classList.add("open");
  form.hidden = false;
  form.id = `details-${task.id}`;
  toggle.setAttribute("aria-controls", form.id);
  form.description.value = task.description || "";
  form.due.value = dueDay(task.due);
  form.priority.value = String(task.priority || 0);
  form.labels.value = (task.labels || []).join(", ");
  const when = new Date(task.updated_at);
  const by = task.updated_by ? task.updated_by.username : "someone";
  const created = task.created_by ? ` · created by ${task.created_by.username}` : "";
  $(".changed", form).textContent =
    `Last changed by ${by}, ${when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}${created}`;
  form.addEventListener("focusout", (event) => {
    if (!form.contains(event.relatedTarget) && state.pendingRender) setTimeout(render);
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  const close = () => {
    state.openDetails = null;
    document.activeElement?.blur();
    render();
    $(`.task[data-id="${CSS.escape(task.id)}"] .details-toggle`)?.focus();
  };
  $(".cancel", form).addEventListener("click", close);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = {};
    const description = form.description.value;
    if (description !== (task.description || "")) fields.description = description;
    const due = form.due.value;
    if (due !== dueDay(task.due)) fields.due = due || null;
    const priority = Number(form.priority.value);
    if (priority !== (task.priority || 0)) fields.priority = priority;
    const labels = parseLabels(form.labels.value);
    if (JSON.stringify(labels) !== JSON.stringify(task.labels || [])) fields.labels = labels;
    if (!Object.keys(fields).length) {
      close();
      return;
    }
    const save = $("[type=submit]", form);
    save.disabled = true;
    document.activeElement?.blur();
    const answer = await patch(state.tasks.get(task.id) || task, fields);
    save.disabled = false;
    if (answer) close();
  });
}
