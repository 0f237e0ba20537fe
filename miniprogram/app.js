// taskhub's sample mini-program. It logs in as soon as it starts; pages wait for
// `getApp().ready` before calling the API.
const config = require('./config.js');
const auth = require('./utils/auth.js');
const http = require('./utils/http.js');
const outbox = require('./utils/outbox.js');
const { mp } = require('./utils/platform.js');

App({
  globalData: {
    baseUrl: config.baseUrl,
  },

  onLaunch() {
    // a stored token is used as it is; the request wrapper logs in again on 401
    this.ready = auth.ensureToken();
    this.ready.catch(() => {}); // pages report the failure when they wait for it
    // Writes queued offline go out as soon as taskhub is reachable again: when the
    // phone says the network is back, or when any call gets an answer.
    mp.onNetworkStatusChange((status) => {
      if (status.isConnected) outbox.flush();
    });
    http.onAnswer(() => {
      if (outbox.entries().length) outbox.flush();
    });
  },
});
