// Unit tests of the JS client's protocol logic: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import { socketUrl } from "../../django_livechat/static/django_livechat/js/connection.js";
import {
  LiveChatClient,
  MESSAGES_KEPT,
  READ_INTERVAL_MS,
  SEEN_KEPT,
} from "../../django_livechat/static/django_livechat/js/client.js";
import { followPage, readInterval } from "../../django_livechat/static/django_livechat/js/livechat.js";
import { STORE_FAILED_LIMIT, newClientId, storeRetryDelay } from "../../django_livechat/static/django_livechat/js/outbox.js";
import { DomView, PRESENCE_SHOWN } from "../../django_livechat/static/django_livechat/js/view.js";
import { FakeSocket, FakeStorage, FakeTimers, fakeView } from "./fakes.mjs";

const PATH = "/ws/livechat/rooms/lobby/";
const you = { id: "g:abc", name: "Guest ABC", kind: "guest", can_post: true, is_staff: false };
const bob = { id: "u:2", name: "bob", kind: "user" };
const carol = { id: "u:3", name: "carol", kind: "user" };

const msg = (id, extra = {}) => ({
  type: "message", id, room: "lobby", body: `m${id}`, created: "2026-11-25T09:30:00+00:00",
  author: bob, client_id: `x${id}`, ...extra,
});
const welcome = (messages = [], extra = {}) => ({
  type: "welcome", room: { slug: "lobby", title: "Lobby", kind: "public", locked: false }, you,
  presence: [you], messages, last_id: messages.length ? messages.at(-1).id : 0, has_more: false,
  ...extra,
});
const history = (messages, extra) => ({ type: "history", messages, has_more: false, before: null, after: null, ...extra });

function makeClient({ storage = new FakeStorage(), timers = new FakeTimers(), random = () => 0.5, readInterval } = {}) {
  FakeSocket.all = [];
  const view = fakeView();
  const client = new LiveChatClient({
    path: PATH, view, WebSocket: FakeSocket, storage, timers, random, readInterval,
    location: { protocol: "https:", host: "chat.example" },
  });
  client.connect();
  return { client, view, timers, storage, socket: () => FakeSocket.all.at(-1) };
}

/** A client past its welcome, with messages 1..n shown. */
function online(n = 0, options) {
  const made = makeClient(options);
  made.socket().receive(welcome(Array.from({ length: n }, (_, i) => msg(i + 1))));
  return made;
}

// -- the URL ----------------------------------------------------------------------------------

test("the socket URL follows the page's scheme and resumes after the last id", () => {
  assert.equal(socketUrl({ protocol: "http:", host: "a:8000" }, "/ws/x/", 0), "ws://a:8000/ws/x/");
  assert.equal(socketUrl({ protocol: "https:", host: "a" }, "/ws/x/", 0), "wss://a/ws/x/");
  assert.equal(socketUrl({ protocol: "https:", host: "a" }, "/ws/x/", 42), "wss://a/ws/x/?after=42");
  assert.equal(socketUrl({ protocol: "https:", host: "a" }, "/ws/x/", 42, 3), "wss://a/ws/x/?after=42&changes=3");
  assert.equal(socketUrl({ protocol: "https:", host: "a" }, "/ws/x/", 42, 0), "wss://a/ws/x/?after=42&changes=0");
});

test("the first connection asks for the latest messages; a reconnect resumes after the last id", () => {
  const { socket, timers } = makeClient();
  assert.equal(socket().url, "wss://chat.example/ws/livechat/rooms/lobby/");
  socket().receive(welcome([msg(51), msg(52)])); // the latest page: 1..50 are older, not a gap
  socket().receive(msg(53));
  assert.deepEqual(socket().frames("history"), []);
  socket().serverClose(1006);
  timers.advance(20000);
  assert.equal(FakeSocket.all.length, 2);
  // no change number in that welcome (an older server): none is sent back
  assert.equal(socket().url, "wss://chat.example/ws/livechat/rooms/lobby/?after=53");
});

// -- the outbox -------------------------------------------------------------------------------

test("an outbox entry is shown at once, sent once after welcome, and acknowledged by client_id", () => {
  const { client, socket, storage, view } = makeClient();
  const clientId = client.post("  hello  ");
  assert.deepEqual(view.calls.at(-1), ["renderMessage", clientId, true]);
  assert.deepEqual(socket().sent, [], "nothing is sent before welcome");
  socket().receive(welcome());
  assert.deepEqual(socket().frames("message"), [{ type: "message", client_id: clientId, body: "hello" }]);
  assert.ok(storage.getItem(client.storageKey).includes(clientId));
  socket().receive(msg(1, { client_id: clientId, author: you, body: "hello" }));
  assert.equal(client.outbox.size, 0);
  assert.equal(storage.getItem(client.storageKey), null);
  assert.equal(view.pending.size, 0);
  assert.equal(view.shown.get(1).body, "hello");
  assert.equal(socket().frames("message").length, 1, "sent once");
});

test("empty bodies are not queued", () => {
  const { client, socket } = online();
  assert.equal(client.post("   \n "), null);
  assert.equal(client.outbox.size, 0);
  assert.deepEqual(socket().frames("message"), []);
});

