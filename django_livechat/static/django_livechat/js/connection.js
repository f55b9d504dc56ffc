/**
 * django-livechat's socket life cycle (an ES module, no DOM, no dependencies): connect,
 * reconnect with full-jitter backoff, a ping every 25 s, the silence watchdog, the close codes
 * after which reconnecting cannot help, and the state changes the view is told of.
 *
 * `Connection` is a base class: the room client (`LiveChatClient`, livechat.js) and the staff
 * console (`StaffConsole`, console.js) extend it. Subclassing rather than composition, because
 * both *are* such a connection: each handles frames in `on_<type>` methods that this class
 * dispatches to, and changes only a step or two of the life cycle (`url()` for the resume point,
 * `endConnection()` for what a lost socket clears, `send()` for what is refused). Composed, each
 * of those would be a callback, and both clients would forward `send`, `state`, `connect` and
 * `close` to an inner object.
 */

/** Close codes after which a room client does not reconnect (protocol.Close.FINAL). */
export const FINAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4404, 4410]);
/** Close codes after which the staff console does not reconnect (protocol.Close.STAFF_FINAL). */
export const STAFF_FINAL_CLOSE_CODES = new Set([4401, 4403]);

export const PING_EVERY_MS = 25000;
/** No frame at all (a `pong` counts) for this long: the socket is given up and reopened. */
export const SILENCE_LIMIT_MS = 60000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 10000;
/** The code a silent socket is closed with (any 4000-4999 code that is not final). */
export const CLOSE_SILENT = 4000;
/** `too_many_connections`: retry later, so wait the longest backoff... */
const CLOSE_TOO_MANY = 4429;
/** ...plus up to this much more, at random: refused clients do not all come back together. */
const TOO_MANY_JITTER_MS = 10000;

/**
 * Full-jitter exponential backoff: a random delay in [0, min(cap, base * 2^attempt)].
 * @param {number} attempt 0 for the first retry
 * @param {() => number} [random] a number in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(random() * ceiling);
}

/**
 * The WebSocket URL of a path: `wss:` on an `https:` page, else `ws:`.
 * @param {{protocol: string, host: string}} location the page's location
 * @param {string} path e.g. "/ws/livechat/rooms/lobby/"
 * @param {number} [lastId] resume after this id (`?after=`); 0 when no message was seen yet
 * @param {number|null} [lastChange] the room's last change number applied (`&changes=`), once a
 *   welcome told it: the next welcome lists the messages deleted since
 * @returns {string}
 */
export function socketUrl(location, path, lastId = 0, lastChange = null) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = [];
  if (lastId > 0) params.push(`after=${lastId}`);
  if (lastChange !== null && lastChange !== undefined) params.push(`changes=${lastChange}`);
  const query = params.length ? `?${params.join("&")}` : "";
  return `${scheme}//${location.host}${path}${query}`;
}

/** The browser's timers, late-bound so that fake timers installed by a test apply. */
function browserTimers() {
  return {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle),
    setInterval: (fn, ms) => setInterval(fn, ms),
    clearInterval: (handle) => clearInterval(handle),
    now: () => Date.now(),
  };
}

/**
 * One socket, reopened until a final close code or `close()`.
 *
 * The view receives `setState(state, closeCode)` with state "connecting" | "online" |
 * "offline" | "closed"; subclasses call more of its methods through `call`. A subclass calls
 * `opened()` on the frame that proves the server accepted the connection.
 */
export class Connection {
  /**
   * @param {object} options
   * @param {string} options.path the WebSocket path
   * @param {object} [options.view] missing methods are skipped
   * @param {{protocol: string, host: string}} [options.location] defaults to the page's
   * @param {typeof WebSocket} [options.WebSocket] defaults to the browser's
   * @param {{setTimeout: Function, clearTimeout: Function, setInterval: Function,
   *   clearInterval: Function, now: () => number}} [options.timers]
   * @param {() => number} [options.random] for the backoff jitter
   * @param {Set<number>} [finalCodes] the close codes after which it does not reconnect
   */
  constructor({ path, view, location, WebSocket: Socket, timers, random }, finalCodes = FINAL_CLOSE_CODES) {
    this.path = path;
    this.view = view || null;
    this.location = location || globalThis.location;
    this.Socket = Socket || globalThis.WebSocket;
    this.timers = timers || browserTimers();
    this.random = random || Math.random;
    this.finalCodes = finalCodes;
    this.socket = null;
    this.state = "connecting";
    this.attempt = 0; // failed connections since the last accepted one: the backoff's exponent
    this.closedForGood = false;
    this.lastFrameAt = 0;
    this.keepalive = null;
    this.watchdog = null;
    this.reconnectTimer = null;
    /** Extra handlers by frame type, for extensions (the support widget, the console). */
    this.handlers = {};
  }

