/**
 * django-livechat support widget: a floating "Chat with us" button and panel (an ES module, no
 * build step). The markup is `includes/support_widget.html`; URLs, the CSRF token and every
 * string come from its data-* attributes, and text reaches the page through `textContent` only.
 *
 * The room protocol is `LiveChatClient`'s (client.js); this module adds the support side:
 * finding or starting the visitor's conversation over HTTP, the staff online/offline notice, the
 * assignee, and the open/closed panel state, which survives a reload (sessionStorage).
 *
 * `SupportWidget` and the `*Support*` functions know nothing of the DOM, so they run under
 * `node --test` with fakes; `WidgetUI` and `WidgetView` are the DOM side.
 */

import { translate } from "./i18n.js";
import { DomView, LiveChatClient, bindComposer, followPage, readInterval } from "./livechat.js";

/** sessionStorage key of the panel state ("open" or "closed"). */
export const OPEN_KEY = "livechat:widget:open";

/**
 * What the widget knows about the conversation beyond its messages.
 * @typedef {object} SupportState
 * @property {boolean|null} staffOnline null until the server said
 * @property {string} hours SUPPORT_HOURS_TEXT, from welcome.support.hours
 * @property {"open"|"closed"|null} status
 * @property {{id: string, name: string}|null} assignee
 * @property {boolean} locked
 */

/** @returns {SupportState} */
export function initialSupportState() {
  return { staffOnline: null, hours: "", status: null, assignee: null, locked: false };
}

/**
 * The support state after one server frame (a pure function; unknown frames change nothing).
 * `deleted` needs nothing here: LiveChatClient removes the message from the view itself.
 * @param {SupportState} state
 * @param {object} frame
 * @returns {SupportState}
 */
export function nextSupportState(state, frame) {
  switch (frame.type) {
    case "welcome": {
      const next = { ...state, locked: Boolean(frame.room && frame.room.locked) };
      if (frame.support) {
        next.staffOnline = Boolean(frame.support.staff_online);
        next.hours = typeof frame.support.hours === "string" ? frame.support.hours : "";
      }
      return next;
    }
    case "staff":
      return { ...state, staffOnline: Boolean(frame.online) };
    case "conversation":
      return {
        ...state,
        status: frame.status === "closed" ? "closed" : "open",
        assignee: frame.assignee && frame.assignee.name ? frame.assignee : null,
      };
    case "room":
      return { ...state, locked: Boolean(frame.room && frame.room.locked) };
    default:
      return state;
  }
}

/**
 * What to show for a support state.
 * @param {SupportState} state
 * @returns {{online: boolean, offline: boolean, hours: string, assignee: string|null, closed: boolean, locked: boolean}}
 */
export function describeSupport(state) {
  const offline = state.staffOnline === false;
  return {
    online: state.staffOnline === true,
    offline,
    hours: offline ? state.hours.trim() : "",
    assignee: state.assignee ? state.assignee.name : null,
    closed: state.status === "closed",
    locked: state.locked,
  };
}

/**
 * The widget's settings from its root element's data-* attributes.
 * @param {DOMStringMap} dataset
 */
export function readConfig(dataset) {
  return {
    startUrl: dataset.startUrl,
    currentUrl: dataset.currentUrl,
    csrfToken: dataset.csrfToken || "",
    page: dataset.page || "",
  };
}

/**
 * The widget's logic: conversation lookup and start, connection, frames, panel state.
 *
 * The `ui` receives: setMode("start"|"resume"), setOpen(open), renderSupport(description),
 * showError(text|null), setUnread(flag), focus(), setContact({email, transcript}),
 * contactResult({ok, detail}). Missing methods are skipped.
 */
export class SupportWidget {
  /**
   * @param {object} options
   * @param {{startUrl: string, currentUrl: string, csrfToken: string, page: string}} options.config
   * @param {typeof fetch} options.fetch
   * @param {(path: string) => LiveChatClient} options.createClient a client for a ws_path, not connected
   * @param {object} [options.ui]
   * @param {Storage} [options.storage] sessionStorage: the panel state
   * @param {(name: string) => string} [options.text] translated strings ("start-failed")
   * @param {() => boolean} [options.visible] whether the page is visible (read receipts)
   */
  constructor({ config, fetch: fetchFn, createClient, ui, storage, text, visible }) {
    this.config = config;
    this.fetch = fetchFn;
    this.createClient = createClient;
    this.ui = ui || {};
    this.storage = storage || null;
    this.text = text || ((name) => name);
    this.visible = visible || (() => true);
    /** @type {{conversation: string, ws_path: string}|null} */
    this.conversation = null;
    /** @type {LiveChatClient|null} */
    this.client = null;
    this.isOpen = false;
    this.support = initialSupportState();
    this.starting = null;
  }

  call(method, ...args) {
    if (typeof this.ui[method] === "function") this.ui[method](...args);
  }

