// Unit tests of the Web Push switch (push.js): node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PushButton, base64UrlBytes, pushSupported, sameBytes } from "../../django_livechat/static/django_livechat/js/push.js";

const JS = new URL("../../django_livechat/static/django_livechat/js/", import.meta.url);
const BUTTON_HTML = readFileSync(
  new URL("../../django_livechat/templates/django_livechat/includes/push_button.html", import.meta.url),
  "utf8",
);
const KEY = "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U";
const STRINGS = {
  "turn-on": "Turn on notifications",
  "turn-off": "Turn off notifications",
  blocked: "Blocked here",
  busy: "One moment…",
  failed: "Could not turn them on.",
};

function fakeButton() {
  const status = { textContent: "" };
  const attributes = {};
  for (const [name, text] of Object.entries(STRINGS)) attributes[`data-i18n-${name}`] = text;
  const listeners = {};
  return {
    hidden: true,
    disabled: false,
    textContent: "",
    dataset: {
      vapidKey: KEY,
      subscriptionUrl: "/chat/push/subscription/",
      serviceWorker: "/chat/sw.js",
      scope: "/chat/",
      csrfToken: "tok",
    },
    attributes,
    getAttribute: (name) => attributes[name] ?? null,
    setAttribute: (name, value) => (attributes[name] = String(value)),
    addEventListener: (type, fn) => (listeners[type] = fn),
    click: () => listeners.click(),
    parentElement: { querySelector: () => status },
    status,
  };
}

/** A browser with a push manager that subscribes (or not), and a server that answers `status`. */
function fakeEnv({ permission = "default", answer = "granted", existing = null, status = 201 } = {}) {
  const calls = [];
  const subscription = (key) => ({
    endpoint: "https://push.example/sub/1",
    options: { applicationServerKey: key.buffer },
    toJSON: () => ({ endpoint: "https://push.example/sub/1", keys: { p256dh: "p", auth: "a" } }),
    unsubscribe: async () => calls.push(["unsubscribe"]),
  });
  let current = existing ? subscription(existing) : null;
  const registration = {
    active: { state: "activated" },
    pushManager: {
      getSubscription: async () => current,
      subscribe: async (options) => {
        calls.push(["subscribe", options]);
        current = subscription(options.applicationServerKey);
        return current;
      },
    },
  };
  const env = {
    isSecureContext: true,
    PushManager: function PushManager() {},
    Notification: {
      permission,
      requestPermission: async () => {
        calls.push(["requestPermission"]);
        env.Notification.permission = answer;
        return answer;
      },
    },
    navigator: {
      serviceWorker: {
        register: async (url, options) => {
          calls.push(["register", url, options]);
          return registration;
        },
        getRegistration: async () => (calls.some((c) => c[0] === "register") || existing ? registration : undefined),
      },
    },
    fetch: async (url, init) => {
      calls.push(["fetch", url, init]);
      return { ok: status < 300, status };
    },
  };
  return { env, calls };
}

test("base64url keys become the applicationServerKey's 65 bytes", () => {
  const bytes = base64UrlBytes(KEY);
  assert.equal(bytes.length, 65);
  assert.equal(bytes[0], 4);
  assert.ok(sameBytes(bytes.buffer, base64UrlBytes(KEY)));
  assert.ok(!sameBytes(bytes, base64UrlBytes(KEY.replace("B", "C"))));
});

test("hidden where push is unsupported or not configured", async () => {
  assert.equal(pushSupported({ ...fakeEnv().env, isSecureContext: false }), false);
  assert.equal(pushSupported({ ...fakeEnv().env, PushManager: undefined }), false);
  assert.equal(pushSupported({ ...fakeEnv().env, navigator: {} }), false);
  const button = fakeButton();
  assert.equal(await new PushButton(button, { ...fakeEnv().env, PushManager: undefined }).start(), false);
  assert.equal(button.hidden, true);
  const keyless = fakeButton();
  keyless.dataset.vapidKey = "";
  assert.equal(await new PushButton(keyless, fakeEnv().env).start(), false);
  assert.equal(keyless.hidden, true);
});

