// Unit tests of the support widget's logic: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { test } from "node:test";

import { LiveChatClient } from "../../django_livechat/static/django_livechat/js/client.js";
import {
  OPEN_KEY,
  SupportWidget,
  describeSupport,
  initialSupportState,
  nextSupportState,
  readConfig,
} from "../../django_livechat/static/django_livechat/js/widget.js";
import { FakeSocket, FakeStorage } from "./fakes.mjs";

const CONFIG = {
  startUrl: "/chat/support/start/",
  currentUrl: "/chat/support/current/",
  csrfToken: "tok3n",
  page: "/pricing/?plan=pro",
};
const CONVERSATION = {
  conversation: "support-0123456789abcdef",
  ws_path: "/ws/livechat/rooms/support-0123456789abcdef/",
  history_url: "/chat/rooms/support-0123456789abcdef/history/",
  created: true,
};
const LOCATION = { protocol: "https:", host: "shop.example" };

const quietTimers = {
  setTimeout: () => ({}),
  clearTimeout: () => {},
  setInterval: () => ({}),
  clearInterval: () => {},
  now: () => 1000,
};

/** A fetch that answers by method and URL, and records every call. */
function fakeFetch(routes) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const method = init.method || "GET";
    calls.push({ method, url, init });
    const route = routes[`${method} ${url}`];
    if (!route) throw new Error(`unexpected ${method} ${url}`);
    const { status, body } = route;
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  fn.calls = calls;
  return fn;
}

function fakeUI() {
  const ui = { modes: [], opens: [], supports: [], errors: [], unread: [] };
  ui.setMode = (m) => ui.modes.push(m);
  ui.setOpen = (o) => ui.opens.push(o);
  ui.renderSupport = (s) => ui.supports.push(s);
  ui.showError = (t) => ui.errors.push(t);
  ui.setUnread = (f) => ui.unread.push(f);
  return ui;
}

function makeWidget({ routes, storage = new FakeStorage(), ui = fakeUI() }) {
  const fetch = fakeFetch(routes);
  const clients = [];
  const widget = new SupportWidget({
    config: CONFIG,
    fetch,
    storage,
    ui,
    text: (name) => `[${name}]`,
    createClient: (path) => {
      const client = new LiveChatClient({
        path,
        view: {},
        location: LOCATION,
        WebSocket: FakeSocket,
        timers: quietTimers,
      });
      clients.push(client);
      return client;
    },
  });
  return { widget, fetch, ui, clients, storage };
}

function welcome(support, extra = {}) {
  return {
    type: "welcome",
    room: { slug: CONVERSATION.conversation, title: "Support", kind: "support", locked: false },
    you: { id: "g:0123456789abcdef0123", name: "Guest 0123", kind: "guest", can_post: true, is_staff: false },
    presence: [],
    messages: [],
    last_id: 0,
    has_more: false,
    support,
    ...extra,
  };
}

const NO_CONVERSATION = { "GET /chat/support/current/": { status: 404, body: { type: "error", code: "not_found" } } };

// -- the start flow ----------------------------------------------------------------------------

test("no conversation yet: GET current (404), then on open POST start and connect to its ws_path", async () => {
  FakeSocket.all = [];
  const { widget, fetch, ui } = makeWidget({
    routes: { ...NO_CONVERSATION, "POST /chat/support/start/": { status: 201, body: CONVERSATION } },
  });
  await widget.init();
  assert.deepEqual(fetch.calls.map((c) => `${c.method} ${c.url}`), ["GET /chat/support/current/"]);
  assert.equal(fetch.calls[0].init.credentials, "same-origin");
  assert.deepEqual(ui.modes, ["start"]);
  assert.equal(FakeSocket.all.length, 0, "nothing connects before the visitor opens the panel");

  await widget.open();
  assert.deepEqual(fetch.calls.map((c) => `${c.method} ${c.url}`), [
    "GET /chat/support/current/",
    "POST /chat/support/start/",
  ]);
  const post = fetch.calls[1].init;
  assert.equal(post.credentials, "same-origin");
  assert.equal(post.headers["X-CSRFToken"], "tok3n");
  assert.ok(post.body instanceof FormData);
  assert.equal(post.body.get("page"), "/pricing/?plan=pro");
  assert.deepEqual(FakeSocket.all.map((s) => s.url), ["wss://shop.example/ws/livechat/rooms/support-0123456789abcdef/"]);
  assert.deepEqual(ui.modes, ["start", "resume"]);
});

