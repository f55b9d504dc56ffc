/**
 * The outbox of a room client (client.js): the messages posted and not yet acknowledged, by
 * `client_id`, kept in sessionStorage across reloads and sent again after `rate_limited` or
 * `store_failed`. Free of the DOM: storage and timers are injected.
 */

/** Error codes after which an outbox entry is kept and sent again on the same connection. */
export const RETRY_ERROR_CODES = new Set(["rate_limited", "store_failed"]);

const RETRY_DELAY_MS = 3000;
/**
 * `store_failed`: retried after growing, jittered delays (1.5-3 s, then doubling up to 15-30 s);
 * shown as not sent after this many, about a minute: longer than a short database outage.
 */
export const STORE_FAILED_LIMIT = 6;
const STORE_RETRY_BASE_MS = 3000;
const STORE_RETRY_CAP_MS = 30000;
const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The wait before resending a message after its `failures`-th `store_failed` (1, 2, ...): it
 * doubles each time up to a cap, half of it random, so that clients do not come back together.
 * @param {number} failures
 * @param {() => number} [random] a number in [0, 1)
 * @returns {number} milliseconds
 */
export function storeRetryDelay(failures, random = Math.random) {
  const ceiling = Math.min(STORE_RETRY_CAP_MS, STORE_RETRY_BASE_MS * 2 ** (failures - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * A new `client_id`: a UUID, from `crypto.randomUUID` where the page is a secure context, else
 * 32 random hex digits (`crypto.getRandomValues`, or `Math.random` as a last resort).
 * @returns {string}
 */
export function newClientId() {
  const crypto = globalThis.crypto;
  if (crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (crypto && typeof crypto.getRandomValues === "function") crypto.getRandomValues(bytes);
  else bytes.forEach((_, i) => (bytes[i] = Math.floor(Math.random() * 256)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The unacknowledged messages, `{client_id, body, reply_to?, attachments?, failures?}` by
 * client_id, in posting order.
 */
export class Outbox extends Map {
  /**
   * @param {object} options
   * @param {Pick<Storage, "getItem"|"setItem"|"removeItem">|null} options.storage where the
   *   outbox survives a reload; without it the outbox lives in memory only
   * @param {string} options.key its storage key
   * @param {{setTimeout: Function, clearTimeout: Function}} options.timers
   * @param {() => number} options.random for the store_failed jitter
   * @param {(entry: object) => void} options.resend sends an entry again
   */
  constructor({ storage, key, timers, random, resend }) {
    super();
    this.storage = storage;
    this.key = key;
    this.timers = timers;
    this.random = random;
    this.resend = resend;
    this.retries = new Set();
    for (const entry of this.load()) this.set(entry.client_id, entry);
  }

  /**
   * Queue a body (already trimmed; empty only with attachments): a new entry, stored.
   * @param {string} body
   * @param {{reply_to?: number, attachments?: number[]}} [extra] the frame's other fields
   */
  add(body, extra = {}) {
    const entry = { client_id: newClientId(), body, ...extra };
    this.set(entry.client_id, entry);
    this.save();
    return entry;
  }

  /** Forget an entry, acknowledged or given up. @returns {boolean} whether it was here */
  remove(clientId) {
    if (!this.delete(clientId)) return false;
    this.save();
    return true;
  }

  /**
   * Send an entry again later if its error says so (RETRY_ERROR_CODES): `rate_limited` after
   * RETRY_DELAY_MS; `store_failed` after growing delays, STORE_FAILED_LIMIT times at most
   * (counted on the entry, so across reconnects and reloads too: a message the server can
   * never store is not resent for ever).
   * @returns {boolean} whether a retry is scheduled
   */
  scheduleRetry(entry, code) {
    if (!RETRY_ERROR_CODES.has(code)) return false;
    if (code !== "store_failed") {
      this.retryLater(entry);
      return true;
    }
    entry.failures = (entry.failures || 0) + 1;
    this.save();
    if (entry.failures >= STORE_FAILED_LIMIT) return false;
    this.retryLater(entry, storeRetryDelay(entry.failures, this.random));
    return true;
  }

  /** `rate_limited` or `store_failed`: send the same entry again later on this connection. */
  retryLater(entry, delay = RETRY_DELAY_MS) {
    const handle = this.timers.setTimeout(() => {
      this.retries.delete(handle); // a close clears the others: a new connection flushes anyway
      if (this.has(entry.client_id)) this.resend(entry);
    }, delay);
    this.retries.add(handle);
  }

  /** The connection ended: no retry is due on it. */
  cancelRetries() {
    for (const handle of this.retries) this.timers.clearTimeout(handle);
    this.retries.clear();
  }

  /** @returns {{client_id: string, body: string}[]} the outbox stored by an earlier page */
  load() {
    if (!this.storage) return [];
    try {
      const entries = JSON.parse(this.storage.getItem(this.key) || "[]");
      if (!Array.isArray(entries)) return [];
      return entries.filter(
        (e) =>
          e &&
          CLIENT_ID_RE.test(e.client_id) &&
          typeof e.body === "string" &&
          (e.body || (Array.isArray(e.attachments) && e.attachments.length)),
      );
    } catch {
      return [];
    }
  }

  save() {
    if (!this.storage) return;
    try {
      if (this.size) this.storage.setItem(this.key, JSON.stringify([...this.values()]));
      else this.storage.removeItem(this.key);
    } catch {
      /* storage full or disabled: the outbox still lives in memory */
    }
  }
}