test("the outbox survives a reload: shown at once, resent once after welcome and backlog", () => {
  const storage = new FakeStorage();
  const first = online(0, { storage });
  const clientId = first.client.post("typed before reload");
  // The page goes away before the acknowledgement; a new page with the same sessionStorage:
  const second = makeClient({ storage });
  assert.deepEqual(second.view.calls[0], ["renderMessage", clientId, true], "shown before connecting");
  second.socket().receive(welcome([], { has_more: true }));
  assert.deepEqual(second.socket().frames("message"), [], "not before the backlog is done");
  second.socket().receive({ type: "backlog", messages: [], has_more: false });
  assert.deepEqual(second.socket().frames("message"), [{ type: "message", client_id: clientId, body: "typed before reload" }]);
  second.socket().receive({ type: "backlog", messages: [], has_more: false });
  assert.equal(second.socket().frames("message").length, 1, "once per connection");
});

test("an entry stored before the connection dropped is acknowledged by the backlog, not resent", () => {
  const { client, socket, timers, view } = online(1);
  const clientId = client.post("did it arrive?");
  socket().serverClose(1006); // dropped before the copy came back
  timers.advance(20000);
  socket().receive(welcome([msg(2, { client_id: clientId, author: you })], { last_id: 2 }));
  assert.equal(client.outbox.size, 0);
  assert.deepEqual(socket().frames("message"), []);
  assert.equal(view.pending.size, 0);
});

test("a message typed offline is sent after the reconnect, not before", () => {
  const { client, socket, timers } = online();
  socket().serverClose(1006);
  client.post("offline words");
  timers.advance(20000);
  assert.deepEqual(socket().frames("message"), []);
  socket().receive(welcome());
  assert.equal(socket().frames("message").length, 1);
});

test("a non-retryable error drops the entry and shows the error on it", () => {
  const { client, socket, view, storage } = online();
  const bad = client.post("x".repeat(10));
  socket().receive({ type: "error", code: "body_too_long", detail: "too long", client_id: bad });
  assert.equal(client.outbox.has(bad), false);
  assert.equal(storage.getItem(client.storageKey), null);
  assert.deepEqual(view.errors, [{ detail: "too long", clientId: bad, code: "body_too_long" }]);
});

test("rate_limited and store_failed keep the entry and retry it later on the same connection", () => {
  for (const code of ["rate_limited", "store_failed"]) {
    const { client, socket, view, timers } = online();
    const later = client.post("later");
    socket().receive({ type: "error", code, detail: "not now", client_id: later });
    assert.equal(client.outbox.has(later), true, code);
    assert.deepEqual(view.errors, [], code);
    timers.advance(1000);
    assert.equal(socket().frames("message").length, 1, `${code}: not at once`);
    timers.advance(5000);
    assert.deepEqual(socket().frames("message").at(-1), { type: "message", client_id: later, body: "later" });
    assert.equal(socket().frames("message").length, 2, code);
  }
});

test("a retry due after a reconnect is not sent twice: the flush already sent it", () => {
  const { client, socket, timers } = online(0, { random: () => 0 });
  const later = client.post("later");
  socket().receive({ type: "error", code: "rate_limited", detail: "", client_id: later });
  socket().serverClose(1006);
  timers.advance(0);
  socket().receive(welcome());
  timers.advance(10000);
  assert.equal(socket().frames("message").length, 1);
});

// -- ids: de-duplication, order, gaps -------------------------------------------------------------

test("a repeated id is shown once", () => {
  const { client, socket, view } = online(1);
  socket().receive(msg(2));
  socket().receive(msg(2));
  socket().receive(history([msg(1), msg(2)], { before: 3 }));
  assert.deepEqual(view.calls.filter((c) => c[0] === "renderMessage").map((c) => c[1]), [1, 2]);
  assert.equal(client.lastId, 2);
});

test("a deleted message is removed and a late copy of it is not shown again", () => {
  const { socket, view } = online(2);
  socket().receive({ type: "deleted", id: 1, room: "lobby" });
  socket().receive(msg(1));
  assert.deepEqual([...view.shown.keys()], [2]);
});

test("a client that saw no change yet resumes with &changes=0: it still learns of deletions", () => {
  const { socket, timers } = makeClient();
  socket().receive(welcome([msg(1)], { last_change: 0, deleted: [] }));
  socket().serverClose(1006);
  timers.advance(20000);
  assert.equal(socket().url, "wss://chat.example/ws/livechat/rooms/lobby/?after=1&changes=0");
});

test("deletions and locks missed while away: resumed with &changes=, applied from the welcome", () => {
  const { socket, view, timers } = online(3);
  socket().receive({ type: "deleted", id: 1, room: "lobby", change: 4 });
  socket().receive({ type: "room", room: { slug: "lobby", title: "Lobby", kind: "public", locked: true }, change: 5 });
  socket().serverClose(1006);
  timers.advance(20000);
  assert.equal(socket().url, "wss://chat.example/ws/livechat/rooms/lobby/?after=3&changes=5");
  socket().receive(welcome([], { last_id: 3, last_change: 7, deleted: [2] }));
  assert.deepEqual([...view.shown.keys()], [3]);
  socket().serverClose(1006);
  timers.advance(20000);
  assert.equal(socket().url, "wss://chat.example/ws/livechat/rooms/lobby/?after=3&changes=7");
});

