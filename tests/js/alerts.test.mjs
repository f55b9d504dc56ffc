// Unit tests of the tab title's count and desktop notifications: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  InboxAlerts,
  PageAlerts,
  RoomAlerts,
  excerpt,
  mentionsYou,
  titleWith,
  wantsAlert,
} from "../../django_livechat/static/django_livechat/js/alerts.js";
import { InboxClient } from "../../django_livechat/static/django_livechat/js/inbox.js";
import { FakeSocket, FakeTimers } from "./fakes.mjs";

const ME = { id: "u:1", name: "alice", kind: "user" };
const BOB = { id: "u:2", name: "bob", kind: "user" };

/** A document whose visibility the test sets, with its visibilitychange listeners. */
function fakeDocument(title = "Lobby") {
  const listeners = [];
  return {
    title,
    visibilityState: "visible",
    addEventListener: (type, fn) => type === "visibilitychange" && listeners.push(fn),
    show() {
      this.visibilityState = "visible";
      for (const fn of listeners) fn();
    },
    hide() {
      this.visibilityState = "hidden";
      for (const fn of listeners) fn();
    },
  };
}

/** The Notification API: permission as given, every notification recorded. */
function fakeNotification(permission) {
  const shown = [];
  class FakeNotification {
    static permission = permission;
    constructor(title, options) {
      this.title = title;
      this.options = options;
      this.closed = false;
      shown.push(this);
    }
    close() {
      this.closed = true;
    }
  }
  FakeNotification.shown = shown;
  return FakeNotification;
}

const text = (name, values = {}) => `${name}|${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(",")}`;

function message(id, author = BOB, extra = {}) {
  return { type: "message", id, room: "lobby", author, body: `message ${id}`, created: "2026-12-03T10:00:00+00:00", ...extra };
}

test("titleWith puts the count in front, none at 0", () => {
  assert.equal(titleWith("Lobby", 3), "(3) Lobby");
  assert.equal(titleWith("Lobby", 0), "Lobby");
});

test("the page's own title is kept, also one that looks like a count, and a new one is followed", () => {
  const doc = fakeDocument("(2022) in review");
  const page = new PageAlerts({ doc });
  page.setCount("a", 2);
  assert.equal(doc.title, "(2) (2022) in review");
  page.setCount("a", 0);
  assert.equal(doc.title, "(2022) in review");
  page.setCount("a", 1);
  doc.title = "Design"; // the room was renamed: the page sets its title
  page.setCount("a", 3);
  assert.equal(doc.title, "(3) Design");
});

test("wantsAlert: someone else's direct message or a mention of you, nothing else", () => {
  assert.equal(wantsAlert(message(1), ME, "direct"), true);
  assert.equal(wantsAlert(message(1), ME, "private"), false);
  assert.equal(wantsAlert(message(1, BOB, { mentions: [{ id: "u:1", username: "alice" }] }), ME, "public"), true);
  assert.equal(wantsAlert(message(1, BOB, { mentions: [{ id: "u:3", username: "carol" }] }), ME, "public"), false);
  assert.equal(wantsAlert(message(1, ME), ME, "direct"), false, "one's own message");
  assert.equal(wantsAlert(message(1), null, "direct"), false, "before the welcome");
  assert.equal(mentionsYou({ mentions: ["u:1"] }, ME), true, "the inbox's activity carries ids");
});

test("excerpt puts the body on one line and cuts it", () => {
  assert.equal(excerpt("  a\n\nb\tc "), "a b c");
  const long = excerpt("x".repeat(500));
  assert.equal(long.length, 140);
  assert.ok(long.endsWith("…"));
});

test("a room page counts the messages that arrive while it is hidden, and forgets them when shown", () => {
  const doc = fakeDocument("Lobby");
  const page = new PageAlerts({ doc, Notification: fakeNotification("granted") });
  const room = new RoomAlerts(page, text);
  room.message(message(1), ME, "public");
  assert.equal(doc.title, "Lobby", "visible: no count");
  doc.hide();
  room.message(message(2), ME, "public");
  room.message(message(3), ME, "public");
  room.message(message(3), ME, "public"); // the same message again (a resend): counted once
  room.message(message(4, ME), ME, "public"); // one's own, from another tab: not counted
  assert.equal(doc.title, "(2) Lobby");
  doc.show();
  assert.equal(doc.title, "Lobby");
  doc.hide();
  room.message(message(5), ME, "public");
  assert.equal(doc.title, "(1) Lobby");
});

test("two rooms on one page add up in the one title", () => {
  const doc = fakeDocument("Team");
  const page = new PageAlerts({ doc });
  const a = new RoomAlerts(page, text);
  const b = new RoomAlerts(page, text);
  doc.hide();
  a.message(message(1), ME, "public");
  b.message(message(1), ME, "public");
  b.message(message(2), ME, "public");
  assert.equal(doc.title, "(3) Team");
});

