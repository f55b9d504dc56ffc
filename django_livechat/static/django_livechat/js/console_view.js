/**
 * The staff console page (`console.html`): `ConsoleUI` renders the queue, the detail pane and the
 * staff list of a `StaffConsole` (console_client.js), and opens a `LiveChatClient` on the
 * selected conversation, drawn by `ConsoleRoomView` with moderation buttons. Text reaches the
 * page through `textContent` only.
 */

import { STAFF_FINAL_CLOSE_CODES } from "./connection.js";
import { StaffConsole, fetchRevisions } from "./console_client.js";
import {
  assignOptions,
  describeSummary,
  detailActions,
  historyRows,
  knownNames,
  moderationFor,
  removals,
  revisionsUrl,
  roomPath,
  safeHref,
  unitsFrom,
} from "./console_model.js";
import { translate } from "./i18n.js";
import { DomView, LiveChatClient, bindComposer, followPage, readInterval } from "./livechat.js";

/** How often waiting times are redrawn. */
export const TICK_MS = 5000;

/**
 * DomView of the selected conversation, with moderation buttons on each stored message
 * (delete, remove reactions, mute, ban), a "remove file" button on each of its files and a
 * "History" button beside the "(edited)" marker of an edited one. They follow the message: an
 * `updated` frame fills it again, and them with it.
 */
export class ConsoleRoomView extends DomView {
  /**
   * @param {HTMLElement} root
   * @param {(message: object) => {delete: boolean, sanction: boolean}} decide
   * @param {HTMLTemplateElement|null} tools the moderation buttons' template
   * @param {HTMLTemplateElement|null} [fileTool] the template of a file's "remove" button
   */
  constructor(root, decide, tools, fileTool = null, historyTool = null) {
    super(root);
    this.decide = decide;
    this.tools = tools;
    this.fileTool = fileTool;
    this.historyTool = historyTool;
  }

  fill(item, message, pending) {
    super.fill(item, message, pending);
    if (pending || message.id === undefined) return;
    if (this.tools) this.fillModeration(item, message);
    if (this.historyTool) this.fillHistory(item, message);
  }

  /** The "History" button after the "(edited)" marker: shown while the message is edited. */
  fillHistory(item, message) {
    let button = item.querySelector("[data-livechat-history]");
    if (!button && message.edited) {
      button = this.historyTool.content.firstElementChild.cloneNode(true);
      const marker = item.querySelector('[data-field="edited"]');
      if (marker) marker.after(button);
      else item.appendChild(button);
    }
    if (button) button.hidden = !message.edited;
  }

  /** The moderation buttons of a stored message, as the console's rule allows them. */
  fillModeration(item, message) {
    const allowed = this.decide(message);
    const content = removals(message, allowed);
    let box = item.querySelector("[data-livechat-moderation]");
    if (!box && (allowed.delete || allowed.sanction)) {
      box = this.tools.content.firstElementChild.cloneNode(true);
      item.appendChild(box);
    }
    if (box) {
      const shown = { delete: allowed.delete, unreact: content.unreact, mute: allowed.sanction, ban: allowed.sanction };
      for (const button of box.querySelectorAll("[data-moderate]")) button.hidden = !shown[button.dataset.moderate];
    }
    if (!this.fileTool || !content.files.length) return;
    const names = new Map(message.attachments.map((file) => [String(file && file.id), String((file && file.name) || "")]));
    for (const li of item.querySelectorAll('[data-field="attachments"] li[data-attachment]')) {
      if (!content.files.includes(Number(li.dataset.attachment))) continue;
      const button = this.fileTool.content.firstElementChild.cloneNode(true);
      button.dataset.attachment = li.dataset.attachment;
      button.setAttribute("aria-label", this.text("remove-file-label", { name: names.get(li.dataset.attachment) }));
      li.append(" ", button);
    }
  }
}

/** The page's locale (the nearest `lang`), for times; undefined lets the browser choose. */
function pageLocale(root) {
  const holder = root.closest("[lang]");
  const lang = holder ? holder.getAttribute("lang") : "";
  try {
    return lang ? new Intl.DateTimeFormat(lang).resolvedOptions().locale : undefined;
  } catch {
    return undefined; // not a BCP 47 tag
  }
}

/**
 * The panel listing the earlier bodies of an edited message (`[data-livechat-history-panel]`,
 * a non-modal `role="dialog"`), opened by the message's "History" button, whose
 * `aria-expanded` follows. Focus moves to the panel's Close button on opening and back to the
 * "History" button on closing (Close, Escape, or the button again). Text is set with
 * `textContent` only.
 */