test("an existing conversation (GET current 200): the button resumes, opening connects without POST", async () => {
  FakeSocket.all = [];
  const { widget, fetch, ui } = makeWidget({
    routes: { "GET /chat/support/current/": { status: 200, body: { ...CONVERSATION, created: false } } },
  });
  await widget.init();
  assert.deepEqual(ui.modes, ["resume"]);
  assert.equal(FakeSocket.all.length, 0, "connects only when opened");
  await widget.open();
  assert.deepEqual(fetch.calls.map((c) => c.method), ["GET"], "no POST to start");
  assert.deepEqual(FakeSocket.all.map((s) => s.url), ["wss://shop.example/ws/livechat/rooms/support-0123456789abcdef/"]);
});

test("opening twice quickly starts one conversation and one connection", async () => {
  FakeSocket.all = [];
  const { widget, fetch } = makeWidget({
    routes: { ...NO_CONVERSATION, "POST /chat/support/start/": { status: 201, body: CONVERSATION } },
  });
  await widget.init();
  await Promise.all([widget.open(), widget.open()]);
  assert.equal(fetch.calls.filter((c) => c.method === "POST").length, 1);
  assert.equal(FakeSocket.all.length, 1);
});

test("a refused start shows the server's detail and connects nothing", async () => {
  FakeSocket.all = [];
  const { widget, ui } = makeWidget({
    routes: {
      ...NO_CONVERSATION,
      "POST /chat/support/start/": { status: 403, body: { type: "error", code: "forbidden", detail: "Log in to contact us." } },
    },
  });
  await widget.init();
  await widget.open();
  assert.equal(ui.errors.at(-1), "Log in to contact us.");
  assert.equal(FakeSocket.all.length, 0);
  assert.equal(widget.client, null);
});

test("a network failure on start shows the translated fallback", async () => {
  FakeSocket.all = [];
  const { widget, ui } = makeWidget({ routes: NO_CONVERSATION }); // POST throws
  await widget.init();
  await widget.open();
  assert.equal(ui.errors.at(-1), "[start-failed]");
  assert.equal(FakeSocket.all.length, 0);
});

test("a message written before the conversation has started is sent once it is connected", async () => {
  FakeSocket.all = [];
  const { widget, fetch } = makeWidget({
    routes: { ...NO_CONVERSATION, "POST /chat/support/start/": { status: 201, body: CONVERSATION } },
  });
  await widget.init();
  const opening = widget.open(); // the start POST is still under way
  const clientId = await widget.post("  hello  ");
  await opening;
  assert.ok(clientId);
  assert.equal(fetch.calls.filter((c) => c.method === "POST").length, 1);
  const socket = FakeSocket.all[0];
  assert.deepEqual(socket.sent, [], "nothing goes out before the welcome");
  socket.receive(welcome({ staff_online: true, hours: "" }));
  assert.deepEqual(socket.sent.filter((f) => f.type === "message"), [{ type: "message", client_id: clientId, body: "hello" }]);
  assert.equal(await widget.post("   "), null);
});

test("a message cannot be sent when the conversation cannot start", async () => {
  FakeSocket.all = [];
  const { widget } = makeWidget({ routes: NO_CONVERSATION });
  await widget.init();
  assert.equal(await widget.post("hello"), null);
  assert.equal(FakeSocket.all.length, 0);
});

// -- panel state --------------------------------------------------------------------------------

test("the panel state is saved in sessionStorage and restored (and connected) after a reload", async () => {
  FakeSocket.all = [];
  const routes = { "GET /chat/support/current/": { status: 200, body: CONVERSATION } };
  const storage = new FakeStorage();
  const first = makeWidget({ routes, storage });
  await first.widget.init();
  await first.widget.open();
  assert.equal(storage.getItem(OPEN_KEY), "open");

  FakeSocket.all = [];
  const reloaded = makeWidget({ routes, storage });
  await reloaded.widget.init();
  assert.equal(reloaded.widget.isOpen, true);
  assert.equal(reloaded.ui.opens.at(-1), true);
  assert.equal(FakeSocket.all.length, 1, "a restored open panel connects");

  reloaded.widget.close();
  assert.equal(storage.getItem(OPEN_KEY), "closed");
  FakeSocket.all = [];
  const again = makeWidget({ routes, storage });
  await again.widget.init();
  assert.equal(again.widget.isOpen, false);
  assert.equal(FakeSocket.all.length, 0);
});

