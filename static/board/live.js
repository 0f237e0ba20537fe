// Live updates from /api/live: changes applied as they come, and reconnects that
// back off and catch up from the last seq seen.

import { toast } from "./dialogs.js";
import { $ } from "./dom.js";
import { forgetList } from "./lists.js";
import { loadEverything, loadTasks } from "./loading.js";
import { connectionBack } from "./offline.js";
import { render, renderAll } from "./render.js";
import { signedOut } from "./session.js";
import { renderMembers } from "./sharing.js";
import { LIVE, mine, remove, state, upsert, upsertList } from "./state.js";

function setLive(stateName, text) {
  const pill = $("#live-status");
  pill.dataset.state = stateName;
  pill.textContent = text;
}

// One message of the socket, merged into the state and drawn.
function apply(message) {
  if (typeof message.seq === "number" && message.type !== "ready" && message.type !== "resync") {
    state.lastSeq = message.seq;
  }
  switch (message.type) {
    case "ready": // caught up; the first time, the lists are fetched from here
      state.retries = 0;
      connectionBack();
      setLive("live", "Live");
      if (state.lastSeq === null) {
        state.lastSeq = message.seq;
        loadEverything();
      }
      state.lastSeq = message.seq;
      break;
    case "resync": // the changes we missed are gone: fetch everything again
      state.retries = 0;
      connectionBack();
      state.lastSeq = message.seq;
      setLive("live", "Live");
      loadEverything();
      break;
    case "task.created":
    case "task.updated":
      if (upsert(message.task)) render(message.task.id);
      break;
    case "task.deleted":
      if (remove(message.task.id)) render();
      break;
    case "list.created":
    case "list.updated":
      if (upsertList(message.list)) renderAll();
      if (state.sharing && state.sharing.id === message.list.id) renderMembers();
      break;
    case "list.added": // shared with us: its tasks came before we could see them
      upsertList(message.list);
      renderAll();
      loadTasks(message.list.id);
      toast(`${message.list.owner.username} shared “${message.list.name}” with you.`);
      break;
    case "list.deleted":
    case "list.removed": {
      const known = state.lists.get(message.list.id);
      const shown = state.current === message.list.id;
      forgetList(message.list.id);
      renderAll();
      if (known && (shown || !mine(known))) {
        toast(
          message.type === "list.deleted"
            ? `“${known.name}” was deleted.`
            : `You are no longer a member of “${known.name}”.`
        );
      }
      break;
    }
    case "member.added":
    case "member.updated":
    case "member.removed":
      if (state.sharing && state.sharing.id === message.list_id) {
        const others = state.sharing.members.filter((m) => m.user.id !== message.member.user.id);
        if (message.type !== "member.removed") others.push(message.member);
        state.sharing.members = others;
        renderMembers();
      }
      break;
  }
}

export function connectLive() {
  if (!LIVE) {
    setLive("off", "Live updates off");
    return;
  }
  clearTimeout(state.retryTimer);
  clearInterval(state.countdown);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = state.lastSeq === null ? "" : `?since=${state.lastSeq}`;
  const socket = new WebSocket(`${scheme}://${location.host}/api/live${since}`);
  state.socket = socket;
  setLive("connecting", "Connecting…");

  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    apply(message);
  };

  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (event.code === 4401 || !state.user) {
      signedOut("Your session ended. Sign in again.");
      return;
    }
    // back off: 0.5 s, 1 s, 2 s … up to 30 s, with jitter so that clients of a
    // restarted process do not all come back at once
    const delay = Math.min(30000, 500 * 2 ** state.retries) * (0.75 + Math.random() / 2);
    state.retries += 1;
    const at = Date.now() + delay;
    const tick = () => {
      const left = Math.ceil((at - Date.now()) / 1000);
      setLive("offline", left > 1 ? `Offline · retrying in ${left}s` : "Offline · retrying");
    };
    tick();
    state.countdown = setInterval(tick, 1000);
    state.retryTimer = setTimeout(connectLive, delay);
  };
}

export function disconnectLive() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdown);
  const socket = state.socket;
  state.socket = null;
  if (socket) socket.close(1000);
}

export function setupLive() {
  window.addEventListener("online", () => {
    if (state.user && !state.socket && LIVE) connectLive();
  });

  // Without live updates, a page shown again fetches what may have changed meanwhile.
  document.addEventListener("visibilitychange", () => {
    if (!LIVE && state.user && document.visibilityState === "visible") loadEverything();
  });
}
