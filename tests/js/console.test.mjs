// Unit tests of the staff console's logic: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { test } from "node:test";

import { PING_EVERY_MS } from "../../django_livechat/static/django_livechat/js/connection.js";
import { STATUS_KEY, StaffConsole } from "../../django_livechat/static/django_livechat/js/console_client.js";
import {
  Queue,
  assignOptions,
  describeSummary,
  detailActions,
  formatWaiting,
  moderationFor,
  roomPath,
  safeHref,
  sortQueue,
  staffRows,
  unitsFrom,
  userPk,
} from "../../django_livechat/static/django_livechat/js/console_model.js";
import { FakeSocket, FakeStorage, FakeTimers, fakeConsoleView } from "./fakes.mjs";

function summary(id, overrides = {}) {
  return {
    id,
    visitor: { id: `g:${"0".repeat(19)}${id.length}`, name: `Guest ${id}` },
    page: "/pricing/",
    status: "open",
    assignee: null,
    created: "2026-11-25T09:00:00+00:00",
    last_activity: "2026-11-25T09:00:00+00:00",
    waiting_seconds: null,
    unanswered: 0,
    unread: 0,
    last_id: 0,
    ...overrides,
  };
}

const ANN = { id: "u:3", name: "Ann" };
const BOB = { id: "u:4", name: "Bob" };

function makeConsole({ storage } = {}) {
  FakeSocket.all = [];
  const timers = new FakeTimers({ start: 1_000_000 });
  const view = fakeConsoleView();
  const staffConsole = new StaffConsole({
    path: "/ws/livechat/admin/",
    view,
    location: { protocol: "https:", host: "example.com" },
    WebSocket: FakeSocket,
    timers,
    random: () => 1,
    storage,
    text: (name) => `[${name}]`,
  });
  staffConsole.connect();
  return { staffConsole, view, timers, socket: () => FakeSocket.all.at(-1) };
}

function queueFrame(conversations, staff = [{ ...ANN, status: "online" }]) {
  return { type: "queue", you: ANN, conversations, staff };
}

// -- queue ordering and in-place updates -----------------------------------------------------------

test("sortQueue: open conversations before closed ones, each by last_activity, newest first", () => {
  const list = [
    summary("closed-new", { status: "closed", last_activity: "2026-11-25T12:00:00+00:00" }),
    summary("open-old", { last_activity: "2026-11-25T08:00:00+00:00" }),
    summary("open-new", { last_activity: "2026-11-25T10:00:00+00:00" }),
    summary("closed-old", { status: "closed", last_activity: "2026-11-25T07:00:00+00:00" }),
    summary("open-mid", { last_activity: "2026-11-25T09:00:00.5+00:00" }),
  ];
  assert.deepEqual(sortQueue(list).map((s) => s.id), ["open-new", "open-mid", "open-old", "closed-new", "closed-old"]);
  assert.equal(list[0].id, "closed-new", "sortQueue sorts a copy");
});

test("sortQueue compares instants, not strings (time zones)", () => {
  const list = [
    summary("a", { last_activity: "2026-11-25T10:00:00+02:00" }), // 08:00 UTC
    summary("b", { last_activity: "2026-11-25T09:00:00+00:00" }),
  ];
  assert.deepEqual(sortQueue(list).map((s) => s.id), ["b", "a"]);
});

test("Queue.upsert updates an entry in place and re-sorts", () => {
  const queue = new Queue(() => 0);
  queue.replace([
    summary("a", { last_activity: "2026-11-25T10:00:00+00:00" }),
    summary("b", { last_activity: "2026-11-25T09:00:00+00:00" }),
  ]);
  const before = queue.get("b");
  assert.deepEqual(queue.list().map((s) => s.id), ["a", "b"]);

  const after = queue.upsert(summary("b", { last_activity: "2026-11-25T11:00:00+00:00", unanswered: 2 }));
  assert.equal(after, before, "the same entry object, updated");
  assert.equal(queue.get("b").unanswered, 2);
  assert.equal(queue.list().length, 2);
  assert.deepEqual(queue.list().map((s) => s.id), ["b", "a"]);

  queue.upsert(summary("b", { status: "closed" }));
  assert.deepEqual(queue.list().map((s) => s.id), ["a", "b"], "a closed one goes after the open ones");
  queue.upsert(summary("c", { last_activity: "2026-11-25T08:00:00+00:00" }));
  assert.deepEqual(queue.list().map((s) => s.id), ["a", "c", "b"], "a new one is inserted");
});

