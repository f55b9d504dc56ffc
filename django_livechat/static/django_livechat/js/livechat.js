/**
 * django-livechat browser client: an ES module, no build step, no dependencies.
 *
 * The protocol is docs/protocol.md. `LiveChatClient` is a `Connection` (connection.js: the socket,
 * reconnects, keep-alive) that holds the room's protocol state (outbox, ids seen, gaps, resume
 * point, typing) and knows nothing of the DOM: its socket constructor, storage, timers and view
 * are injected, so it runs under `node --test`. `DomView` renders into the markup of
 * `includes/room_embed.html`, with `textContent` only. Every `[data-livechat-room]` element on
 * the page is mounted once when this module loads; its client is `element.livechat`.
 */

import { Connection, FINAL_CLOSE_CODES, socketUrl } from "./connection.js";
import { translate } from "./i18n.js";

/** Error codes after which an outbox entry is kept and sent again on the same connection. */
export const RETRY_ERROR_CODES = new Set(["rate_limited", "store_failed"]);

const RETRY_DELAY_MS = 3000;
/**
 * `store_failed`: retried after growing, jittered delays (1.5-3 s, then doubling up to 15-30 s);
 * shown as not sent after this many, about a minute: longer than a short database outage.
 */
export const STORE_FAILED_LIMIT = 6;
const STORE_RETRY_BASE_MS = 3000;
const STORE_RETRY_CAP_MS = 30000;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 5000;
const HISTORY_LIMIT = 50;
/**
 * Ids kept for de-duplication at or below the resume point (every id above it is kept): older
 * ones are forgotten, and an id at or below `seenFloor` (and not older than any message shown)
 * then counts as seen. So `seen` stays bounded for the tab's life.
 */
export const SEEN_KEPT = 1000;
/** Message objects kept in `messages` (the latest received); the view keeps what it shows. */
export const MESSAGES_KEPT = 500;
const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The wait before resending a message after its `failures`-th `store_failed` (1, 2, ...): it
 * doubles each time up to a cap, half of it random, so that clients do not come back together.
 * @param {number} failures
 * @param {() => number} [random] a number in [0, 1)
 * @returns {number} milliseconds
 */
