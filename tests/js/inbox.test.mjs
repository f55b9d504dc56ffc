// Unit tests of the inbox's logic: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { test } from "node:test";

import { InboxClient, InboxModel } from "../../django_livechat/static/django_livechat/js/inbox.js";
import { FakeSocket, FakeTimers } from "./fakes.mjs";

const ME = { id: "u:1", name: "Alice", kind: "user" };
const BOB = { id: "u:2", name: "Bob", kind: "user" };

function entry(slug, overrides = {}) {
  return { slug, title: slug, kind: "private", url: `/chat/rooms/${slug}/`, role: "member", last_id: 0, last_read: 0, unread: 0, last: null, activity: "2026-12-01T10:00:00+00:00", ...overrides };
}

function activity(room, id, author = BOB, created = `2026-12-03T10:00:${String(id).padStart(2, "0")}+00:00`) {
  return { type: "activity", room, last_id: id, last: { id, author, excerpt: `m${id}`, created } };
}

function makeClient() {
  FakeSocket.all = [];
  const rendered = [];
  const view = { render: (entries) => rendered.push(entries), setState() {} };
  const client = new InboxClient({
    path: "/ws/livechat/inbox/",
    view,
    location: { protocol: "http:", host: "example.com" },
    WebSocket: FakeSocket,
    timers: new FakeTimers({ start: 0 }),
    random: () => 0,
  });
  client.connect();
  return { client, rendered, socket: FakeSocket.all.at(-1) };
}

test("activity raises the unread count and moves the room first", () => {
  const model = new InboxModel();
  model.replace([entry("a", { activity: "2026-12-02T00:00:00+00:00" }), entry("b", { activity: "2026-12-01T00:00:00+00:00" })], ME);
  assert.deepEqual(model.list().map((e) => e.slug), ["a", "b"]);
  assert.equal(model.activity(activity("b", 3)), true);
  assert.deepEqual(model.list().map((e) => e.slug), ["b", "a"]);
  assert.equal(model.entries.get("b").unread, 3);
  assert.equal(model.entries.get("b").last.excerpt, "m3");
  assert.equal(model.activity(activity("b", 2)), false, "an older activity changes nothing");
  assert.equal(model.entries.get("b").unread, 3);
});

test("seen lowers the count; one's own message counts as read", () => {
  const model = new InboxModel();
  model.replace([entry("a", { last_id: 5, last_read: 1 })], ME);
  assert.equal(model.entries.get("a").unread, 4);
  assert.equal(model.seen({ type: "seen", room: "a", last_read: 4 }), true);
  assert.equal(model.entries.get("a").unread, 1);
  assert.equal(model.seen({ type: "seen", room: "a", last_read: 2 }), false, "positions only move on");
  model.activity(activity("a", 6, ME));
  assert.equal(model.entries.get("a").unread, 0);
  assert.equal(model.unread(), 0);
});

test("an activity before its room is listed is applied once it is", () => {
  const model = new InboxModel();
  model.replace([], ME);
  assert.equal(model.activity(activity("new", 2)), false);
  model.put(entry("new", { last_id: 1 }));
  assert.equal(model.entries.get("new").last_id, 2);
  assert.equal(model.entries.get("new").unread, 2);
});

test("the client renders each frame and stops on a final close", () => {
  const { client, rendered, socket } = makeClient();
  socket.receive({ type: "inbox", you: ME, rooms: [entry("a")], others: [] });
  assert.equal(client.state, "online");
  socket.receive({ type: "listed", room: entry("dm", { kind: "direct", last_id: 1, activity: "2026-12-02T10:00:00+00:00" }) });
  socket.receive(activity("a", 1));
  socket.receive({ type: "unlisted", room: "dm" });
  assert.deepEqual(
    rendered.map((list) => list.map((e) => e.slug)),
    [["a"], ["dm", "a"], ["a", "dm"], ["a"]],
  );
  socket.serverClose(4401);
  assert.equal(client.state, "closed");
  assert.equal(FakeSocket.all.length, 1, "no reconnect after 4401");
});

test("a rename changes a room's title, not a direct room's other name", () => {
  const model = new InboxModel();
  model.replace([entry("team"), entry("dm", { kind: "direct", title: "Bob" })], ME);
  assert.equal(model.rename({ type: "renamed", room: "team", title: "Design" }), true);
  assert.equal(model.entries.get("team").title, "Design");
  assert.equal(model.rename({ type: "renamed", room: "dm", title: "alice & Bob" }), false);
  assert.equal(model.entries.get("dm").title, "Bob");
});
