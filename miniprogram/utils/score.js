// The classic scoring form: every value JSON.stringify'd, posted as a form, answered
// with a JSON string to show as it is ("数据提交成功", or what is wrong).
const api = require('./request.js');

const FIELDS = ['acc_nbr', 'grade1', 'grade2', 'grade3', 'txt1', 'txt2', 'txt3'];

function encode(values) {
  const data = {};
  for (const name of FIELDS) {
    if (values[name] !== undefined) data[name] = JSON.stringify(values[name]);
  }
  return data;
}

// Resolves with taskhub's message on success; rejects with an ApiError whose
// message is taskhub's explanation otherwise.
function submit(values) {
  return api
    .request({ path: '/score', method: 'POST', data: encode(values), form: true })
    .then((res) => res.data);
}

// This user's submissions for one number, newest first.
function mine(accNbr) {
  return api.get('/api/scores', { acc_nbr: accNbr }).then((data) => data.scores);
}

module.exports = { FIELDS, encode, submit, mine };