test("StaffConsole: the queue frame renders sorted; a conversation frame updates in place and re-sorts", () => {
  const { view, socket } = makeConsole();
  socket().receive(
    queueFrame([
      summary("old", { last_activity: "2026-11-25T08:00:00+00:00" }),
      summary("closed", { status: "closed", last_activity: "2026-11-25T11:00:00+00:00" }),
      summary("new", { last_activity: "2026-11-25T10:00:00+00:00" }),
    ]),
  );
  assert.deepEqual(view.queues.at(-1).ids, ["new", "old", "closed"]);
  assert.deepEqual(view.states.at(-1), ["online", undefined]);

  socket().receive({ type: "conversation", conversation: summary("old", { last_activity: "2026-11-25T12:00:00+00:00", assignee: BOB }) });
  const last = view.queues.at(-1);
  assert.deepEqual(last.ids, ["old", "new", "closed"]);
  assert.equal(last.changed, "old");
  assert.equal(last.entries.length, 3, "updated, not duplicated");
  assert.equal(last.entries[0].assignee.name, "Bob");
});

// -- waiting time and badges ------------------------------------------------------------------------

test("formatWaiting: seconds, minutes, hours and minutes, days; empty for nobody waiting", () => {
  assert.equal(formatWaiting(0), "0 s");
  assert.equal(formatWaiting(59), "59 s");
  assert.equal(formatWaiting(60), "1 min");
  assert.equal(formatWaiting(3599), "59 min");
  assert.equal(formatWaiting(3600 + 5 * 60 + 9), "1 h 5 min");
  assert.equal(formatWaiting(2 * 86400 + 5), "2 d");
  assert.equal(formatWaiting(null), "");
  assert.equal(formatWaiting(90, { seconds: "%(n)s秒", minutes: "%(n)s分钟", hours: "", days: "" }), "1分钟");
});

test("unitsFrom keeps the placeholders of the page's translated units", () => {
  const units = unitsFrom({ i18nUnitSeconds: "%(n)s 秒", i18nUnitMinutes: "%(n)s 分钟", i18nUnitHours: "%(h)s 小时 %(m)s 分钟" });
  assert.equal(formatWaiting(5, units), "5 秒");
  assert.equal(formatWaiting(3 * 60, units), "3 分钟");
  assert.equal(formatWaiting(3600 + 60, units), "1 小时 1 分钟");
  assert.equal(formatWaiting(86400, units), "1 d", "a missing unit falls back to English");
});

test("waiting time runs on client-side from when the summary arrived; none when closed", () => {
  let now = 10_000;
  const queue = new Queue(() => now);
  queue.replace([summary("a", { waiting_seconds: 30 }), summary("b", { status: "closed", waiting_seconds: 30 })]);
  now += 45_500;
  assert.equal(queue.waitingSeconds(queue.get("a")), 75);
  assert.equal(describeSummary(queue, queue.get("a"), now).waiting, "1 min");
  assert.equal(queue.waitingSeconds(queue.get("b")), null);
  queue.upsert(summary("a", { waiting_seconds: null })); // staff answered
  assert.equal(queue.waitingSeconds(queue.get("a")), null);
});

test("unread badge: the server's count, lowered by what this page has read since", () => {
  const queue = new Queue(() => 0);
  queue.replace([summary("a", { unread: 3, last_id: 10, unanswered: 2 })]);
  assert.equal(describeSummary(queue, queue.get("a"), 0).unread, 3);
  queue.markRead("a", 9);
  assert.equal(queue.unread(queue.get("a")), 1);
  queue.markRead("a", 10);
  assert.equal(describeSummary(queue, queue.get("a"), 0).unread, 0);
  queue.upsert(summary("a", { unread: 1, last_id: 11 })); // a new message, computed before our read
  assert.equal(queue.unread(queue.get("a")), 1);
  assert.equal(describeSummary(queue, queue.get("a"), 0).unanswered, 0, "unanswered comes from the latest summary");
});

// -- staff -------------------------------------------------------------------------------------------

