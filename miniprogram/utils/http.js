// One HTTP call through wx.request / tt.request, as a promise.
//
// success fires for every HTTP status, so the promise resolves with the status and
// the caller decides; it rejects only when no answer came (network, timeout).
// The platform fails a call beyond its limit of unanswered ones, so calls beyond it
// wait here, in the order made, for one to finish.
const { mp, LIMITS, allowed } = require('./platform.js');

let running = 0;
const waiting = [];
const answered = []; // listeners told of every answer: the network is back

function baseUrl() {
  return getApp().globalData.baseUrl;
}

function onAnswer(listener) {
  answered.push(listener);
}

function slot() {
  if (running < LIMITS.requests) {
    running += 1;
    return Promise.resolve();
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function release() {
  const next = waiting.shift();
  if (next) next();
  else running -= 1;
}

async function call({ path, method = 'GET', data, header = {} }) {
  const url = baseUrl() + path;
  if (!allowed(url)) throw new Error('only https:// outside development: ' + url);
  await slot();
  try {
    const res = await send({ url, method, data, header });
    for (const listener of answered) listener(res);
    return res;
  } finally {
    release();
  }
}

function send({ url, method, data, header }) {
  return new Promise((resolve, reject) => {
    mp.request({
      url,
      method,
      data,
      header,
      success(res) {
        resolve({ statusCode: res.statusCode, data: res.data, header: res.header || {} });
      },
      fail(err) {
        reject(new NetworkError((err && err.errMsg) || 'request:fail'));
      },
    });
  });
}

class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NetworkError';
    this.statusCode = 0;
  }
}

// What an answer says went wrong: taskhub's {"error": {"message"}}, or the JSON
// string the classic routes answer with.
function messageOf(res) {
  const data = res.data;
  if (typeof data === 'string' && data) return data;
  if (data && data.error && data.error.message) return data.error.message;
  return 'HTTP ' + res.statusCode;
}

class ApiError extends Error {
  constructor(res) {
    super(messageOf(res));
    this.name = 'ApiError';
    this.statusCode = res.statusCode;
    this.data = res.data;
  }
}

// A response header, whatever case the server wrote its name in.
function headerOf(res, name) {
  const wanted = name.toLowerCase();
  for (const key of Object.keys(res.header || {})) {
    if (key.toLowerCase() === wanted) return res.header[key];
  }
  return undefined;
}

function ok(res) {
  return res.statusCode >= 200 && res.statusCode < 300;
}

module.exports = { call, baseUrl, onAnswer, ok, headerOf, ApiError, NetworkError };
