// Unit tests of the message features on the client: node --test tests/js/ (Node 20, no packages).
// The rich renderer runs against a tiny fake document that records every element created.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LiveChatClient } from "../../django_livechat/static/django_livechat/js/client.js";
import { attachmentsUrl, csrfToken, uploadFile } from "../../django_livechat/static/django_livechat/js/composer.js";
import { InboxModel } from "../../django_livechat/static/django_livechat/js/inbox.js";
import {
  applyUpdate,
  editableUntil,
  excerpt,
  humanSize,
  markReplyDeleted,
  mentionsYou,
  mineOf,
} from "../../django_livechat/static/django_livechat/js/message_state.js";
import {
  LINK_REL,
  MAX_DEPTH,
  RICH_TAGS,
  renderBody,
  safeHttpUrl,
  splitMentions,
} from "../../django_livechat/static/django_livechat/js/rich.js";
import { FakeSocket, FakeStorage, FakeTimers, fakeView } from "./fakes.mjs";

// -- a fake document ----------------------------------------------------------------------------

class FakeNode {
  constructor(tagName) {
    this.tagName = tagName;
    this.childNodes = [];
    this.attributes = {};
    this.dataset = {};
    this.className = "";
    this.text = "";
  }

  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }

  appendChild(child) {
    this.childNodes.push(child);
    return child;
  }

  replaceChildren() {
    this.childNodes = [];
  }

  set textContent(value) {
    this.childNodes = [];
    this.text = String(value);
  }

  get textContent() {
    if (this.tagName === "#text") return this.text;
    return this.text + this.childNodes.map((c) => c.textContent).join("");
  }

  /** Every element below (not text), depth first. */
  elements() {
    return this.childNodes.filter((c) => c.tagName !== "#text").flatMap((c) => [c, ...c.elements()]);
  }

  /** A compact form: ["p", ["strong", "yes"], ", "] */
  shape() {
    if (this.tagName === "#text") return this.text;
    return [this.tagName, ...(this.text ? [this.text] : []), ...this.childNodes.map((c) => c.shape())];
  }
}

function fakeDocument() {
  const created = [];
  return {
    created,
    createElement(tag) {
      const node = new FakeNode(String(tag).toLowerCase());
      created.push(node.tagName);
      return node;
    },
    createTextNode(text) {
      const node = new FakeNode("#text");
      node.text = String(text);
      return node;
    },
  };
}

function render(message, options) {
  const doc = fakeDocument();
  const parent = new FakeNode("div");
  renderBody(doc, parent, message, options);
  return { parent, created: doc.created };
}

// -- the rich renderer --------------------------------------------------------------------------

test("a rich tree becomes elements of the allowlist, strings become text", () => {
  const rich = [
    { t: "p", c: [{ t: "strong", c: ["yes"] }, ", ", { t: "em", c: ["really"] }, { t: "br" }, { t: "s", c: ["no"] }] },
    { t: "pre", c: [{ t: "code", c: ["<img src=x onerror=alert(1)>"] }] },
    { t: "blockquote", c: [{ t: "p", c: ["quoted"] }] },
  ];
  const { parent } = render({ body: "source", rich });
  assert.deepEqual(parent.shape(), [
    "div",
    ["p", ["strong", "yes"], ", ", ["em", "really"], ["br"], ["s", "no"]],
    ["pre", ["code", "<img src=x onerror=alert(1)>"]],
    ["blockquote", ["p", "quoted"]],
  ]);
});

test("tags outside the allowlist create no element and keep their text", () => {
  const rich = [
    { t: "p", c: [{ t: "script", c: ["alert(1)"] }, { t: "img", src: "x", onerror: "alert(1)" }, { t: "IMG", c: ["i"] }] },
    { t: "iframe", c: [{ t: "strong", c: ["inside"] }] },
    { t: "p", onclick: "alert(1)", style: "x", c: ["attrs"] },
    42, null, ["nested array"], { c: ["no tag"] },
  ];
  const { parent, created } = render({ body: "", rich });
  assert.ok(created.every((tag) => RICH_TAGS.has(tag)), created.join(","));
  assert.deepEqual(created, ["p", "strong", "p"]);
  assert.equal(parent.textContent, "alert(1)iinsideattrsno tag");
  for (const element of parent.elements()) assert.deepEqual(element.attributes, {}, element.tagName);
});