  /** Look for the visitor's conversation, then restore the panel as it was before a reload. */
  async init() {
    this.call("setOpen", false);
    const wasOpen = this.readOpen();
    try {
      const response = await this.fetch(this.config.currentUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) this.conversation = await response.json();
    } catch {
      /* offline or blocked: the first open tries again through start */
    }
    this.call("setMode", this.conversation ? "resume" : "start");
    if (this.conversation) this.showContact(this.conversation);
    if (wasOpen) await this.open();
  }

  /** Show the panel; start the conversation the first time, then connect. */
  async open() {
    this.isOpen = true;
    this.saveOpen();
    this.call("setOpen", true);
    this.call("setUnread", false);
    if (!this.conversation && !(await this.start())) return;
    if (!this.isOpen) return; // closed again while starting
    this.connect();
    this.call("focus");
    this.markRead({ now: true });
  }

  /** Hide the panel; the connection stays, so new answers still arrive. */
  close() {
    this.isOpen = false;
    this.saveOpen();
    this.call("setOpen", false);
  }

  toggle() {
    return this.isOpen ? this.close() : this.open();
  }

  /**
   * POST to the start URL (once at a time).
   * @returns {Promise<boolean>} whether there is a conversation now
   */
  start() {
    if (!this.starting) {
      this.starting = this.postStart().finally(() => {
        this.starting = null;
      });
    }
    return this.starting;
  }

  /**
   * POST `fields` (with the page) to the start URL: the conversation's JSON, or the error's
   * detail (null when the server was not reached or did not say).
   * @param {Record<string, string>} fields
   * @returns {Promise<{data: object|null, detail: string|null}>}
   */
  async sendStart(fields = {}) {
    const body = new FormData();
    body.append("page", this.config.page);
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    try {
      const response = await this.fetch(this.config.startUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": this.config.csrfToken, Accept: "application/json" },
        body,
      });
      const data = await response.json().catch(() => null);
      if (response.ok && data && data.ws_path) return { data, detail: null };
      return { data: null, detail: (data && data.detail) || null };
    } catch {
      return { data: null, detail: null };
    }
  }

  async postStart() {
    this.call("showError", null);
    const { data, detail } = await this.sendStart();
    if (!data) {
      this.call("showError", detail || this.text("start-failed"));
      return false;
    }
    this.conversation = data;
    this.call("setMode", "resume");
    this.showContact(data);
    return true;
  }

  /** The stored e-mail address and transcript wish of a conversation answer, to the form. */
  showContact(data) {
    if (data && typeof data.email === "string") {
      this.call("setContact", { email: data.email, transcript: Boolean(data.transcript) });
    }
  }

  /**
   * "Get replies by e-mail": POST the address and the transcript wish to the start URL (it
   * stores them on the conversation, starting it if need be). An empty address clears them.
   * @param {string} email
   * @param {boolean} transcript
   * @returns {Promise<boolean>} whether they were stored
   */
  async saveContact(email, transcript) {
    if (this.starting) await this.starting; // the panel's own start first: one conversation
    const fields = { email: String(email || "").trim() };
    if (transcript) fields.transcript = "1";
    const { data, detail } = await this.sendStart(fields);
    if (!data) {
      this.call("contactResult", { ok: false, detail: detail || this.text("contact-failed") });
      return false;
    }
    const fresh = !this.conversation;
    this.conversation = data;
    if (fresh) this.call("setMode", "resume");
    this.showContact(data);
    this.call("contactResult", { ok: true, detail: null });
    if (fresh && this.isOpen) this.connect();
    return true;
  }

  /**
   * Send a message; before the conversation exists, start it first (the client's outbox holds
   * the message until the connection is ready).
   * @param {string} body
   * @param {{replyTo?: number|null, attachments?: number[]}} [extras] as LiveChatClient.post's
   * @returns {Promise<string|null>} its client_id, or null (empty, or no conversation)
   */
  async post(body, extras = {}) {
    if (!(body || "").trim() && !(extras.attachments && extras.attachments.length)) return null;
    if (!this.client) await this.open();
    return this.client ? this.client.post(body, extras) : null;
  }

  /** Connect a room client to the conversation (once). */
  connect() {
    if (this.client || !this.conversation) return this.client;
    const client = this.createClient(this.conversation.ws_path);
    this.client = client;
    for (const type of ["welcome", "staff", "conversation", "room"]) {
      client.on(type, (frame) => this.onSupportFrame(frame));
    }
    client.on("welcome", () => this.markRead());
    client.on("backlog", () => this.markRead());
    client.on("message", (frame) => this.onMessage(frame));
    client.connect();
    return client;
  }

  onSupportFrame(frame) {
    this.support = nextSupportState(this.support, frame);
    this.call("renderSupport", describeSupport(this.support));
  }

  onMessage(frame) {
    const you = this.client && this.client.you;
    const mine = you && frame.author && frame.author.id === you.id;
    if (!this.isOpen && !mine) this.call("setUnread", true);
    this.markRead();
  }

  /**
   * Send a read receipt while the panel is open and the page visible (LiveChatClient.markRead).
   * @param {{now?: boolean}} [options]
   */
  markRead(options) {
    if (this.client && this.isOpen && this.visible()) this.client.markRead(options);
  }

  readOpen() {
    try {
      return Boolean(this.storage) && this.storage.getItem(OPEN_KEY) === "open";
    } catch {
      return false;
    }
  }

  saveOpen() {
    try {
      if (this.storage) this.storage.setItem(OPEN_KEY, this.isOpen ? "open" : "closed");
    } catch {
      /* storage disabled: the state lasts until the next page */
    }
  }
}

