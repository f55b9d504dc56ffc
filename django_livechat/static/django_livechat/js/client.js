/**
 * The protocol side of one room connection (docs/protocol.md). `LiveChatClient` is a
 * `Connection` (connection.js: the socket, reconnects, keep-alive) that holds the room's state
 * (ids seen, gaps, resume point; its outbox is outbox.js, its typing indicator typing.js) and
 * turns frames into calls on its view. It knows nothing of the DOM: its socket constructor,
 * storage, timers and view are injected, so it runs under `node --test`.
 */

import { Connection, FINAL_CLOSE_CODES, socketUrl } from "./connection.js";
import { applyUpdate, excerpt, markReplyDeleted } from "./message_state.js";
import { Outbox } from "./outbox.js";
import { Typing } from "./typing.js";

const HISTORY_LIMIT = 50;
/**
 * Ids kept for de-duplication at or below the resume point (every id above it is kept): older
 * ones are forgotten, and an id at or below `seenFloor` (and not older than any message shown)
 * then counts as seen. So `seen` stays bounded for the tab's life.
 */
export const SEEN_KEPT = 1000;
/** Message objects kept in `messages` (the latest received); the view keeps what it shows. */
export const MESSAGES_KEPT = 500;
/** At most one `read` frame per this many ms, unless the page says (READ_INTERVAL, `data-read-interval`). */
export const READ_INTERVAL_MS = 1000;

/**
 * The protocol side of one room connection.
 *
 * The view receives (each method is optional):
 * `setState(state, closeCode)` with state "connecting" | "online" | "offline" | "closed";
 * `setRoom(room, you)`; `renderMessage(message, {pending})` (a pending message has `client_id`,
 * `body` and `author` but no `id`); `removeMessage(id)`; `setPresence(users)` (a sample of a big
 * room); `addPresence(user)`; `removePresence(user)`; `setPresenceCount(count)` (everyone there);
 * `showTyping(names)`; `showError(detail, clientId|null, code)`; `setOlder(visible)`;
 * `markSeen(user, lastRead)` (another identity read up to `lastRead`);
 * `showNotice(kind, frame)` for `staff` and `conversation` frames;
 * `updateMessage(message)` (a shown message changed: edited, reacted to; `reply_to.deleted`
 * when the message it answers was deleted); `message(id)` (the message object shown with that
 * id, if the client no longer keeps it); `revealMessage(id)` (scroll to a message now shown).
 */
export class LiveChatClient extends Connection {
  /**
   * @param {object} options as Connection's, and:
   * @param {string} options.path the room's WebSocket path (`data-ws-path`)
   * @param {object} [options.view] see the class comment
   * @param {Pick<Storage, "getItem"|"setItem"|"removeItem">} [options.storage] where the outbox
   *   survives a reload (sessionStorage); without it the outbox lives in memory only
   * @param {number} [options.historyLimit] `limit` of history requests (at most HISTORY_PAGE_SIZE)
   * @param {number} [options.readInterval] ms between two `read` frames (READ_INTERVAL_MS)
   */
  constructor(options) {
    super(options, FINAL_CLOSE_CODES);
    const { path, storage, historyLimit, readInterval } = options;
    this.historyLimit = historyLimit || HISTORY_LIMIT;
    this.readInterval = readInterval || READ_INTERVAL_MS;
    this.storageKey = `livechat:outbox:${path}`;
    /** @type {Map<number, object>} the latest MESSAGES_KEPT messages shown, by id */
    this.messages = new Map();
    /** @type {Set<number>} ids received, deleted ones included: the de-duplication (isSeen) */
    this.seen = new Set();
    /** Ids up to this one may have been forgotten from `seen` (SEEN_KEPT). */
    this.seenFloor = 0;
    /** The lowest id shown (`before` of "load older"). */
    this.oldestId = Infinity;
    /** Unacknowledged messages, by client_id. */
    this.outbox = new Outbox({
      storage: storage || null,
      key: this.storageKey,
      timers: this.timers,
      random: this.random,
      resend: (entry) => this.sendEntry(entry),
    });
    /** Highest id with every lower id received or known to be gone: the resume point. */
    this.lastId = 0;
    /** Highest id received. */
    this.maxId = 0;
    /** Highest change number (deletions, locks) applied, null before a welcome: resumes with
     * `&changes=`. */
    this.lastChange = null;
    this.you = null;
    this.room = null; // welcome.room: its slug names the upload URL
    this.ready = false; // welcome and every backlog frame handled on this connection
    this.joinLastId = 0; // welcome.last_id of this connection
    this.gapOpen = false; // a history request for a gap is unanswered
    this.olderOpen = false; // a history request for older messages is unanswered
    this.revealing = null; // the id of a message to scroll to once older pages bring it
    this.readWanted = 0; // the newest position the user has read (markRead)
    this.readSent = 0; // the position of the last `read` frame sent on this connection
    this.readSentAt = -Infinity; // when it was sent (timers.now())
    this.readTimer = null; // the trailing `read` of the interval, while one is due
    this.typing = new Typing({
      timers: this.timers,
      send: (frame) => this.send(frame),
      show: (names) => this.call("showTyping", names),
    });
    for (const entry of this.outbox.values()) this.renderPending(entry);
  }

