// Unit tests of the socket life cycle shared by the room client and the console: node --test tests/js/.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CLOSE_SILENT,
  Connection,
  FINAL_CLOSE_CODES,
  PING_EVERY_MS,
  SILENCE_LIMIT_MS,
  STAFF_FINAL_CLOSE_CODES,
  backoffDelay,
} from "../../django_livechat/static/django_livechat/js/connection.js";
import { FakeSocket, FakeTimers } from "./fakes.mjs";

/** A Connection whose `hello` frame is the server's acceptance; it records the frames it got. */
class Probe extends Connection {
  constructor(options, finalCodes) {
    super(options, finalCodes);
    this.frames = [];
  }

  on_hello(frame) {
    this.frames.push(frame);
    this.opened();
  }
}

function connected({ finalCodes, random = () => 1 } = {}) {
  FakeSocket.all = [];
  const timers = new FakeTimers();
  const states = [];
  const connection = new Probe(
    {
      path: "/ws/x/",
      view: { setState: (state, code) => states.push([state, code]) },
      location: { protocol: "http:", host: "h" },
      WebSocket: FakeSocket,
      timers,
      random,
    },
    finalCodes,
  );
  connection.connect();
  return { connection, timers, states, socket: () => FakeSocket.all.at(-1) };
}

test("backoff grows, has full jitter, and is capped", () => {
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(20, () => 1), 10000);
  assert.equal(backoffDelay(5, () => 0), 0);
  assert.notEqual(backoffDelay(4, () => 0.3), backoffDelay(4, () => 0.7));
});

test("the backoff exponent grows per failed connection and starts over once one is accepted", () => {
  const { connection, timers, socket } = connected();
  assert.equal(socket().url, "ws://h/ws/x/");
  const delays = [];
  for (let i = 0; i < 3; i += 1) {
    socket().serverClose(1006);
    delays.push(...timers.delays().filter((d) => d !== SILENCE_LIMIT_MS));
    timers.advance(delays.at(-1));
  }
  assert.deepEqual(delays, [500, 1000, 2000]);
  socket().receive({ type: "hello" });
  assert.equal(connection.attempt, 0);
  socket().serverClose(1006);
  assert.deepEqual(timers.delays(), [500]);
});

test("the room's final codes close for good; every other code reconnects", () => {
  for (const code of FINAL_CLOSE_CODES) {
    const { connection, timers, states, socket } = connected();
    socket().serverClose(code);
    timers.advance(60_000);
    assert.equal(FakeSocket.all.length, 1, `reconnected after ${code}`);
    assert.deepEqual(states.at(-1), ["closed", code]);
    assert.equal(connection.closedForGood, true);
  }
  for (const code of [1006, 4000, 4408, 4503]) {
    const { timers, socket } = connected();
    socket().serverClose(code);
    timers.advance(500);
    assert.equal(FakeSocket.all.length, 2, `no reconnect after ${code}`);
  }
});

test("the staff console's final codes are its own: a room refusal such as 4404 reconnects", () => {
  assert.deepEqual([...STAFF_FINAL_CLOSE_CODES].sort(), [4401, 4403]);
  for (const code of STAFF_FINAL_CLOSE_CODES) {
    const { timers, states, socket } = connected({ finalCodes: STAFF_FINAL_CLOSE_CODES });
    socket().serverClose(code);
    timers.advance(60_000);
    assert.equal(FakeSocket.all.length, 1, `reconnected after ${code}`);
    assert.deepEqual(states.at(-1), ["closed", code]);
  }
  const { timers, states, socket } = connected({ finalCodes: STAFF_FINAL_CLOSE_CODES });
  socket().serverClose(4404);
  assert.deepEqual(states.at(-1), ["offline", 4404]);
  timers.advance(500);
  assert.equal(FakeSocket.all.length, 2);
});

test("the watchdog: any frame keeps the socket; a minute of silence drops it with 4000", () => {
  const { connection, timers, states, socket } = connected();
  const first = socket();
  timers.advance(SILENCE_LIMIT_MS - 10_000);
  first.receive({ type: "pong" }); // unknown to the class: still a sign of life
  timers.advance(SILENCE_LIMIT_MS - 1);
  assert.equal(first.closedWith, null, "59.999 s after the last frame");
  timers.advance(1);
  assert.equal(first.closedWith, CLOSE_SILENT);
  assert.deepEqual(states.at(-1), ["offline", CLOSE_SILENT]);
  assert.equal(connection.socket, null);
  timers.advance(500);
  assert.equal(FakeSocket.all.length, 2, "reconnected");
});

test("the watchdog runs before the server accepts too: a socket silent from the start is dropped", () => {
  const { timers, socket } = connected();
  const first = socket();
  timers.advance(SILENCE_LIMIT_MS);
  assert.equal(first.closedWith, CLOSE_SILENT);
});

test("pings start once accepted, every 25 s, and stop with the connection", () => {
  const { timers, socket } = connected();
  timers.advance(PING_EVERY_MS);
  assert.equal(socket().frames("ping").length, 0, "not before acceptance");
  socket().receive({ type: "hello" });
  timers.advance(PING_EVERY_MS);
  assert.deepEqual(socket().frames("ping"), [{ type: "ping", ts: timers.now() }]);
  socket().serverClose(1006);
  timers.advance(PING_EVERY_MS * 2);
  assert.equal(FakeSocket.all.length, 2, "reconnected");
  assert.equal(socket().frames("ping").length, 0, "the old interval is gone; no new one before acceptance");
});

test("a replaced socket's late frames and close are ignored; close() is final", () => {
  const { connection, timers, states, socket } = connected();
  const first = socket();
  connection.drop();
  timers.advance(500);
  first.receive({ type: "hello" });
  assert.deepEqual(connection.frames, [], "a frame of the dropped socket");
  socket().receive({ type: "hello" });
  assert.equal(connection.frames.length, 1);
  const second = socket();
  connection.close();
  assert.equal(second.closedWith, 1000);
  assert.deepEqual(states.at(-1), ["closed", undefined]);
  timers.advance(60_000);
  assert.equal(FakeSocket.all.length, 2);
});

test("on() chains extra handlers after the class's own, in order", () => {
  const { connection, socket } = connected();
  const seen = [];
  connection.on("hello", () => seen.push(`a${connection.frames.length}`)).on("hello", () => seen.push("b"));
  socket().receive({ type: "hello" });
  socket().receive({ type: "other" }); // no handler anywhere: nothing happens
  assert.deepEqual(seen, ["a1", "b"]);
});
