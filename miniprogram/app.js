// taskhub's sample mini-program. It logs in as soon as it starts; pages wait for
// `getApp().ready` before calling the API.
const config = require('./config.js');
const auth = require('./utils/auth.js');

App({
  globalData: {
    baseUrl: config.baseUrl,
  },

  onLaunch() {
    // a stored token is used as it is; the request wrapper logs in again on 401
    this.ready = auth.ensureToken();
    this.ready.catch(() => {}); // pages report the failure when they wait for it
  },
});