test("a gap asks once for the missing range, and the reply fills it", () => {
  const { client, socket, view } = online(1);
  socket().receive(msg(4));
  socket().receive(msg(6));
  assert.deepEqual(socket().frames("history"), [{ type: "history", after: 1, limit: 50 }]);
  assert.equal(client.lastId, 1);
  socket().receive(history([msg(2), msg(3), msg(4), msg(5)], { after: 1 }));
  assert.equal(client.lastId, 6);
  assert.deepEqual([...view.shown.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
  assert.equal(socket().frames("history").length, 1);
});

test("a gap reply with has_more asks for the next page", () => {
  const { client, socket } = online(1);
  socket().receive(msg(5));
  socket().receive(history([msg(2), msg(3)], { after: 1, has_more: true }));
  assert.equal(client.lastId, 3);
  assert.deepEqual(socket().frames("history").at(-1), { type: "history", after: 3, limit: 50 });
});

test("a hole the server cannot fill (a deleted message) is stepped over", () => {
  const { client, socket } = online(1);
  socket().receive(msg(3));
  socket().receive(history([], { after: 1 }));
  assert.equal(client.lastId, 3);
  socket().receive(msg(4));
  assert.equal(socket().frames("history").length, 1);
});

test("seen and messages stay bounded for a long session; late copies are still dropped", () => {
  const { client, socket, view } = makeClient();
  socket().receive(welcome([msg(951), msg(1000)], { last_id: 1000 })); // 952..999 deleted
  const last = 1000 + 5 * SEEN_KEPT;
  for (let id = 1001; id <= last; id += 1) socket().receive(msg(id));
  assert.equal(client.lastId, last);
  assert.ok(client.seen.size <= 2 * SEEN_KEPT + 1, `seen holds ${client.seen.size} ids`);
  assert.equal(client.messages.size, MESSAGES_KEPT);
  assert.ok(client.messages.has(last) && !client.messages.has(1001));
  // late copies, long forgotten or recent, and an id deleted before it arrived: not shown again
  const shown = view.calls.filter((c) => c[0] === "renderMessage").length;
  for (const id of [951, 960, 1001, 1500, last - 10, last]) socket().receive(msg(id));
  assert.equal(view.calls.filter((c) => c[0] === "renderMessage").length, shown);
  assert.equal(client.lastId, last);
  assert.deepEqual(socket().frames("history"), []);
  socket().receive(msg(last + 1));
  assert.ok(view.shown.has(last + 1) && client.lastId === last + 1);
  // a message no longer in `messages` is still removed from the view when deleted
  socket().receive({ type: "deleted", id: 1001, room: "lobby" });
  assert.ok(!view.shown.has(1001));
  // older pages still load: before the oldest id shown, and they are shown
  client.loadOlder();
  assert.deepEqual(socket().frames("history"), [{ type: "history", before: 951, limit: 50 }]);
  socket().receive(history([msg(900), msg(950)], { before: 951, has_more: true }));
  assert.ok(view.shown.has(900) && view.shown.has(950));
  assert.equal(client.lastId, last + 1);
});

test("a gap still fills after the seen ids were trimmed", () => {
  const { client, socket, view } = online(1);
  const last = 3 * SEEN_KEPT;
  for (let id = 2; id <= last; id += 1) socket().receive(msg(id));
  socket().receive(msg(last + 3));
  assert.deepEqual(socket().frames("history"), [{ type: "history", after: last, limit: 50 }]);
  socket().receive(history([msg(last + 1), msg(last + 2), msg(last + 3)], { after: last }));
  assert.equal(client.lastId, last + 3);
  assert.ok(view.shown.has(last + 1) && view.shown.has(last + 2));
});

test("the view places messages in id order, pending ones last", () => {
  const list = fakeList();
  const view = Object.assign(Object.create(DomView.prototype), { list });
  for (const [name, order] of [["3", 3], ["p", Infinity], ["1", 1], ["5", 5], ["2", 2]]) {
    view.place(fakeItem(name), order);
  }
  assert.deepEqual(list.children.map((c) => c.name), ["1", "2", "3", "5", "p"]);
  view.place(list.children.at(-1), 4); // the pending one is acknowledged as id 4
  assert.deepEqual(list.children.map((c) => c.name), ["1", "2", "3", "p", "5"]);
});

// -- reconnecting --------------------------------------------------------------------------------

test("reconnect delays grow while connections fail, and reset after a welcome", () => {
  const { socket, timers } = makeClient({ random: () => 1 });
  const delays = [];
  for (let i = 0; i < 6; i += 1) {
    socket().serverClose(1006);
    delays.push(...timers.delays());
    timers.advance(delays.at(-1));
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10000]);
  socket().receive(welcome());
  socket().serverClose(1006);
  assert.deepEqual(timers.delays(), [500]);
});

test("4503 and network closes reconnect; 4429 waits the longest delay", () => {
  for (const code of [1006, 1011, 4503]) {
    const { timers } = online(0, { random: () => 1 });
    FakeSocket.all[0].serverClose(code);
    timers.advance(500);
    assert.equal(FakeSocket.all.length, 2, `${code}`);
  }
  const { timers, socket } = online(0, { random: () => 0 });
  socket().serverClose(4429);
  assert.deepEqual(timers.delays(), [10000]);
});

test("4429 waits 10 to 20 s at random, so refused clients do not all return together", () => {
  const delays = [0, 0.25, 0.5, 0.999].map((r) => {
    const { timers, socket } = online(0, { random: () => r });
    socket().serverClose(4429);
    return timers.delays()[0];
  });
  assert.deepEqual(delays, [10000, 12500, 15000, 19990]);
});

test("no reconnect after a refusal close code", () => {
  for (const code of [4400, 4401, 4403, 4404, 4410]) {
    const { client, socket, timers, view } = makeClient();
    socket().serverClose(code);
    timers.advance(60000);
    assert.equal(FakeSocket.all.length, 1, `reconnected after ${code}`);
    assert.deepEqual(view.states.at(-1), ["closed", code]);
    assert.equal(client.state, "closed");
  }
});

test("the state goes connecting, online, offline, connecting", () => {
  const { socket, timers, view } = online();
  socket().serverClose(1006);
  timers.advance(20000);
  assert.deepEqual(view.states.map((s) => s[0]), ["connecting", "online", "offline", "connecting"]);
});

test("a ping every 25 s; a minute without any frame closes and reconnects", () => {
  const { socket, timers } = online();
  timers.advance(25000);
  assert.equal(socket().frames("ping").length, 1);
  socket().receive({ type: "pong", ts: 1 });
  timers.advance(50000); // 50 s since the pong: still alive
  assert.equal(FakeSocket.all.length, 1);
  timers.advance(10000);
  assert.equal(FakeSocket.all[0].closedWith, 4000);
  timers.advance(10000);
  assert.equal(FakeSocket.all.length, 2);
});

test("close() stops for good, and a late close event changes nothing", () => {
  const { client, socket, timers } = online();
  const first = socket();
  client.close();
  first.serverClose(1006);
  timers.advance(60000);
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(client.state, "closed");
});

// -- older messages, presence, typing -----------------------------------------------------------

test("load older asks before the smallest id shown, once at a time, and hides the button at the start", () => {
  const { client, socket, view } = makeClient();
  socket().receive(welcome([msg(51), msg(52)]));
  assert.deepEqual(view.older, [true]);
  client.loadOlder();
  client.loadOlder();
  assert.deepEqual(socket().frames("history"), [{ type: "history", before: 51, limit: 50 }]);
  socket().receive(history([msg(1), msg(50)], { before: 51, has_more: false }));
  assert.deepEqual(view.older, [true, false]);
  assert.ok(view.shown.has(1) && view.shown.has(50));
  assert.equal(client.lastId, 52, "older messages do not move the resume point");
});

test("presence is replaced on welcome, with its count; without presence_count the list's length", () => {
  const { socket, view } = makeClient();
  socket().receive(welcome([], { presence: [you, bob], presence_count: 1234 }));
  assert.deepEqual(view.presence, [you.id, bob.id]);
  assert.deepEqual(view.counts, [1234], "a big room: the list is a sample, the count is everyone");
  socket().receive(welcome([], { presence: [you, bob, carol] })); // an older server, after a reconnect
  assert.deepEqual(view.presence, [you.id, bob.id, carol.id]);
  assert.deepEqual(view.counts, [1234, 3]);
});

test("presence frames are set operations: left and joined lists, and the count", () => {
  const { socket, view } = online();
  socket().receive({ type: "presence", joined: [bob, carol], left: [], count: 3 });
  assert.deepEqual(view.presence, [you.id, bob.id, carol.id]);
  socket().receive({ type: "presence", joined: [bob], left: [carol], count: 2 }); // bob again: harmless
  socket().receive({ type: "presence", joined: [], left: [carol], count: 2 });
  assert.deepEqual(view.presence, [you.id, bob.id]);
  assert.deepEqual(view.counts, [1, 3, 2, 2]);
  socket().receive({ type: "presence", joined: [{ id: "u:9", name: "dan", kind: "user" }] }); // no count
  assert.deepEqual(view.counts, [1, 3, 2, 2]);
  assert.deepEqual(view.presence, [you.id, bob.id, "u:9"]);
});

test("someone who left stops typing at once", () => {
  const { socket, view } = online();
  socket().receive({ type: "typing", user: bob, active: true });
  assert.deepEqual(view.typing.at(-1), ["bob"]);
  socket().receive({ type: "presence", joined: [], left: [bob], count: 1 });
  assert.deepEqual(view.typing.at(-1), []);
});

// -- read receipts --------------------------------------------------------------------------------

const reads = (...pairs) => ({ type: "read", reads: pairs.map(([user, lastRead]) => ({ user, last_read: lastRead })), more: 0 });

test("a read frame marks our messages seen up to the furthest position of another identity", () => {
  const { socket, view } = online(10);
  socket().receive(reads([bob, 3], [you, 9], [carol, 5]));
  assert.deepEqual(view.seen, [[carol.id, 5]], "our own receipt (another tab) is not someone else's");
  socket().receive(reads([you, 10]));
  socket().receive({ type: "read", reads: [], more: 0 });
  assert.deepEqual(view.seen, [[carol.id, 5]], "nothing from another identity: nothing seen");
  socket().receive({ ...reads([bob, 8]), more: 37 });
  assert.deepEqual(view.seen, [[carol.id, 5], [bob.id, 8]]);
});

test("the welcome's stored read positions mark our messages seen once the catch-up is shown", () => {
  const { socket, view } = makeClient();
  const stored = [{ user: you, last_read: 9 }, { user: bob, last_read: 4 }];
  socket().receive(welcome([msg(1), msg(2)], { has_more: true, last_id: 5, reads: stored }));
  assert.deepEqual(view.seen, [], "the backlog is not shown yet");
  socket().receive({ type: "backlog", messages: [msg(3), msg(4), msg(5)], has_more: false });
  assert.deepEqual(view.seen, [[bob.id, 4]], "another identity's position, not ours");
});

test("the first read receipt goes out at once; the next ones at most once per interval, the newest at its end", () => {
  const { client, socket, timers } = online(3);
  client.markRead();
  assert.deepEqual(socket().frames("read"), [{ type: "read", last_read: 3 }]);
  for (const id of [4, 5, 6]) {
    socket().receive(msg(id));
    client.markRead();
    timers.advance(200);
  }
  assert.equal(socket().frames("read").length, 1, "within the interval: nothing more yet");
  timers.advance(READ_INTERVAL_MS - 600);
  assert.deepEqual(socket().frames("read"), [{ type: "read", last_read: 3 }, { type: "read", last_read: 6 }]);
  timers.advance(5 * READ_INTERVAL_MS);
  assert.equal(socket().frames("read").length, 2, "nothing more was read: nothing more is sent");
});

test("a steady stream of messages gets one read receipt per interval, never a lower or equal position", () => {
  const { client, socket, timers } = online(1);
  const sentAt = [];
  const seen = socket().sent.length;
  const onSend = socket().send.bind(socket());
  socket().send = (text) => {
    sentAt.push(timers.now());
    onSend(text);
  };
  for (let id = 2; id <= 60; id += 1) {
    socket().receive(msg(id));
    client.markRead();
    client.markRead(); // twice for the same position: one receipt
    timers.advance(100);
  }
  timers.advance(READ_INTERVAL_MS);
  const positions = socket().sent.slice(seen).filter((f) => f.type === "read").map((f) => f.last_read);
  assert.equal(positions.at(-1), 60, "the last position is not lost");
  assert.ok(positions.length <= 7, `${positions.length} receipts for 6 s`);
  for (let i = 1; i < positions.length; i += 1) assert.ok(positions[i] > positions[i - 1], String(positions));
  for (let i = 1; i < sentAt.length; i += 1) assert.ok(sentAt[i] - sentAt[i - 1] >= READ_INTERVAL_MS, String(sentAt));
});

test("markRead({now}) (the page became visible) sends at once, and the interval's trailing receipt is dropped", () => {
  const { client, socket, timers } = online(1);
  client.markRead();
  socket().receive(msg(2));
  client.markRead(); // due at the end of the interval
  socket().receive(msg(3));
  client.markRead({ now: true });
  assert.deepEqual(socket().frames("read").map((f) => f.last_read), [1, 3]);
  timers.advance(3 * READ_INTERVAL_MS);
  assert.deepEqual(socket().frames("read").map((f) => f.last_read), [1, 3], "3 is sent: nothing is due");
  client.markRead({ now: true });
  assert.equal(socket().frames("read").length, 2, "no position above the last one sent: nothing sent");
});

test("the trailing receipt sends what was read, not what arrived after it (a hidden page reads nothing)", () => {
  const { client, socket, timers } = online(1);
  client.markRead();
  socket().receive(msg(2));
  client.markRead();
  socket().receive(msg(3)); // the page is hidden now: nobody calls markRead
  timers.advance(READ_INTERVAL_MS);
  assert.deepEqual(socket().frames("read").map((f) => f.last_read), [1, 2]);
});

test("the page's read interval is used; data-read-interval, absent or empty, falls back to the default", () => {
  const { client, socket, timers } = online(1, { readInterval: 5000 });
  client.markRead();
  socket().receive(msg(2));
  client.markRead();
  timers.advance(4999);
  assert.equal(socket().frames("read").length, 1);
  timers.advance(1);
  assert.equal(socket().frames("read").length, 2);
  assert.equal(readInterval({ dataset: { readInterval: "250" } }), 250);
  for (const dataset of [{}, { readInterval: "" }, { readInterval: "x" }]) assert.equal(readInterval({ dataset }), undefined);
  assert.equal(online().client.readInterval, READ_INTERVAL_MS);
});

test("a receipt due when the connection drops goes out once the next connection is ready; close() sends it", () => {
  const { client, socket, timers } = online(1);
  client.markRead();
  socket().receive(msg(2));
  client.markRead();
  const first = socket();
  first.serverClose(1006);
  timers.advance(READ_INTERVAL_MS + 10000); // reconnected by now
  assert.notEqual(socket(), first);
  assert.equal(socket().frames("read").length, 0, "not before the welcome");
  socket().receive(welcome([], { last_id: 2 }));
  assert.deepEqual(socket().frames("read"), [{ type: "read", last_read: 2 }]);
  socket().receive(msg(3));
  client.markRead(); // within the interval: due at its end
  const last = socket();
  client.close();
  assert.deepEqual(last.frames("read").map((f) => f.last_read), [2, 3]);
});

test("the position sent on a connection that dropped is sent again on the next one: the server may have lost it", () => {
  const { client, socket, timers } = online(2);
  client.markRead();
  assert.deepEqual(socket().frames("read"), [{ type: "read", last_read: 2 }]);
  const first = socket();
  first.serverClose(1012); // a server killed before it stored the receipt
  timers.advance(READ_INTERVAL_MS + 10000);
  assert.notEqual(socket(), first);
  socket().receive(welcome([], { last_id: 2 }));
  assert.deepEqual(socket().frames("read"), [{ type: "read", last_read: 2 }], "sent again, once");
  timers.advance(3 * READ_INTERVAL_MS);
  client.markRead();
  assert.equal(socket().frames("read").length, 1, "nothing new read: nothing more is sent");
});

test("a client that read nothing sends no receipt on a new connection", () => {
  const { socket, timers } = online(2);
  const first = socket();
  first.serverClose(1012);
  timers.advance(READ_INTERVAL_MS + 10000);
  assert.notEqual(socket(), first);
  socket().receive(welcome([], { last_id: 2 }));
  timers.advance(3 * READ_INTERVAL_MS);
  assert.deepEqual(socket().frames("read"), []);
});

test("followPage: visible marks read at once; hidden and pagehide send the receipt due", () => {
  const listeners = {};
  const saved = { document: globalThis.document, addEventListener: globalThis.addEventListener };
  globalThis.document = { visibilityState: "visible", addEventListener: (type, fn) => (listeners[`document:${type}`] = fn) };
  globalThis.addEventListener = (type, fn) => (listeners[`window:${type}`] = fn);
  try {
    const calls = [];
    const client = { sendRead: (now) => calls.push(["sendRead", now]) };
    followPage(() => client, () => calls.push(["markRead"]));
    listeners["document:visibilitychange"]();
    globalThis.document.visibilityState = "hidden";
    listeners["document:visibilitychange"]();
    listeners["window:pagehide"]();
    assert.deepEqual(calls, [["markRead"], ["sendRead", true], ["sendRead", true]]);
  } finally {
    Object.assign(globalThis, saved);
  }
});

test("typing is sent at most once per 2 s, and stopped on send and after 4 s idle", () => {
  const { client, socket, timers } = online();
  client.typed();
  client.typed();
  timers.advance(1000);
  client.typed();
  assert.deepEqual(socket().frames("typing"), [{ type: "typing", active: true }]);
  timers.advance(1500);
  client.typed();
  assert.equal(socket().frames("typing").length, 2);
  client.post("done");
  assert.deepEqual(socket().frames("typing").at(-1), { type: "typing", active: false });
  client.typed();
  timers.advance(3999);
  assert.equal(socket().frames("typing").at(-1).active, true);
  timers.advance(1);
  assert.deepEqual(socket().frames("typing").at(-1), { type: "typing", active: false });
});

test("others typing is shown and cleared 5 s after their last active:true; our own is ignored", () => {
  const { socket, view, timers } = online();
  socket().receive({ type: "typing", user: you, active: true });
  assert.equal(view.typing.length, 0);
  socket().receive({ type: "typing", user: bob, active: true });
  timers.advance(3000);
  socket().receive({ type: "typing", user: { id: "u:3", name: "carol" }, active: true });
  assert.deepEqual(view.typing.at(-1), ["bob", "carol"]);
  timers.advance(2000);
  assert.deepEqual(view.typing.at(-1), ["carol"]);
  timers.advance(3000);
  assert.deepEqual(view.typing.at(-1), []);
  socket().receive({ type: "typing", user: bob, active: true });
  socket().receive({ type: "typing", user: bob, active: false });
  assert.deepEqual(view.typing.at(-1), [], "active:false clears at once");
});

test("a message from someone typing clears their indicator at once", () => {
  const { socket, view } = online();
  socket().receive({ type: "typing", user: bob, active: true });
  assert.deepEqual(view.typing.at(-1), ["bob"]);
  socket().receive({ type: "message", id: 1, room: "lobby", author: bob, body: "hi", created: "2026-01-01T00:00:00+00:00", client_id: "x" });
  assert.deepEqual(view.typing.at(-1), []);
});

// -- extension points and safety ----------------------------------------------------------------

test("on() chains frame handlers after the built-in handling, in order", () => {
  const { client, socket } = makeClient();
  const seen = [];
  client.on("message", (frame) => seen.push(["first", frame.id, client.messages.has(frame.id)]));
  client.on("message", (frame) => seen.push(["second", frame.id]));
  socket().receive(welcome());
  socket().receive(msg(1));
  assert.deepEqual(seen, [["first", 1, true], ["second", 1]]);
});

test("client ids are valid for the protocol, with or without crypto.randomUUID", () => {
  const pattern = /^[A-Za-z0-9_-]{1,64}$/;
  assert.match(newClientId(), pattern);
  assert.notEqual(newClientId(), newClientId());
  const real = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true });
  try {
    const ids = [newClientId(), newClientId()];
    ids.forEach((id) => assert.match(id, pattern));
    assert.notEqual(ids[0], ids[1]);
  } finally {
    Object.defineProperty(globalThis, "crypto", real);
  }
});

