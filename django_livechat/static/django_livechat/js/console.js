/**
 * django-livechat staff console (an ES module, no build step). The markup is `console.html`;
 * the socket paths and every string come from its data-* attributes, and text reaches the page
 * through `textContent` only.
 *
 * Two kinds of connection:
 * - `StaffConsole`: the staff socket (`ws/livechat/admin/`): the queue, staff presence, claims,
 *   assignments, close/reopen, status, moderation; a `Connection` (connection.js), so it
 *   reconnects with backoff and pings every 25 s as room clients do.
 * - a `LiveChatClient` (livechat.js) to the selected conversation's room, to read and answer.
 *
 * Everything above "the DOM side" is free of the DOM and runs under `node --test` with fakes.
 */

import { Connection, STAFF_FINAL_CLOSE_CODES } from "./connection.js";
import { fill, translate } from "./i18n.js";
import { DomView, LiveChatClient, bindComposer } from "./livechat.js";

/** How often waiting times are redrawn. */
export const TICK_MS = 5000;
/** sessionStorage key of this staff member's chosen status. */
export const STATUS_KEY = "livechat:console:status";
/** A mute from the console lasts this long. */
export const MUTE_MINUTES = 10;

/**
 * A room's WebSocket path from the console's prefix (tolerates a doubled trailing slash).
 * @param {string} prefix e.g. "/ws/livechat/rooms/"
 * @param {string} slug
 */
export function roomPath(prefix, slug) {
  return `${prefix.replace(/\/+$/, "")}/${encodeURIComponent(slug)}/`;
}

// -- the queue -------------------------------------------------------------------------------

function activity(summary) {
  const t = Date.parse(summary.last_activity);
  return Number.isNaN(t) ? 0 : t;
}

