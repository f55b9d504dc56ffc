/**
 * What the staff console shows, free of the DOM: the conversation queue (order, unread counts,
 * waiting times), staff rows, which actions apply, and room paths. Runs under `node --test`.
 */

import { fill } from "./i18n.js";

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
 * The content a moderator may take off a message, where the delete rule (moderationFor) allows
 * it: its reactions (`unreact`, when it has any) and each of its files (`remove_attachment`).
 * @param {{reactions?: {count: number}[], attachments?: {id: number}[]}} message
 * @param {{delete: boolean}} allowed moderationFor's answer
 * @returns {{unreact: boolean, files: number[]}}
 */
export function removals(message, allowed) {
  if (!allowed.delete) return { unreact: false, files: [] };
  const reactions = Array.isArray(message.reactions) ? message.reactions : [];
  const files = Array.isArray(message.attachments) ? message.attachments : [];
  return {
    unreact: reactions.some((r) => r && r.count > 0),
    files: files.filter((f) => f && Number.isSafeInteger(f.id)).map((f) => f.id),
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

// -- the history of an edited message --------------------------------------------------------

/** The slug placeholder of the console's `data-revisions-url` (`{% url 'livechat:revisions' '__slug__' 0 %}`). */
export const SLUG_PLACEHOLDER = "__slug__";
/** The message id placeholder there: the path segment `/0/` after the slug. */
export const ID_SEGMENT = "/0/";

/**
 * The URL of message `id`'s revisions (`livechat:revisions`) from the page's pattern: the last
 * `__slug__` becomes the slug (encoded), then the first `/0/` after it becomes `/<id>/` (a
 * `/0/` in the site's prefix, before the slug, stays).
 * @param {string} pattern e.g. "/chat/rooms/__slug__/messages/0/revisions/"
 * @param {string} slug
 * @param {number} id
 * @returns {string|null} null when the pattern lacks a placeholder or `id` is no message id
 */
export function revisionsUrl(pattern, slug, id) {
  if (typeof pattern !== "string" || !slug || !Number.isSafeInteger(id) || id < 0) return null;
  const at = pattern.lastIndexOf(SLUG_PLACEHOLDER);
  if (at < 0) return null;
  const rest = pattern.slice(at + SLUG_PLACEHOLDER.length);
  const idAt = rest.indexOf(ID_SEGMENT);
  if (idAt < 0) return null;
  return (
    pattern.slice(0, at) +
    encodeURIComponent(slug) +
    rest.slice(0, idAt) +
    `/${id}/` +
    rest.slice(idAt + ID_SEGMENT.length)
  );
}

/**
 * The names the console knows, by identity id: the staff, the conversation's visitor and the
 * authors of the messages shown (later sources win; empty names are skipped).
 * @param {...Iterable<{id?: string, name?: string}|null|undefined>} sources
 * @returns {Map<string, string>}
 */
export function knownNames(...sources) {
  const names = new Map();
  for (const source of sources) {
    for (const who of source || []) {
      if (who && typeof who.id === "string" && who.id && typeof who.name === "string" && who.name) {
        names.set(who.id, who.name);
      }
    }
  }
  return names;
}

/**
 * The rows of a message's history panel from the `livechat:revisions` answer: each earlier
 * body, oldest first, with when it was replaced and by whom (a known name, else the identity
 * id as it is), then the current body with the time of the last edit.
 * @param {{body?: string, edited?: string|null, revisions?: {body?: string, replaced?: string, by?: string}[]}} data
 * @param {Map<string, string>} [names] knownNames()
 * @returns {{current: boolean, n: number, body: string, time: string|null, by: string}[]}
 */
export function historyRows(data, names = new Map()) {
  const list = data && Array.isArray(data.revisions) ? data.revisions : [];
  const rows = list
    .filter((r) => r && typeof r === "object")
    .map((r, index) => {
      const id = typeof r.by === "string" ? r.by : "";
      return {
        current: false,
        n: index + 1,
        body: typeof r.body === "string" ? r.body : "",
        time: typeof r.replaced === "string" ? r.replaced : null,
        by: names.get(id) || id,
      };
    });
  rows.push({
    current: true,
    n: rows.length + 1,
    body: data && typeof data.body === "string" ? data.body : "",
    time: data && typeof data.edited === "string" ? data.edited : null,
    by: "",
  });
  return rows;
}