// -- frames ------------------------------------------------------------------------------------

async function connectedWidget() {
  FakeSocket.all = [];
  const made = makeWidget({ routes: { "GET /chat/support/current/": { status: 200, body: CONVERSATION } } });
  await made.widget.init();
  await made.widget.open();
  return { ...made, socket: FakeSocket.all[0] };
}

test("offline notice: shown from welcome.support.staff_online false (with hours), hidden after staff online", async () => {
  const { ui, socket } = await connectedWidget();
  socket.receive(welcome({ staff_online: false, hours: "We answer Mon-Fri, 9-17 CET." }));
  let shown = ui.supports.at(-1);
  assert.equal(shown.offline, true);
  assert.equal(shown.online, false);
  assert.equal(shown.hours, "We answer Mon-Fri, 9-17 CET.");

  socket.receive({ type: "staff", online: true });
  shown = ui.supports.at(-1);
  assert.equal(shown.offline, false);
  assert.equal(shown.online, true);
  assert.equal(shown.hours, "", "the hours belong to the offline notice");

  socket.receive({ type: "staff", online: false });
  assert.equal(ui.supports.at(-1).offline, true);
});

test("a conversation frame naming an assignee shows them; closed and unassigned are shown too", async () => {
  const { ui, socket } = await connectedWidget();
  socket.receive(welcome({ staff_online: true, hours: "" }));
  assert.equal(ui.supports.at(-1).assignee, null);
  socket.receive({ type: "conversation", status: "open", assignee: { id: "u:3", name: "Ann" } });
  assert.equal(ui.supports.at(-1).assignee, "Ann");
  assert.equal(ui.supports.at(-1).closed, false);
  socket.receive({ type: "conversation", status: "closed", assignee: null });
  assert.equal(ui.supports.at(-1).assignee, null);
  assert.equal(ui.supports.at(-1).closed, true);
});

test("room and deleted frames reach the room view through the client", async () => {
  FakeSocket.all = [];
  const calls = [];
  const view = { setRoom: (room) => calls.push(["setRoom", room.locked]), removeMessage: (id) => calls.push(["removeMessage", id]) };
  const widget = new SupportWidget({
    config: CONFIG,
    fetch: fakeFetch({ "GET /chat/support/current/": { status: 200, body: CONVERSATION } }),
    ui: fakeUI(),
    createClient: (path) => new LiveChatClient({ path, view, location: LOCATION, WebSocket: FakeSocket, timers: quietTimers }),
  });
  await widget.init();
  await widget.open();
  const socket = FakeSocket.all[0];
  const message = { type: "message", id: 1, room: "s", author: { id: "u:3", name: "Ann", kind: "user" }, body: "hi", created: "2026-01-01T00:00:00+00:00", client_id: "x" };
  socket.receive(welcome({ staff_online: true, hours: "" }, { messages: [message], last_id: 1 }));
  socket.receive({ type: "deleted", id: 1, room: "s" });
  socket.receive({ type: "room", room: { slug: "s", title: "S", kind: "support", locked: true } });
  assert.deepEqual(calls, [["setRoom", false], ["removeMessage", 1], ["setRoom", true]]);
  assert.equal(widget.support.locked, true);
});

test("an answer while the panel is closed marks the button unread; the visitor's own does not", async () => {
  const { widget, ui, socket } = await connectedWidget();
  socket.receive(welcome({ staff_online: true, hours: "" }));
  widget.close();
  const at = (id, author) => ({ type: "message", id, room: "s", author, body: "x", created: "2026-01-01T00:00:00+00:00", client_id: `c${id}` });
  socket.receive(at(1, { id: "g:0123456789abcdef0123", name: "Guest 0123", kind: "guest" }));
  assert.notEqual(ui.unread.at(-1), true);
  socket.receive(at(2, { id: "u:3", name: "Ann", kind: "user" }));
  assert.equal(ui.unread.at(-1), true);
  await widget.open();
  assert.equal(ui.unread.at(-1), false);
});

test("read receipts go out only while the panel is open", async () => {
  const { widget, socket } = await connectedWidget();
  socket.receive(welcome({ staff_online: true, hours: "" }));
  const msg = (id) => ({ type: "message", id, room: "s", author: { id: "u:3", name: "Ann", kind: "user" }, body: "x", created: "2026-01-01T00:00:00+00:00", client_id: `c${id}` });
  socket.receive(msg(1));
  assert.deepEqual(socket.sent.filter((f) => f.type === "read"), [{ type: "read", last_read: 1 }]);
  widget.close();
  socket.receive(msg(2));
  assert.equal(socket.sent.filter((f) => f.type === "read").length, 1);
});

