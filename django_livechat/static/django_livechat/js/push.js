/**
 * django-livechat's Web Push switch (an ES module, no build step): the "Turn on notifications"
 * button of includes/push_button.html. Only on the user's click does it ask for the Notification
 * permission, register the service worker (js/sw.js, served at data-service-worker with the
 * scope data-scope), subscribe with the site's VAPID public key (data-vapid-key) and post the
 * subscription to data-subscription-url (with data-csrf-token). A second click turns it off.
 *
 * The button stays hidden where push is not supported (no service worker, no PushManager, not
 * a secure context) or not configured (no key). Its texts are data-i18n-<name> attributes.
 */

import { translate } from "./i18n.js";

/**
 * The bytes of an unpadded base64url string (the VAPID public key as `applicationServerKey`).
 * @param {string} text
 * @returns {Uint8Array}
 */
export function base64UrlBytes(text) {
  const base64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Whether two byte sequences (ArrayBuffer or views) hold the same bytes. */
export function sameBytes(a, b) {
  if (!a || !b) return false;
  const x = new Uint8Array(a.buffer ? a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength) : a);
  const y = new Uint8Array(b.buffer ? b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) : b);
  return x.length === y.length && x.every((value, i) => value === y[i]);
}

/**
 * Whether this browser can receive Web Push here.
 * @param {any} env an object with navigator, Notification, PushManager, isSecureContext (window)
 */
export function pushSupported(env) {
  return Boolean(
    env &&
      env.isSecureContext &&
      env.navigator &&
      "serviceWorker" in env.navigator &&
      env.PushManager &&
      env.Notification,
  );
}

/** A registration's worker, once it is active (PushManager.subscribe needs one). */
export function activated(registration) {
  if (registration.active) return Promise.resolve(registration);
  const worker = registration.installing || registration.waiting;
  if (!worker) return Promise.resolve(registration);
  return new Promise((resolve, reject) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve(registration);
      else if (worker.state === "redundant") reject(new Error("The service worker failed."));
    });
  });
}

/** The button and what it does; `env` is `window` (tests pass fakes). */
export class PushButton {
  /**
   * @param {HTMLButtonElement} button
   * @param {any} env
   */
  constructor(button, env) {
    this.button = button;
    this.env = env;
    const data = button.dataset;
    this.key = data.vapidKey || "";
    this.subscriptionUrl = data.subscriptionUrl || "";
    this.workerUrl = data.serviceWorker || "";
    this.scope = data.scope || "/";
    this.csrfToken = data.csrfToken || "";
    this.statusElement = button.parentElement
      ? button.parentElement.querySelector("[data-livechat-push-status]")
      : null;
    /** "off", "on", "blocked", "busy" */
    this.state = "off";
  }

  /** Show the button in its current state (no permission is asked here). */
  async start() {
    if (!this.key || !this.subscriptionUrl || !pushSupported(this.env)) return false;
    let subscribed = false;
    if (this.env.Notification.permission === "granted") {
      try {
        const registration = await this.env.navigator.serviceWorker.getRegistration(this.scope);
        subscribed = Boolean(registration && (await registration.pushManager.getSubscription()));
      } catch {
        subscribed = false;
      }
    }
    this.show(this.env.Notification.permission === "denied" ? "blocked" : subscribed ? "on" : "off");
    this.button.hidden = false;
    this.button.addEventListener("click", () => this.toggle());
    return true;
  }

  /** @param {string} state @param {string} [status] a message beside the button */
  show(state, status = "") {
    this.state = state;
    this.button.dataset.state = state;
    const names = { on: "turn-off", off: "turn-on", blocked: "blocked", busy: "busy" };
    this.button.textContent = translate(this.button, names[state] || "turn-on");
    this.button.disabled = state === "blocked" || state === "busy";
    this.button.setAttribute("aria-pressed", state === "on" ? "true" : "false");
    if (this.statusElement) this.statusElement.textContent = status;
  }

  async toggle() {
    if (this.state === "busy" || this.state === "blocked") return;
    const wasOn = this.state === "on";
    this.show("busy");
    try {
      if (wasOn) {
        await this.turnOff();
        this.show("off");
      } else {
        this.show(await this.turnOn());
      }
    } catch (error) {
      this.show(wasOn ? "on" : "off", translate(this.button, "failed"));
      this.button.dataset.error = String((error && error.message) || error);
    }
  }

  /** Ask, register, subscribe, post: the new state ("on", or "blocked"/"off" if refused). */
  async turnOn() {
    const permission = await this.env.Notification.requestPermission();
    if (permission === "denied") return "blocked";
    if (permission !== "granted") return "off";
    const workers = this.env.navigator.serviceWorker;
    const registration = await activated(await workers.register(this.workerUrl, { scope: this.scope }));
    const key = base64UrlBytes(this.key);
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameBytes(subscription.options.applicationServerKey, key)) {
      await subscription.unsubscribe(); // made with another key: the push service would refuse
      subscription = null;
    }
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: key,
      });
    }
    await this.post("POST", subscription.toJSON());
    return "on";
  }

  /** Forget the subscription here and on the server. */
  async turnOff() {
    const registration = await this.env.navigator.serviceWorker.getRegistration(this.scope);
    const subscription = registration ? await registration.pushManager.getSubscription() : null;
    if (!subscription) return;
    await this.post("DELETE", { endpoint: subscription.endpoint });
    await subscription.unsubscribe();
  }

  /** Send `body` as JSON to the subscription endpoint; throws unless it answers 2xx. */
  async post(method, body) {
    const response = await this.env.fetch(this.subscriptionUrl, {
      method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": this.csrfToken,
      },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`The server answered ${response.status}.`);
    return response;
  }
}

if (typeof document !== "undefined") {
  const start = () => {
    for (const button of document.querySelectorAll("[data-livechat-push]")) {
      if (button.livechatPush) continue;
      button.livechatPush = new PushButton(button, window);
      button.livechatPush.start();
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}
