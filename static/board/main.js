// taskhub's board: sign-in; lists in a sidebar (a drawer at phone width), shared with
// members by role; tasks with their details, through the native API (/api/lists,
// /api/tasks); live updates from /api/live with reconnects that catch up from the
// last seq seen; search, filters and sort asked of the server; drag-and-drop; deletes
// with an Undo; writes queued while offline; the account. Each module wires its own
// controls in its setup function.

import { setupAccount } from "./account.js";
import { setupConflicts } from "./conflicts.js";
import { setupDialogs } from "./dialogs.js";
import { setupDragging } from "./dragging.js";
import { setupDrawer } from "./drawer.js";
import { setupLists } from "./lists.js";
import { setupLive } from "./live.js";
import { setupOffline } from "./offline.js";
import { setupRemoval } from "./removal.js";
import { setupSearch } from "./search.js";
import { setupSession, start } from "./session.js";
import { setupSharing } from "./sharing.js";
import { setupTasks } from "./tasks.js";

setupLive();
setupSession();
setupTasks();
setupLists();
setupDrawer();
setupSharing();
setupDialogs();
setupSearch();
setupDragging();
setupRemoval();
setupOffline();
setupConflicts();
setupAccount();
start();