const JS = new URL("../../django_livechat/static/django_livechat/js/", import.meta.url);
const SOURCE = readFileSync(new URL("view.js", JS), "utf8");
// room_embed.html, with what it includes: its strings and the conversation
const EMBED = ["room_embed.html", "room_strings.html", "conversation.html"]
  .map((name) => readFileSync(new URL(`../../django_livechat/templates/django_livechat/includes/${name}`, import.meta.url), "utf8"))
  .join("\n");

test("no module builds HTML from strings", () => {
  for (const name of readdirSync(JS).filter((file) => file.endsWith(".js"))) {
    const source = readFileSync(new URL(name, JS), "utf8");
    assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.html\(/, name);
  }
});

test("every string and element the view looks for is in room_embed.html", () => {
  const names = new Set([...SOURCE.matchAll(/this\.text\("([\w-]+)"/g)].map((m) => m[1]));
  for (const state of ["connecting", "online", "offline", "closed"]) names.add(state);
  const closeTexts = SOURCE.match(/const CLOSE_TEXTS = \{([^}]*)\}/)[1];
  for (const m of closeTexts.matchAll(/"([\w-]+)"/g)) names.add(m[1]);
  for (const name of names) assert.match(EMBED, new RegExp(`data-i18n-${name}=`), name);
  for (const m of SOURCE.matchAll(/find\("(\[data-livechat-[\w-]+\])"\)/g)) {
    assert.ok(EMBED.includes(m[1].slice(1, -1)), m[1]);
  }
});

