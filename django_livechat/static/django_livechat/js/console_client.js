/**
 * The staff console's socket (`ws/livechat/admin/`): `StaffConsole` keeps the queue and staff
 * presence and sends claims, assignments, close/reopen, status and moderation. A `Connection`
 * (connection.js), so it reconnects with backoff and pings every 25 s as room clients do; free
 * of the DOM, it runs under `node --test` with fakes.
 */

import { Connection, STAFF_FINAL_CLOSE_CODES } from "./connection.js";
import { Queue, staffRows } from "./console_model.js";

/** sessionStorage key of this staff member's chosen status. */
export const STATUS_KEY = "livechat:console:status";
/** A mute from the console lasts this long. */
export const MUTE_MINUTES = 10;

/**
 * The staff socket's protocol side.
 *
 * The `view` receives: setState(state, code), renderQueue(entries, changedId|null),
 * renderStaff(rows), showError(text). Missing methods are skipped.
 */
export class StaffConsole extends Connection {
  /**
   * @param {object} options as Connection's, and:
   * @param {string} options.path "/ws/livechat/admin/"
   * @param {Storage} [options.storage] remembers the chosen status (sessionStorage)
   * @param {(name: string) => string} [options.text] translated strings ("not-connected")
   */
  constructor(options) {
    super(options, STAFF_FINAL_CLOSE_CODES);
    this.storage = options.storage || null;
    this.text = options.text || ((name) => name);
    this.queue = new Queue(() => this.timers.now());
    this.staff = [];
    this.you = null;
    this.status = this.loadStatus();
  }

  /** Only once the queue frame came (online); a refused action is said, not lost silently. */
  send(frame) {
    if (this.state === "online" && super.send(frame)) return true;
    if (frame.type !== "ping") this.call("showError", this.text("not-connected"));
    return false;
  }

  // -- frames from the server -------------------------------------------------------------

  on_queue(frame) {
    this.you = frame.you || null;
    this.staff = Array.isArray(frame.staff) ? frame.staff : [];
    this.queue.replace(Array.isArray(frame.conversations) ? frame.conversations : []);
    this.opened();
    if (this.status !== "online") this.send({ type: "status", status: this.status }); // connecting sets online
    this.call("renderStaff", staffRows(this.staff, this.you && this.you.id));
    this.call("renderQueue", this.queue.list(), null);
  }

  on_conversation(frame) {
    if (!frame.conversation || !frame.conversation.id) return;
    this.queue.upsert(frame.conversation);
    this.call("renderQueue", this.queue.list(), frame.conversation.id);
  }

  on_staff(frame) {
    this.staff = Array.isArray(frame.staff) ? frame.staff : [];
    this.call("renderStaff", staffRows(this.staff, this.you && this.you.id));
  }

  on_error(frame) {
    this.call("showError", frame.detail || frame.code || "");
  }

  // -- actions ----------------------------------------------------------------------------

  claim(conversation) {
    return this.send({ type: "claim", conversation });
  }

  /** @param {number|null} user a user pk, or null to unassign */
  assign(conversation, user) {
    return this.send({ type: "assign", conversation, user });
  }

  closeConversation(conversation) {
    return this.send({ type: "close", conversation });
  }

  reopenConversation(conversation) {
    return this.send({ type: "reopen", conversation });
  }

  /** @param {"online"|"away"} status */
  setStatus(status) {
    this.status = status === "away" ? "away" : "online";
    this.saveStatus();
    return this.send({ type: "status", status: this.status });
  }

  deleteMessage(room, id) {
    return this.send({ type: "delete", room, id });
  }

  /**
   * Take the reactions off message `id` of `room`: every emoji, or only `emoji`.
   * @param {string} room
   * @param {number} id
   * @param {string} [emoji]
   */
  unreact(room, id, emoji) {
    const frame = { type: "unreact", room, id };
    if (emoji) frame.emoji = emoji;
    return this.send(frame);
  }

  /** Delete file `attachment` of message `id` of `room` (from storage too). */
  removeAttachment(room, id, attachment) {
    return this.send({ type: "remove_attachment", room, id, attachment });
  }

  mute(room, user, minutes = MUTE_MINUTES) {
    return this.send({ type: "mute", room, user, minutes });
  }

  ban(room, user) {
    return this.send({ type: "ban", room, user });
  }

  loadStatus() {
    try {
      return this.storage && this.storage.getItem(STATUS_KEY) === "away" ? "away" : "online";
    } catch {
      return "online";
    }
  }

  saveStatus() {
    try {
      if (this.storage) this.storage.setItem(STATUS_KEY, this.status);
    } catch {
      /* storage disabled */
    }
  }
}

/**
 * GET a message's earlier bodies (`livechat:revisions`, see console_model.js `revisionsUrl`)
 * with the session's cookies.
 * @param {string} url
 * @param {typeof fetch} [fetchFn]
 * @returns {Promise<{id: number, body: string, edited: string|null, revisions: object[]}>}
 * @throws {Error} on a network error, an answer other than 2xx, or one without `revisions`
 */
export async function fetchRevisions(url, fetchFn = globalThis.fetch) {
  const response = await fetchFn(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`revisions: HTTP ${response.status}`);
  const data = await response.json();
  if (!data || typeof data !== "object" || !Array.isArray(data.revisions)) {
    throw new Error("revisions: not a revisions answer");
  }
  return data;
}