export function storeRetryDelay(failures, random = Math.random) {
  const ceiling = Math.min(STORE_RETRY_CAP_MS, STORE_RETRY_BASE_MS * 2 ** (failures - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * A new `client_id`: a UUID, from `crypto.randomUUID` where the page is a secure context, else
 * 32 random hex digits (`crypto.getRandomValues`, or `Math.random` as a last resort).
 * @returns {string}
 */
export function newClientId() {
  const crypto = globalThis.crypto;
  if (crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (crypto && typeof crypto.getRandomValues === "function") crypto.getRandomValues(bytes);
  else bytes.forEach((_, i) => (bytes[i] = Math.floor(Math.random() * 256)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The protocol side of one room connection.
 *
 * The view receives (each method is optional):
 * `setState(state, closeCode)` with state "connecting" | "online" | "offline" | "closed";
 * `setRoom(room, you)`; `renderMessage(message, {pending})` (a pending message has `client_id`,
 * `body` and `author` but no `id`); `removeMessage(id)`; `setPresence(users)`;
 * `addPresence(user)`; `removePresence(user)`; `showTyping(names)`;
 * `showError(detail, clientId|null, code)`; `setOlder(visible)`; `markSeen(user, lastRead)`;
 * `showNotice(kind, frame)` for `staff` and `conversation` frames.
 */
export class LiveChatClient extends Connection {
  /**
   * @param {object} options as Connection's, and:
   * @param {string} options.path the room's WebSocket path (`data-ws-path`)
   * @param {object} [options.view] see the class comment
   * @param {Pick<Storage, "getItem"|"setItem"|"removeItem">} [options.storage] where the outbox
   *   survives a reload (sessionStorage); without it the outbox lives in memory only
   * @param {number} [options.historyLimit] `limit` of history requests (at most HISTORY_PAGE_SIZE)
   */
  constructor(options) {
    super(options, FINAL_CLOSE_CODES);
    const { path, storage, historyLimit } = options;
    this.storage = storage || null;
    this.historyLimit = historyLimit || HISTORY_LIMIT;
    this.storageKey = `livechat:outbox:${path}`;
    /** @type {Map<number, object>} the latest MESSAGES_KEPT messages shown, by id */
    this.messages = new Map();
    /** @type {Set<number>} ids received, deleted ones included: the de-duplication (isSeen) */
    this.seen = new Set();
    /** Ids up to this one may have been forgotten from `seen` (SEEN_KEPT). */
    this.seenFloor = 0;
    /** The lowest id shown (`before` of "load older"). */
    this.oldestId = Infinity;
    /** @type {Map<string, {client_id: string, body: string}>} unacknowledged, by client_id */
    this.outbox = new Map(this.loadOutbox().map((entry) => [entry.client_id, entry]));
    /** Highest id with every lower id received or known to be gone: the resume point. */
    this.lastId = 0;
    /** Highest id received. */
    this.maxId = 0;
    /** Highest change number (deletions, locks) applied, null before a welcome: resumes with
     * `&changes=`. */
    this.lastChange = null;
    this.you = null;
    this.ready = false; // welcome and every backlog frame handled on this connection
    this.joinLastId = 0; // welcome.last_id of this connection
    this.gapOpen = false; // a history request for a gap is unanswered
    this.olderOpen = false; // a history request for older messages is unanswered
    /** @type {Map<string, {name: string, until: number}>} who is typing, by identity id */
    this.typing = new Map();
    this.typingTimer = null;
    this.lastTypingSent = -Infinity;
    this.typingAnnounced = false;
    this.typingIdle = null;
    this.retries = new Set();
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
    for (const handle of this.retries) this.timers.clearTimeout(handle);
    this.retries.clear();
    this.clearTyping();
  }

  // -- frames from the server -------------------------------------------------------------

  on_welcome(frame) {
    const messages = frame.messages || [];
    this.you = frame.you;
    this.joinLastId = frame.last_id || 0;
    this.call("setRoom", frame.room, frame.you);
    this.call("setPresence", frame.presence || []);
    if (this.messages.size === 0) {
      // Older ones to load? (A server without has_older: maybe, if the first id is above 1;
      // then one click asks, and a reply without has_more hides the button.)
      this.call("setOlder", frame.has_older ?? (messages.length > 0 && messages[0].id > 1));
    }
    this.takeMessages(messages);
    for (const id of frame.deleted || []) this.forget(id); // deleted while we were away
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
    this.ready = true;
    this.lastId = Math.max(this.lastId, this.joinLastId);
    this.maxId = Math.max(this.maxId, this.lastId);
    this.flushOutbox();
    this.checkGap();
  }

  on_message(frame) {
    this.takeMessages([frame]);
    this.checkGap();
    // whoever just posted has stopped typing, whether or not their active:false arrived
    if (frame.author && this.typing.delete(frame.author.id)) this.typingChanged();
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

  /** The reply to "load older". */
  addOlder(frame) {
    this.olderOpen = false;
    this.takeMessages(frame.messages || []);
    this.call("setOlder", Boolean(frame.has_more));
  }

  on_typing(frame) {
    if (!frame.user || (this.you && frame.user.id === this.you.id)) return;
    if (frame.active) {
      this.typing.set(frame.user.id, { name: frame.user.name, until: this.timers.now() + TYPING_SHOWN_MS });
    } else {
      this.typing.delete(frame.user.id);
    }
    this.typingChanged();
  }

  on_presence(frame) {
    this.call(frame.event === "joined" ? "addPresence" : "removePresence", frame.user);
    if (frame.event === "left" && this.typing.delete(frame.user.id)) this.typingChanged();
  }

  on_read(frame) {
    this.call("markSeen", frame.user, frame.last_read);
  }

  on_deleted(frame) {
    this.forget(frame.id);
    this.noteChange(frame.change);
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
  }

  on_room(frame) {
    this.noteChange(frame.change);
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
    if (entry && this.scheduleRetry(entry, frame.code)) return;
    if (entry) {
      this.outbox.delete(entry.client_id);
      this.saveOutbox();
    }
    // Given up after the last `store_failed`: the view's own words (not stored, not retried).
    const detail = entry && frame.code === "store_failed" ? "" : frame.detail || "";
    this.call("showError", detail, frame.client_id || null, frame.code);
  }

  /**
   * Send an entry again later if its error says so (RETRY_ERROR_CODES): `rate_limited` after
   * RETRY_DELAY_MS; `store_failed` after growing delays, STORE_FAILED_LIMIT times at most
   * (counted on the entry, so across reconnects and reloads too: a message the server can
   * never store is not resent for ever).
   * @returns {boolean} whether a retry is scheduled
   */
  scheduleRetry(entry, code) {
    if (!RETRY_ERROR_CODES.has(code)) return false;
    if (code !== "store_failed") {
      this.retryLater(entry);
      return true;
    }
    entry.failures = (entry.failures || 0) + 1;
    this.saveOutbox();
    if (entry.failures >= STORE_FAILED_LIMIT) return false;
    this.retryLater(entry, storeRetryDelay(entry.failures, this.random));
    return true;
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
    if (message.client_id && this.outbox.delete(message.client_id)) this.saveOutbox(); // our copy
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
   * @returns {string|null} its client_id, or null for an empty body
   */
  post(body) {
    const text = (body || "").trim();
    if (!text) return null;
    const entry = { client_id: newClientId(), body: text };
    this.outbox.set(entry.client_id, entry);
    this.saveOutbox();
    this.renderPending(entry);
    if (this.ready) this.sendEntry(entry);
    this.typingStopped();
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
    this.send({ type: "message", body: entry.body, client_id: entry.client_id });
  }

  renderPending(entry) {
    this.call("renderMessage", { client_id: entry.client_id, body: entry.body, author: this.you }, { pending: true });
  }

  /** `rate_limited` or `store_failed`: send the same entry again later on this connection. */
  retryLater(entry, delay = RETRY_DELAY_MS) {
    const handle = this.timers.setTimeout(() => {
      this.retries.delete(handle); // a close clears the others: a new connection flushes anyway
      if (this.outbox.has(entry.client_id)) this.sendEntry(entry);
    }, delay);
    this.retries.add(handle);
  }

  /** @returns {{client_id: string, body: string}[]} the outbox stored by an earlier page */
  loadOutbox() {
    if (!this.storage) return [];
    try {
      const entries = JSON.parse(this.storage.getItem(this.storageKey) || "[]");
      if (!Array.isArray(entries)) return [];
      return entries.filter((e) => e && CLIENT_ID_RE.test(e.client_id) && typeof e.body === "string" && e.body);
    } catch {
      return [];
    }
  }

  saveOutbox() {
    if (!this.storage) return;
    try {
      if (this.outbox.size) this.storage.setItem(this.storageKey, JSON.stringify([...this.outbox.values()]));
      else this.storage.removeItem(this.storageKey);
    } catch {
      /* storage full or disabled: the outbox still lives in memory */
    }
  }

  // -- typing -----------------------------------------------------------------------------

  /** The user typed: tell the room at most once per TYPING_SEND_EVERY_MS; stop after idling. */
  typed() {
    const now = this.timers.now();
    if (this.ready && now - this.lastTypingSent >= TYPING_SEND_EVERY_MS) {
      this.lastTypingSent = now;
      this.typingAnnounced = true;
      this.send({ type: "typing", active: true });
    }
    this.timers.clearTimeout(this.typingIdle);
    this.typingIdle = this.timers.setTimeout(() => this.typingStopped(), TYPING_IDLE_MS);
  }

  /** The user sent, or idled: `typing active:false` if `active:true` was said. */
  typingStopped() {
    this.timers.clearTimeout(this.typingIdle);
    this.typingIdle = null;
    if (!this.typingAnnounced) return;
    this.typingAnnounced = false;
    this.lastTypingSent = -Infinity;
    this.send({ type: "typing", active: false });
  }

  /** Drop the people whose last `active: true` is older than TYPING_SHOWN_MS. */
  expireTyping() {
    const now = this.timers.now();
    for (const [id, entry] of this.typing) if (entry.until <= now) this.typing.delete(id);
    this.typingChanged();
  }

  /** Show who is typing, and wake up when the first of them expires. */
  typingChanged() {
    this.call("showTyping", [...this.typing.values()].map((entry) => entry.name));
    this.timers.clearTimeout(this.typingTimer);
    this.typingTimer = null;
    if (!this.typing.size) return;
    const first = Math.min(...[...this.typing.values()].map((entry) => entry.until));
    this.typingTimer = this.timers.setTimeout(() => this.expireTyping(), Math.max(0, first - this.timers.now()));
  }

  clearTyping() {
    if (!this.typing.size) return;
    this.typing.clear();
    this.typingChanged();
  }

  /** Tell the room how far this user has read. */
  markRead() {
    if (this.ready && this.lastId > 0 && this.lastId !== this.lastReadSent) {
      this.lastReadSent = this.lastId;
      this.send({ type: "read", last_read: this.lastId });
    }
  }
}

/** The status text of a final close, by code; other closes show the state's own text. */
const CLOSE_TEXTS = { 4400: "refused", 4401: "login-required", 4403: "refused", 4404: "not-found", 4410: "banned" };

/**
 * Renders a LiveChatClient into the markup of `includes/room_embed.html`.
 *
 * Translated strings come from `data-i18n-<name>` attributes of the root (`%(names)s`-style
 * placeholders); message markup from its `<template data-livechat-message-template>`. Text is
 * only ever set with `textContent`.
 */
export class DomView {
  /** @param {HTMLElement} root the `[data-livechat-room]` element */
  constructor(root) {
    this.root = root;
    const find = (selector) => root.querySelector(selector);
    this.list = find("[data-livechat-messages]");
    this.status = find("[data-livechat-status]");
    this.presence = find("[data-livechat-presence]");
    this.typingLine = find("[data-livechat-typing]");
    this.older = find("[data-livechat-older]");
    this.notice = find("[data-livechat-notice]");
    this.form = find("[data-livechat-form]");
    this.input = find("[data-livechat-input]");
    this.submit = this.form ? this.form.querySelector('[type="submit"]') : null;
    this.template = find("template[data-livechat-message-template]");
    this.lock = find("[data-livechat-lock]");
    this.locale = pageLocale(root);
    this.you = null;
    this.room = null;
    this.box = null;
  }

  /** A translated string of the root (i18n.js `translate`). */
  text(name, values = {}, fallback = name) {
    return translate(this.root, name, values, fallback);
  }

  setState(state, code) {
    this.root.dataset.state = state;
    const name = state === "closed" && CLOSE_TEXTS[code] ? CLOSE_TEXTS[code] : state;
    if (this.status) this.status.textContent = this.text(name, {}, this.text(state));
  }

  setRoom(room, you) {
    this.room = room;
    this.you = you;
    this.root.dataset.locked = room.locked ? "true" : "false";
    if (this.notice && room.locked) {
      this.notice.hidden = false;
      this.notice.dataset.kind = "locked";
      this.notice.textContent = this.text("locked");
    } else if (this.notice && this.notice.dataset.kind === "locked") {
      this.notice.hidden = true; // only our own notice: a staff notice stays
    }
    if (this.lock) {
      this.lock.hidden = !(you && you.is_staff); // the server checks it again on every frame
      this.lock.textContent = this.text(room.locked ? "unlock" : "lock");
    }
    this.updateForm();
  }

  /**
   * The form is off in a locked room and for an identity that may not post. (A closed client
   * keeps it: the status line says why, and a typed message waits in the outbox.)
   */
  updateForm() {
    const locked = Boolean(this.room && this.room.locked);
    const off = locked || Boolean(this.you && this.you.can_post === false);
    if (this.input) this.input.disabled = off;
    if (this.submit) this.submit.disabled = off;
  }

  /** The `<li>` of a message: by id, else the pending (or failed) one with its client_id. */
  find(message) {
    if (message.id !== undefined) {
      const byId = this.list.querySelector(`li[data-id="${Number(message.id)}"]`);
      if (byId) return byId;
    }
    if (!message.client_id) return null;
    const unsent = this.list.querySelectorAll('li[data-client-id]:not([data-id]), li[data-client-id][data-id=""]');
    return [...unsent].find((item) => item.dataset.clientId === message.client_id) || null;
  }

  renderMessage(message, { pending }) {
    const box = this.scroller();
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const height = box.scrollHeight;
    const item = this.find(message) || this.template.content.firstElementChild.cloneNode(true);
    this.fill(item, message, pending);
    this.place(item, pending ? Infinity : message.id);
    const newest = !item.nextElementSibling || item.nextElementSibling.classList.contains("livechat-pending");
    if (pending || (newest && atEnd)) {
      box.scrollTop = box.scrollHeight;
    } else if (item.getBoundingClientRect().top < box.getBoundingClientRect().top) {
      box.scrollTop += box.scrollHeight - height; // an older message above: keep the view still
    }
  }

  /** Fill a message's `<li>` from the message, with textContent only. */
  fill(item, message, pending) {
    const field = (name) => item.querySelector(`[data-field="${name}"]`);
    const author = message.author || this.you || { id: "", name: "", kind: "user" };
    field("author").textContent = author.name;
    field("body").textContent = message.body;
    if (message.client_id) item.dataset.clientId = message.client_id;
    if (author.id) item.dataset.author = author.id;
    item.classList.toggle("livechat-pending", pending);
    item.classList.remove("livechat-failed");
    item.classList.toggle("livechat-system", author.kind === "system");
    item.classList.toggle("livechat-staff", Boolean(author.staff));
    item.classList.toggle("livechat-mine", Boolean(this.you && author.id === this.you.id));
    const badge = field("badge");
    if (badge) {
      badge.textContent = this.badge(author);
      badge.hidden = !badge.textContent;
    }
    const note = field("note");
    if (note) note.textContent = pending ? this.text("sending") : "";
    if (!pending && message.id !== undefined) {
      item.dataset.id = String(message.id);
      const time = field("created");
      if (time) showTime(time, message.created, this.locale);
    }
  }

  /**
   * The badge of a staff or system author, from `staff` and `kind` (protocol.md, "Identities"),
   * never from the name, which anyone may choose; "" for everyone else.
   */
  badge(author) {
    if (author.kind === "system") return this.text("badge-system", {}, "system");
    return author.staff ? this.text("badge-staff", {}, "staff") : "";
  }

  /** Keep the list in id order; pending messages (order Infinity) stay at the end. */
  place(item, order) {
    if (item.parentNode === this.list && Number(item.dataset.order) === order) return;
    item.dataset.order = String(order);
    const last = this.list.lastElementChild;
    if (!last || (last !== item && Number(last.dataset.order) <= order)) {
      this.list.appendChild(item); // the usual case: the newest message
      return;
    }
    const next = [...this.list.children].find((other) => other !== item && Number(other.dataset.order) > order);
    this.list.insertBefore(item, next || null);
  }

  /** The element that scrolls the messages: the list, or the nearest ancestor that scrolls. */
  scroller() {
    if (this.box) return this.box;
    let box = this.list;
    while (box && box !== this.root && !/(auto|scroll)/.test(getComputedStyle(box).overflowY)) box = box.parentElement;
    this.box = box && box !== this.root ? box : this.list;
    this.box.style.overflowAnchor = "none"; // renderMessage keeps the position itself
    return this.box;
  }

  removeMessage(id) {
    const item = this.list.querySelector(`li[data-id="${Number(id)}"]`);
    if (item) item.remove();
  }

  showError(detail, clientId, code) {
    const text = detail || this.text(`error-${code}`, {}, this.text("error", {}, code || ""));
    const item = clientId ? this.find({ client_id: clientId }) : null;
    if (item) {
      item.classList.remove("livechat-pending");
      item.classList.add("livechat-failed");
      const note = item.querySelector('[data-field="note"]');
      if (note) note.textContent = text;
    } else if (this.notice) {
      this.notice.hidden = false; // an error of no message: a notice, not the connection state
      this.notice.dataset.kind = "error";
      this.notice.textContent = text;
    }
  }

  setPresence(users) {
    if (!this.presence) return;
    this.presence.replaceChildren();
    for (const user of users) this.addPresence(user);
  }

  addPresence(user) {
    if (!this.presence) return;
    if ([...this.presence.children].some((li) => li.dataset.user === user.id)) return;
    const li = document.createElement("li");
    li.dataset.user = user.id;
    li.classList.toggle("livechat-you", Boolean(this.you && user.id === this.you.id));
    li.textContent = user.name;
    const badge = this.badge(user);
    if (badge) {
      const span = document.createElement("span");
      span.className = "livechat-badge livechat-role";
      span.textContent = badge;
      li.append(" ", span);
    }
    this.presence.appendChild(li);
  }

  removePresence(user) {
    if (!this.presence) return;
    for (const li of [...this.presence.children]) if (li.dataset.user === user.id) li.remove();
  }

  showTyping(names) {
    if (!this.typingLine) return;
    const name = names.length === 1 ? "typing-one" : "typing-many";
    this.typingLine.textContent = names.length ? this.text(name, { names: names.join(", ") }) : "";
  }

  setOlder(visible) {
    if (this.older) this.older.hidden = !visible;
  }

  /** Someone else read up to `lastRead`: mark our own messages up to it as seen. */
  markSeen(user, lastRead) {
    if (this.you && user.id === this.you.id) return;
    for (const item of this.list.querySelectorAll("li.livechat-mine[data-id]")) {
      if (Number(item.dataset.id) <= lastRead && !item.dataset.seen) {
        item.dataset.seen = "true";
        item.title = this.text("seen");
      }
    }
  }

  showNotice(kind, frame) {
    if (!this.notice || kind !== "staff") return;
    this.notice.hidden = false;
    this.notice.dataset.kind = "staff";
    this.notice.textContent = this.text(frame.online ? "staff-online" : "staff-offline");
  }
}

/** The language of the page around `root`, if `Intl` knows it (for times), else undefined. */
function pageLocale(root) {
  const holder = root.closest("[lang]");
  const lang = holder ? holder.getAttribute("lang") : "";
  try {
    return lang ? new Intl.DateTimeFormat(lang).resolvedOptions().locale : undefined;
  } catch {
    return undefined; // not a BCP 47 tag
  }
}

/** Fill a `<time>` with an ISO 8601 instant in local time: the time today, else date and time. */
function showTime(time, iso, locale) {
  const created = new Date(iso);
  if (Number.isNaN(created.getTime())) return;
  const today = created.toDateString() === new Date().toDateString();
  time.dateTime = iso;
  time.textContent = today
    ? created.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" })
    : created.toLocaleString(locale, { dateStyle: "short", timeStyle: "short" });
  time.title = created.toLocaleString(locale);
}

/** sessionStorage, or null where the browser refuses it (blocked storage, sandboxed frames). */
function sessionStore() {
  try {
    return globalThis.sessionStorage || null;
  } catch {
    return null;
  }
}

/**
 * Wire the composer and the "load older" button of includes/conversation.html to a client:
 * Enter sends, Shift+Enter (and Enter while an input method composes) is a newline.
 * @param {HTMLElement} root the element around the conversation
 * @param {() => LiveChatClient|null} client the client of the moment (the console switches rooms)
 * @param {(body: string) => Promise<unknown>|unknown} [post] sends a body: by default the
 *   client's `post`; what it returns (or resolves to) is falsy when nothing was sent, and the
 *   text then stays in the box
 */
export function bindComposer(root, client, post = (body) => client() && client().post(body)) {
  const form = root.querySelector("[data-livechat-form]");
  const input = root.querySelector("[data-livechat-input]");
  const older = root.querySelector("[data-livechat-older]");
  if (!form || !input) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = input.value;
    input.value = "";
    if (!(await post(body)) && !input.value) input.value = body; // not sent: give it back
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    form.requestSubmit();
  });
  input.addEventListener("input", () => client() && client().typed());
  if (older) older.addEventListener("click", () => client() && client().loadOlder());
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
  });
  root.livechat = client;
  bindComposer(root, () => client);
  if (view.lock) view.lock.addEventListener("click", () => client.setLocked(!(view.room && view.room.locked)));
  const markRead = () => document.visibilityState === "visible" && client.markRead();
  document.addEventListener("visibilitychange", markRead);
  for (const type of ["welcome", "backlog", "message"]) client.on(type, markRead);
  client.connect();
  return client;
}

if (typeof document !== "undefined") {
  const mountAll = () => document.querySelectorAll("[data-livechat-room]").forEach((root) => mount(root));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
}