  // -- connection (Connection's, with the resume point and this client's own state) ----------

  /** Resume after `lastId` once a message was seen, with `&changes=` once a welcome told it. */
  url() {
    return socketUrl(this.location, this.path, this.lastId, this.lastChange);
  }

  /** Forget the socket, and everything of this client that belonged to it. */
  endConnection() {
    super.endConnection();
    this.ready = false;
    this.gapOpen = false;
    this.olderOpen = false;
    this.revealing = null;
    this.outbox.cancelRetries();
    this.typing.clear();
    this.timers.clearTimeout(this.readTimer); // the next connection sends it, once ready
    this.readTimer = null;
    // What this connection sent may not have been stored (a server killed within its
    // READ_INTERVAL, a frame lost with the socket): the next one sends the position again.
    this.readSent = 0;
  }

  /** Close for good, with the last read position if one is due (the console switching rooms). */
  close() {
    this.sendRead(true);
    super.close();
  }

  // -- frames from the server -------------------------------------------------------------

  on_welcome(frame) {
    const messages = frame.messages || [];
    this.you = frame.you;
    this.room = frame.room || null;
    this.joinLastId = frame.last_id || 0;
    this.call("setRoom", frame.room, frame.you);
    const presence = frame.presence || [];
    this.call("setPresence", presence);
    this.call("setPresenceCount", frame.presence_count ?? presence.length);
    if (this.messages.size === 0) {
      // Older ones to load? (A server without has_older: maybe, if the first id is above 1;
      // then one click asks, and a reply without has_more hides the button.)
      this.call("setOlder", frame.has_older ?? (messages.length > 0 && messages[0].id > 1));
    }
    this.takeMessages(messages);
    for (const id of frame.deleted || []) this.forget(id); // deleted while we were away
    for (const message of frame.updated || []) this.replaceMessage(message); // changed meanwhile
    this.welcomeReads = frame.reads || []; // stored positions: seen marks once all is shown
    this.noteChange(frame.last_change);
    this.opened();
    if (!frame.has_more) this.becomeReady();
  }

  on_backlog(frame) {
    this.takeMessages(frame.messages || []);
    if (!frame.has_more) this.becomeReady();
  }

  /**
   * Welcome and backlog are in: every id up to welcome.last_id is here, gone (deleted), or older
   * than the latest page; send the outbox.
   */
  becomeReady() {
    if (this.ready) return;
    if (this.welcomeReads) this.on_read({ reads: this.welcomeReads });
    this.welcomeReads = null;
    this.ready = true;
    this.lastId = Math.max(this.lastId, this.joinLastId);
    this.maxId = Math.max(this.maxId, this.lastId);
    this.flushOutbox();
    this.checkGap();
    this.sendRead(); // a receipt due when the last connection dropped
  }

  on_message(frame) {
    this.takeMessages([frame]);
    this.checkGap();
    if (frame.author) this.typing.forget(frame.author.id);
  }

