/**
 * django-livechat in the page (an ES module, no build step): the unread count in the tab's title,
 * e.g. "(3) Lobby", and desktop notifications of direct messages and mentions while the page is
 * hidden, through the browser's Notification API, only once the user allowed them
 * (`Notification.permission === "granted"`): permission is asked only on a click (the
 * "Allow desktop notifications" button of the notification settings page,
 * `[data-livechat-allow-alerts]`, or the Web Push button).
 *
 * A room page counts the messages that arrived while it was hidden (`watchRoom`, used by
 * livechat.js); the inbox shows the sum of its unread counts (`InboxAlerts`, used by inbox.js).
 * Texts come from `data-i18n-alert-*` attributes and reach the page through textContent or the
 * Notification's own text fields, never as HTML. `titleWith`, `wantsAlert`, `PageAlerts`,
 * `RoomAlerts` and `InboxAlerts` know nothing of the real DOM: they run under `node --test`.
 */

import { translate } from "./i18n.js";

/** Characters of a message shown in a desktop notification at most. */
export const ALERT_EXCERPT = 140;

/**
 * `title` with the count in front ("(3) Lobby"), or `title` itself for 0.
 * @param {string} title
 * @param {number} count
 */
export function titleWith(title, count) {
  const base = String(title || "");
  return count > 0 ? `(${count}) ${base}` : base;
}

/**
 * Whether a message (frame) names `you` among its mentions: `mentions` holds `{id, username}`
 * objects (message frames) or ids (the inbox's `activity`).
 * @param {{mentions?: Array<string|{id: string}>}} frame
 * @param {{id: string}|null} you
 */
export function mentionsYou(frame, you) {
  if (!you || !frame || !Array.isArray(frame.mentions)) return false;
  return frame.mentions.some((m) => (typeof m === "string" ? m : m && m.id) === you.id);
}

/**
 * Whether a message deserves a desktop notification: someone else's, in a direct room or
 * mentioning `you`.
 * @param {{author?: {id: string}, mentions?: Array}} frame
 * @param {{id: string}|null} you
 * @param {string|null|undefined} kind the room's kind
 */
export function wantsAlert(frame, you, kind) {
  if (!frame || !frame.author || !you || frame.author.id === you.id) return false;
  return kind === "direct" || mentionsYou(frame, you);
}

/** A message body on one line, cut to ALERT_EXCERPT characters. */
export function excerpt(body) {
  const line = String(body || "").split(/\s+/).filter(Boolean).join(" ");
  return line.length > ALERT_EXCERPT ? `${line.slice(0, ALERT_EXCERPT - 1)}…` : line;
}

/**
 * The page's title count and desktop notifications: one per document. Sources (room widgets,
 * the inbox) set their counts; the title shows their sum.
 */
export class PageAlerts {
  /**
   * @param {object} options
   * @param {{title: string, visibilityState: string, addEventListener?: Function}} options.doc
   * @param {any} [options.Notification] the browser's Notification constructor, if any
   * @param {() => void} [options.focus] brings the page to the front (window.focus)
   */
  constructor({ doc, Notification: NotificationApi, focus }) {
    this.doc = doc;
    this.Notification = NotificationApi || null;
    this.focus = focus || (() => {});
    /** @type {Map<object, number>} */
    this.counts = new Map();
    /** @type {Array<() => void>} */
    this.visibleHandlers = [];
    /** The page's own title, and the one shown last (another script may change it meanwhile). */
    this.base = doc.title;
    this.shown = doc.title;
    if (doc.addEventListener) {
      doc.addEventListener("visibilitychange", () => {
        if (!this.hidden()) this.becameVisible();
      });
    }
  }

  hidden() {
    return this.doc.visibilityState !== "visible";
  }

  /** Run `fn` each time the page becomes visible again. */
  onVisible(fn) {
    this.visibleHandlers.push(fn);
  }

  becameVisible() {
    for (const fn of this.visibleHandlers) fn();
  }

  /** @param {object} source @param {number} count */
  setCount(source, count) {
    this.counts.set(source, Math.max(0, Number(count) || 0));
    this.render();
  }

  total() {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  render() {
    if (this.doc.title !== this.shown) this.base = this.doc.title; // retitled by the page
    const next = titleWith(this.base, this.total());
    if (next !== this.doc.title) this.doc.title = next;
    this.shown = next;
  }

  /** Whether desktop notifications may be shown (the user allowed them already). */
  allowed() {
    return Boolean(this.Notification) && this.Notification.permission === "granted";
  }

  /**
   * A desktop notification, if the page is hidden and the user allowed them; clicking it
   * brings the page (or `url`) to the front.
   * @param {{title: string, body: string, tag?: string, url?: string}} alert
   * @returns {object|null} the Notification, or null
   */
  notify({ title, body, tag, url }) {
    if (!this.hidden() || !this.allowed()) return null;
    let shown;
    try {
      shown = new this.Notification(title, { body, tag });
    } catch {
      return null; // e.g. Chrome on Android: only a service worker may show them
    }
    shown.onclick = () => {
      this.focus(url);
      if (typeof shown.close === "function") shown.close();
    };
    return shown;
  }
}

/** A room's part: the messages that arrived while the page was hidden. */
export class RoomAlerts {
  /**
   * @param {PageAlerts} page
   * @param {(name: string, values?: object) => string} text translated strings
   */
  constructor(page, text) {
    this.page = page;
    this.text = text;
    /** @type {Set<number>} ids of the messages that came while hidden */
    this.unseen = new Set();
    page.onVisible(() => this.reset());
  }

