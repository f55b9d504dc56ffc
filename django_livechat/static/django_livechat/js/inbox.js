/**
 * django-livechat's inbox ("my chats", an ES module, no build step): the entry point of
 * inbox.html. `InboxModel` holds the rooms, free of the DOM; `InboxClient` is the socket
 * (`ws/livechat/inbox/`, a `Connection`: it reconnects with backoff and pings); `InboxView`
 * renders the list from the page's `<template data-inbox-item>`, texts with textContent only.
 *
 * Frames (docs/protocol.md, "The inbox"): `inbox` (the whole list), `listed` (a room added or
 * refreshed), `activity` (a room's newest message), `seen` (the user read a room somewhere),
 * `renamed` (a room's new title), `unlisted` (a room taken away). The unread count is `last_id - last_read`;
 * `mentions` counts the unread messages that mention the user (`activity.mentions` adds to it).
 */

import { InboxAlerts, pageAlerts } from "./alerts.js";
import { Connection } from "./connection.js";
import { translate } from "./i18n.js";

/** Close codes after which the inbox does not reconnect: logged out, refused. */
export const INBOX_FINAL_CLOSE_CODES = new Set([4401, 4403]);
/** Users typed into the direct-message box: suggestions are fetched after this pause. */
const SUGGEST_DELAY_MS = 250;

/** The rooms of an inbox, newest activity first. */
export class InboxModel {
  constructor() {
    /** @type {Map<string, object>} slug -> entry */
    this.entries = new Map();
    /** `activity` frames of rooms not listed yet (listed by a frame still on its way). */
    this.early = new Map();
    this.you = null;
  }

  /** @param {object[]} rooms @param {object|null} you */
  replace(rooms, you) {
    this.you = you || null;
    this.entries = new Map();
    for (const entry of rooms || []) this.put(entry);
  }

  /** A room added or refreshed; an activity that came before it is applied. */
  put(entry) {
    if (!entry || typeof entry.slug !== "string") return;
    const known = this.entries.get(entry.slug);
    const fresh = { ...entry };
    if (known && known.last_id > fresh.last_id) Object.assign(fresh, pick(known, "last_id", "last", "activity"));
    if (known && known.last_read > fresh.last_read) fresh.last_read = known.last_read;
    this.entries.set(entry.slug, fresh);
    this.count(fresh);
    const early = this.early.get(entry.slug);
    if (early) {
      this.early.delete(entry.slug);
      this.activity(early);
    }
  }

  /** @returns {boolean} whether the list changed */
  activity(frame) {
    const entry = this.entries.get(frame.room);
    if (!entry) {
      const held = this.early.get(frame.room);
      if (!held || held.last_id < frame.last_id) this.early.set(frame.room, frame);
      return false;
    }
    if (!(frame.last_id > entry.last_id)) return false;
    entry.last_id = frame.last_id;
    entry.last = frame.last || null;
    if (entry.last && entry.last.created) entry.activity = entry.last.created;
    // The messages since the last activity that mention the user: their id once per message.
    const mine = this.you ? (Array.isArray(frame.mentions) ? frame.mentions : []).filter((id) => id === this.you.id) : [];
    entry.mentions = (entry.mentions || 0) + mine.length;
    // One's own message: read up to it (the server moves the read position too).
    if (this.you && entry.last && entry.last.author && entry.last.author.id === this.you.id) entry.last_read = entry.last_id;
    this.count(entry);
    return true;
  }

  /** @returns {boolean} whether the list changed */
  seen(frame) {
    const entry = this.entries.get(frame.room);
    if (!entry || !(frame.last_read > entry.last_read)) return false;
    entry.last_read = frame.last_read;
    this.count(entry);
    return true;
  }

  /** @returns {boolean} whether the list changed (a direct room keeps the other's name) */
  rename(frame) {
    const entry = this.entries.get(frame.room);
    if (!entry || entry.kind === "direct" || typeof frame.title !== "string") return false;
    entry.title = frame.title;
    return true;
  }

  /** @returns {boolean} whether the list changed */
  remove(slug) {
    this.early.delete(slug);
    return this.entries.delete(slug);
  }

  /** The unread count; mentions are all read once everything is. */
  count(entry) {
    entry.unread = Math.max(0, (entry.last_id || 0) - (entry.last_read || 0));
    entry.mentions = entry.unread ? Math.max(0, Number(entry.mentions) || 0) : 0;
  }

  /** @returns {object[]} newest activity first */
  list() {
    return [...this.entries.values()].sort((a, b) => String(b.activity || "").localeCompare(String(a.activity || "")));
  }

  /** @returns {number} unread mentions of the user in all rooms */
  mentions() {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.mentions || 0;
    return total;
  }

  /** @returns {number} unread messages in all rooms */
  unread() {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.unread || 0;
    return total;
  }
}

function pick(object, ...keys) {
  const out = {};
  for (const key of keys) out[key] = object[key];
  return out;
}

/** The inbox socket: frames into the model, the model to the view (`render(entries)`). */
export class InboxClient extends Connection {
  constructor(options) {
    super(options, INBOX_FINAL_CLOSE_CODES);
    this.model = new InboxModel();
  }

  render() {
    this.call("render", this.model.list());
  }