  on_history(frame) {
    if (frame.after !== null && frame.after !== undefined) this.fillGap(frame);
    else this.addOlder(frame);
  }

  /** The reply to a gap request; a hole it does not fill is a deleted message: step over it. */
  fillGap(frame) {
    const messages = frame.messages || [];
    this.gapOpen = false;
    this.takeMessages(messages);
    const covered = frame.has_more && messages.length ? messages[messages.length - 1].id : this.maxId;
    this.lastId = Math.max(this.lastId, covered);
    this.advance();
    this.checkGap();
  }

  /** The reply to "load older"; pages on while a message to reveal is not there yet. */
  addOlder(frame) {
    this.olderOpen = false;
    this.takeMessages(frame.messages || []);
    this.call("setOlder", Boolean(frame.has_more));
    const wanted = this.revealing;
    if (wanted === null) return;
    if (this.messages.has(wanted) || wanted >= this.oldestId || !frame.has_more) {
      this.revealing = null;
      if (this.messages.has(wanted)) this.call("revealMessage", wanted);
    } else {
      this.loadOlder();
    }
  }

  on_typing(frame) {
    if (!frame.user || (this.you && frame.user.id === this.you.id)) return;
    this.typing.received(frame.user, frame.active);
  }

  /** Coalesced changes: set operations (an identity is in one list at most), and the count. */
  on_presence(frame) {
    for (const user of frame.left || []) {
      this.call("removePresence", user);
      this.typing.forget(user.id);
    }
    for (const user of frame.joined || []) this.call("addPresence", user);
    if (typeof frame.count === "number") this.call("setPresenceCount", frame.count);
  }

  /** Coalesced receipts: our messages are seen up to the furthest position of another identity. */
  on_read(frame) {
    let furthest = null;
    for (const read of frame.reads || []) {
      if (!read.user || (this.you && read.user.id === this.you.id)) continue; // our other tabs
      if (!furthest || read.last_read > furthest.last_read) furthest = read;
    }
    if (furthest) this.call("markSeen", furthest.user, furthest.last_read);
  }

  on_deleted(frame) {
    this.forget(frame.id);
    this.noteChange(frame.change);
  }

  /** Shown messages changed (edits, reactions, a moderator's removal): show them as they are now. */
  on_updated(frame) {
    this.noteChange(frame.change);
    const reacted = Array.isArray(frame.reacted) ? frame.reacted : [];
    for (const message of Array.isArray(frame.messages) ? frame.messages : []) {
      if (!message || typeof message.id !== "number") continue;
      const current = this.messages.get(message.id) || this.askView("message", message.id);
      if (!current) continue; // not shown: nothing to change (protocol.md: it may drop it)
      const own = { message, reacted: reacted.filter((r) => r && r.id === message.id) };
      this.replaceMessage(applyUpdate(current, own, this.you ? this.you.id : null));
    }
  }

  /** Show `message` in place of the copy with its id (if it is shown). */
  replaceMessage(message) {
    if (!message || typeof message.id !== "number") return;
    if (this.messages.has(message.id)) this.messages.set(message.id, message);
    this.call("updateMessage", message);
  }

  /** What the view answers (undefined when it has no such method). */
  askView(method, ...args) {
    return this.view && typeof this.view[method] === "function" ? this.view[method](...args) : undefined;
  }

  /** A change number the server sent (a frame of an older server has none). */
  noteChange(number) {
    if (typeof number === "number") this.lastChange = Math.max(this.lastChange ?? 0, number);
  }

  /** Message `id` was deleted: remove it; a late copy of it is not shown again. */
  forget(id) {
    this.seen.add(id);
    // shown, perhaps no longer in `messages` (MESSAGES_KEPT): the view removes it
    if (this.messages.delete(id) || id >= this.oldestId) this.call("removeMessage", id);
    for (const [key, message] of this.messages) {
      const marked = markReplyDeleted(message, id);
      if (marked !== message) this.messages.set(key, marked);
    }
    this.call("markReplyDeleted", id); // the quotes of it, shown or kept by the view only
  }

