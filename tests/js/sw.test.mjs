// Unit tests of the service worker (sw.js), run in a node:vm context that stands in for a
// ServiceWorkerGlobalScope: node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

const SOURCE = readFileSync(
  new URL("../../django_livechat/static/django_livechat/js/sw.js", import.meta.url),
  "utf8",
);

/** A worker at /chat/sw.js whose push manager subscribes to `subscribed`; fetches recorded. */
function worker({ subscribed = null } = {}) {
  const listeners = {};
  const fetches = [];
  const subscribeCalls = [];
  const scope = {
    location: new URL("https://chat.example.com/chat/sw.js"),
    registration: {
      scope: "https://chat.example.com/chat/",
      pushManager: {
        subscribe: async (options) => {
          subscribeCalls.push(options);
          return subscribed;
        },
      },
    },
    clients: { claim: async () => {} },
    skipWaiting: () => {},
    addEventListener: (type, fn) => (listeners[type] = fn),
    fetch: async (url, init) => {
      fetches.push({ url, init });
      return { ok: true };
    },
    URL,
    JSON,
  };
  scope.self = scope;
  vm.runInNewContext(SOURCE, scope);
  return {
    fetches,
    subscribeCalls,
    async fire(type, fields) {
      let waited = null;
      listeners[type]({ ...fields, waitUntil: (promise) => (waited = promise) });
      await waited;
    },
  };
}

const sub = (endpoint) => ({
  endpoint,
  options: { userVisibleOnly: true, applicationServerKey: "key" },
  toJSON: () => ({ endpoint, keys: { p256dh: "p", auth: "a" } }),
});

test("a changed subscription is sent to the renew endpoint beside the worker, with the old endpoint", async () => {
  const sw = worker();
  await sw.fire("pushsubscriptionchange", {
    oldSubscription: sub("https://fcm.googleapis.com/fcm/send/old"),
    newSubscription: sub("https://fcm.googleapis.com/fcm/send/new"),
  });
  assert.equal(sw.fetches.length, 1);
  assert.equal(sw.fetches[0].url, "https://chat.example.com/chat/push/subscription/renew/");
  assert.equal(sw.fetches[0].init.method, "POST");
  assert.deepEqual(JSON.parse(sw.fetches[0].init.body), {
    old_endpoint: "https://fcm.googleapis.com/fcm/send/old",
    endpoint: "https://fcm.googleapis.com/fcm/send/new",
    keys: { p256dh: "p", auth: "a" },
  });
  assert.deepEqual(sw.subscribeCalls, []); // the browser gave the new one
});

test("without a new subscription the worker subscribes again with the old one's options", async () => {
  const sw = worker({ subscribed: sub("https://updates.push.services.mozilla.com/wpush/v2/n") });
  await sw.fire("pushsubscriptionchange", {
    oldSubscription: sub("https://updates.push.services.mozilla.com/wpush/v2/o"),
    newSubscription: null,
  });
  assert.deepEqual(sw.subscribeCalls, [{ userVisibleOnly: true, applicationServerKey: "key" }]);
  const body = JSON.parse(sw.fetches[0].init.body);
  assert.equal(body.endpoint, "https://updates.push.services.mozilla.com/wpush/v2/n");
  assert.equal(body.old_endpoint, "https://updates.push.services.mozilla.com/wpush/v2/o");
});

test("with no old subscription nothing is sent: the server could not know which it was", async () => {
  const sw = worker({ subscribed: sub("https://fcm.googleapis.com/fcm/send/x") });
  await sw.fire("pushsubscriptionchange", { oldSubscription: null, newSubscription: null });
  assert.deepEqual(sw.fetches, []);
});
