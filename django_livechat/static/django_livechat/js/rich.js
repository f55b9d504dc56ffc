/**
 * A message's body on the page (docs/protocol.md, "Message features"): the `rich` node tree the
 * server parsed from it, or the body as plain text, with `@username` of the mentioned users
 * highlighted. DOM calls only: `createElement` of the allowlisted tags, text nodes for strings;
 * never HTML. The document is passed in, so this runs under `node --test` with a fake one.
 */

/** The tags a `rich` tree may create; any other node's text is kept, without an element. */
export const RICH_TAGS = new Set(["p", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "br", "a"]);
/** The `rel` of every link of a message. */
export const LINK_REL = "nofollow noopener noreferrer";
/** Deeper nesting is shown as its text: a hostile tree cannot exhaust the stack. */
export const MAX_DEPTH = 32;
/** Inside these, `@name` is code, not a mention. */
const VERBATIM = new Set(["code", "pre"]);

/**
 * The URL of a link, if it is `http:` or `https:` (checked again here, whatever the server
 * said), else null.
 * @param {unknown} href
 * @returns {string|null} the URL as the browser parses it
 */
export function safeHttpUrl(href) {
  if (typeof href !== "string" || !/^https?:/i.test(href)) return null;
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * A same-site path ("/chat/...") or an http(s) URL, for attachments' links and images; else null.
 * @param {unknown} value
 * @returns {string|null}
 */
export function safeResourceUrl(value) {
  if (typeof value !== "string") return null;
  if (/^\/(?![/\\])/.test(value)) return value;
  return safeHttpUrl(value);
}

/**
 * A matcher of `@username` for the given mentions (longest names first), or null for none.
 * @param {{id: string, username: string}[]|undefined} mentions
 * @returns {RegExp|null}
 */
export function mentionPattern(mentions) {
  const names = (mentions || [])
    .map((mention) => mention && mention.username)
    .filter((name) => typeof name === "string" && name)
    .sort((a, b) => b.length - a.length)
    .map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!names.length) return null;
  return new RegExp(`(^|[^\\w@.+-])@(${names.join("|")})(?![\\w@.+-]*[\\w])`, "giu");
}

/**
 * Split a text into strings and mentions.
 * @param {string} text
 * @param {{id: string, username: string}[]|undefined} mentions
 * @returns {(string|{mention: {id: string, username: string}, text: string})[]}
 */
export function splitMentions(text, mentions) {
  const pattern = mentionPattern(mentions);
  if (!pattern) return [text];
  const byName = new Map(mentions.map((m) => [String(m.username).toLowerCase(), m]));
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const start = match.index + match[1].length;
    if (start > last) parts.push(text.slice(last, start));
    parts.push({ mention: byName.get(match[2].toLowerCase()), text: `@${match[2]}` });
    last = start + 1 + match[2].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/**
 * Render a message body into `parent` (which is emptied first): its `rich` tree when there is
 * one, else its body as text.
 * @param {Document} doc
 * @param {Element} parent
 * @param {{body?: string, rich?: unknown, mentions?: {id: string, username: string}[]}} message
 * @param {{you?: string|null}} [options] `you`: the reader's identity id (their mentions get
 *   `livechat-mention-you`)
 */
export function renderBody(doc, parent, message, { you = null } = {}) {
  parent.replaceChildren();
  const context = { doc, mentions: Array.isArray(message.mentions) ? message.mentions : [], you };
  if (Array.isArray(message.rich)) appendNodes(context, parent, message.rich, 0, false);
  else appendText(context, parent, typeof message.body === "string" ? message.body : "", false);
}

function appendNodes(context, parent, nodes, depth, verbatim) {
  for (const node of nodes) appendNode(context, parent, node, depth, verbatim);
}

function appendNode(context, parent, node, depth, verbatim) {
  if (typeof node === "string") return appendText(context, parent, node, verbatim);
  if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
  const children = Array.isArray(node.c) ? node.c : [];
  if (depth >= MAX_DEPTH) return appendText(context, parent, textOf(children, 0), verbatim);
  const tag = typeof node.t === "string" ? node.t : "";
  let element = null;
  if (tag === "a") {
    const href = safeHttpUrl(node.href);
    if (href) {
      element = context.doc.createElement("a");
      element.setAttribute("href", href);
      element.setAttribute("rel", LINK_REL);
      element.setAttribute("target", "_blank");
    }
  } else if (RICH_TAGS.has(tag)) {
    element = context.doc.createElement(tag);
    if (tag === "br") return parent.appendChild(element);
    if (tag === "ol" && Number.isSafeInteger(node.start) && node.start !== 1) element.setAttribute("start", String(node.start));
  }
  const inner = verbatim || VERBATIM.has(tag);
  if (!element) return appendNodes(context, parent, children, depth + 1, inner); // its text only
  appendNodes(context, element, children, depth + 1, inner);
  return parent.appendChild(element);
}

/** A string: text, with the mentions as highlighted spans (not inside code). */
function appendText(context, parent, text, verbatim) {
  const parts = verbatim ? [text] : splitMentions(text, context.mentions);
  for (const part of parts) {
    if (typeof part === "string") {
      if (part) parent.appendChild(context.doc.createTextNode(part));
      continue;
    }
    const span = context.doc.createElement("span");
    span.className = "livechat-mention";
    if (part.mention && part.mention.id === context.you) span.className += " livechat-mention-you";
    if (part.mention) span.dataset.user = String(part.mention.id);
    span.textContent = part.text;
    parent.appendChild(span);
  }
}

/** The text of nodes, flattened (what a too deep tree shows). */
export function textOf(nodes, depth = 0) {
  if (!Array.isArray(nodes) || depth > 1000) return "";
  return nodes
    .map((node) => (typeof node === "string" ? node : node && typeof node === "object" ? textOf(node.c, depth + 1) : ""))
    .join("");
}