test("staff and system authors get a badge from staff/kind, never from their name", () => {
  const strings = { "data-i18n-badge-staff": "staff", "data-i18n-badge-system": "system" };
  const view = Object.assign(Object.create(DomView.prototype), {
    root: { getAttribute: (name) => strings[name] ?? null },
    you: null,
  });
  const fill = (author) => {
    const fields = { author: {}, body: {}, note: {}, badge: { hidden: true } };
    const classes = new Set();
    const item = {
      dataset: {},
      querySelector: (selector) => fields[selector.match(/data-field="(\w+)"/)[1]] || null,
      classList: { toggle: (name, on) => (on ? classes.add(name) : classes.delete(name)), remove: () => {} },
    };
    view.fill(item, { id: 1, body: "hi", author }, false);
    return { name: fields.author.textContent, badge: fields.badge.hidden ? null : fields.badge.textContent, classes };
  };
  assert.deepEqual(fill({ id: "u:1", name: "Sam", kind: "user", staff: true }).badge, "staff");
  assert.ok(fill({ id: "u:1", name: "Sam", kind: "user", staff: true }).classes.has("livechat-staff"));
  assert.deepEqual(fill({ id: "system", name: "System", kind: "system" }).badge, "system");
  for (const author of [
    { id: "u:2", name: "System", kind: "user" },
    { id: "u:3", name: "Sam [staff]", kind: "user" },
    { id: "g:4", name: "staff", kind: "guest" },
  ]) {
    const shown = fill(author);
    assert.equal(shown.badge, null, author.name);
    assert.equal(shown.name, author.name);
    assert.ok(!shown.classes.has("livechat-staff") && !shown.classes.has("livechat-system"));
  }
});