test("links are kept for http(s) URLs only, with rel and target, checked again on the client", () => {
  const link = (href) => render({ rich: [{ t: "p", c: [{ t: "a", href, c: ["x"] }] }] });
  const good = link("https://example.com/a?b=1");
  const [a] = good.parent.elements().filter((e) => e.tagName === "a");
  assert.deepEqual(a.attributes, { href: "https://example.com/a?b=1", rel: LINK_REL, target: "_blank" });
  assert.equal(LINK_REL, "nofollow noopener noreferrer");
  for (const bad of [
    "javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)", "\tjavascript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:x", "/relative", "//evil.example", "", null, 7,
    { toString: () => "https://x" }, " http://x",
  ]) {
    const shown = link(bad);
    assert.deepEqual(shown.created, ["p"], String(bad));
    assert.equal(shown.parent.textContent, "x");
  }
  assert.equal(safeHttpUrl('http://x/" onmouseover="alert(1)'), "http://x/%22%20onmouseover=%22alert(1)");
  assert.equal(safeHttpUrl('http://x "onmouseover=alert(1)"'), null, "not a URL");
  assert.equal(safeHttpUrl("http://[bad"), null);
});

test("lists keep their numbering; deep nesting becomes text", () => {
  const { parent } = render({
    rich: [{ t: "ol", start: 3, c: [{ t: "li", c: [{ t: "ul", c: [{ t: "li", c: ["a"] }] }] }] }, { t: "ol", start: "1;x", c: [] }],
  });
  assert.deepEqual(parent.shape(), ["div", ["ol", ["li", ["ul", ["li", "a"]]]], ["ol"]]);
  assert.equal(parent.elements()[0].attributes.start, "3");
  assert.deepEqual(parent.elements().at(-1).attributes, {});
  let deep = "bottom";
  for (let i = 0; i < MAX_DEPTH + 20; i += 1) deep = { t: "blockquote", c: [deep] };
  const shown = render({ rich: [deep] });
  assert.equal(shown.created.length, MAX_DEPTH);
  assert.equal(shown.parent.textContent, "bottom");
});

test("without rich the body is text; mentions are spans with textContent", () => {
  const mentions = [{ id: "u:9", username: "bob" }, { id: "u:3", username: "ann.b" }];
  const { parent } = render({ body: "<b>hi</b> @bob, @bobby @BOB. x@bob @ann.b", mentions }, { you: "u:9" });
  assert.deepEqual(parent.shape(), [
    "div", "<b>hi</b> ", ["span", "@bob"], ", @bobby ", ["span", "@BOB"], ". x@bob ", ["span", "@ann.b"],
  ]);
  const spans = parent.elements();
  assert.equal(spans[0].className, "livechat-mention livechat-mention-you");
  assert.equal(spans[0].dataset.user, "u:9");
  assert.equal(spans[2].className, "livechat-mention");
  assert.deepEqual(splitMentions("@bob.smith and @bob", [{ id: "u:9", username: "bob" }]), [
    "@bob.smith and ", { mention: { id: "u:9", username: "bob" }, text: "@bob" },
  ]);
  const coded = render({ rich: [{ t: "p", c: [{ t: "code", c: ["@bob"] }, " @bob"] }], mentions });
  assert.deepEqual(coded.parent.shape(), ["div", ["p", ["code", "@bob"], " ", ["span", "@bob"]]]);
  assert.deepEqual(render({ body: "@x.*", mentions: [{ id: "u:1", username: "x.*" }] }).created, ["span"]);
});

// -- message state ------------------------------------------------------------------------------

