// The user's lists, as the picker shows them: the default list first (taskhub's
// order), each with the user's role in it.
const api = require('./request.js');

const ROLE_NAMES = { owner: '所有者', editor: '可编辑', viewer: '只读' };

function canEdit(list) {
  return Boolean(list) && list.role !== 'viewer';
}

// A list as the picker names it: its name, and for a list shared with the user,
// whose it is and what they may do in it.
function label(list) {
  if (list.role === 'owner') return list.default ? list.name + '（默认）' : list.name;
  return list.name + ' · ' + list.owner.username + ' · ' + ROLE_NAMES[list.role];
}

function load() {
  return api.get('/api/lists').then((data) =>
    data.lists.map((list) => Object.assign({}, list, { label: label(list) })),
  );
}

// What a 403 means here: the list was shared with the user to read only.
function forbidden(list) {
  const name = list ? '「' + list.name + '」' : '这个列表';
  return '你在' + name + '只有查看权限，不能修改';
}

module.exports = { ROLE_NAMES, canEdit, load, forbidden };