test("the view shows the count in the page's words, and the presence list as a bounded sample", () => {
  const saved = globalThis.document;
  const children = [];
  globalThis.document = {
    createElement: () => {
      const li = { dataset: {}, classList: { toggle() {} }, append() {} };
      li.remove = () => children.splice(children.indexOf(li), 1);
      return li;
    },
  };
  try {
    const strings = { "data-i18n-presence-count": "%(n)s here" };
    const view = Object.assign(Object.create(DomView.prototype), {
      root: { getAttribute: (name) => strings[name] ?? null },
      you: null,
      locale: "en",
      presence: { children, replaceChildren: () => children.splice(0), appendChild: (li) => children.push(li) },
      presenceCount: { textContent: "Here now" },
      presenceMax: PRESENCE_SHOWN,
    });
    view.setPresenceCount(12345);
    assert.equal(view.presenceCount.textContent, "12,345 here");
    const user = (i) => ({ id: `u:${i}`, name: `user ${i}`, kind: "user" });
    view.setPresence(Array.from({ length: PRESENCE_SHOWN }, (_, i) => user(i)));
    view.addPresence(user(1000));
    assert.equal(children.length, PRESENCE_SHOWN, "a full sample is not extended");
    view.removePresence(user(0));
    view.addPresence(user(1000));
    view.addPresence(user(1000));
    assert.equal(children.length, PRESENCE_SHOWN);
    assert.equal(children.at(-1).textContent, "user 1000");
    view.setPresence(Array.from({ length: PRESENCE_SHOWN + 50 }, (_, i) => user(i))); // PRESENCE_LIST_MAX 150
    assert.equal(children.length, PRESENCE_SHOWN + 50, "the welcome's list is shown whole");
  } finally {
    globalThis.document = saved;
  }
});