const ME = "u:1";
const base = {
  id: 7, room: "lobby", author: { id: "u:2", name: "bob", kind: "user" }, body: "hi", created: "2026-12-03T09:00:00+00:00",
  client_id: "c7", reactions: [{ emoji: "👍", count: 2, mine: true }, { emoji: "🎉", count: 1 }],
};

test("an updated frame replaces the content and keeps the reader's own reactions", () => {
  const frame = {
    type: "updated", change: 4, message: { ...base, body: "hi there", edited: "2026-12-03T09:01:00+00:00", reactions: [{ emoji: "👍", count: 3 }, { emoji: "🎉", count: 1 }] },
    reacted: [{ user: { id: "u:5" }, emoji: "👍", on: true }],
  };
  const next = applyUpdate(base, frame, ME);
  assert.equal(next.body, "hi there");
  assert.equal(next.edited, "2026-12-03T09:01:00+00:00");
  assert.deepEqual(next.reactions, [{ emoji: "👍", count: 3, mine: true }, { emoji: "🎉", count: 1 }]);
  assert.deepEqual([...mineOf(base.reactions)], ["👍"], "the shown message is not changed in place");
});

test("the reader's own reaction from another tab changes their set; a removal drops it", () => {
  const on = applyUpdate(base, {
    message: { ...base, reactions: [{ emoji: "👍", count: 2 }, { emoji: "🎉", count: 2 }] },
    reacted: [{ user: { id: ME }, emoji: "🎉", on: true }],
  }, ME);
  assert.deepEqual(on.reactions.map((r) => [r.emoji, r.count, Boolean(r.mine)]), [["👍", 2, true], ["🎉", 2, true]]);
  const off = applyUpdate(on, {
    message: { ...base, reactions: [{ emoji: "🎉", count: 2 }, { emoji: "👍", count: 1 }] },
    reacted: [{ user: { id: ME }, emoji: "👍", on: false }],
  }, ME);
  assert.deepEqual(off.reactions, [{ emoji: "🎉", count: 2, mine: true }, { emoji: "👍", count: 1 }]);
  // a moderator's unreact: the emoji is gone, and with it the reader's own mark
  const removed = applyUpdate(off, { message: { ...base, reactions: [{ emoji: "👍", count: 1 }] } }, ME);
  assert.deepEqual(removed.reactions, [{ emoji: "👍", count: 1 }]);
  const back = applyUpdate(removed, { message: { ...base, reactions: [{ emoji: "🎉", count: 1 }] } }, ME);
  assert.deepEqual(back.reactions, [{ emoji: "🎉", count: 1 }], "a mark dropped stays dropped");
  // fields the frame no longer has are gone (a removed attachment, an edit that drops formatting)
  const plain = applyUpdate({ ...base, rich: [{ t: "p", c: ["x"] }], attachments: [{ id: 1 }] }, { message: { id: 7, body: "x" } }, ME);
  assert.equal(plain.rich, undefined);
  assert.equal(plain.attachments, undefined);
  assert.equal(plain.client_id, "c7");
});

test("helpers: quotes of deleted messages, excerpts, mentions, the edit window", () => {
  const reply = { id: 9, reply_to: { id: 7, author: base.author, excerpt: "hi", deleted: false } };
  assert.deepEqual(markReplyDeleted(reply, 7).reply_to, { id: 7, deleted: true });
  assert.equal(markReplyDeleted(reply, 8), reply);
  assert.equal(excerpt("  a\n\n b  "), "a b");
  assert.equal([...excerpt("é".repeat(200))].length, 140);
  assert.ok(mentionsYou({ mentions: [{ id: ME, username: "me" }] }, ME));
  assert.ok(!mentionsYou({ mentions: [{ id: "u:2", username: "x" }] }, ME));
  assert.ok(!mentionsYou({}, ME));
  const mine = { id: 3, author: { id: ME }, created: "2026-12-03T09:00:00+00:00" };
  assert.equal(editableUntil(mine, ME, 900), Date.parse(mine.created) + 900000);
  assert.equal(editableUntil({ ...mine, author: { id: "u:2" } }, ME, 900), 0);
  assert.equal(editableUntil({ ...mine, id: undefined }, ME, 900), 0);
});

