/**
 * django-livechat browser client: an ES module, no build step, no dependencies; the protocol is
 * docs/protocol.md. The entry point of `includes/room_embed.html`: every `[data-livechat-room]`
 * element on the page is mounted once when this module loads; its client is `element.livechat`.
 *
 * The parts: `LiveChatClient` (client.js, with outbox.js and typing.js) holds the room's
 * protocol state and knows nothing of the DOM; `DomView` (view.js) renders it. Both are
 * exported here, as before, for host scripts and the widget and console. A room page's members
 * panel is members.js's `MembersPanel`.
 */

import { watchRoom } from "./alerts.js";
import { LiveChatClient } from "./client.js";
import { bindComposer } from "./composer.js";
import { mountMembers } from "./members.js";
import { DomView } from "./view.js";

export { LiveChatClient, MESSAGES_KEPT, READ_INTERVAL_MS, SEEN_KEPT } from "./client.js";
export { RETRY_ERROR_CODES, STORE_FAILED_LIMIT, newClientId, storeRetryDelay } from "./outbox.js";
export { DomView } from "./view.js";
export { MembersPanel, mountMembers } from "./members.js";
export { Composer, bindComposer } from "./composer.js";

/** sessionStorage, or null where the browser refuses it (blocked storage, sandboxed frames). */
function sessionStore() {
  try {
    return globalThis.sessionStorage || null;
  } catch {
    return null;
  }
}

/**
 * Read receipts follow the page: `markRead()` when it becomes visible, and the receipt still due
 * (the interval's trailing one) goes out at once when it is hidden or left (best effort).
 * @param {() => LiveChatClient|null} client the client of the moment
 * @param {() => void} markRead marks what is shown as read, at once, if it is shown
 */
export function followPage(client, markRead) {
  const flush = () => client() && client().sendRead(true);
  document.addEventListener("visibilitychange", () => (document.visibilityState === "visible" ? markRead() : flush()));
  globalThis.addEventListener("pagehide", flush);
}

/** The page's READ_INTERVAL in ms (`data-read-interval`), or undefined: the client's default. */
export function readInterval(element) {
  return Number(element.dataset.readInterval) || undefined;
}

/**
 * Mount a client on a `[data-livechat-room]` element (once) and connect it.
 * @param {HTMLElement} root
 * @param {{View?: typeof DomView}} [options] a DomView subclass to render with
 * @returns {LiveChatClient} also kept as `root.livechat`
 */
export function mount(root, { View = DomView } = {}) {
  if (root.livechat) return root.livechat;
  const view = new View(root);
  const client = new LiveChatClient({
    path: root.dataset.wsPath,
    view,
    storage: sessionStore(),
    historyLimit: Number(root.dataset.historyLimit) || undefined,
    readInterval: readInterval(root),
  });
  root.livechat = client;
  root.livechatComposer = bindComposer(root, () => client);
  if (view.lock) view.lock.addEventListener("click", () => client.setLocked(!(view.room && view.room.locked)));
  const markRead = (now = false) => document.visibilityState === "visible" && client.markRead({ now });
  for (const type of ["welcome", "backlog", "message"]) client.on(type, () => markRead());
  root.livechatMembers = mountMembers(root, client); // the members panel, and renamed titles
  root.livechatAlerts = watchRoom(root, client); // the tab title's count, desktop notifications
  followPage(() => client, () => markRead(true));
  client.connect();
  return client;
}

if (typeof document !== "undefined") {
  const mountAll = () => document.querySelectorAll("[data-livechat-room]").forEach((root) => mount(root));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
}
