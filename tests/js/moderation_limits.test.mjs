// Unit tests of the console's content moderation (reactions, files), EDIT_BY_MODERATORS and the
// upload limits checked before uploading: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { test } from "node:test";

import { refusal, uploadLimits } from "../../django_livechat/static/django_livechat/js/composer.js";
import { StaffConsole } from "../../django_livechat/static/django_livechat/js/console_client.js";
import { moderationFor, removals } from "../../django_livechat/static/django_livechat/js/console_model.js";
import {
  DEFAULT_EDIT_WINDOW,
  editRules,
  editUntil,
  moderates,
} from "../../django_livechat/static/django_livechat/js/message_state.js";
import { FakeSocket, FakeTimers, fakeConsoleView } from "./fakes.mjs";

// -- the console ----------------------------------------------------------------------------------

function onlineConsole() {
  FakeSocket.all = [];
  const staffConsole = new StaffConsole({
    path: "/ws/livechat/admin/",
    view: fakeConsoleView(),
    location: { protocol: "https:", host: "example.com" },
    WebSocket: FakeSocket,
    timers: new FakeTimers({ start: 1_000_000 }),
    random: () => 1,
  });
  staffConsole.connect();
  const socket = FakeSocket.all.at(-1);
  socket.receive({ type: "queue", you: { id: "u:3", name: "Ann" }, conversations: [], staff: [] });
  return { staffConsole, socket };
}

test("unreact and remove_attachment go out on the staff socket, naming the room", () => {
  const { staffConsole, socket } = onlineConsole();
  assert.ok(staffConsole.unreact("support-1", 7));
  assert.ok(staffConsole.unreact("support-1", 7, "👍"));
  assert.ok(staffConsole.removeAttachment("support-1", 7, 12));
  assert.deepEqual(socket.sent.filter((frame) => frame.type !== "ping"), [
    { type: "unreact", room: "support-1", id: 7 },
    { type: "unreact", room: "support-1", id: 7, emoji: "👍" },
    { type: "remove_attachment", room: "support-1", id: 7, attachment: 12 },
  ]);
});

test("removals: reactions and files may be taken off where a message may be deleted", () => {
  const ctx = { visitorId: "g:0123456789abcdef0123", youId: "u:3" };
  const author = { id: "g:0123456789abcdef0123", name: "Guest", kind: "guest" };
  const full = {
    id: 5,
    author,
    reactions: [{ emoji: "👍", count: 2 }],
    attachments: [{ id: 12, name: "a.png" }, { id: 13, name: "b.txt" }, { name: "no id" }],
  };
  assert.deepEqual(removals(full, moderationFor(full, ctx)), { unreact: true, files: [12, 13] });
  assert.deepEqual(removals({ id: 6, author }, moderationFor({ id: 6, author }, ctx)), { unreact: false, files: [] });
  const emptied = { ...full, reactions: [{ emoji: "👍", count: 0 }] };
  assert.equal(removals(emptied, moderationFor(emptied, ctx)).unreact, false);
  // a message not stored yet (no id) has no moderation at all
  const pending = { ...full, id: undefined, client_id: "x" };
  assert.deepEqual(removals(pending, moderationFor(pending, ctx)), { unreact: false, files: [] });
});

// -- EDIT_BY_MODERATORS -----------------------------------------------------------------------------

const created = "2026-12-03T09:00:00+00:00";
const ALICE = { id: "u:1", name: "alice", kind: "user" };
const BOB = { id: "u:2", name: "bob", kind: "user" };

test("editRules reads the page's window and EDIT_BY_MODERATORS, with defaults", () => {
  assert.deepEqual(editRules({ editWindow: "60", editByModerators: "true" }), { windowSeconds: 60, byModerators: true });
  assert.deepEqual(editRules({ editWindow: "60", editByModerators: "false" }), { windowSeconds: 60, byModerators: false });
  assert.deepEqual(editRules(undefined), { windowSeconds: DEFAULT_EDIT_WINDOW, byModerators: false });
});

test("moderates: staff, and the room's owners and moderators", () => {
  assert.ok(moderates({ ...ALICE, is_staff: true }));
  assert.ok(moderates({ ...ALICE, role: "owner" }));
  assert.ok(moderates({ ...ALICE, role: "moderator" }));
  assert.ok(!moderates({ ...ALICE, role: "member" }));
  assert.ok(!moderates({ ...ALICE, is_staff: false }));
  assert.ok(!moderates(null));
});

test("editUntil: one's own within the window; others' at any time for moderators when the setting is on", () => {
  const on = { windowSeconds: 900, byModerators: true };
  const off = { windowSeconds: 900, byModerators: false };
  const bobs = { id: 4, author: BOB, created };
  const alices = { id: 5, author: ALICE, created };
  const window = Date.parse(created) + 900_000;
  for (const you of [{ ...ALICE, is_staff: true }, { ...ALICE, role: "owner" }, { ...ALICE, role: "moderator" }]) {
    assert.equal(editUntil(bobs, you, on), Infinity, JSON.stringify(you));
    assert.equal(editUntil(bobs, you, off), 0, JSON.stringify(you));
    assert.equal(editUntil(alices, you, on), window, "one's own keeps the window (the server's rule)");
  }
  assert.equal(editUntil(bobs, { ...ALICE, role: "member" }, on), 0);
  assert.equal(editUntil(bobs, ALICE, on), 0);
  assert.equal(editUntil(alices, ALICE, off), window);
  assert.equal(editUntil({ ...bobs, id: undefined }, { ...ALICE, is_staff: true }, on), 0, "not stored yet");
  assert.equal(editUntil(bobs, null, on), 0);
});

// -- upload limits ----------------------------------------------------------------------------------

test("uploadLimits reads the form's data attributes; a missing one is no limit", () => {
  assert.deepEqual(uploadLimits({ attachmentMaxBytes: "1000", attachmentsPerMessage: "3" }), { maxBytes: 1000, perMessage: 3 });
  assert.deepEqual(uploadLimits({}), { maxBytes: Infinity, perMessage: Infinity });
  assert.deepEqual(uploadLimits({ attachmentMaxBytes: "", attachmentsPerMessage: "x" }), { maxBytes: Infinity, perMessage: Infinity });
});

test("refusal: a file over the size, or one beyond the count, is refused before uploading", () => {
  const limits = { maxBytes: 1000, perMessage: 2 };
  assert.equal(refusal({ name: "ok.txt", size: 1000 }, 0, limits), null);
  assert.equal(refusal({ name: "ok.txt", size: 10 }, 1, limits), null);
  const big = refusal({ name: "big.bin", size: 1001 }, 0, limits);
  assert.equal(big.name, "file-too-large");
  assert.equal(big.values.name, "big.bin");
  assert.match(big.values.size, /1/);
  assert.deepEqual(refusal({ name: "third.txt", size: 1 }, 2, limits), { name: "too-many-files", values: { n: 2 } });
  assert.equal(refusal({ name: "any", size: 1e12 }, 1e6, { maxBytes: Infinity, perMessage: Infinity }), null);
});