// -- the client ---------------------------------------------------------------------------------

const you = { id: ME, name: "me", kind: "user", can_post: true };
const msg = (id, extra = {}) => ({ type: "message", id, room: "lobby", body: `m${id}`, created: "2026-12-03T09:00:00+00:00", author: { id: "u:2", name: "bob", kind: "user" }, client_id: `x${id}`, ...extra });
const welcome = (messages, extra = {}) => ({
  type: "welcome", room: { slug: "lobby", title: "Lobby", kind: "public", locked: false }, you, presence: [you],
  messages, last_id: messages.length ? messages.at(-1).id : 0, has_more: false, last_change: 3, ...extra,
});

function online(messages, extra, storage = new FakeStorage()) {
  FakeSocket.all = [];
  const view = fakeView();
  view.updated = [];
  view.updateMessage = (message) => view.updated.push(message);
  view.revealed = [];
  view.revealMessage = (id) => view.revealed.push(id);
  view.quotesDeleted = [];
  view.markReplyDeleted = (id) => view.quotesDeleted.push(id);
  const client = new LiveChatClient({
    path: "/ws/livechat/rooms/lobby/", view, WebSocket: FakeSocket, storage, timers: new FakeTimers(), random: () => 0.5,
    location: { protocol: "https:", host: "chat.example" },
  });
  client.connect();
  const socket = FakeSocket.all.at(-1);
  socket.receive(welcome(messages, extra));
  return { client, view, socket };
}

test("updated frames reach the view merged; the change number is kept; unknown messages are dropped", () => {
  const { client, view, socket } = online([msg(1, { reactions: [{ emoji: "👍", count: 1, mine: true }] }), msg(2)]);
  socket.receive({ type: "updated", room: "lobby", change: 5, messages: [{ ...msg(1), body: "new", edited: "2026-12-03T09:02:00+00:00", reactions: [{ emoji: "👍", count: 2 }] }], reacted: [{ id: 1, user: { id: "u:4" }, emoji: "👍", on: true }] });
  assert.equal(view.updated.length, 1);
  assert.equal(view.updated[0].body, "new");
  assert.deepEqual(view.updated[0].reactions, [{ emoji: "👍", count: 2, mine: true }]);
  assert.equal(client.messages.get(1).body, "new");
  assert.equal(client.lastChange, 5);
  socket.receive({ type: "updated", room: "lobby", change: 6, messages: [{ ...msg(99) }] });
  assert.equal(view.updated.length, 1, "a message not shown is not drawn");
  assert.equal(client.lastChange, 6);
  socket.serverClose(1006);
  client.timers.advance(20000);
  assert.equal(FakeSocket.all.at(-1).url, "wss://chat.example/ws/livechat/rooms/lobby/?after=2&changes=6");
});

test("a resumed welcome's updated list replaces the messages, with mine; deleted marks quotes", () => {
  const { client, view, socket } = online([msg(1), msg(2, { reply_to: { id: 1, author: { id: "u:2", name: "bob" }, excerpt: "m1", deleted: false } })]);
  socket.serverClose(1006);
  client.timers.advance(20000);
  FakeSocket.all.at(-1).receive(welcome([], {
    last_id: 2, deleted: [], updated: [{ ...msg(2), body: "edited", reactions: [{ emoji: "🎉", count: 1, mine: true }] }],
  }));
  assert.deepEqual(view.updated.map((m) => [m.id, m.body, m.reactions]), [[2, "edited", [{ emoji: "🎉", count: 1, mine: true }]]]);
  view.updated.length = 0;
  client.messages.set(2, { ...client.messages.get(2), reply_to: { id: 1, excerpt: "m1" } });
  FakeSocket.all.at(-1).receive({ type: "deleted", id: 1, room: "lobby", change: 9 });
  assert.ok(!view.shown.has(1));
  assert.deepEqual(view.quotesDeleted, [1]);
  assert.deepEqual(client.messages.get(2).reply_to, { id: 1, deleted: true });
});

