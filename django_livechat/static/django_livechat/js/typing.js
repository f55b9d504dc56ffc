/**
 * The typing indicator of a room client (client.js): it tells the room while this user types,
 * and shows who else does. Free of the DOM: timers, the socket and the view are injected.
 */

const TYPING_SEND_EVERY_MS = 2000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 5000;

export class Typing {
  /**
   * @param {object} options
   * @param {{now: () => number, setTimeout: Function, clearTimeout: Function}} options.timers
   * @param {(frame: object) => unknown} options.send sends a frame to the room
   * @param {(names: string[]) => void} options.show shows who else is typing
   */
  constructor({ timers, send, show }) {
    this.timers = timers;
    this.send = send;
    this.show = show;
    /** @type {Map<string, {name: string, until: number}>} who else is typing, by identity id */
    this.others = new Map();
    this.expiry = null;
    this.lastSent = -Infinity;
    this.announced = false;
    this.idle = null;
  }

  /**
   * The user typed: tell the room (once `ready`) at most once per TYPING_SEND_EVERY_MS; stop
   * after idling.
   */
  typed(ready) {
    const now = this.timers.now();
    if (ready && now - this.lastSent >= TYPING_SEND_EVERY_MS) {
      this.lastSent = now;
      this.announced = true;
      this.send({ type: "typing", active: true });
    }
    this.timers.clearTimeout(this.idle);
    this.idle = this.timers.setTimeout(() => this.stopped(), TYPING_IDLE_MS);
  }

  /** The user sent, or idled: `typing active:false` if `active:true` was said. */
  stopped() {
    this.timers.clearTimeout(this.idle);
    this.idle = null;
    if (!this.announced) return;
    this.announced = false;
    this.lastSent = -Infinity;
    this.send({ type: "typing", active: false });
  }

  /** Someone else's `typing` frame: shown until TYPING_SHOWN_MS after their last `active: true`. */
  received(user, active) {
    if (active) {
      this.others.set(user.id, { name: user.name, until: this.timers.now() + TYPING_SHOWN_MS });
    } else {
      this.others.delete(user.id);
    }
    this.changed();
  }

  /** Identity `id` posted or left: no longer typing, whether or not their active:false arrived. */
  forget(id) {
    if (this.others.delete(id)) this.changed();
  }

  /** Drop the people whose last `active: true` is older than TYPING_SHOWN_MS. */
  expire() {
    const now = this.timers.now();
    for (const [id, entry] of this.others) if (entry.until <= now) this.others.delete(id);
    this.changed();
  }

  /** Show who is typing, and wake up when the first of them expires. */
  changed() {
    this.show([...this.others.values()].map((entry) => entry.name));
    this.timers.clearTimeout(this.expiry);
    this.expiry = null;
    if (!this.others.size) return;
    const first = Math.min(...[...this.others.values()].map((entry) => entry.until));
    this.expiry = this.timers.setTimeout(() => this.expire(), Math.max(0, first - this.timers.now()));
  }

  /** The connection ended: nobody is shown typing. */
  clear() {
    if (!this.others.size) return;
    this.others.clear();
    this.changed();
  }
}