test("staffRows: online first, then by name, the current user flagged", () => {
  const rows = staffRows(
    [
      { id: "u:9", name: "Zoe", status: "online" },
      { id: "u:4", name: "Bob", status: "away" },
      { id: "u:3", name: "Ann", status: "online" },
    ],
    "u:9",
  );
  assert.deepEqual(rows, [
    { id: "u:3", name: "Ann", status: "online", you: false },
    { id: "u:9", name: "Zoe", status: "online", you: true },
    { id: "u:4", name: "Bob", status: "away", you: false },
  ]);
});

test("staff frames update the presence list", () => {
  const { view, socket } = makeConsole();
  socket().receive(queueFrame([], [{ ...ANN, status: "online" }]));
  assert.deepEqual(view.staff.at(-1).map((r) => [r.name, r.status, r.you]), [["Ann", "online", true]]);
  socket().receive({ type: "staff", staff: [{ ...ANN, status: "away" }, { ...BOB, status: "online" }] });
  assert.deepEqual(view.staff.at(-1).map((r) => [r.name, r.status, r.you]), [
    ["Bob", "online", false],
    ["Ann", "away", true],
  ]);
});

test("assignOptions: unassigned, each staff member by user pk, and an absent assignee kept", () => {
  const { options, selected } = assignOptions([{ ...ANN, status: "online" }], { id: "u:12", name: "Carol" });
  assert.deepEqual(options, [
    { value: "", name: null },
    { value: "3", name: "Ann" },
    { value: "12", name: "Carol" },
  ]);
  assert.equal(selected, "12");
  assert.equal(assignOptions([{ ...ANN, status: "online" }], null).selected, "");
  assert.equal(userPk("u:42"), 42);
  assert.equal(userPk("g:abc"), null);
});

test("detailActions: claim unless already mine; close when open, reopen when closed", () => {
  assert.deepEqual(detailActions(summary("a"), "u:3"), { claim: true, close: true, reopen: false });
  assert.deepEqual(detailActions(summary("a", { assignee: ANN }), "u:3"), { claim: false, close: true, reopen: false });
  assert.deepEqual(detailActions(summary("a", { status: "closed", assignee: BOB }), "u:3"), { claim: true, close: false, reopen: true });
});

// -- frames sent -------------------------------------------------------------------------------------

test("claim, assign, close, reopen and status send the frames of the protocol", () => {
  const { staffConsole, socket } = makeConsole();
  socket().receive(queueFrame([summary("support-1")]));
  staffConsole.claim("support-1");
  staffConsole.assign("support-1", 4);
  staffConsole.assign("support-1", null);
  staffConsole.closeConversation("support-1");
  staffConsole.reopenConversation("support-1");
  staffConsole.setStatus("away");
  assert.deepEqual(socket().sent, [
    { type: "claim", conversation: "support-1" },
    { type: "assign", conversation: "support-1", user: 4 },
    { type: "assign", conversation: "support-1", user: null },
    { type: "close", conversation: "support-1" },
    { type: "reopen", conversation: "support-1" },
    { type: "status", status: "away" },
  ]);
});

test("moderation frames go out on the staff socket, naming the room", () => {
  const { staffConsole, socket } = makeConsole();
  socket().receive(queueFrame([]));
  staffConsole.deleteMessage("support-1", 7);
  staffConsole.mute("support-1", "g:0123456789abcdef0123");
  staffConsole.ban("support-1", "u:12");
  assert.deepEqual(socket().sent, [
    { type: "delete", room: "support-1", id: 7 },
    { type: "mute", room: "support-1", user: "g:0123456789abcdef0123", minutes: 10 },
    { type: "ban", room: "support-1", user: "u:12" },
  ]);
});

test("moderationFor: delete any stored message; mute and ban only the visitor", () => {
  const ctx = { visitorId: "g:0123456789abcdef0123", youId: "u:3" };
  const visitor = { id: 5, author: { id: "g:0123456789abcdef0123", name: "Guest", kind: "guest" } };
  const staff = { id: 6, author: { id: "u:4", name: "Bob", kind: "user" } };
  const mine = { id: 7, author: { id: "u:3", name: "Ann", kind: "user" } };
  const system = { id: 8, author: { id: "system", name: "", kind: "system" } };
  assert.deepEqual(moderationFor(visitor, ctx), { delete: true, sanction: true });
  assert.deepEqual(moderationFor(staff, ctx), { delete: true, sanction: false });
  assert.deepEqual(moderationFor(mine, ctx), { delete: true, sanction: false });
  assert.deepEqual(moderationFor(system, ctx), { delete: true, sanction: false });
  assert.deepEqual(moderationFor({ client_id: "x", author: visitor.author }, ctx), { delete: false, sanction: true });
});

