// Due dates as the page shows them, on the phone's own calendar: 今天 (today),
// 明天 (tomorrow), 已过期 (overdue, while not done), or the date.

function pad(n) {
  return (n < 10 ? '0' : '') + n;
}

// YYYY-MM-DD of a Date in the phone's time zone
function localDay(date) {
  return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate());
}

// A task's due day: a date as it is, a moment as the local day it falls on.
function dayOf(due) {
  return /^\d{4}-\d{2}-\d{2}$/.test(due) ? due : localDay(new Date(due));
}

function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return localDay(new Date(y, m - 1, d + n));
}

// {text, kind} for a task; kind is today | tomorrow | overdue | past | later | '' (none).
function describe(task, now = new Date()) {
  if (!task.due) return { text: '', kind: '' };
  const day = dayOf(task.due);
  const today = localDay(now);
  if (day === today) return { text: '今天', kind: 'today' };
  if (day === addDays(today, 1)) return { text: '明天', kind: 'tomorrow' };
  if (day < today && !task.done) return { text: '已过期 ' + day.slice(5), kind: 'overdue' };
  return { text: day, kind: day < today ? 'past' : 'later' };
}

module.exports = { dayOf, describe };
