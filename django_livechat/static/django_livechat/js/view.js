/**
 * The DOM side of a room client: `DomView` renders a `LiveChatClient` (client.js) into the
 * markup of `includes/room_embed.html`, with `textContent` only.
 */

import { translate } from "./i18n.js";
import { editRules, editUntil, humanSize, mentionsYou } from "./message_state.js";
import { renderBody, safeResourceUrl } from "./rich.js";

/**
 * Names shown in the presence list at most (or the welcome's list, if longer): in a big room it
 * is a sample, and the count (`[data-livechat-presence-count]`) tells how many are there.
 */
export const PRESENCE_SHOWN = 100;

/** How long a message one scrolled to stays highlighted. */
export const HIGHLIGHT_MS = 2000;

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
    this.presenceCount = find("[data-livechat-presence-count]");
    this.presenceMax = PRESENCE_SHOWN;
    this.typingLine = find("[data-livechat-typing]");
    this.older = find("[data-livechat-older]");
    this.notice = find("[data-livechat-notice]");
    this.form = find("[data-livechat-form]");
    this.input = find("[data-livechat-input]");
    this.submit = this.form ? this.form.querySelector('[type="submit"]') : null;
    this.template = find("template[data-livechat-message-template]");
    this.lock = find("[data-livechat-lock]");
    this.locale = pageLocale(root);
    this.editRules = editRules(this.list && this.list.dataset); // EDIT_WINDOW, EDIT_BY_MODERATORS
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
    const body = field("body");
    if (body && typeof document !== "undefined") renderBody(document, body, message, { you: this.youId() });
    else if (body) body.textContent = message.body;
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
    item.livechatMessage = message;
    if (typeof document !== "undefined") this.fillFeatures(item, message, pending, field);
  }

  /** The reader's identity id, once the welcome told it. */
  youId() {
    return this.you ? this.you.id : null;
  }

  /**
   * The message features of an item: the quote of the message it answers, "(edited)", the
   * attachments, the reactions, the mention highlight and the actions (reply, react, edit).
   */
  fillFeatures(item, message, pending, field) {
    item.classList.toggle("livechat-mentioned", mentionsYou(message, this.youId()));
    this.fillQuote(field("quote"), message.reply_to);
    const edited = field("edited");
    if (edited) {
      edited.hidden = !message.edited;
      const when = message.edited ? new Date(message.edited) : null;
      edited.title = when && !Number.isNaN(when.getTime()) ? this.text("edited-title", { time: when.toLocaleString(this.locale) }) : "";
    }
    this.fillAttachments(field("attachments"), message.attachments);
    this.fillReactions(field("reactions"), pending ? [] : message.reactions);
    const actions = field("actions");
    if (actions) actions.hidden = pending || message.id === undefined;
    this.fillEdit(item, message, pending);
  }

  /** The quote of the message this one answers ("deleted message" when it is gone). */
  fillQuote(quote, reply) {
    if (!quote) return;
    quote.hidden = !reply || typeof reply.id !== "number";
    if (quote.hidden) return;
    quote.dataset.replyTo = String(reply.id);
    const author = quote.querySelector('[data-field="quote-author"]');
    const text = quote.querySelector('[data-field="quote-excerpt"]');
    const gone = Boolean(reply.deleted);
    quote.classList.toggle("livechat-quote-deleted", gone);
    if (author) author.textContent = gone || !reply.author ? "" : reply.author.name;
    if (text) text.textContent = gone ? this.text("deleted-message") : reply.excerpt || "";
  }

  /** Images as their thumbnails linking to the file, other files as a download link. */
  fillAttachments(list, attachments) {
    if (!list) return;
    list.replaceChildren();
    for (const file of Array.isArray(attachments) ? attachments : []) {
      const url = file && safeResourceUrl(file.url);
      if (!url) continue;
      const li = document.createElement("li");
      if (Number.isSafeInteger(file.id)) li.dataset.attachment = String(file.id);
      const link = document.createElement("a");
      link.href = url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      const name = String(file.name || "");
      const thumbnail = safeResourceUrl(file.thumbnail);
      if (thumbnail) {
        li.className = "livechat-attachment livechat-attachment-image";
        const img = document.createElement("img");
        img.src = thumbnail;
        img.alt = name;
        img.loading = "lazy";
        const [width, height] = fitted(file.width, file.height);
        if (width && height) {
          img.width = width;
          img.height = height;
        }
        link.appendChild(img);
      } else {
        li.className = "livechat-attachment livechat-attachment-file";
        link.setAttribute("download", name);
        link.textContent = `${name} (${humanSize(file.size, this.locale)})`;
      }
      li.appendChild(link);
      list.appendChild(li);
    }
    list.hidden = list.children.length === 0;
  }

  /** The reaction chips: emoji and count, pressed when the reader gave it; a click toggles. */
  fillReactions(box, reactions) {
    if (!box) return;
    box.replaceChildren();
    for (const reaction of Array.isArray(reactions) ? reactions : []) {
      if (!reaction || typeof reaction.emoji !== "string" || !(reaction.count > 0)) continue;
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "livechat-reaction";
      chip.classList.toggle("livechat-reaction-mine", Boolean(reaction.mine));
      chip.dataset.emoji = reaction.emoji;
      chip.setAttribute("aria-pressed", reaction.mine ? "true" : "false");
      const count = Number(reaction.count).toLocaleString(this.locale);
      chip.setAttribute("aria-label", this.text("reaction-label", { emoji: reaction.emoji, n: count }));
      const emoji = document.createElement("span");
      emoji.className = "livechat-reaction-emoji";
      emoji.textContent = reaction.emoji;
      const number = document.createElement("span");
      number.className = "livechat-reaction-count";
      number.textContent = count;
      chip.append(emoji, number);
      box.appendChild(chip);
    }
    box.hidden = box.children.length === 0;
  }

  /**
   * The "Edit" action: on one's own messages, until EDIT_WINDOW is over (then hidden); with
   * EDIT_BY_MODERATORS, on everyone's for staff and the room's owners and moderators.
   */
  fillEdit(item, message, pending) {
    const button = item.querySelector('[data-action="edit"]');
    if (!button) return;
    clearTimeout(item.livechatEditTimer);
    const until = pending ? 0 : editUntil(message, this.you, this.editRules);
    const left = until - Date.now();
    button.hidden = !(left > 0);
    if (left > 0 && Number.isFinite(left)) item.livechatEditTimer = setTimeout(() => (button.hidden = true), Math.min(left, 2 ** 31 - 1));
  }

  /** A shown message changed (`updated`): fill its item again; one not shown is dropped. */
  updateMessage(message) {
    const item = this.list.querySelector(`li[data-id="${Number(message.id)}"]`);
    if (item) this.fill(item, message, false);
  }

  /** The message object shown with id `id`, if it is shown. */
  message(id) {
    const item = this.list.querySelector(`li[data-id="${Number(id)}"]`);
    return item && item.livechatMessage ? item.livechatMessage : undefined;
  }

  /** Message `id` was deleted: the quotes of it say "deleted message". */
  markReplyDeleted(id) {
    for (const item of this.list.querySelectorAll("li")) {
      const message = item.livechatMessage;
      if (!message || !message.reply_to || message.reply_to.id !== id) continue;
      item.livechatMessage = { ...message, reply_to: { id, deleted: true } };
      this.fillQuote(item.querySelector('[data-field="quote"]'), item.livechatMessage.reply_to);
    }
  }

  /** Scroll to message `id` (shown) and highlight it for a moment. */
  revealMessage(id) {
    const item = this.list.querySelector(`li[data-id="${Number(id)}"]`);
    if (!item) return;
    item.scrollIntoView({ block: "center", behavior: "smooth" });
    item.classList.add("livechat-highlight");
    clearTimeout(item.livechatHighlightTimer);
    item.livechatHighlightTimer = setTimeout(() => item.classList.remove("livechat-highlight"), HIGHLIGHT_MS);
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

  /** The welcome's list: everyone, or a sample of a big room. */
  setPresence(users) {
    if (!this.presence) return;
    this.presenceMax = Math.max(PRESENCE_SHOWN, users.length);
    this.presence.replaceChildren();
    for (const user of users) this.addPresence(user);
  }

  /** Someone joined: shown while the list has room (a sample of a big room stays a sample). */
  addPresence(user) {
    if (!this.presence || this.presence.children.length >= this.presenceMax) return;
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

  /** How many identities are in the room in all ("12 here"), in the page's language. */
  setPresenceCount(count) {
    if (!this.presenceCount) return;
    this.presenceCount.textContent = this.text("presence-count", { n: Number(count).toLocaleString(this.locale) });
  }

  showTyping(names) {
    if (!this.typingLine) return;
    const name = names.length === 1 ? "typing-one" : "typing-many";
    this.typingLine.textContent = names.length ? this.text(name, { names: names.join(", ") }) : "";
  }

  setOlder(visible) {
    if (this.older) this.older.hidden = !visible;
  }

  /** Another identity (`user`) read up to `lastRead`: mark our own messages up to it as seen. */
  markSeen(user, lastRead) {
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

/** An image's size within the thumbnail's bounds (400x400), keeping its ratio. */
function fitted(width, height, max = 400) {
  const w = Number(width);
  const h = Number(height);
  if (!(w > 0 && h > 0)) return [0, 0];
  const scale = Math.min(1, max / Math.max(w, h));
  return [Math.round(w * scale), Math.round(h * scale)];
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