// A list and items with just the DOM calls DomView.place makes.
function fakeItem(name) {
  return { name, dataset: {}, parentNode: null };
}

function fakeList() {
  const list = {
    children: [],
    get lastElementChild() {
      return list.children.at(-1) || null;
    },
    appendChild(item) {
      return list.insertBefore(item, null);
    },
    insertBefore(item, next) {
      list.children = list.children.filter((c) => c !== item);
      const at = next ? list.children.indexOf(next) : list.children.length;
      list.children.splice(at, 0, item);
      item.parentNode = list;
      return item;
    },
  };
  return list;
}

test("setLocked sends a lock frame while online, and nothing while offline", () => {
  const { client, socket } = online(1);
  assert.equal(client.setLocked(true), true);
  assert.equal(client.setLocked(0), true);
  assert.deepEqual(socket().frames("lock"), [{ type: "lock", locked: true }, { type: "lock", locked: false }]);
  socket().serverClose(1006);
  assert.equal(client.setLocked(true), false);
  assert.equal(socket().frames("lock").length, 2);
});

test("welcome's has_older decides the load-older button; without it the first id is the guess", () => {
  const first = makeClient();
  first.socket().receive(welcome([msg(5), msg(6)], { has_older: false })); // 1..4 deleted
  assert.deepEqual(first.view.older, [false]);
  const second = makeClient();
  second.socket().receive(welcome([msg(1)], { has_older: true })); // never: the server knows
  assert.deepEqual(second.view.older, [true]);
  const old = makeClient();
  old.socket().receive(welcome([msg(5)])); // an older server sends no has_older
  assert.deepEqual(old.view.older, [true]);
});