test("error frames reach the status line; frames while disconnected are refused, not lost silently", () => {
  const { staffConsole, view, socket } = makeConsole();
  assert.equal(staffConsole.claim("support-1"), false, "before the queue frame");
  assert.equal(view.errors.at(-1), "[not-connected]");
  socket().receive(queueFrame([]));
  socket().receive({ type: "error", code: "not_found", detail: "No such conversation." });
  assert.equal(view.errors.at(-1), "No such conversation.");
});

// -- connection ------------------------------------------------------------------------------------------

test("a ping every 25 s keeps the console online", () => {
  const { timers, socket } = makeConsole();
  socket().receive(queueFrame([]));
  timers.advance(PING_EVERY_MS - 1);
  assert.equal(socket().sent.filter((f) => f.type === "ping").length, 0);
  timers.advance(1);
  socket().receive({ type: "pong", ts: timers.now() });
  timers.advance(PING_EVERY_MS);
  const pings = socket().sent.filter((f) => f.type === "ping");
  assert.equal(pings.length, 2);
  assert.equal(typeof pings[0].ts, "number");
});

test("reconnects with backoff after a network close, not after 4403; the queue is replaced", () => {
  const { timers, view, socket } = makeConsole();
  const first = socket();
  assert.equal(first.url, "wss://example.com/ws/livechat/admin/");
  first.receive(queueFrame([summary("a")]));
  first.serverClose(1006);
  assert.deepEqual(view.states.at(-1), ["offline", 1006]);
  assert.equal(FakeSocket.all.length, 1);
  timers.advance(500); // backoffDelay(0) with random() = 1
  assert.equal(FakeSocket.all.length, 2, "reconnected");
  const second = socket();
  second.receive(queueFrame([summary("b")]));
  assert.deepEqual(view.queues.at(-1).ids, ["b"]);

  second.serverClose(4403);
  assert.deepEqual(view.states.at(-1), ["closed", 4403]);
  timers.advance(60_000);
  assert.equal(FakeSocket.all.length, 2, "a refusal is final");
});

test("a console that hears nothing for a minute starts over", () => {
  const { timers, socket } = makeConsole();
  socket().receive(queueFrame([]));
  timers.advance(PING_EVERY_MS * 3 + 1000); // no pong at all, then the backoff
  assert.ok(FakeSocket.all.length >= 2, "closed and reconnected");
});

test("the away status survives a reconnect and a reload (the server sets online on connect)", () => {
  const storage = new FakeStorage();
  const { staffConsole, timers, socket } = makeConsole({ storage });
  socket().receive(queueFrame([]));
  staffConsole.setStatus("away");
  assert.equal(storage.getItem(STATUS_KEY), "away");
  socket().serverClose(1006);
  timers.advance(1000);
  socket().receive(queueFrame([]));
  assert.deepEqual(socket().sent, [{ type: "status", status: "away" }]);

  const reloaded = makeConsole({ storage });
  reloaded.socket().receive(queueFrame([]));
  assert.deepEqual(reloaded.socket().sent, [{ type: "status", status: "away" }]);
  const fresh = makeConsole({ storage: new FakeStorage() });
  fresh.socket().receive(queueFrame([]));
  assert.deepEqual(fresh.socket().sent, [], "online is the default: nothing to send");
});

// -- paths and links ------------------------------------------------------------------------------------

test("roomPath joins the prefix and the slug, with or without a doubled slash", () => {
  assert.equal(roomPath("/ws/livechat/rooms/", "support-1"), "/ws/livechat/rooms/support-1/");
  assert.equal(roomPath("/ws/livechat/rooms//", "support-1"), "/ws/livechat/rooms/support-1/");
});

test("safeHref links http(s) pages only", () => {
  const base = "https://example.com/chat/console/";
  assert.equal(safeHref("/pricing/?a=1", base), "https://example.com/pricing/?a=1");
  assert.equal(safeHref("https://shop.example/x", base), "https://shop.example/x");
  assert.equal(safeHref("javascript:alert(1)", base), null);
  assert.equal(safeHref(" JavaScript:alert(1)", base), null);
  assert.equal(safeHref("data:text/html,<b>x</b>", base), null);
  assert.equal(safeHref("", base), null);
});
