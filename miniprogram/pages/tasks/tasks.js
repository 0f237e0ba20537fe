// One list's tasks: pick a list, add, toggle, edit (title, due date, labels) and
// delete, kept current by /api/live. Writes go through the outbox, so that those
// made without a network wait there, shown as pending, and go out in order later.
const auth = require('../../utils/auth.js');
const tasks = require('../../utils/tasks.js');
const lists = require('../../utils/lists.js');
const outbox = require('../../utils/outbox.js');
const due = require('../../utils/due.js');
const labels = require('../../utils/labels.js');
const http = require('../../utils/http.js');
const { Live } = require('../../utils/live.js');
const { mp } = require('../../utils/platform.js');

const LIVE_LABELS = { connecting: '连接中…', live: '实时同步', offline: '离线，重连中…' };
// The page as last shown (lists, the chosen one, its tasks): what it shows when it
// starts without a network, under the writes still waiting.
const LAST_SEEN = 'taskhub_last_seen';

// A task as a row of the page: its due date in words, and whether it waits to be sent.
function row(task, pending) {
  const when = due.describe(task);
  return Object.assign({}, task, { pending, dueText: when.text, dueKind: when.kind });
}

Page({
  data: {
    user: null,
    lists: [],
    listIndex: 0,
    list: null,
    canEdit: false,
    roleName: '',
    tasks: [],
    pendingCount: 0,
    newTitle: '',
    newDue: '',
    newLabels: '',
    editingId: '',
    draftTitle: '',
    draftDue: '',
    draftLabels: '',
    conflict: '',
    loading: true,
    live: 'connecting',
    liveLabel: LIVE_LABELS.connecting,
    error: '',
  },

  onLoad() {
    this.known = []; // the chosen list's tasks as taskhub last said
    this.changes = null; // live changes that arrive while the list loads
    const seen = mp.getStorageSync(LAST_SEEN);
    if (seen) {
      this.choose(seen.lists, seen.listIndex);
      this.known = seen.tasks;
      this.render();
    }
    this.unsubscribe = outbox.subscribe((event) => this.onOutbox(event));
    this.live = new Live({
      onChange: (message) => this.onLiveChange(message),
      onSync: () => this.reload(),
      onState: (state) => {
        this.setData({ live: state, liveLabel: LIVE_LABELS[state] });
        // no live connection yet: show the list anyway, and sync once it is back
        if (state === 'offline' && !this.loaded) this.reload();
        // connected again: taskhub is reachable, so what waited can go
        if (state === 'live') outbox.flush();
      },
    });
    // Even when the first login failed (the platform was busy, say), the live
    // connection keeps trying, logging in again before each attempt.
    getApp()
      .ready.catch((err) => this.fail(err))
      .then(() => this.live.start());
  },

  onUnload() {
    this.live.stop();
    this.unsubscribe();
  },

  // The platform suspends a mini-program in the background; back in front, it
  // sends what waited, and catches up with GET /api/changes before reopening its socket.
  onHide() {
    this.live.pause();
  },

  onShow() {
    if (this.shown) {
      outbox.flush();
      this.live.resume();
    }
    this.shown = true;
  },

  onPullDownRefresh() {
    this.reload().then(() => mp.stopPullDownRefresh());
  },

  // The lists, then the chosen one's tasks (the default list at first).
  async reload() {
    this.changes = [];
    this.setData({ loading: true });
    try {
      await this.loadLists();
      const listId = this.data.list && this.data.list.id;
      let known = listId ? await tasks.loadAll(listId) : [];
      for (const message of this.changes) known = tasks.apply(known, message, listId);
      this.known = known;
      this.loaded = true;
      this.setData({ user: auth.user(), loading: false, error: '' });
      this.render();
    } catch (err) {
      this.fail(err);
    } finally {
      this.changes = null;
    }
  },

  async loadLists() {
    const all = await lists.load();
    const wanted = this.data.list && this.data.list.id;
    const index = Math.max(0, all.findIndex((l) => l.id === wanted));
    this.choose(all, index);
  },

  choose(all, index) {
    const list = all[index] || null;
    this.setData({
      lists: all,
      listIndex: index,
      list,
      canEdit: lists.canEdit(list),
      roleName: list ? lists.ROLE_NAMES[list.role] : '',
    });
  },

  // The rows: taskhub's tasks with the changes still queued laid over them, and the
  // tasks still to be created after them.
  render() {
    const listId = this.data.list && this.data.list.id;
    const queued = outbox.entries().filter((e) => e.listId === listId);
    const rows = [];
    for (const task of this.known) {
      const mine = queued.filter((e) => e.taskId === task.id);
      if (mine.some((e) => e.op === 'delete')) continue;
      const changes = mine.map((e) => e.changes || {});
      rows.push(row(Object.assign({}, task, ...changes), mine.length > 0));
    }
    for (const entry of queued) {
      if (entry.op !== 'create') continue;
      const blank = { id: entry.taskId, done: false, due: null, labels: [], priority: 0 };
      rows.push(row(Object.assign(blank, entry.fields), true));
    }
    this.setData({ tasks: rows, pendingCount: outbox.entries().length });
    const { lists: all, listIndex } = this.data;
    mp.setStorageSync(LAST_SEEN, { lists: all, listIndex, tasks: this.known });
  },

  async onListChange(event) {
    this.choose(this.data.lists, Number(event.detail.value));
    this.known = [];
    this.setData({ editingId: '', conflict: '' });
    await this.reload();
  },

  onLiveChange(message) {
    const listId = this.data.list && this.data.list.id;
    if (!message.type.startsWith('task.')) {
      // a list renamed, shared, unshared or deleted: the picker and roles change
      this.loadLists().then(
        () => (this.data.list && this.data.list.id) !== listId && this.reload(),
        () => {},
      );
      return;
    }
    if (this.changes) this.changes.push(message);
    this.known = tasks.apply(this.known, message, listId);
    this.render();
  },

  onOutbox({ type, entry, task, error }) {
    if (type === 'sent') {
      if (entry.op === 'delete') this.known = tasks.remove(this.known, entry.taskId);
      else if (task.list_id === (this.data.list && this.data.list.id)) {
        this.known = tasks.upsert(this.known, task);
      }
    } else if (type === 'failed') {
      this.failed(entry, error);
    }
    this.render();
  },

  failed(entry, error) {
    if (error instanceof tasks.ConflictError) {
      // keep what the user wrote, over the task as it is now, to save again
      this.known = tasks.upsert(this.known, error.current);
      this.edit(Object.assign({}, error.current, error.changes));
      this.setData({ conflict: error.message });
      this.fail(error);
      return;
    }
    if (error.statusCode === 403) {
      this.fail(new Error(lists.forbidden(this.data.list)));
      this.loadLists().catch(() => {}); // the role shown is stale
      return;
    }
    this.fail(error);
  },

  // --- writes ---

  // Queued first (the outbox's "queued" shows it at once), then sent if it can be.
  write(change) {
    outbox.add(Object.assign({ listId: this.data.list.id }, change));
    return outbox.flush();
  },

  // Viewers have no controls; one whose role changed meanwhile is told why.
  editable() {
    if (this.data.canEdit) return true;
    this.fail(new Error(lists.forbidden(this.data.list)));
    return false;
  },

  onTitleInput(event) {
    this.setData({ newTitle: event.detail.value });
  },

  // The other inputs and date pickers: data-field names what they set.
  onField(event) {
    this.setData({ [event.currentTarget.dataset.field]: event.detail.value });
  },

  async onAdd() {
    const title = this.data.newTitle.trim();
    if (!title) {
      mp.showToast({ title: '请输入任务', icon: 'none' });
      return;
    }
    if (!this.editable()) return;
    const fields = { title, labels: labels.parse(this.data.newLabels) };
    if (this.data.newDue) fields.due = this.data.newDue;
    this.setData({ newTitle: '', newDue: '', newLabels: '', error: '' });
    await this.write({ op: 'create', fields });
  },

  async onToggle(event) {
    const task = this.find(event);
    if (!task || !this.editable()) return;
    await this.write({ op: 'change', base: this.base(task), changes: { done: !task.done } });
  },

  async onDelete(event) {
    const task = this.find(event);
    if (!task || !this.editable()) return;
    await this.write({ op: 'delete', base: this.base(task) });
  },

  onEdit(event) {
    const task = this.find(event);
    if (task && this.data.canEdit) this.edit(task);
  },

  edit(task) {
    this.setData({
      editingId: task.id,
      draftTitle: task.title,
      draftDue: task.due ? due.dayOf(task.due) : '',
      draftLabels: labels.format(task.labels),
      conflict: '',
    });
  },

  onClearDue() {
    this.setData({ draftDue: '' });
  },

  onCancelEdit() {
    this.setData({ editingId: '', conflict: '' });
  },

  // Only the fields the user changed are sent over the task as it stands, so that a
  // change made elsewhere to another field is kept.
  async onSave() {
    const task = this.data.tasks.find((t) => t.id === this.data.editingId);
    if (!task || !this.editable()) return;
    const title = this.data.draftTitle.trim();
    if (!title) {
      mp.showToast({ title: '请输入任务', icon: 'none' });
      return;
    }
    const wanted = { title, due: this.data.draftDue || null, labels: labels.parse(this.data.draftLabels) };
    const shownDue = task.due ? due.dayOf(task.due) : null;
    const changes = {};
    if (wanted.title !== task.title) changes.title = wanted.title;
    if (wanted.due !== shownDue) changes.due = wanted.due;
    if (JSON.stringify(wanted.labels) !== JSON.stringify(task.labels)) changes.labels = wanted.labels;
    this.setData({ editingId: '', conflict: '', error: '' });
    if (Object.keys(changes).length) await this.write({ op: 'change', base: this.base(task), changes });
  },

  // The task as taskhub has it (a change is guarded by its version), or the row of
  // one still to be created.
  base(task) {
    const known = this.known.find((t) => t.id === task.id);
    return known || task;
  },

  find(event) {
    const id = event.currentTarget.dataset.id;
    return this.data.tasks.find((t) => t.id === id);
  },

  fail(err) {
    const offline = err instanceof http.NetworkError;
    const message = offline ? '网络不可用，显示的是上次同步的内容' : (err && err.message) || String(err);
    this.setData({ error: message, loading: false });
    mp.showToast({ title: message, icon: 'none' });
  },
});
