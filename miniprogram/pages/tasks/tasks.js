// The task list: add, toggle and delete tasks, kept current by /api/live.
const auth = require('../../utils/auth.js');
const tasks = require('../../utils/tasks.js');
const { Live } = require('../../utils/live.js');
const { mp } = require('../../utils/platform.js');

const LIVE_LABELS = { connecting: '连接中…', live: '实时同步', offline: '离线，重连中…' };

Page({
  data: {
    user: null,
    tasks: [],
    newTitle: '',
    loading: true,
    live: 'connecting',
    liveLabel: LIVE_LABELS.connecting,
    error: '',
  },

  onLoad() {
    this.changes = null; // live changes that arrive while the list loads
    this.live = new Live({
      onChange: (message) => this.onLiveChange(message),
      onSync: () => this.reload(),
      onState: (state) => {
        this.setData({ live: state, liveLabel: LIVE_LABELS[state] });
        // no live connection yet: show the list anyway, and sync once it is back
        if (state === 'offline' && !this.loaded) this.reload();
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
  },

  // The platform suspends a mini-program in the background; back in front, it
  // catches up with GET /api/changes before reopening its socket.
  onHide() {
    this.live.pause();
  },

  onShow() {
    if (this.shown) this.live.resume();
    this.shown = true;
  },

  onPullDownRefresh() {
    this.reload().then(() => mp.stopPullDownRefresh());
  },

  async reload() {
    this.changes = [];
    this.setData({ loading: true });
    try {
      let list = await tasks.loadAll();
      for (const message of this.changes) list = tasks.apply(list, message);
      this.loaded = true;
      this.setData({ tasks: list, user: auth.user(), loading: false, error: '' });
    } catch (err) {
      this.fail(err);
    } finally {
      this.changes = null;
    }
  },

  onLiveChange(message) {
    if (this.changes) this.changes.push(message);
    this.setData({ tasks: tasks.apply(this.data.tasks, message) });
  },

  onTitleInput(event) {
    this.setData({ newTitle: event.detail.value });
  },

  async onAdd() {
    const title = this.data.newTitle.trim();
    if (!title) {
      mp.showToast({ title: '请输入任务', icon: 'none' });
      return;
    }
    try {
      const task = await tasks.create(title);
      this.setData({ tasks: tasks.upsert(this.data.tasks, task), newTitle: '', error: '' });
    } catch (err) {
      this.fail(err);
    }
  },

  async onToggle(event) {
    const task = this.find(event);
    if (!task) return;
    try {
      const changed = await tasks.change(task, { done: !task.done });
      this.setData({ tasks: tasks.upsert(this.data.tasks, changed), error: '' });
    } catch (err) {
      this.fail(err);
    }
  },

  async onDelete(event) {
    const task = this.find(event);
    if (!task) return;
    try {
      await tasks.destroy(task.id);
    } catch (err) {
      if (err.statusCode !== 404) {
        this.fail(err);
        return;
      }
      // deleted elsewhere already: the same outcome
    }
    this.setData({ tasks: tasks.remove(this.data.tasks, task.id), error: '' });
  },

  find(event) {
    const id = event.currentTarget.dataset.id;
    return this.data.tasks.find((t) => t.id === id);
  },

  fail(err) {
    const message = (err && err.message) || String(err);
    this.setData({ error: message, loading: false });
    mp.showToast({ title: message, icon: 'none' });
  },
});
