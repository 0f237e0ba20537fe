// Logging in with the platform's one-time code, and keeping taskhub's token.
//
// wx.login / tt.login gives a code; taskhub exchanges it through code2Session and
// answers {"token", "user"}. The token lives in storage, so a restart needs no login.
const { mp, name } = require('./platform.js');
const http = require('./http.js');

const TOKEN_KEY = 'taskhub_token';
const USER_KEY = 'taskhub_user';

let pending = null; // one login at a time, shared by every caller waiting for it

function token() {
  return mp.getStorageSync(TOKEN_KEY) || null;
}

function user() {
  return mp.getStorageSync(USER_KEY) || null;
}

function forget() {
  mp.removeStorageSync(TOKEN_KEY);
  mp.removeStorageSync(USER_KEY);
}

function platformLogin() {
  return new Promise((resolve, reject) => {
    mp.login({
      force: true, // Toutiao: ask the user to log in to the host app when needed
      success: resolve,
      fail(err) {
        reject(new Error((err && err.errMsg) || 'login:fail'));
      },
    });
  });
}

async function exchange() {
  const res = await platformLogin();
  if (!res.code) throw new Error(res.errMsg || 'login:fail no code');
  const data = { code: res.code };
  if (res.anonymousCode) data.anonymous_code = res.anonymousCode;
  const answer = await http.call({ path: '/api/login/' + name, method: 'POST', data });
  if (!http.ok(answer)) throw new http.ApiError(answer);
  mp.setStorageSync(TOKEN_KEY, answer.data.token);
  mp.setStorageSync(USER_KEY, answer.data.user);
  return answer.data.token;
}

// A fresh login; concurrent callers share it.
function login() {
  if (!pending) {
    pending = exchange().then(
      (value) => {
        pending = null;
        return value;
      },
      (err) => {
        pending = null;
        throw err;
      },
    );
  }
  return pending;
}

// The stored token, or a new one.
async function ensureToken() {
  return token() || login();
}

module.exports = { token, user, login, ensureToken, forget };