/** Open before closed, then newest activity first, then by id (a stable order). */
export function compareSummaries(a, b) {
  const closedA = a.status === "closed" ? 1 : 0;
  const closedB = b.status === "closed" ? 1 : 0;
  if (closedA !== closedB) return closedA - closedB;
  const diff = activity(b) - activity(a);
  if (diff) return diff;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** @param {object[]} list summaries @returns {object[]} a sorted copy */
export function sortQueue(list) {
  return [...list].sort(compareSummaries);
}

/**
 * The console's conversations: summaries by id, kept sorted; an update changes the entry
 * object in place. Remembers when each summary arrived (waiting times run on client-side) and
 * how far this staff member has read each conversation in this page.
 */
export class Queue {
  /** @param {() => number} [now] milliseconds */
  constructor(now = () => Date.now()) {
    this.now = now;
    /** @type {Map<string, object>} */
    this.byId = new Map();
    /** @type {object[]} */
    this.order = [];
    /** @type {Map<string, number>} */
    this.readUpTo = new Map();
  }

  /** Replace everything (the `queue` frame, on every connect). */
  replace(list) {
    this.byId.clear();
    for (const summary of list) this.byId.set(summary.id, { ...summary, receivedAt: this.now() });
    this.resort();
    return this.order;
  }

  /** Add or update one summary (the `conversation` frame); @returns {object} the entry */
  upsert(summary) {
    const fresh = { ...summary, receivedAt: this.now() };
    let entry = this.byId.get(summary.id);
    if (entry) Object.assign(entry, fresh);
    else {
      entry = fresh;
      this.byId.set(summary.id, entry);
    }
    this.resort();
    return entry;
  }

  resort() {
    this.order = sortQueue(this.byId.values());
  }

  get(id) {
    return this.byId.get(id);
  }

  list() {
    return this.order;
  }

  /** This page has shown the conversation up to `lastRead`. */
  markRead(id, lastRead) {
    this.readUpTo.set(id, Math.max(this.readUpTo.get(id) || 0, lastRead));
  }

  /** Unread count: the server's, lowered by what this page has read since it was computed. */
  unread(entry) {
    const read = this.readUpTo.get(entry.id);
    const server = entry.unread || 0;
    if (read === undefined) return server;
    return Math.min(server, Math.max(0, (entry.last_id || 0) - read));
  }

  /** Seconds the visitor has waited, now; null when nobody is waiting. */
  waitingSeconds(entry, now = this.now()) {
    if (entry.waiting_seconds === null || entry.waiting_seconds === undefined) return null;
    if (entry.status === "closed") return null;
    return entry.waiting_seconds + Math.max(0, Math.floor((now - entry.receivedAt) / 1000));
  }
}

/** English fallbacks of the waiting-time units (the page gives translated ones). */
export const DEFAULT_UNITS = {
  seconds: "%(n)s s",
  minutes: "%(n)s min",
  hours: "%(h)s h %(m)s min",
  days: "%(n)s d",
};

/**
 * The waiting-time unit templates from data-i18n-unit-* attributes (unfilled: they keep their
 * placeholders), with the English ones for any missing.
 * @param {DOMStringMap|object} dataset
 * @returns {typeof DEFAULT_UNITS}
 */
export function unitsFrom(dataset) {
  return {
    seconds: dataset.i18nUnitSeconds || DEFAULT_UNITS.seconds,
    minutes: dataset.i18nUnitMinutes || DEFAULT_UNITS.minutes,
    hours: dataset.i18nUnitHours || DEFAULT_UNITS.hours,
    days: dataset.i18nUnitDays || DEFAULT_UNITS.days,
  };
}

/**
 * A short waiting time: "45 s", "3 min", "1 h 5 min", "2 d".
 * @param {number|null} seconds
 * @param {typeof DEFAULT_UNITS} [units]
 * @returns {string} "" for null
 */
export function formatWaiting(seconds, units = DEFAULT_UNITS) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return fill(units.seconds, { n: s });
  if (s < 3600) return fill(units.minutes, { n: Math.floor(s / 60) });
  if (s < 86400) return fill(units.hours, { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return fill(units.days, { n: Math.floor(s / 86400) });
}

/**
 * What a queue entry shows.
 * @param {Queue} queue
 * @param {object} entry
 * @param {number} now
 * @param {typeof DEFAULT_UNITS} [units]
 */
export function describeSummary(queue, entry, now, units = DEFAULT_UNITS) {
  const waiting = queue.waitingSeconds(entry, now);
  return {
    id: entry.id,
    visitor: (entry.visitor && entry.visitor.name) || "",
    page: entry.page || "",
    status: entry.status === "closed" ? "closed" : "open",
    assignee: entry.assignee ? entry.assignee.name : null,
    waiting: waiting === null ? "" : formatWaiting(waiting, units),
    unanswered: entry.unanswered || 0,
    unread: queue.unread(entry),
  };
}

// -- staff -----------------------------------------------------------------------------------

/** The user pk of an identity id ("u:7" -> 7), or null. */
export function userPk(id) {
  const match = /^u:(\d+)$/.exec(id || "");
  return match ? Number(match[1]) : null;
}

/**
 * The presence list: online first, then by name; each row flags the current user.
 * @param {{id: string, name: string, status: string}[]} staff
 * @param {string|null} youId
 */
export function staffRows(staff, youId) {
  const rank = (row) => (row.status === "online" ? 0 : 1);
  return [...staff]
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1))
    .map((row) => ({ id: row.id, name: row.name, status: row.status === "online" ? "online" : "away", you: row.id === youId }));
}

/**
 * The assign select: "unassigned" (value ""), then each staff member (value: the user pk);
 * the current assignee is listed even when their console is closed.
 * @returns {{options: {value: string, name: string|null}[], selected: string}}
 */
export function assignOptions(staff, assignee) {
  const options = [{ value: "", name: null }];
  for (const row of staffRows(staff, null)) {
    const pk = userPk(row.id);
    if (pk !== null) options.push({ value: String(pk), name: row.name });
  }
  const selected = assignee ? String(userPk(assignee.id) ?? "") : "";
  if (selected && !options.some((o) => o.value === selected)) options.push({ value: selected, name: assignee.name });
  return { options, selected };
}

/** Which conversation buttons apply. */
export function detailActions(summary, youId) {
  const open = summary.status !== "closed";
  return {
    claim: !summary.assignee || summary.assignee.id !== youId,
    close: open,
    reopen: !open,
  };
}

/**
 * Moderation buttons of one message: delete any stored message; mute and ban only the
 * visitor (the one author of a support conversation who is not staff).
 */