  /**
   * Run `fn(frame, connection)` after the built-in handling of each frame of `type` (chainable).
   * @param {string} type
   * @param {(frame: object, connection: Connection) => void} fn
   * @returns {this}
   */
  on(type, fn) {
    const previous = this.handlers[type];
    this.handlers[type] = (frame, connection) => {
      if (previous) previous(frame, connection);
      fn(frame, connection);
    };
    return this;
  }

  /** @returns {string} the URL of the next socket */
  url() {
    return socketUrl(this.location, this.path);
  }

  /** Open the socket (again). */
  connect() {
    if (this.closedForGood) return;
    this.reconnectTimer = null;
    this.setState("connecting");
    const socket = new this.Socket(this.url());
    this.socket = socket;
    // A replaced socket's late events are ignored.
    socket.onmessage = (event) => {
      if (this.socket === socket) this.onText(event.data);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.onClose(event.code);
    };
    socket.onerror = () => {}; // a close event follows
    this.lastFrameAt = this.timers.now();
    this.watch();
  }

  /** Close for good: no reconnect. */
  close() {
    this.closedForGood = true;
    const socket = this.socket;
    this.endConnection();
    this.timers.clearTimeout(this.reconnectTimer);
    if (socket) socket.close(1000);
    this.setState("closed");
  }

  /** @param {number} code the close code */
  onClose(code) {
    this.endConnection();
    if (this.closedForGood || this.finalCodes.has(code)) {
      this.closedForGood = true;
      this.setState("closed", code);
      return;
    }
    this.setState("offline", code);
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), this.reconnectDelay(code));
  }

  /** @param {number} code @returns {number} milliseconds before the next attempt */
  reconnectDelay(code) {
    const delay =
      code === CLOSE_TOO_MANY
        ? BACKOFF_CAP_MS + Math.round(this.random() * TOO_MANY_JITTER_MS)
        : backoffDelay(this.attempt, this.random);
    this.attempt += 1;
    return delay;
  }

  /** Forget the socket and its timers (a subclass extends this with its own state). */
  endConnection() {
    this.socket = null;
    this.timers.clearInterval(this.keepalive);
    this.timers.clearTimeout(this.watchdog);
  }

  /** The server accepted the connection: online, pinging, and the backoff starts over. */
  opened() {
    this.attempt = 0;
    this.setState("online");
    this.timers.clearInterval(this.keepalive);
    this.keepalive = this.timers.setInterval(() => this.send({ type: "ping", ts: this.timers.now() }), PING_EVERY_MS);
  }

  /** No frame for SILENCE_LIMIT_MS: give the socket up and reconnect. */
  drop() {
    const socket = this.socket;
    this.onClose(CLOSE_SILENT); // first, so the socket's own late close event is ignored
    if (socket) socket.close(CLOSE_SILENT);
  }

  /** Arm the silence watchdog for the time left since the last frame. */
  watch() {
    this.timers.clearTimeout(this.watchdog);
    const left = this.lastFrameAt + SILENCE_LIMIT_MS - this.timers.now();
    this.watchdog = this.timers.setTimeout(() => {
      if (this.timers.now() - this.lastFrameAt >= SILENCE_LIMIT_MS) this.drop();
      else this.watch();
    }, Math.max(0, left));
  }

  /**
   * Send a frame if the socket is open.
   * @param {object} frame
   * @returns {boolean} whether it was sent
   */
  send(frame) {
    if (!this.socket || this.socket.readyState !== 1) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  setState(state, code) {
    this.state = state;
    this.call("setState", state, code);
  }

  /** Call a view method, if the view has it. */
  call(method, ...args) {
    if (this.view && typeof this.view[method] === "function") this.view[method](...args);
  }

  /** Any frame (a `pong` included) proves the connection alive; `on_<type>` handles it. */
  onText(text) {
    this.lastFrameAt = this.timers.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    const handler = this[`on_${frame.type}`];
    if (typeof handler === "function") handler.call(this, frame);
    const extra = this.handlers[frame.type];
    if (typeof extra === "function") extra(frame, this);
  }
}