// -- store_failed: growing delays, then given up ----------------------------------------------

test("store_failed retries wait longer each time, with jitter, and stop after the limit", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => storeRetryDelay(n, () => 0)), [1500, 3000, 6000, 12000, 15000, 15000]);
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => storeRetryDelay(n, () => 0.999)), [2999, 5997, 11994, 23988, 29985]);
  const { client, socket, view, timers, storage } = online(0, { random: () => 0 });
  const doomed = client.post("never stored");
  const waits = [];
  for (let failure = 1; failure < STORE_FAILED_LIMIT; failure += 1) {
    socket().receive({ type: "error", code: "store_failed", detail: "retry", client_id: doomed });
    waits.push(Math.min(...timers.delays()));
    timers.advance(waits.at(-1));
    assert.equal(socket().frames("message").length, failure + 1, `resent after failure ${failure}`);
  }
  assert.deepEqual(waits, [1500, 3000, 6000, 12000, 15000]);
  assert.deepEqual(view.errors, [], "nothing shown while retrying");
  socket().receive({ type: "error", code: "store_failed", detail: "retry", client_id: doomed });
  assert.equal(client.outbox.has(doomed), false);
  assert.equal(storage.getItem(client.storageKey), null);
  assert.deepEqual(view.errors, [{ detail: "", clientId: doomed, code: "store_failed" }], "the view's own words");
  timers.advance(600000); // reconnects included (the silence watchdog): nothing is resent
  const sent = FakeSocket.all.reduce((count, s) => count + s.frames("message").length, 0);
  assert.equal(sent, STORE_FAILED_LIMIT, "no more retries");
});

test("the store_failed count survives reconnects and reloads: the limit holds across them", () => {
  const storage = new FakeStorage();
  const first = online(0, { storage, random: () => 0 });
  const doomed = first.client.post("poison");
  for (let n = 1; n < STORE_FAILED_LIMIT; n += 1) {
    first.socket().receive({ type: "error", code: "store_failed", detail: "", client_id: doomed });
    first.socket().serverClose(1006); // the resend comes from the next connection's flush
    first.timers.advance(20000);
    first.socket().receive(welcome());
  }
  const second = makeClient({ storage, random: () => 0 }); // a reload, same sessionStorage
  second.socket().receive(welcome());
  assert.equal(second.socket().frames("message").length, 1);
  second.socket().receive({ type: "error", code: "store_failed", detail: "", client_id: doomed });
  assert.equal(second.client.outbox.has(doomed), false, `given up at failure ${STORE_FAILED_LIMIT}`);
  assert.equal(second.view.errors.length, 1);
});

test("a message given up on shows as failed, with the page's translated words", () => {
  assert.match(EMBED, /data-i18n-error-store_failed="\{% translate '[^']+' %\}"/);
  const note = { textContent: "sending…" };
  const classes = new Set(["livechat-pending"]);
  const item = {
    classList: { add: (c) => classes.add(c), remove: (c) => classes.delete(c) },
    querySelector: () => note,
  };
  const root = { getAttribute: (name) => (name === "data-i18n-error-store_failed" ? "Not stored; copy it." : null) };
  const view = Object.assign(Object.create(DomView.prototype), { root, notice: null, find: () => item });
  view.showError("", "c1", "store_failed");
  assert.deepEqual([...classes], ["livechat-failed"]);
  assert.equal(note.textContent, "Not stored; copy it.");
});