export function moderationFor(message, { visitorId, youId }) {
  const author = message.author;
  return {
    delete: typeof message.id === "number",
    sanction: Boolean(author && author.kind !== "system" && author.id === visitorId && author.id !== youId),
  };
}

/**
 * A link target for a page URL the visitor's browser reported: http(s) only, else null.
 * @param {string} page
 * @param {string} base the console's own URL, for relative paths
 */
export function safeHref(page, base) {
  if (!page) return null;
  try {
    const url = new URL(page, base);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// -- the staff socket ------------------------------------------------------------------------

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

// -- the DOM side ----------------------------------------------------------------------------

/** DomView of the selected conversation, with moderation buttons on each stored message. */
export class ConsoleRoomView extends DomView {
  /**
   * @param {HTMLElement} root
   * @param {(message: object) => {delete: boolean, sanction: boolean}} decide
   * @param {HTMLTemplateElement|null} tools the moderation buttons' template
   */
  constructor(root, decide, tools) {
    super(root);
    this.decide = decide;
    this.tools = tools;
  }

  renderMessage(message, options) {
    super.renderMessage(message, options);
    if (options.pending || message.id === undefined || !this.tools) return;
    const item = this.find(message);
    if (!item || item.querySelector("[data-livechat-moderation]")) return;
    const allowed = this.decide(message);
    if (!allowed.delete && !allowed.sanction) return;
    const box = this.tools.content.firstElementChild.cloneNode(true);
    for (const button of box.querySelectorAll("[data-moderate]")) {
      const action = button.dataset.moderate;
      button.hidden = action === "delete" ? !allowed.delete : !allowed.sanction;
    }
    item.appendChild(box);
  }
}

/** The console page: queue, detail pane, staff list, and the selected room's client. */
export class ConsoleUI {
  /** @param {HTMLElement} root the `[data-livechat-console]` element */
  constructor(root) {
    this.root = root;
    const q = (selector) => root.querySelector(selector);
    this.statusLine = q("[data-livechat-console-status]");
    this.errorLine = q("[data-livechat-console-error]");
    this.list = q("[data-livechat-queue]");
    this.empty = q("[data-livechat-queue-empty]");
    this.staffList = q("[data-livechat-staff]");
    this.myStatus = q("[data-livechat-my-status]");
    this.detail = q("[data-livechat-detail]");
    this.placeholder = q("[data-livechat-detail-empty]");
    this.body = q("[data-livechat-detail-body]");
    this.roomRoot = q("[data-livechat-console-room]");
    this.assign = q("[data-livechat-assign]");
    this.itemTemplate = q("template[data-livechat-queue-template]");
    this.staffTemplate = q("template[data-livechat-staff-template]");
    this.toolsTemplate = q("template[data-livechat-moderation-template]");
    this.units = unitsFrom(root.dataset);
    /** @type {Map<string, HTMLElement>} */
    this.items = new Map();
    this.selected = null;
    this.client = null;
    this.console = new StaffConsole({
      path: root.dataset.staffWsPath,
      view: this,
      storage: globalThis.sessionStorage,
      text: (name) => this.text(name),
    });
    this.roomPrefix = root.dataset.roomWsPrefix;
  }

  text(name, values) {
    return translate(this.root, name, values);
  }

  start() {
    this.bind();
    if (this.myStatus) this.myStatus.value = this.console.status;
    this.console.connect();
    globalThis.setInterval(() => this.tick(), TICK_MS);
  }

  bind() {
    this.list.addEventListener("click", (event) => {
      const item = event.target.closest("[data-conversation]");
      if (item) this.select(item.dataset.conversation);
    });
    const action = (name, fn) => {
      const button = this.root.querySelector(`[data-livechat-action="${name}"]`);
      if (button) button.addEventListener("click", () => this.selected && fn(this.selected));
    };
    action("claim", (id) => this.console.claim(id));
    action("close", (id) => this.console.closeConversation(id));
    action("reopen", (id) => this.console.reopenConversation(id));
    if (this.assign) {
      this.assign.addEventListener("change", () => {
        if (this.selected) this.console.assign(this.selected, this.assign.value ? Number(this.assign.value) : null);
      });
    }
    if (this.myStatus) this.myStatus.addEventListener("change", () => this.console.setStatus(this.myStatus.value));
    const messages = this.roomRoot.querySelector("[data-livechat-messages]");
    messages.addEventListener("click", (event) => this.moderate(event));
    bindComposer(this.roomRoot, () => this.client);
    document.addEventListener("visibilitychange", () => this.markRead());
    globalThis.addEventListener("hashchange", () => this.selectFromHash());
  }

  // -- StaffConsole's view ----------------------------------------------------------------

  setState(state, code) {
    this.root.dataset.state = state;
    const label = state === "closed" && STAFF_FINAL_CLOSE_CODES.has(code) ? this.text("refused") : this.text(state);
    if (this.statusLine) this.statusLine.textContent = label;
  }

  showError(text) {
    if (!this.errorLine) return;
    this.errorLine.textContent = text;
    this.errorLine.hidden = !text;
  }

  renderQueue(entries) {
    const now = Date.now();
    const wanted = new Set(entries.map((e) => e.id));
    for (const [id, item] of this.items) {
      if (!wanted.has(id)) {
        item.remove();
        this.items.delete(id);
      }
    }
    entries.forEach((entry, index) => {
      let item = this.items.get(entry.id);
      if (!item) {
        item = this.itemTemplate.content.firstElementChild.cloneNode(true);
        item.dataset.conversation = entry.id;
        this.items.set(entry.id, item);
      }
      this.fillItem(item, entry, now); // a few dozen entries: refilling all keeps waiting times in step
      const here = this.list.children[index];
      if (here !== item) this.list.insertBefore(item, here || null);
    });
    if (this.empty) this.empty.hidden = entries.length > 0;
    if (this.selected) {
      const entry = this.console.queue.get(this.selected);
      if (entry) this.renderDetail(entry);
    } else {
      this.selectFromHash();
    }
  }

  fillItem(item, entry, now) {
    const view = describeSummary(this.console.queue, entry, now, this.units);
    const field = (name) => item.querySelector(`[data-field="${name}"]`);
    const set = (name, value) => {
      const el = field(name);
      if (el) el.textContent = value;
    };
    set("visitor", view.visitor);
    set("page", view.page);
    set("status", this.text(`status-${view.status}`));
    set("assignee", view.assignee || this.text("unassigned"));
    set("waiting", view.waiting ? this.text("waiting", { time: view.waiting }) : "");
    for (const name of ["unanswered", "unread"]) {
      const badge = field(name);
      if (!badge) continue;
      badge.textContent = String(view[name]);
      badge.hidden = view[name] === 0;
      badge.title = this.text(`${name}-title`, { n: view[name] });
      badge.setAttribute("aria-label", badge.title);
    }
    item.dataset.status = view.status;
    item.classList.toggle("livechat-queue-selected", entry.id === this.selected);
    const button = item.querySelector("[data-livechat-select]") || item;
    button.setAttribute("aria-current", entry.id === this.selected ? "true" : "false");
  }

  /** Redraw waiting times and badges (every TICK_MS). */
  tick() {
    const now = Date.now();
    for (const entry of this.console.queue.list()) {
      const item = this.items.get(entry.id);
      if (item) this.fillItem(item, entry, now);
    }
  }

  renderStaff(rows) {
    if (this.staffList) {
      this.staffList.replaceChildren();
      for (const row of rows) {
        const item = this.staffTemplate.content.firstElementChild.cloneNode(true);
        item.dataset.user = row.id;
        item.dataset.status = row.status;
        item.querySelector('[data-field="name"]').textContent = row.name;
        item.querySelector('[data-field="status"]').textContent = this.text(`staff-${row.status}`);
        const you = item.querySelector('[data-field="you"]');
        if (you) you.hidden = !row.you;
        this.staffList.appendChild(item);
      }
    }
    const entry = this.selected && this.console.queue.get(this.selected);
    if (entry) this.renderDetail(entry);
  }

  // -- the selected conversation ----------------------------------------------------------

  selectFromHash() {
    const slug = decodeURIComponent((globalThis.location.hash || "").slice(1));
    if (slug && slug !== this.selected && this.console.queue.get(slug)) this.select(slug);
  }

  select(slug) {
    const entry = this.console.queue.get(slug);
    if (!entry) return;
    if (slug !== this.selected) {
      this.openRoom(slug);
      if (globalThis.location.hash !== `#${slug}`) globalThis.history.replaceState(null, "", `#${slug}`);
    }
    for (const [id, item] of this.items) {
      item.classList.toggle("livechat-queue-selected", id === slug);
      const button = item.querySelector("[data-livechat-select]") || item;
      button.setAttribute("aria-current", id === slug ? "true" : "false");
    }
    this.renderDetail(entry);
  }

  openRoom(slug) {
    if (this.client) {
      this.client.view = null; // its late close must not touch the new view
      this.client.handlers = {};
      this.client.close();
    }
    this.selected = slug;
    for (const name of ["messages", "presence"]) {
      const el = this.roomRoot.querySelector(`[data-livechat-${name}]`);
      if (el) el.replaceChildren();
    }
    const typing = this.roomRoot.querySelector("[data-livechat-typing]");
    if (typing) typing.textContent = "";
    const decide = (message) => {
      const entry = this.console.queue.get(slug);
      return moderationFor(message, {
        visitorId: entry && entry.visitor ? entry.visitor.id : null,
        youId: this.console.you ? this.console.you.id : null,
      });
    };
    const view = new ConsoleRoomView(this.roomRoot, decide, this.toolsTemplate);
    const client = new LiveChatClient({ path: roomPath(this.roomPrefix, slug), view, storage: globalThis.sessionStorage });
    this.client = client;
    for (const type of ["welcome", "backlog", "message"]) client.on(type, () => this.markRead());
    client.connect();
  }

  /** While the conversation is shown: `read` with the newest id, and the badge follows. */
  markRead() {
    const client = this.client;
    if (!client || !client.ready || document.visibilityState !== "visible") return;
    client.markRead();
    this.console.queue.markRead(this.selected, client.lastId);
    const entry = this.console.queue.get(this.selected);
    const item = this.items.get(this.selected);
    if (entry && item) this.fillItem(item, entry, Date.now());
  }

  renderDetail(entry) {
    if (this.placeholder) this.placeholder.hidden = true;
    if (this.body) this.body.hidden = false;
    const view = describeSummary(this.console.queue, entry, Date.now(), this.units);
    const field = (name) => this.detail.querySelector(`[data-detail="${name}"]`);
    field("visitor").textContent = view.visitor;
    const page = field("page");
    page.textContent = view.page || this.text("no-page");
    const href = safeHref(view.page, globalThis.location.href);
    if (href) page.href = href;
    else page.removeAttribute("href");
    field("status").textContent = this.text(`status-${view.status}`);
    field("assignee").textContent = view.assignee || this.text("unassigned");
    const youId = this.console.you ? this.console.you.id : null;
    const actions = detailActions(entry, youId);
    for (const name of ["claim", "close", "reopen"]) {
      const button = this.detail.querySelector(`[data-livechat-action="${name}"]`);
      if (button) button.hidden = !actions[name];
    }
    if (this.assign && document.activeElement !== this.assign) {
      const { options, selected } = assignOptions(this.console.staff, entry.assignee);
      this.assign.replaceChildren();
      for (const option of options) {
        const el = document.createElement("option");
        el.value = option.value;
        el.textContent = option.name === null ? this.text("unassigned") : option.name;
        this.assign.appendChild(el);
      }
      this.assign.value = selected;
    }
  }

  /** A click on a message's moderation button. */
  moderate(event) {
    const button = event.target.closest("[data-moderate]");
    const item = button && button.closest("li[data-id]");
    if (!item || !this.selected) return;
    const room = this.selected;
    const action = button.dataset.moderate;
    const author = item.dataset.author;
    const nameEl = item.querySelector('[data-field="author"]');
    const name = nameEl ? nameEl.textContent : "";
    if (action === "delete") {
      if (globalThis.confirm(this.text("confirm-delete"))) this.console.deleteMessage(room, Number(item.dataset.id));
    } else if (action === "mute" && author) {
      this.console.mute(room, author);
    } else if (action === "ban" && author) {
      if (globalThis.confirm(this.text("confirm-ban", { name }))) this.console.ban(room, author);
    }
  }
}

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
