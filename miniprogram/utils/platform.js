// The host's API object: tt on Toutiao / Douyin, wx on WeChat. The calls used here
// (request, login, connectSocket, storage, toasts) have the same shape on both.
/* global wx, tt */
const isToutiao = typeof tt !== 'undefined';
const mp = isToutiao ? tt : wx;

module.exports = {
  mp,
  // the platform's name in taskhub's login route: /api/login/<name>
  name: isToutiao ? 'toutiao' : 'wechat',
};