  on_room(frame) {
    this.noteChange(frame.change);
    this.room = frame.room || this.room;
    this.call("setRoom", frame.room, this.you);
  }

  on_staff(frame) {
    this.call("showNotice", "staff", frame);
  }

  on_conversation(frame) {
    this.call("showNotice", "conversation", frame);
  }

  on_error(frame) {
    const entry = frame.client_id ? this.outbox.get(frame.client_id) : undefined;
    if (entry && this.outbox.scheduleRetry(entry, frame.code)) return;
    if (entry) this.outbox.remove(entry.client_id);
    // Given up after the last `store_failed`: the view's own words (not stored, not retried).
    const detail = entry && frame.code === "store_failed" ? "" : frame.detail || "";
    this.call("showError", detail, frame.client_id || null, frame.code);
  }

  // -- messages ---------------------------------------------------------------------------

  /**
   * Show the messages not seen yet (the view keeps them in id order), acknowledge outbox
   * entries by `client_id`, and advance the resume point.
   * @param {object[]} list
   */
  takeMessages(list) {
    const oldest = this.oldestId; // as before this list: a page of older ones is all below it
    for (const message of list) this.takeMessage(message, oldest);
    this.advance();
  }

  takeMessage(message, oldest = this.oldestId) {
    if (message.client_id) this.outbox.remove(message.client_id); // our copy
    if (this.isSeen(message.id, oldest)) return;
    this.seen.add(message.id);
    this.messages.set(message.id, message);
    if (this.messages.size > MESSAGES_KEPT) this.messages.delete(this.messages.keys().next().value);
    this.oldestId = Math.min(this.oldestId, message.id);
    this.maxId = Math.max(this.maxId, message.id);
    this.call("renderMessage", message, { pending: false });
  }

  /**
   * Whether `id` was received (or deleted) already. An id below `oldest` (the lowest id shown)
   * is new: a page of older messages. Else one at or below `seenFloor` is at or below the
   * resume point, so it was received or is gone.
   */
  isSeen(id, oldest = this.oldestId) {
    return this.seen.has(id) || (id <= this.seenFloor && id >= oldest);
  }

  /** Move the resume point over every id received just after it. */
  advance() {
    while (this.seen.has(this.lastId + 1)) this.lastId += 1;
    this.forgetSeen();
  }

  /** Keep `seen` bounded: forget the ids more than SEEN_KEPT below the resume point. */
  forgetSeen() {
    const floor = this.lastId - SEEN_KEPT;
    if (this.seen.size <= 2 * SEEN_KEPT || floor <= this.seenFloor) return; // a pass per ~SEEN_KEPT ids
    this.seenFloor = floor;
    for (const id of this.seen) if (id <= floor) this.seen.delete(id);
  }

  /** Ask once for the missing range when a message arrived ahead of a hole. */
  checkGap() {
    if (!this.ready || this.gapOpen || this.maxId <= this.lastId) return;
    this.gapOpen = this.send({ type: "history", after: this.lastId, limit: this.historyLimit });
  }

  /**
   * Lock or unlock the room (staff only: the server refuses others with a `forbidden` error).
   * Every connection, this one included, then gets a `room` frame.
   * @param {boolean} locked
   * @returns {boolean} whether the frame was sent
   */
  setLocked(locked) {
    return this.send({ type: "lock", locked: Boolean(locked) });
  }

  /** Ask for the messages before the oldest one shown. */
  loadOlder() {
    if (!this.ready || this.olderOpen || this.messages.size === 0) return;
    const before = this.oldestId;
    this.olderOpen = this.send({ type: "history", before, limit: this.historyLimit });
  }

  // -- sending ----------------------------------------------------------------------------

