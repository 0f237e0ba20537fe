// The drawer: the sidebar of lists at phone width, over the page.

import { $ } from "./dom.js";

const narrow = window.matchMedia("(max-width: 760px)");

export function openDrawer() {
  document.body.classList.add("drawer-open");
  $("#drawer-backdrop").hidden = false;
  $("#open-lists").setAttribute("aria-expanded", "true");
  // the page behind the drawer is out of reach (keyboard, screen readers) while it is open
  for (const behind of document.querySelectorAll(".topbar, .content")) behind.inert = true;
  const current = $("#lists [aria-current=page]") || $("#lists button");
  if (current) current.focus();
}

export function closeDrawer(focusButton = true) {
  if (!document.body.classList.contains("drawer-open")) return;
  document.body.classList.remove("drawer-open");
  $("#drawer-backdrop").hidden = true;
  $("#open-lists").setAttribute("aria-expanded", "false");
  for (const behind of document.querySelectorAll(".topbar, .content")) behind.inert = false;
  if (focusButton && narrow.matches) $("#open-lists").focus();
}

export function setupDrawer() {
  $("#open-lists").addEventListener("click", () =>
    document.body.classList.contains("drawer-open") ? closeDrawer() : openDrawer()
  );
  $("#close-lists").addEventListener("click", () => closeDrawer());
  $("#drawer-backdrop").addEventListener("click", () => closeDrawer());
  $("#sidebar").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDrawer();
  });
  narrow.addEventListener("change", () => closeDrawer(false));
}