export class HistoryPanel {
  /**
   * @param {HTMLElement} panel
   * @param {object} options
   * @param {string} options.pattern the revisions URL with placeholders (console_model.js `revisionsUrl`)
   * @param {(name: string, values?: object) => string} options.text translated strings
   * @param {string} [options.locale] for times
   * @param {typeof fetch} [options.fetchFn]
   */
  constructor(panel, { pattern, text, locale, fetchFn }) {
    this.panel = panel;
    this.pattern = pattern;
    this.text = text;
    this.locale = locale;
    this.fetchFn = fetchFn;
    this.statusLine = panel.querySelector("[data-livechat-history-status]");
    this.list = panel.querySelector("[data-livechat-history-list]");
    this.closeButton = panel.querySelector("[data-livechat-history-close]");
    /** @type {HTMLElement|null} the "History" button of the message shown */
    this.trigger = null;
    /** @type {{slug: string, id: number, names: Map<string, string>, edited: string|null|undefined}|null} */
    this.shown = null;
    this.request = 0; // a late answer for an earlier opening is dropped
    if (this.closeButton) this.closeButton.addEventListener("click", () => this.close());
    this.onKey = (event) => {
      if (event.key !== "Escape" || !this.isOpen) return;
      const focus = document.activeElement;
      const here = this.panel.contains(focus) || focus === this.trigger || !focus || focus === document.body;
      if (!here) return; // Escape in the composer cancels an edit, not this
      event.preventDefault();
      this.close();
    };
    document.addEventListener("keydown", this.onKey);
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  /** The history of message `id` of room `slug`; from its own open button, close instead. */
  toggle(slug, id, trigger, names) {
    if (this.isOpen && this.trigger === trigger) this.close();
    else this.open(slug, id, trigger, names);
  }

  /**
   * Show the panel for message `id` of room `slug` and load its history.
   * @param {string} slug
   * @param {number} id
   * @param {HTMLElement|null} trigger the button that opened it
   * @param {Map<string, string>} [names] console_model.js `knownNames`
   */
  open(slug, id, trigger, names = new Map()) {
    if (this.trigger && this.trigger !== trigger) this.trigger.setAttribute("aria-expanded", "false");
    this.trigger = trigger;
    if (trigger) trigger.setAttribute("aria-expanded", "true");
    this.shown = { slug, id, names, edited: undefined };
    this.list.replaceChildren();
    this.panel.dataset.message = String(id);
    this.panel.hidden = false;
    (this.closeButton || this.panel).focus();
    return this.load();
  }

  /**
   * Message `id` changed (an `updated` frame): while its history is shown, load it again when
   * it was edited since (the focus stays where it is).
   * @param {number} id
   * @param {string|null|undefined} edited the message's `edited` now
   */
  refresh(id, edited) {
    if (!this.isOpen || !this.shown || this.shown.id !== id || this.shown.edited === undefined) return null;
    const instant = (iso) => (iso ? Date.parse(iso) : null); // the frame and the endpoint may write it apart
    if (instant(edited) === instant(this.shown.edited)) return null;
    return this.load();
  }

  /** Fetch the shown message's history and list it ("loading…", or why it failed, meanwhile). */
  async load() {
    const { slug, id, names } = this.shown;
    if (!this.list.children.length) this.say(this.text("history-loading"));
    const request = ++this.request;
    let data;
    try {
      const url = revisionsUrl(this.pattern, slug, id);
      if (!url) throw new Error("revisions: no URL pattern on the page");
      data = await fetchRevisions(url, this.fetchFn);
    } catch {
      if (request === this.request) this.say(this.text("history-failed"));
      return;
    }
    if (request !== this.request) return;
    this.shown.edited = typeof data.edited === "string" ? data.edited : null;
    this.render(historyRows(data, names));
  }

  /** Hide the panel; focus goes back to its button when `restoreFocus` and it is still shown. */
  close({ restoreFocus = true } = {}) {
    this.request += 1;
    this.shown = null;
    const wasOpen = this.isOpen;
    this.panel.hidden = true;
    this.list.replaceChildren();
    delete this.panel.dataset.message;
    const trigger = this.trigger;
    this.trigger = null;
    if (!trigger) return;
    trigger.setAttribute("aria-expanded", "false");
    if (wasOpen && restoreFocus && trigger.isConnected && !trigger.hidden) trigger.focus();
  }

  say(text) {
    if (!this.statusLine) return;
    this.statusLine.textContent = text;
    this.statusLine.hidden = !text;
  }

  /** @param {ReturnType<typeof historyRows>} rows */
  render(rows) {
    this.say(rows.length > 1 ? "" : this.text("history-none"));
    this.list.replaceChildren(...rows.map((row) => this.entry(row)));
  }

  entry(row) {
    const li = document.createElement("li");
    li.className = "livechat-history-entry";
    li.dataset.version = row.current ? "current" : String(row.n);
    const meta = document.createElement("p");
    meta.className = "livechat-history-meta";
    const label = document.createElement("strong");
    label.textContent = row.current ? this.text("history-current") : this.text("history-version", { n: row.n });
    const time = this.time(row.time);
    const note = document.createElement("span");
    note.className = "livechat-history-when";
    if (row.current) note.textContent = time ? this.text("edited-title", { time }) : "";
    else note.textContent = this.text("history-replaced", { time, name: row.by });
    if (row.time) note.dataset.time = row.time;
    meta.append(label, " ", note);
    const body = document.createElement("div");
    body.className = "livechat-history-body";
    body.textContent = row.body;
    li.append(meta, body);
    return li;
  }

  /** An ISO 8601 instant in local date and time ("" for none; as it is when unparsable). */
  time(iso) {
    if (!iso) return "";
    const when = new Date(iso);
    return Number.isNaN(when.getTime()) ? iso : when.toLocaleString(this.locale);
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
    this.hereNow = q("[data-livechat-presence-count]");
    this.hereNowText = this.hereNow ? this.hereNow.textContent : ""; // until a room's welcome counts
    this.assign = q("[data-livechat-assign]");
    this.itemTemplate = q("template[data-livechat-queue-template]");
    this.staffTemplate = q("template[data-livechat-staff-template]");
    this.toolsTemplate = q("template[data-livechat-moderation-template]");
    this.fileToolTemplate = q("template[data-livechat-file-moderation-template]");
    this.historyTemplate = q("template[data-livechat-history-template]");
    const historyPanel = q("[data-livechat-history-panel]");
    this.history =
      historyPanel && root.dataset.revisionsUrl
        ? new HistoryPanel(historyPanel, {
            pattern: root.dataset.revisionsUrl,
            text: (name, values) => this.text(name, values),
            locale: pageLocale(root),
          })
        : null;
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
    this.composer = bindComposer(this.roomRoot, () => this.client);
    followPage(() => this.client, () => this.markRead(true));
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
    if (this.composer) this.composer.reset(); // a reply, an edit or files belonged to the last one
    for (const name of ["messages", "presence"]) {
      const el = this.roomRoot.querySelector(`[data-livechat-${name}]`);
      if (el) el.replaceChildren();
    }
    const typing = this.roomRoot.querySelector("[data-livechat-typing]");
    if (typing) typing.textContent = "";
    if (this.hereNow) this.hereNow.textContent = this.hereNowText;
    if (this.history) this.history.close({ restoreFocus: false });
    const decide = (message) => {
      const entry = this.console.queue.get(slug);
      return moderationFor(message, {
        visitorId: entry && entry.visitor ? entry.visitor.id : null,
        youId: this.console.you ? this.console.you.id : null,
      });
    };
    const view = new ConsoleRoomView(
      this.roomRoot,
      decide,
      this.toolsTemplate,
      this.fileToolTemplate,
      this.history ? this.historyTemplate : null,
    );
    const client = new LiveChatClient({
      path: roomPath(this.roomPrefix, slug),
      view,
      storage: globalThis.sessionStorage,
      readInterval: readInterval(this.roomRoot),
    });
    this.client = client;
    for (const type of ["welcome", "backlog", "message"]) client.on(type, () => this.markRead());
    client.on("updated", (frame) => {
      if (!this.history || !frame || !Array.isArray(frame.messages)) return;
      for (const message of frame.messages) {
        if (message && typeof message.id === "number") this.history.refresh(message.id, message.edited);
      }
    });
    client.connect();
  }

  /**
   * While the conversation is shown: `read` with the newest id (at most one per interval, or
   * at once when `now`), and the badge follows at once.
   */
  markRead(now = false) {
    const client = this.client;
    if (!client || !client.ready || document.visibilityState !== "visible") return;
    client.markRead({ now });
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

  /** The history of the message whose "History" button was pressed. */
  showHistory(button) {
    const item = button.closest("li[data-id]");
    if (!item || !this.selected || !this.history) return;
    const entry = this.console.queue.get(this.selected);
    const authors = [...this.roomRoot.querySelectorAll("[data-livechat-messages] li[data-id]")].map(
      (li) => li.livechatMessage && li.livechatMessage.author,
    );
    const names = knownNames(authors, entry && entry.visitor ? [entry.visitor] : [], this.console.staff);
    this.history.toggle(this.selected, Number(item.dataset.id), button, names);
  }

  /** A click on a message's moderation button (or its "History" button). */
  moderate(event) {
    const history = event.target.closest("[data-livechat-history]");
    if (history) {
      this.showHistory(history);
      return;
    }
    const button = event.target.closest("[data-moderate]");
    const item = button && button.closest("li[data-id]");
    if (!item || !this.selected) return;
    const room = this.selected;
    const action = button.dataset.moderate;
    const author = item.dataset.author;
    const nameEl = item.querySelector('[data-field="author"]');
    const name = nameEl ? nameEl.textContent : "";
    const id = Number(item.dataset.id);
    if (action === "delete") {
      if (globalThis.confirm(this.text("confirm-delete"))) this.console.deleteMessage(room, id);
    } else if (action === "unreact") {
      if (globalThis.confirm(this.text("confirm-unreact"))) this.console.unreact(room, id);
    } else if (action === "remove_attachment" && button.dataset.attachment) {
      const attachment = Number(button.dataset.attachment);
      const message = item.livechatMessage;
      const file = message && (message.attachments || []).find((f) => f && f.id === attachment);
      const fileName = file ? String(file.name || "") : "";
      if (globalThis.confirm(this.text("confirm-remove-file", { name: fileName }))) {
        this.console.removeAttachment(room, id, attachment);
      }
    } else if (action === "mute" && author) {
      this.console.mute(room, author);
    } else if (action === "ban" && author) {
      if (globalThis.confirm(this.text("confirm-ban", { name }))) this.console.ban(room, author);
    }
  }
}