  reset() {
    if (!this.unseen.size) return;
    this.unseen.clear();
    this.page.setCount(this, 0);
  }

  /**
   * A live message frame of the room.
   * @param {object} frame
   * @param {{id: string}|null} you
   * @param {string|null} kind the room's kind
   */
  message(frame, you, kind) {
    if (!this.page.hidden() || !frame || !frame.author) return;
    if (you && frame.author.id === you.id) return; // one's own, from another tab
    if (this.unseen.has(frame.id)) return;
    this.unseen.add(frame.id);
    this.page.setCount(this, this.unseen.size);
    if (!wantsAlert(frame, you, kind)) return;
    const name = frame.author.name || "";
    const title = kind === "direct" ? this.text("alert-direct", { name }) : this.text("alert-mention", { name, room: this.text("room-title") });
    this.page.notify({ title, body: excerpt(frame.body), tag: `livechat-${frame.room || ""}` });
  }
}

/** The inbox's part: the sum of the unread counts, and notifications of activity. */
export class InboxAlerts {
  /**
   * @param {PageAlerts} page
   * @param {(name: string, values?: object) => string} text translated strings
   */
  constructor(page, text) {
    this.page = page;
    this.text = text;
  }

  /** @param {number} unread the inbox's total */
  update(unread) {
    this.page.setCount(this, unread);
  }

  /**
   * A room's new activity (the inbox's `activity` frame and the room's entry).
   * @param {{last?: {author?: {id: string, name: string}, excerpt?: string}, mentions?: string[], room: string}} frame
   * @param {{kind: string, title: string, url?: string}} entry
   * @param {{id: string}|null} you
   */
  activity(frame, entry, you) {
    const last = frame && frame.last;
    if (!last || !entry) return null;
    const message = { author: last.author, mentions: frame.mentions };
    if (!wantsAlert(message, you, entry.kind)) return null;
    const name = last.author.name || "";
    const title = entry.kind === "direct" ? this.text("alert-direct", { name }) : this.text("alert-mention", { name, room: entry.title || "" });
    return this.page.notify({ title, body: excerpt(last.excerpt), tag: `livechat-${frame.room}`, url: entry.url });
  }
}

// -- the browser side --------------------------------------------------------------------------

/** @type {PageAlerts|null} */
let thePage = null;

/** @returns {PageAlerts|null} the page's one PageAlerts (null outside a browser) */
export function pageAlerts() {
  if (typeof document === "undefined") return null;
  if (!thePage) {
    thePage = new PageAlerts({
      doc: document,
      Notification: globalThis.Notification,
      focus: (url) => {
        globalThis.focus();
        if (url) globalThis.location.assign(url);
      },
    });
  }
  return thePage;
}

/**
 * Follow a room client's messages (livechat.js's `mount`).
 * @param {HTMLElement} root the `[data-livechat-room]` element (its data-i18n-alert-* strings)
 * @param {{on: Function, you: object|null, room: object|null}} client
 */
export function watchRoom(root, client) {
  const page = pageAlerts();
  if (!page) return null;
  const titleNode = root.querySelector("[data-livechat-title]");
  const text = (name, values) =>
    name === "room-title" ? (titleNode ? titleNode.textContent.trim() : (client.room && client.room.title) || "") : translate(root, name, values);
  const alerts = new RoomAlerts(page, text);
  client.on("message", (frame) => alerts.message(frame, client.you, client.room ? client.room.kind : null));
  return alerts;
}

/** The settings page's "Allow desktop notifications" button and what the browser says now. */
export function mountPermission(box, NotificationApi = globalThis.Notification) {
  const button = box.querySelector("[data-livechat-allow-alerts]");
  const state = box.querySelector("[data-livechat-alerts-state]");
  const show = () => {
    const permission = NotificationApi ? NotificationApi.permission : "unsupported";
    if (state) state.textContent = translate(box, permission);
    if (button) button.hidden = permission !== "default";
  };
  if (button && NotificationApi) {
    button.addEventListener("click", async () => {
      try {
        await NotificationApi.requestPermission();
      } catch {
        /* an old browser with the callback form only: the state shows what it decided */
      }
      show();
    });
  }
  show();
}

if (typeof document !== "undefined") {
  const start = () => document.querySelectorAll("[data-livechat-alerts-permission]").forEach((box) => mountPermission(box));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}
