/**
 * What a message object becomes as its `updated` frames and deletions come in (docs/protocol.md,
 * "Message features", "`updated`"): pure functions on the protocol's message objects, free of
 * the DOM and of the socket, so they run under `node --test`.
 */

/** The emoji of the reaction picker. */
export const PICKER_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

/** How long an excerpt of a message is (as the server's `reply_to.excerpt`). */
export const EXCERPT_LENGTH = 140;

/**
 * The emoji the reader gave, from reactions that carry `mine` (welcome, backlog, history).
 * @param {{emoji: string, mine?: boolean}[]|undefined} reactions
 * @returns {Set<string>}
 */
export function mineOf(reactions) {
  return new Set((reactions || []).filter((r) => r && r.mine).map((r) => r.emoji));
}

/**
 * Reactions with `mine` set from a set of emoji (only for the emoji still there).
 * @param {{emoji: string, count: number}[]|undefined} reactions
 * @param {Set<string>} mine
 * @returns {{emoji: string, count: number, mine?: true}[]}
 */
export function withMine(reactions, mine) {
  return (reactions || [])
    .filter((r) => r && typeof r.emoji === "string" && r.count > 0)
    .map((r) => {
      const { mine: _ignored, ...rest } = r;
      return mine.has(r.emoji) ? { ...rest, mine: true } : rest;
    });
}

/**
 * The message after an `updated` frame: its content is the frame's message (body, rich,
 * edited, reactions, attachments, mentions, reply_to: a field absent there is gone); the
 * reader's own reactions are kept from `current`, changed by the frame's `reacted` entries that
 * are the reader's (another tab of theirs), and dropped for emoji no longer there (a moderator
 * took them away).
 * @param {object|undefined} current the message as shown (with `mine`), if it is
 * @param {{message: object, reacted?: {user: {id: string}, emoji: string, on?: boolean}[]}} frame
 * @param {string|null} youId the reader's identity id
 * @returns {object}
 */
export function applyUpdate(current, frame, youId) {
  const mine = mineOf(current && current.reactions);
  for (const reaction of Array.isArray(frame.reacted) ? frame.reacted : []) {
    if (!reaction || !reaction.user || !youId || reaction.user.id !== youId) continue;
    if (typeof reaction.emoji !== "string") continue;
    if (reaction.on === false) mine.delete(reaction.emoji);
    else mine.add(reaction.emoji);
  }
  const next = { ...frame.message };
  if (current && current.client_id && !next.client_id) next.client_id = current.client_id;
  if (Array.isArray(next.reactions)) next.reactions = withMine(next.reactions, mine);
  return next;
}

/**
 * The message after the message it answers was deleted: its quote says "deleted message".
 * @param {object} message
 * @param {number} deletedId
 * @returns {object} the same object when it does not answer that one
 */
export function markReplyDeleted(message, deletedId) {
  if (!message || !message.reply_to || message.reply_to.id !== deletedId || message.reply_to.deleted) return message;
  return { ...message, reply_to: { id: deletedId, deleted: true } };
}

/**
 * The start of a body on one line, at most EXCERPT_LENGTH characters (what a reply quotes).
 * @param {string} body
 * @returns {string}
 */
export function excerpt(body) {
  const line = String(body || "").replace(/\s+/g, " ").trim();
  const chars = [...line];
  return chars.length > EXCERPT_LENGTH ? `${chars.slice(0, EXCERPT_LENGTH - 1).join("")}…` : line;
}

/**
 * Whether a message mentions the reader.
 * @param {{mentions?: {id: string}[]}} message
 * @param {string|null} youId
 */
export function mentionsYou(message, youId) {
  return Boolean(youId && Array.isArray(message.mentions) && message.mentions.some((m) => m && m.id === youId));
}

/**
 * Until when (ms since the epoch) the reader may edit a message: its own, within the window
 * after it was sent; 0 when not.
 * @param {{author?: {id: string, kind?: string}, created?: string, id?: number}} message
 * @param {string|null} youId
 * @param {number} windowSeconds EDIT_WINDOW
 * @returns {number}
 */
export function editableUntil(message, youId, windowSeconds) {
  if (!youId || !message.author || message.author.id !== youId || message.id === undefined) return 0;
  const created = Date.parse(message.created || "");
  if (Number.isNaN(created) || !(windowSeconds > 0)) return 0;
  return created + windowSeconds * 1000;
}

/** EDIT_WINDOW when the page does not say (`data-edit-window` of the message list). */
export const DEFAULT_EDIT_WINDOW = 900;

/**
 * The page's edit rules, from the message list's data attributes (`data-edit-window`,
 * `data-edit-by-moderators`: EDIT_WINDOW and EDIT_BY_MODERATORS, from `livechat_limits`).
 * @param {DOMStringMap|object|undefined} dataset
 * @returns {{windowSeconds: number, byModerators: boolean}}
 */
export function editRules(dataset) {
  const data = dataset || {};
  return {
    windowSeconds: Number(data.editWindow) || DEFAULT_EDIT_WINDOW,
    byModerators: data.editByModerators === "true",
  };
}

/**
 * Whether the welcome's `you` moderates the room: staff (`is_staff`), or one of its owners or
 * moderators (`role`).
 * @param {{is_staff?: boolean, role?: string}|null} you
 */
export function moderates(you) {
  return Boolean(you && (you.is_staff || you.role === "owner" || you.role === "moderator"));
}

/**
 * Until when (ms since the epoch) the reader may edit a message: their own within the edit
 * window (editableUntil); with EDIT_BY_MODERATORS, anyone else's at any time (Infinity) when
 * they moderate the room (the server checks again); 0 when not.
 * @param {{author?: {id: string}, created?: string, id?: number}} message
 * @param {{id: string, is_staff?: boolean, role?: string}|null} you the welcome's `you`
 * @param {{windowSeconds: number, byModerators: boolean}} rules editRules
 * @returns {number}
 */
export function editUntil(message, you, rules) {
  const youId = you ? you.id : null;
  if (!youId || message.id === undefined) return 0;
  if (message.author && message.author.id === youId) return editableUntil(message, youId, rules.windowSeconds);
  return rules.byModerators && moderates(you) ? Infinity : 0;
}

/**
 * A byte count for people: "512 B", "48.2 kB", "3.1 MB", in the page's language.
 * @param {number} bytes
 * @param {string} [locale]
 * @returns {string}
 */
export function humanSize(bytes, locale) {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"];
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  try {
    return new Intl.NumberFormat(locale, {
      style: "unit",
      unit: units[unit],
      unitDisplay: unit === 0 ? "long" : "short", // "125 bytes", "1.2 MB" ("125 byte" short)
      maximumFractionDigits: unit === 0 ? 0 : 1,
    }).format(value);
  } catch {
    return `${Math.round(value * 10) / 10} ${["B", "kB", "MB", "GB"][unit]}`;
  }
}
