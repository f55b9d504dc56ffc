// Unit tests of the console's message history logic: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { test } from "node:test";

import { fetchRevisions } from "../../django_livechat/static/django_livechat/js/console_client.js";
import {
  historyRows,
  knownNames,
  revisionsUrl,
} from "../../django_livechat/static/django_livechat/js/console_model.js";

const PATTERN = "/chat/rooms/__slug__/messages/0/revisions/";

test("revisionsUrl fills the slug and the id segment of the pattern", () => {
  assert.equal(revisionsUrl(PATTERN, "support-ab12", 42), "/chat/rooms/support-ab12/messages/42/revisions/");
  assert.equal(revisionsUrl(PATTERN, "lobby", 0), "/chat/rooms/lobby/messages/0/revisions/");
});

test("revisionsUrl leaves a /0/ of the site's prefix alone and encodes the slug", () => {
  const prefixed = "/v/0/chat/rooms/__slug__/messages/0/revisions/";
  assert.equal(revisionsUrl(prefixed, "a b", 7), "/v/0/chat/rooms/a%20b/messages/7/revisions/");
  // a slug made of zeros is not taken for the id placeholder
  assert.equal(revisionsUrl(PATTERN, "0", 5), "/chat/rooms/0/messages/5/revisions/");
});

test("revisionsUrl refuses a pattern without placeholders and ids that are not message ids", () => {
  assert.equal(revisionsUrl("/chat/rooms/lobby/messages/0/revisions/", "lobby", 1), null);
  assert.equal(revisionsUrl("/chat/rooms/__slug__/messages/revisions/", "lobby", 1), null);
  assert.equal(revisionsUrl(undefined, "lobby", 1), null);
  assert.equal(revisionsUrl(PATTERN, "", 1), null);
  for (const id of [-1, 1.5, Number.NaN, "3", null]) assert.equal(revisionsUrl(PATTERN, "lobby", id), null);
});

test("knownNames gathers names by identity id, later sources winning, skipping blanks", () => {
  const names = knownNames(
    [{ id: "g:1", name: "Guest" }, null, { id: "u:7", name: "" }, { name: "no id" }],
    [{ id: "u:3", name: "alice" }],
    [{ id: "u:9", name: "staff" }, { id: "u:3", name: "Alice A." }],
  );
  assert.deepEqual([...names], [
    ["g:1", "Guest"],
    ["u:3", "Alice A."],
    ["u:9", "staff"],
  ]);
  assert.equal(knownNames(undefined, null).size, 0);
});

test("historyRows lists the earlier bodies oldest first, then the current one", () => {
  const data = {
    id: 12,
    body: "third",
    edited: "2026-12-01T10:05:00+00:00",
    revisions: [
      { body: "first", replaced: "2026-12-01T10:01:00+00:00", by: "u:3" },
      { body: "second", replaced: "2026-12-01T10:05:00+00:00", by: "u:9" },
    ],
  };
  const rows = historyRows(data, new Map([["u:3", "alice"]]));
  assert.deepEqual(rows, [
    { current: false, n: 1, body: "first", time: "2026-12-01T10:01:00+00:00", by: "alice" },
    // an identity the console does not know is shown as its id
    { current: false, n: 2, body: "second", time: "2026-12-01T10:05:00+00:00", by: "u:9" },
    { current: true, n: 3, body: "third", time: "2026-12-01T10:05:00+00:00", by: "" },
  ]);
});

test("historyRows tolerates a message without revisions and odd entries", () => {
  assert.deepEqual(historyRows({ body: "only", edited: null, revisions: [] }), [
    { current: true, n: 1, body: "only", time: null, by: "" },
  ]);
  const rows = historyRows({ body: 5, revisions: [null, { body: 3, replaced: 4, by: 7 }] });
  assert.deepEqual(rows, [
    { current: false, n: 1, body: "", time: null, by: "" },
    { current: true, n: 2, body: "", time: null, by: "" },
  ]);
  assert.deepEqual(historyRows(null), [{ current: true, n: 1, body: "", time: null, by: "" }]);
});

function fakeFetch(status, body) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init });
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return { fn, calls };
}

test("fetchRevisions GETs the URL with the session's cookies and answers the JSON", async () => {
  const answer = { id: 4, body: "now", edited: "2026-12-01T10:00:00+00:00", revisions: [] };
  const { fn, calls } = fakeFetch(200, answer);
  assert.deepEqual(await fetchRevisions("/chat/rooms/x/messages/4/revisions/", fn), answer);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "/chat/rooms/x/messages/4/revisions/");
  assert.equal(calls[0].init.credentials, "same-origin");
});

test("fetchRevisions rejects a 404 and an answer without revisions", async () => {
  await assert.rejects(fetchRevisions("/u/", fakeFetch(404, { detail: "no" }).fn), /HTTP 404/);
  await assert.rejects(fetchRevisions("/u/", fakeFetch(200, { id: 1 }).fn), /not a revisions answer/);
  await assert.rejects(fetchRevisions("/u/", fakeFetch(200, null).fn), /not a revisions answer/);
});
