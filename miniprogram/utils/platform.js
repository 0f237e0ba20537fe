// The host's API object: tt on Toutiao / Douyin, wx on WeChat. The calls used here
// (request, login, connectSocket, storage, toasts) have the same shape on both.
/* global wx, tt */
const isToutiao = typeof tt !== 'undefined';
const mp = isToutiao ? tt : wx;

// WeChat documents at most 10 wx.request calls at once and 5 sockets; Toutiao
// documents no numbers, so the same are kept there.
const LIMITS = { requests: 10, sockets: 5 };

// A development build (WeChat's "develop", Toutiao's "development") may reach a
// plain http:// taskhub on the developer's machine; every other build only https://.
function development() {
  if (isToutiao) return mp.getEnvInfoSync().microapp.envType === 'development';
  return mp.getAccountInfoSync().miniProgram.envVersion === 'develop';
}

// Whether this build may call `url` at all.
function allowed(url) {
  return development() || /^(https|wss):\/\//.test(url);
}

module.exports = {
  mp,
  // the platform's name in taskhub's login route: /api/login/<name>
  name: isToutiao ? 'toutiao' : 'wechat',
  LIMITS,
  allowed,
};