test("shown without asking; the click asks, registers, subscribes and posts", async () => {
  const { env, calls } = fakeEnv();
  const button = fakeButton();
  const push = new PushButton(button, env);
  assert.equal(await push.start(), true);
  assert.equal(button.hidden, false);
  assert.equal(button.textContent, "Turn on notifications");
  assert.deepEqual(calls, []); // nothing asked before the click

  await push.toggle();
  assert.deepEqual(
    calls.map((c) => c[0]),
    ["requestPermission", "register", "subscribe", "fetch"],
  );
  assert.deepEqual(calls[1].slice(1), ["/chat/sw.js", { scope: "/chat/" }]);
  assert.equal(calls[2][1].userVisibleOnly, true);
  assert.ok(sameBytes(calls[2][1].applicationServerKey, base64UrlBytes(KEY)));
  const [, url, init] = calls[3];
  assert.equal(url, "/chat/push/subscription/");
  assert.equal(init.method, "POST");
  assert.equal(init.headers["X-CSRFToken"], "tok");
  assert.deepEqual(JSON.parse(init.body), { endpoint: "https://push.example/sub/1", keys: { p256dh: "p", auth: "a" } });
  assert.equal(push.state, "on");
  assert.equal(button.textContent, "Turn off notifications");
  assert.equal(button.getAttribute("aria-pressed"), "true");
});

test("a refusal blocks the switch and registers nothing", async () => {
  const { env, calls } = fakeEnv({ answer: "denied" });
  const button = fakeButton();
  const push = new PushButton(button, env);
  await push.start();
  await push.toggle();
  assert.deepEqual(calls.map((c) => c[0]), ["requestPermission"]);
  assert.equal(push.state, "blocked");
  assert.equal(button.disabled, true);
  assert.equal(button.textContent, "Blocked here");
});

test("a subscription made with another key is replaced", async () => {
  const { env, calls } = fakeEnv({ permission: "granted", existing: new Uint8Array(65).fill(7) });
  const push = new PushButton(fakeButton(), env);
  await push.start();
  assert.equal(push.state, "on"); // the browser holds a subscription already
  push.state = "off";
  await push.toggle();
  assert.deepEqual(
    calls.map((c) => c[0]),
    ["requestPermission", "register", "unsubscribe", "subscribe", "fetch"],
  );
});

test("turning off deletes the subscription on the server and in the browser", async () => {
  const { env, calls } = fakeEnv({ permission: "granted", existing: base64UrlBytes(KEY) });
  const button = fakeButton();
  const push = new PushButton(button, env);
  await push.start();
  assert.equal(push.state, "on");
  await push.toggle();
  const [, , init] = calls.find((c) => c[0] === "fetch");
  assert.equal(init.method, "DELETE");
  assert.deepEqual(JSON.parse(init.body), { endpoint: "https://push.example/sub/1" });
  assert.ok(calls.some((c) => c[0] === "unsubscribe"));
  assert.equal(push.state, "off");
});

test("a server's refusal is told, and the switch stays off", async () => {
  const { env } = fakeEnv({ status: 400 });
  const button = fakeButton();
  const push = new PushButton(button, env);
  await push.start();
  await push.toggle();
  assert.equal(push.state, "off");
  assert.equal(button.status.textContent, "Could not turn them on.");
  assert.match(button.dataset.error, /400/);
});

test("the template carries every string and hook; no innerHTML in the scripts", () => {
  for (const name of Object.keys(STRINGS)) assert.match(BUTTON_HTML, new RegExp(`data-i18n-${name}=`), name);
  for (const hook of ["data-vapid-key", "data-subscription-url", "data-service-worker", "data-scope", "data-csrf-token"]) {
    assert.match(BUTTON_HTML, new RegExp(hook), hook);
  }
  for (const file of ["push.js", "sw.js"]) {
    assert.doesNotMatch(readFileSync(new URL(file, JS), "utf8"), /innerHTML|insertAdjacentHTML|outerHTML/, file);
  }
});
