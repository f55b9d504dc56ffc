/**
 * django-livechat staff console (an ES module, no build step): the entry point of
 * `console.html`, whose data-* attributes give the socket paths and every string. It starts a
 * `ConsoleUI` (console_view.js) on the `[data-livechat-console]` element.
 *
 * Two kinds of connection:
 * - `StaffConsole` (console_client.js): the staff socket: the queue, staff presence, claims,
 *   assignments, close/reopen, status, moderation.
 * - a `LiveChatClient` (client.js) to the selected conversation's room, to read and answer.
 *
 * console_model.js holds what the console shows, free of the DOM.
 */

import { ConsoleUI } from "./console_view.js";

export * from "./console_client.js";
export * from "./console_model.js";
export * from "./console_view.js";

if (typeof document !== "undefined") {
  const start = () => {
    const root = document.querySelector("[data-livechat-console]");
    if (root && !root.livechatConsole) {
      root.livechatConsole = new ConsoleUI(root);
      root.livechatConsole.start();
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}