// -- pure pieces --------------------------------------------------------------------------------

test("nextSupportState: welcome without support (not a support room) leaves staff status unknown", () => {
  const state = nextSupportState(initialSupportState(), welcome(undefined));
  assert.equal(state.staffOnline, null);
  const shown = describeSupport(state);
  assert.equal(shown.online, false);
  assert.equal(shown.offline, false);
});

test("nextSupportState does not mutate and ignores unknown frames", () => {
  const state = initialSupportState();
  const next = nextSupportState(state, { type: "staff", online: true });
  assert.equal(state.staffOnline, null);
  assert.equal(next.staffOnline, true);
  assert.equal(nextSupportState(next, { type: "pong" }), next);
});


test("readConfig takes the URLs, token and page from data-* attributes", () => {
  const config = readConfig({ startUrl: "/s/", currentUrl: "/c/", csrfToken: "t", page: "/p" });
  assert.deepEqual(config, { startUrl: "/s/", currentUrl: "/c/", csrfToken: "t", page: "/p" });
});

// -- "Get replies by e-mail" -------------------------------------------------------------------

function contactUI() {
  const ui = fakeUI();
  ui.contacts = [];
  ui.results = [];
  ui.setContact = (c) => ui.contacts.push(c);
  ui.contactResult = (r) => ui.results.push(r);
  return ui;
}

test("the stored address and transcript wish are shown from support-current", async () => {
  const ui = contactUI();
  const { widget } = makeWidget({
    ui,
    routes: { "GET /chat/support/current/": { status: 200, body: { ...CONVERSATION, created: false, email: "ann@example.com", transcript: true } } },
  });
  await widget.init();
  assert.deepEqual(ui.contacts, [{ email: "ann@example.com", transcript: true }]);
});

test("saving the address posts email and transcript to the start URL and shows the result", async () => {
  FakeSocket.all = [];
  const ui = contactUI();
  const saved = { ...CONVERSATION, created: false, email: "ann@example.com", transcript: true };
  const { widget, fetch } = makeWidget({
    ui,
    routes: {
      "GET /chat/support/current/": { status: 200, body: { ...CONVERSATION, created: false, email: "", transcript: false } },
      "POST /chat/support/start/": { status: 200, body: saved },
    },
  });
  await widget.init();
  await widget.open();
  assert.equal(await widget.saveContact("  ann@example.com ", true), true);
  const post = fetch.calls.at(-1);
  assert.equal(post.method, "POST");
  assert.equal(post.init.headers["X-CSRFToken"], "tok3n");
  assert.equal(post.init.body.get("email"), "ann@example.com");
  assert.equal(post.init.body.get("transcript"), "1");
  assert.equal(post.init.body.get("page"), "/pricing/?plan=pro");
  assert.deepEqual(ui.contacts.at(-1), { email: "ann@example.com", transcript: true });
  assert.deepEqual(ui.results, [{ ok: true, detail: null }]);
  assert.equal(FakeSocket.all.length, 1, "the same conversation: no second connection");
});

test("unchecked, the transcript field is left out; a refused address shows the server's detail", async () => {
  const ui = contactUI();
  const refusal = { type: "error", code: "invalid_frame", detail: "email: Enter a valid email address." };
  const { widget, fetch } = makeWidget({
    ui,
    routes: { ...NO_CONVERSATION, "POST /chat/support/start/": { status: 400, body: refusal } },
  });
  await widget.init();
  assert.equal(await widget.saveContact("nope", false), false);
  assert.equal(fetch.calls.at(-1).init.body.has("transcript"), false);
  assert.deepEqual(ui.results, [{ ok: false, detail: "email: Enter a valid email address." }]);
  assert.equal(widget.conversation, null);
});

test("a network failure while saving shows the translated fallback", async () => {
  const ui = contactUI();
  const { widget } = makeWidget({ ui, routes: NO_CONVERSATION });
  await widget.init();
  widget.fetch = async () => {
    throw new TypeError("offline");
  };
  assert.equal(await widget.saveContact("ann@example.com", false), false);
  assert.deepEqual(ui.results, [{ ok: false, detail: "[contact-failed]" }]);
});