test("react and edit send their frames; a reply and attachments go with the message and survive a reload", () => {
  const storage = new FakeStorage();
  const { client, socket, view } = online([msg(1), msg(2)], {}, storage);
  assert.ok(client.react(2, "👍", true));
  assert.ok(client.react(2, "👍", false));
  assert.ok(client.edit(2, "  new text "));
  assert.deepEqual(socket.sent.slice(-3), [
    { type: "react", id: 2, emoji: "👍", on: true },
    { type: "react", id: 2, emoji: "👍", on: false },
    { type: "edit", id: 2, body: "new text" },
  ]);
  assert.equal(client.post("  ", {}), null, "nothing to send");
  const withFiles = client.post("", { attachments: [5, 6] });
  const reply = client.post("sure", { replyTo: 1 });
  assert.deepEqual(socket.frames("message").map(({ body, reply_to, attachments }) => ({ body, reply_to, attachments })), [
    { body: "", reply_to: undefined, attachments: [5, 6] },
    { body: "sure", reply_to: 1, attachments: undefined },
  ]);
  const pending = view.pending.get(reply);
  assert.deepEqual(pending.reply_to, { id: 1, author: msg(1).author, excerpt: "m1" });
  // a reload before the acknowledgements: both are sent again, with their fields
  const again = online([msg(1), msg(2)], {}, storage);
  assert.deepEqual(again.socket.frames("message").map((f) => [f.client_id, f.reply_to, f.attachments]), [
    [withFiles, undefined, [5, 6]],
    [reply, 1, undefined],
  ]);
});

test("revealing a message not shown loads older pages until it is there", () => {
  const { client, socket, view } = online([msg(200), msg(201)], { has_older: true });
  client.reveal(201);
  assert.deepEqual(view.revealed, [201]);
  client.reveal(120);
  const asked = () => socket.frames("history").map((f) => f.before);
  assert.deepEqual(asked(), [200]);
  const page = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => msg(from + i));
  socket.receive({ type: "history", messages: page(150, 199), has_more: true, before: 200, after: null });
  assert.deepEqual(asked(), [200, 150]);
  socket.receive({ type: "history", messages: page(100, 149), has_more: true, before: 150, after: null });
  assert.deepEqual(view.revealed, [201, 120]);
  assert.deepEqual(asked(), [200, 150], "no more pages once it is there");
  client.reveal(1);
  socket.receive({ type: "history", messages: page(60, 99).filter((m) => m.id !== 1), has_more: false, before: 100, after: null });
  assert.deepEqual(view.revealed, [201, 120], "the room has no older one: nothing to scroll to");
  assert.equal(client.revealing, null);
});

// -- uploads ------------------------------------------------------------------------------------

test("uploads post the file with the CSRF token and report the server's error", async () => {
  const calls = [];
  const answer = (status, body) => async (url, init) => {
    calls.push({ url, init });
    return { ok: status < 300, status, json: async () => body };
  };
  const file = new Blob(["hello"], { type: "text/plain" });
  file.name = "a.txt";
  const ok = await uploadFile({ url: "/chat/rooms/lobby/attachments/", file, csrfToken: "tok", fetch: answer(201, { id: 5, name: "a.txt" }) });
  assert.deepEqual(ok, { ok: true, attachment: { id: 5, name: "a.txt" } });
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers["X-CSRFToken"], "tok");
  assert.ok(calls[0].init.body.get("file") instanceof Blob);
  const tooBig = await uploadFile({ url: "/u/", file, csrfToken: "tok", fetch: answer(413, { type: "error", code: "file_too_large", detail: "Too big." }) });
  assert.deepEqual(tooBig, { ok: false, code: "file_too_large", detail: "Too big." });
  const broken = await uploadFile({ url: "/u/", file, csrfToken: "", fetch: async () => { throw new TypeError("offline"); } });
  assert.deepEqual(broken, { ok: false, code: "network", detail: "" });
  const html = await uploadFile({ url: "/u/", file, csrfToken: "", fetch: async () => ({ ok: false, status: 500, json: async () => { throw new SyntaxError("html"); } }) });
  assert.deepEqual(html, { ok: false, code: "http_500", detail: "" });
});

