// Asking in a modal dialog, and short messages (toasts) that go by themselves.

import { $ } from "./dom.js";

// A question in a modal dialog: the text typed (with `value`), true, or null.
export function ask({ title, message, value, ok, danger = false }) {
  const dialog = $("#ask-dialog");
  $("#ask-title").textContent = title;
  $("#ask-message").textContent = message || "";
  $("#ask-message").hidden = !message;
  const field = $("#ask-field");
  const input = $("#ask-form [name=value]");
  field.hidden = value === undefined;
  input.required = value !== undefined;
  input.value = value ?? "";
  $("#ask-ok").textContent = ok;
  $("#ask-ok").classList.toggle("danger", danger);
  dialog.returnValue = "";
  dialog.showModal();
  if (value !== undefined) input.select();
  else $("#ask-ok").focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue !== "ok") resolve(null);
        else resolve(value === undefined ? true : input.value.trim() || null);
      },
      { once: true }
    );
  });
}

let toastTimer = null;
export function toast(text) {
  const box = $("#toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 4000);
}

export function setupDialogs() {
  $("#ask-cancel").addEventListener("click", () => $("#ask-dialog").close("cancel"));
}
