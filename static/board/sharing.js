// The sharing dialog: a list's members and their roles, changed by its owner; any
// other member may leave.

import { api } from "./api.js";
import { toast } from "./dialogs.js";
import { $ } from "./dom.js";
import { forgetList } from "./lists.js";
import { renderAll } from "./render.js";
import { signedOut } from "./session.js";
import { ROLE_NAMES, state } from "./state.js";

export async function openSharing(list) {
  state.sharing = { id: list.id, members: [] };
  $("#share-error").hidden = true;
  $("#add-member").reset();
  renderMembers();
  $("#share-dialog").showModal();
  try {
    const { members } = await api("GET", `/api/lists/${encodeURIComponent(list.id)}/members`);
    if (state.sharing && state.sharing.id === list.id) {
      state.sharing.members = members;
      renderMembers();
    }
  } catch (error) {
    shareError(error, list.id);
  }
}

function shareError(error, listId, username) {
  if (error.status === 401) {
    $("#share-dialog").close();
    signedOut("Your session ended. Sign in again.");
    return;
  }
  const list = state.lists.get(listId);
  let text = error.message;
  if (error.status === 403 && list && list.role !== "owner") {
    text = `Only the owner of “${list.name}” (${list.owner.username}) decides who its members are.`;
  } else if (error.status === 404 && username && error.field !== "list_id") {
    text = `Nobody is called “${username}” here: check the spelling of their username.`;
  }
  $("#share-error").textContent = text.charAt(0).toUpperCase() + text.slice(1);
  $("#share-error").hidden = false;
}

export function renderMembers() {
  if (!state.sharing) return;
  const list = state.lists.get(state.sharing.id);
  if (!list) return;
  const owner = list.role === "owner";
  $("#share-title").textContent = `Sharing “${list.name}”`;
  $("#share-intro").textContent = owner
    ? "Editors can add, change and delete tasks; viewers can only read them."
    : `${list.owner.username} shares this list with you as ${list.role === "editor" ? "an editor" : "a viewer"}.`;
  $("#add-member").hidden = !owner;
  $("#leave-list").hidden = owner;
  const members = [...state.sharing.members].sort((a, b) => {
    if (a.role === "owner") return -1;
    if (b.role === "owner") return 1;
    return a.user.username.localeCompare(b.user.username);
  });
  $("#members").replaceChildren(
    ...members.map((member) => {
      const li = document.createElement("li");
      li.className = "member";
      li.dataset.username = member.user.username;
      const name = document.createElement("span");
      name.className = "member-name";
      name.textContent = member.user.username + (state.user && member.user.id === state.user.id ? " (you)" : "");
      li.append(name);
      if (owner && member.role !== "owner") {
        const select = document.createElement("select");
        select.setAttribute("aria-label", `Role of ${member.user.username}`);
        for (const role of ["editor", "viewer"]) {
          const option = new Option(ROLE_NAMES[role], role, false, member.role === role);
          select.append(option);
        }
        select.addEventListener("change", () => setMember(list, member.user.username, select.value));
        const removeButton = document.createElement("button");
        removeButton.type = "button";
        removeButton.className = "secondary danger small";
        removeButton.textContent = "Remove";
        removeButton.setAttribute("aria-label", `Remove ${member.user.username}`);
        removeButton.addEventListener("click", () => removeMember(list, member.user.username));
        li.append(select, removeButton);
      } else {
        const role = document.createElement("span");
        role.className = `role ${member.role}`;
        role.textContent = ROLE_NAMES[member.role];
        li.append(role);
      }
      return li;
    })
  );
}

// Adds a member or changes their role: the member, or null when refused.
export async function setMember(list, username, role) {
  $("#share-error").hidden = true;
  try {
    const { member } = await api(
      "PUT",
      `/api/lists/${encodeURIComponent(list.id)}/members/${encodeURIComponent(username)}`,
      { body: { role } }
    );
    if (state.sharing && state.sharing.id === list.id) {
      state.sharing.members = state.sharing.members.filter((m) => m.user.id !== member.user.id);
      state.sharing.members.push(member);
      renderMembers();
    }
    return member;
  } catch (error) {
    shareError(error, list.id, username);
    return null;
  }
}

export async function removeMember(list, username) {
  $("#share-error").hidden = true;
  try {
    await api("DELETE", `/api/lists/${encodeURIComponent(list.id)}/members/${encodeURIComponent(username)}`);
    if (state.sharing && state.sharing.id === list.id) {
      state.sharing.members = state.sharing.members.filter((m) => m.user.username !== username);
      renderMembers();
    }
    return true;
  } catch (error) {
    shareError(error, list.id);
    return false;
  }
}

export function setupSharing() {
  $("#add-member").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const list = state.sharing && state.lists.get(state.sharing.id);
    const username = form.username.value.trim();
    if (!list || !username) return;
    const submit = $("[type=submit]", form);
    submit.disabled = true;
    if (await setMember(list, username, form.role.value)) form.username.value = "";
    submit.disabled = false;
    form.username.focus();
  });

  $("#leave-list").addEventListener("click", async () => {
    const list = state.sharing && state.lists.get(state.sharing.id);
    if (!list || !state.user) return;
    if (await removeMember(list, state.user.username)) {
      $("#share-dialog").close();
      forgetList(list.id);
      renderAll();
      toast(`You left “${list.name}”.`);
    }
  });
  $("#share-close").addEventListener("click", () => $("#share-dialog").close());
  $("#share-dialog").addEventListener("close", () => {
    state.sharing = null;
    if (state.user && !$("#share-list").hidden) $("#share-list").focus();
  });
}