// -- the DOM side ----------------------------------------------------------------------------

/** DomView for the panel: staff notices are the widget's own, not the room's notice line. */
export class WidgetView extends DomView {
  showNotice() {}
}

/** The widget's own elements (button, panel, notices), driven by a SupportWidget. */
export class WidgetUI {
  /** @param {HTMLElement} root the `[data-livechat-widget]` element */
  constructor(root) {
    this.root = root;
    const find = (name) => root.querySelector(`[data-livechat-widget-${name}]`);
    this.toggle = find("toggle");
    this.label = find("label");
    this.panel = find("panel");
    this.online = find("online");
    this.offline = find("offline");
    this.hours = find("hours");
    this.assignee = find("assignee");
    this.closed = find("closed");
    this.error = find("error");
    this.input = root.querySelector("[data-livechat-input]");
    this.contact = find("contact");
    this.contactEmail = find("email");
    this.contactTranscript = find("transcript");
    this.contactStatus = find("contact-status");
  }

  setContact({ email, transcript }) {
    if (this.contactEmail) this.contactEmail.value = email;
    if (this.contactTranscript) this.contactTranscript.checked = Boolean(transcript);
    if (this.contact) this.contact.dataset.saved = email ? "true" : "false";
  }

  contactResult({ ok, detail }) {
    if (!this.contactStatus) return;
    this.contactStatus.dataset.ok = ok ? "true" : "false";
    this.contactStatus.textContent = ok ? this.text("contact-saved") : detail || "";
    this.contactStatus.hidden = false;
  }

  text(name, values) {
    return translate(this.root, name, values);
  }

  setMode(mode) {
    this.root.dataset.mode = mode;
    if (this.label) this.label.textContent = this.text(mode === "resume" ? "resume-label" : "start-label");
  }

  setOpen(open) {
    this.root.dataset.open = open ? "true" : "false";
    if (this.panel) this.panel.hidden = !open;
    if (this.toggle) this.toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  setUnread(flag) {
    this.root.dataset.unread = flag ? "true" : "false";
  }

  focus() {
    if (this.input && !this.input.disabled) this.input.focus();
  }

  showError(text) {
    if (!this.error) return;
    this.error.hidden = !text;
    this.error.textContent = text || "";
  }

  renderSupport(view) {
    if (this.online) this.online.hidden = !view.online;
    if (this.offline) this.offline.hidden = !view.offline;
    if (this.hours) {
      this.hours.hidden = !view.hours;
      this.hours.textContent = view.hours;
    }
    if (this.assignee) {
      this.assignee.hidden = !view.assignee;
      this.assignee.textContent = view.assignee ? this.text("assigned", { name: view.assignee }) : "";
    }
    if (this.closed) this.closed.hidden = !view.closed;
  }
}

/**
 * Wire a widget root: the button, the panel's form, and a SupportWidget; then init it.
 * @param {HTMLElement} root
 * @returns {SupportWidget}
 */
export function mountWidget(root) {
  if (root.livechatWidget) return root.livechatWidget;
  const ui = new WidgetUI(root);
  const widget = new SupportWidget({
    config: readConfig(root.dataset),
    fetch: (...args) => globalThis.fetch(...args),
    storage: globalThis.sessionStorage,
    ui,
    text: (name) => ui.text(name),
    visible: () => document.visibilityState === "visible",
    createClient: (path) =>
      new LiveChatClient({
        path,
        view: new WidgetView(root),
        storage: globalThis.sessionStorage,
        readInterval: readInterval(root),
      }),
  });
  root.livechatWidget = widget;

  ui.toggle.addEventListener("click", () => widget.toggle());
  const closeButton = root.querySelector("[data-livechat-widget-close]");
  if (closeButton) closeButton.addEventListener("click", () => widget.close());
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && widget.isOpen) {
      widget.close();
      ui.toggle.focus();
    }
  });

  if (ui.contact) {
    ui.contact.addEventListener("submit", (event) => {
      event.preventDefault();
      widget.saveContact(ui.contactEmail ? ui.contactEmail.value : "", Boolean(ui.contactTranscript && ui.contactTranscript.checked));
    });
  }

  bindComposer(root, () => widget.client, (body, extras) => widget.post(body, extras));
  followPage(() => widget.client, () => widget.markRead({ now: true }));
  widget.init();
  return widget;
}

if (typeof document !== "undefined") {
  const mountAll = () => document.querySelectorAll("[data-livechat-widget]").forEach((root) => mountWidget(root));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
}