  on_inbox(frame) {
    this.model.replace(Array.isArray(frame.rooms) ? frame.rooms : [], frame.you);
    this.opened();
    this.render();
  }

  on_listed(frame) {
    this.model.put(frame.room);
    this.render();
  }

  on_activity(frame) {
    if (!this.model.activity(frame)) return;
    this.render();
    this.call("alert", frame, this.model.entries.get(frame.room), this.model.you);
  }

  on_seen(frame) {
    if (this.model.seen(frame)) this.render();
  }

  on_renamed(frame) {
    if (this.model.rename(frame)) this.render();
  }

  on_unlisted(frame) {
    if (this.model.remove(frame.room)) this.render();
  }
}

/** The inbox page: the list, the connection state, the direct-message suggestions. */
export class InboxView {
  /** @param {HTMLElement} root the `[data-livechat-inbox]` element */
  constructor(root) {
    this.root = root;
    this.list = root.querySelector("[data-inbox-list]");
    this.item = root.querySelector("template[data-inbox-item]");
    this.status = root.querySelector("[data-inbox-status]");
    this.empty = root.querySelector("[data-inbox-empty]");
    this.search = root.querySelector("[data-inbox-search]");
    this.suggestions = root.querySelector("[data-inbox-suggestions]");
    this.formatter = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
    this.suggestTimer = null;
    const page = pageAlerts();
    this.alerts = page ? new InboxAlerts(page, (name, values) => this.text(name, values)) : null;
  }

  /** A room's new activity: a desktop notification of a direct message or a mention. */
  alert(frame, entry, you) {
    if (this.alerts) this.alerts.activity(frame, entry, you);
  }

  text(name, values) {
    return translate(this.root, name, values);
  }

  start() {
    this.client = new InboxClient({ path: this.root.dataset.wsPath, view: this });
    this.client.connect();
    this.localizeTimes(this.root);
    if (this.search && this.suggestions) this.search.addEventListener("input", () => this.suggestLater());
  }

  setState(state) {
    this.root.dataset.state = state;
    if (!this.status) return;
    const name = state === "online" ? "online" : state === "closed" ? "closed" : "offline";
    this.status.textContent = this.text(name);
  }

  /** @param {object[]} entries newest activity first */
  render(entries) {
    if (!this.list || !this.item) return;
    const items = entries.map((entry) => this.renderItem(entry));
    this.list.replaceChildren(...items);
    if (this.empty) this.empty.hidden = entries.length > 0;
    const unread = entries.reduce((n, e) => n + (e.unread || 0), 0);
    this.root.dataset.unread = String(unread);
    if (this.alerts) this.alerts.update(unread); // "(3) My chats"
  }

  renderItem(entry) {
    const node = this.item.content.firstElementChild.cloneNode(true);
    const slot = (name) => node.querySelector(`[data-slot="${name}"]`);
    node.dataset.room = entry.slug;
    node.dataset.kind = entry.kind;
    node.toggleAttribute("data-has-unread", entry.unread > 0);
    const link = slot("link");
    link.setAttribute("href", String(entry.url || ""));
    slot("title").textContent = entry.title || entry.slug;
    slot("kind").textContent = this.text(`kind-${entry.kind}`);
    const unread = slot("unread");
    unread.dataset.unread = String(entry.unread || 0);
    unread.textContent = this.text("unread", { n: entry.unread || 0 });
    unread.hidden = !(entry.unread > 0);
    const mentions = slot("mentions");
    if (mentions) {
      mentions.dataset.mentions = String(entry.mentions || 0);
      mentions.textContent = this.text("mentions", { n: entry.mentions || 0 });
      mentions.hidden = !(entry.mentions > 0);
    }
    node.toggleAttribute("data-has-mentions", entry.mentions > 0);
    slot("author").textContent = entry.last && entry.last.author ? entry.last.author.name : "";
    slot("excerpt").textContent = entry.last ? entry.last.excerpt : this.text("deleted");
    const time = slot("time");
    time.setAttribute("datetime", String(entry.activity || ""));
    this.localizeTimes(node);
    return node;
  }

  localizeTimes(scope) {
    for (const time of scope.querySelectorAll("time[datetime]")) {
      const when = new Date(time.getAttribute("datetime"));
      time.textContent = Number.isNaN(when.getTime()) ? "" : this.formatter.format(when);
    }
  }

  suggestLater() {
    clearTimeout(this.suggestTimer);
    this.suggestTimer = setTimeout(() => this.suggest(), SUGGEST_DELAY_MS);
  }

  /** Fill the datalist with the users the site lets one message (`livechat:users`). */
  async suggest() {
    const form = this.search.form;
    const url = form && form.dataset.usersUrl;
    if (!url) return;
    try {
      const response = await fetch(`${url}?q=${encodeURIComponent(this.search.value)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const data = await response.json();
      const options = (data.users || []).map((user) => {
        const option = document.createElement("option");
        option.value = user.username;
        option.textContent = user.name;
        return option;
      });
      this.suggestions.replaceChildren(...options);
    } catch {
      // offline: no suggestions; the form still works
    }
  }
}

if (typeof document !== "undefined") {
  const start = () => {
    const root = document.querySelector("[data-livechat-inbox]");
    if (root && !root.livechatInbox) {
      root.livechatInbox = new InboxView(root);
      root.livechatInbox.start();
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}