test("a desktop notification for a direct message or a mention while hidden, only if allowed", () => {
  const doc = fakeDocument("bob");
  const granted = fakeNotification("granted");
  const page = new PageAlerts({ doc, Notification: granted });
  const room = new RoomAlerts(page, (name, values) => (name === "room-title" ? "Lobby" : text(name, values)));
  room.message(message(1), ME, "direct");
  assert.equal(granted.shown.length, 0, "visible: no notification");
  doc.hide();
  room.message(message(2), ME, "direct");
  room.message(message(3), ME, "public"); // neither direct nor a mention
  room.message(message(4, BOB, { mentions: [{ id: "u:1", username: "alice" }] }), ME, "public");
  assert.deepEqual(
    granted.shown.map((n) => [n.title, n.options.body, n.options.tag]),
    [
      ["alert-direct|name=bob", "message 2", "livechat-lobby"],
      ["alert-mention|name=bob,room=Lobby", "message 4", "livechat-lobby"],
    ],
  );
  for (const permission of ["default", "denied"]) {
    const asked = fakeNotification(permission);
    const other = new RoomAlerts(new PageAlerts({ doc, Notification: asked }), text);
    other.message(message(9), ME, "direct");
    assert.equal(asked.shown.length, 0, `permission ${permission}: nothing shown`);
  }
  // No Notification API at all (an old browser): the count still works.
  const bare = new PageAlerts({ doc });
  new RoomAlerts(bare, text).message(message(10), ME, "direct");
  assert.equal(bare.total(), 1);
});

test("clicking a notification brings the page (or the room's URL) to the front and closes it", () => {
  const doc = fakeDocument("My chats");
  doc.hide();
  const focused = [];
  const granted = fakeNotification("granted");
  const page = new PageAlerts({ doc, Notification: granted, focus: (url) => focused.push(url) });
  const shown = page.notify({ title: "t", body: "b", url: "/chat/rooms/dm/" });
  shown.onclick();
  assert.deepEqual(focused, ["/chat/rooms/dm/"]);
  assert.equal(shown.closed, true);
});

test("the inbox's title shows the sum of its unread counts; activity alerts while hidden", () => {
  FakeSocket.all = [];
  const doc = fakeDocument("My chats");
  const granted = fakeNotification("granted");
  const page = new PageAlerts({ doc, Notification: granted });
  const alerts = new InboxAlerts(page, text);
  const view = {
    render: (entries) => alerts.update(entries.reduce((n, e) => n + (e.unread || 0), 0)),
    alert: (frame, entry, you) => alerts.activity(frame, entry, you),
    setState() {},
  };
  const client = new InboxClient({
    path: "/ws/livechat/inbox/",
    view,
    location: { protocol: "http:", host: "example.com" },
    WebSocket: FakeSocket,
    timers: new FakeTimers({ start: 0 }),
    random: () => 0,
  });
  client.connect();
  const socket = FakeSocket.all.at(-1);
  const entry = (slug, kind, lastId, lastRead, title = slug) => ({
    slug, title, kind, url: `/chat/rooms/${slug}/`, role: "member", last_id: lastId, last_read: lastRead, last: null, activity: "2026-12-01T10:00:00+00:00",
  });
  socket.receive({ type: "inbox", you: ME, rooms: [entry("dm", "direct", 3, 1, "bob"), entry("team", "private", 5, 5, "Team")] });
  assert.equal(doc.title, "(2) My chats");
  const last = (id, author, excerptText) => ({ id, author, excerpt: excerptText, created: `2026-12-03T10:00:0${id}+00:00` });
  doc.hide();
  socket.receive({ type: "activity", room: "dm", last_id: 4, last: last(4, BOB, "lunch?") });
  socket.receive({ type: "activity", room: "team", last_id: 6, last: last(6, BOB, "status update") });
  socket.receive({ type: "activity", room: "team", last_id: 7, last: last(7, BOB, "@alice see this"), mentions: ["u:1"] });
  socket.receive({ type: "activity", room: "team", last_id: 7, last: last(7, BOB, "@alice see this"), mentions: ["u:1"] }); // again: no news
  assert.equal(doc.title, "(5) My chats");
  assert.deepEqual(
    granted.shown.map((n) => [n.title, n.options.body]),
    [
      ["alert-direct|name=bob", "lunch?"],
      ["alert-mention|name=bob,room=Team", "@alice see this"],
    ],
  );
  socket.receive({ type: "seen", room: "team", last_read: 7 });
  assert.equal(doc.title, "(3) My chats");
  socket.receive({ type: "seen", room: "dm", last_read: 4 });
  assert.equal(doc.title, "My chats");
});