test("the upload URL and CSRF token come from the page", () => {
  assert.equal(attachmentsUrl({ attachmentsUrl: "/chat/rooms/lobby/attachments/" }, "x"), "/chat/rooms/lobby/attachments/");
  assert.equal(attachmentsUrl({ attachmentsUrl: "", attachmentsUrlPattern: "/chat/rooms/__slug__/attachments/" }, "support-1a"), "/chat/rooms/support-1a/attachments/");
  assert.equal(attachmentsUrl({ attachmentsUrlPattern: "/chat/rooms/__slug__/attachments/" }, ""), "");
  assert.equal(csrfToken({ csrfToken: "page" }, "csrftoken=cookie"), "page");
  assert.equal(csrfToken({}, "a=1; csrftoken=cookie%3D; b=2"), "cookie=");
  assert.equal(csrfToken({}, ""), "");
});

// -- the inbox's mentions -----------------------------------------------------------------------

test("the inbox counts mentions of the user and clears them when the room is read", () => {
  const model = new InboxModel();
  const entry = { slug: "team", title: "Team", kind: "private", last_id: 10, last_read: 8, unread: 2, mentions: 1, last: null, activity: "2026-12-03T09:00:00+00:00" };
  model.replace([entry], { id: ME, name: "me" });
  assert.equal(model.entries.get("team").mentions, 1);
  const bob = { id: "u:2", name: "bob" };
  model.activity({ type: "activity", room: "team", last_id: 12, last: { id: 12, author: bob, excerpt: "@me", created: "2026-12-03T09:05:00+00:00" }, mentions: [ME, "u:3", ME] });
  assert.equal(model.entries.get("team").mentions, 3);
  model.activity({ type: "activity", room: "team", last_id: 13, last: { id: 13, author: bob, excerpt: "x", created: "2026-12-03T09:06:00+00:00" } });
  assert.equal(model.entries.get("team").mentions, 3, "no mentions field: nothing added");
  assert.equal(model.mentions(), 3);
  model.seen({ type: "seen", room: "team", last_read: 11 });
  assert.equal(model.entries.get("team").mentions, 3, "still unread messages: kept");
  model.seen({ type: "seen", room: "team", last_read: 13 });
  assert.equal(model.entries.get("team").mentions, 0);
  model.activity({ type: "activity", room: "team", last_id: 14, last: { id: 14, author: { id: ME, name: "me" }, excerpt: "me", created: "2026-12-03T09:07:00+00:00" }, mentions: [ME] });
  assert.equal(model.entries.get("team").mentions, 0, "one's own message: everything is read");
});

test("one updated frame for several messages: each replaced, own reactions by message id", () => {
  const { view, socket } = online([msg(1), msg(2)]);
  socket.receive({
    type: "updated", room: "lobby", change: 9, first_change: 7,
    messages: [
      { ...msg(1), reactions: [{ emoji: "👍", count: 1 }] },
      { ...msg(2), reactions: [{ emoji: "🎉", count: 2 }] },
    ],
    reacted: [
      { id: 1, user: { id: "u:4" }, emoji: "👍", on: true },
      { id: 2, user: { id: ME }, emoji: "🎉", on: true },
      { id: 2, user: { id: "u:5" }, emoji: "🎉", on: true },
    ],
  });
  assert.equal(view.updated.length, 2);
  assert.deepEqual(view.updated[0].reactions, [{ emoji: "👍", count: 1 }]);
  assert.deepEqual(view.updated[1].reactions, [{ emoji: "🎉", count: 2, mine: true }]);
});

test("file sizes read naturally", () => {
  assert.equal(humanSize(125, "en"), "125 bytes");
  assert.equal(humanSize(1, "en"), "1 byte");
  assert.equal(humanSize(1_250_000, "en"), "1.3 MB");
});
