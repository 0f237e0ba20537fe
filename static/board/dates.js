// Due dates in the user's own time zone and words.

function localDate(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// The day a task is due, as YYYY-MM-DD where the user is: a date as it is, a
// date-time (an instant) on the user's own calendar.
export function dueDay(due) {
  if (!due) return "";
  if (/^\d{4}-\d{2}-\d{2}$/.test(due)) return due;
  const at = new Date(due);
  return Number.isNaN(at.getTime()) ? "" : localDate(at);
}

// A task's due date in words ("Due tomorrow", "Overdue · …") and its kind, or null.
export function dueText(task) {
  const day = dueDay(task.due);
  if (!day) return null;
  const today = new Date();
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  const [y, m, d] = day.split("-").map(Number);
  const date = new Date(y, m - 1, d);
  const sameYear = y === today.getFullYear();
  const shown = date.toLocaleDateString(undefined, sameYear
    ? { weekday: "short", month: "short", day: "numeric" }
    : { year: "numeric", month: "short", day: "numeric" });
  const time = /T/.test(task.due)
    ? " " + new Date(task.due).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : "";
  if (day === localDate(today)) return { text: `Due today${time}`, kind: "today" };
  if (day === localDate(tomorrow)) return { text: `Due tomorrow${time}`, kind: "soon" };
  if (day < localDate(today) && !task.done) return { text: `Overdue · ${shown}`, kind: "overdue" };
  return { text: `Due ${shown}${time}`, kind: "later" };
}