  /**
   * Queue a message: shown at once as pending, kept (and stored) until acknowledged, sent when
   * online.
   * @param {string} body
   * @param {{replyTo?: number|null, attachments?: number[]}} [extras] the message it answers;
   *   the ids of uploaded files (then the body may be empty)
   * @returns {string|null} its client_id, or null for an empty body without attachments
   */
  post(body, { replyTo = null, attachments = [] } = {}) {
    const text = (body || "").trim();
    const files = (attachments || []).filter((id) => Number.isSafeInteger(id));
    if (!text && !files.length) return null;
    const extra = {};
    if (Number.isSafeInteger(replyTo) && replyTo > 0) extra.reply_to = replyTo;
    if (files.length) extra.attachments = files;
    const entry = this.outbox.add(text, extra);
    this.renderPending(entry);
    if (this.ready) this.sendEntry(entry);
    this.typing.stopped();
    return entry.client_id;
  }

  /** Send every unacknowledged message: once per connection, after welcome and backlog. */
  flushOutbox() {
    for (const entry of this.outbox.values()) {
      this.renderPending(entry); // the author's name is known now
      this.sendEntry(entry);
    }
  }

  sendEntry(entry) {
    const frame = { type: "message", body: entry.body, client_id: entry.client_id };
    if (entry.reply_to) frame.reply_to = entry.reply_to;
    if (entry.attachments) frame.attachments = entry.attachments;
    this.send(frame);
  }

  renderPending(entry) {
    const message = { client_id: entry.client_id, body: entry.body, author: this.you };
    if (entry.reply_to) message.reply_to = this.quoteOf(entry.reply_to);
    this.call("renderMessage", message, { pending: true });
  }

  /** A `reply_to` object for message `id`, from what is shown (the server sends its own later). */
  quoteOf(id) {
    const original = this.messages.get(id) || this.askView("message", id);
    if (!original) return { id };
    return { id, author: original.author, excerpt: excerpt(original.body) };
  }

  /**
   * Give (`on`) or take back an emoji on message `id`; every connection then gets `updated`.
   * @returns {boolean} whether the frame was sent
   */
  react(id, emoji, on = true) {
    if (!this.ready || !Number.isSafeInteger(id) || !emoji) return false;
    return this.send({ type: "react", id, emoji, on: Boolean(on) });
  }

  /**
   * Replace the body of one's own message `id` (within EDIT_WINDOW); everyone gets `updated`.
   * @returns {boolean} whether the frame was sent
   */
  edit(id, body) {
    if (!this.ready || !Number.isSafeInteger(id)) return false;
    return this.send({ type: "edit", id, body: String(body || "").trim() });
  }

  /**
   * Scroll to message `id` (a reply's original): at once when shown, else after loading older
   * pages until it is there (or the room has no older one).
   */
  reveal(id) {
    if (this.messages.has(id) || this.askView("message", id)) {
      this.call("revealMessage", id);
      return;
    }
    if (!(id < this.oldestId) || this.seen.has(id)) return; // newer than what we hold, or deleted
    this.revealing = id;
    if (!this.olderOpen) this.loadOlder();
  }

  /** The user typed (the composer's `input`). */
  typed() {
    this.typing.typed(this.ready);
  }

  /**
   * The user has read every message received: tell the room, in at most one `read` frame per
   * `readInterval` (see sendRead).
   * @param {{now?: boolean}} [options] `now`: at once (the page became visible)
   */
  markRead({ now = false } = {}) {
    if (this.ready) this.readWanted = Math.max(this.readWanted, this.lastId);
    this.sendRead(now);
  }

  /**
   * Send the newest position read, if it is above the last one sent: at once when `now` or when
   * the last `read` is a `readInterval` old, else once at the end of that interval (with the
   * newest position then), so the last position is never lost.
   * @param {boolean} [now] the page is being hidden or left, or became visible
   */
  sendRead(now = false) {
    if (!this.ready || this.readWanted <= this.readSent) return;
    const wait = this.readSentAt + this.readInterval - this.timers.now();
    if (!now && wait > 0) {
      this.readTimer ??= this.timers.setTimeout(() => {
        this.readTimer = null;
        this.sendRead();
      }, wait);
      return;
    }
    this.timers.clearTimeout(this.readTimer);
    this.readTimer = null;
    if (this.send({ type: "read", last_read: this.readWanted })) {
      this.readSent = this.readWanted;
      this.readSentAt = this.timers.now();
    }
  }
}
