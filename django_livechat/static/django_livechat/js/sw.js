/**
 * django-livechat's service worker: shows the Web Push notifications the server sends
 * (django_livechat/webpush.py) and opens the chat when one is clicked.
 *
 * Served by the view `livechat:service-worker` (`<chat prefix>/sw.js`), so that its scope is the
 * chat's URL prefix; registered by js/push.js after the user turned notifications on.
 * A push carries JSON: {"title", "body", "url", "room", "tag"}. Nothing here builds markup.
 */

/* eslint-env serviceworker */

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

/**
 * The push's payload, or {} when it carries none or no JSON.
 * @param {PushEvent} event
 */
function payloadOf(event) {
  if (!event.data) return {};
  try {
    const data = event.data.json();
    return data && typeof data === "object" ? data : {};
  } catch (error) {
    return { body: event.data.text() };
  }
}

/** A same-origin URL of `url` (a push from this site only ever links to it), else the scope. */
function sameOrigin(url) {
  try {
    const parsed = new URL(String(url || ""), self.registration.scope);
    if (parsed.origin === self.location.origin) return parsed.href;
  } catch (error) {
    /* not a URL */
  }
  return self.registration.scope;
}

self.addEventListener("push", (event) => {
  const data = payloadOf(event);
  const title = String(data.title || "New message");
  const options = {
    body: String(data.body || ""),
    data: { url: sameOrigin(data.url), room: String(data.room || "") },
  };
  if (data.tag) {
    options.tag = String(data.tag);
    options.renotify = true; // a newer push of the same room alerts again
  }
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = sameOrigin(event.notification.data && event.notification.data.url);
  event.waitUntil(
    (async () => {
      const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of open) {
        // the room is open in a tab: bring it forward (another room's tab keeps its draft)
        if (client.url === url && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(url);
    })(),
  );
});

/**
 * The push service replaced the subscription (Firefox does when it rotates one): subscribe
 * again with the old one's options if the browser did not, and send the new one to the server
 * (`livechat:push-renew`, beside this script), which finds the old one by its endpoint. The
 * worker has no CSRF token: the old endpoint, a secret of this browser and its push service,
 * is the proof.
 * @param {PushSubscription | null} old
 * @param {PushSubscription | null} fresh
 */
async function renew(old, fresh) {
  if (!old) return; // nothing the server could know it by
  let next = fresh;
  if (!next && old.options) next = await self.registration.pushManager.subscribe(old.options);
  if (!next) return;
  await fetch(new URL("push/subscription/renew/", self.location.href).href, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ old_endpoint: old.endpoint, ...next.toJSON() }),
  });
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(renew(event.oldSubscription || null, event.newSubscription || null));
});
