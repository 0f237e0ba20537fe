// taskhub's API, authenticated: the token goes in Authorization (mini-programs have
// no cookies); a 401 means the token is gone, so log in again and retry once.
const http = require('./http.js');
const auth = require('./auth.js');

async function request({ path, method = 'GET', data, header = {}, form = false }) {
  for (let attempt = 0; ; attempt++) {
    const token = await auth.ensureToken();
    const headers = Object.assign({}, header, { Authorization: 'Bearer ' + token });
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await http.call({ path, method, data, header: headers });
    if (res.statusCode === 401 && attempt === 0) {
      if (auth.token() === token) auth.forget();
      continue;
    }
    if (!http.ok(res)) throw new http.ApiError(res);
    return res;
  }
}

// GET with query arguments; wx.request puts `data` in the query string for GET.
function get(path, query) {
  return request({ path, data: query }).then((res) => res.data);
}

function send(method, path, data, header) {
  return request({ path, method, data, header }).then((res) => res.data);
}

module.exports = { request, get, send, ApiError: http.ApiError };
