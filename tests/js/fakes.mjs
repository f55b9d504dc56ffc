// Fakes for the JS unit tests: a WebSocket, timers with a clock, sessionStorage, a chat view, a console view.

/** A WebSocket that records what the client sends; the test plays the server. */
export class FakeSocket {
  /** @type {FakeSocket[]} every socket opened since the last reset, oldest first */
  static all = [];

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 1; // open at once
    this.closedWith = null;
    FakeSocket.all.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  /** The client closes it; browsers then fire `close`. */
  close(code) {
    this.closedWith = code;
    this.serverClose(code);
  }

  /** The server (or the network) closes it. */
  serverClose(code) {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  receive(frame) {
    this.onmessage({ data: JSON.stringify(frame) });
  }

  /** The frames of one type the client sent. */
  frames(type) {
    return this.sent.filter((frame) => frame.type === type);
  }
}

/** setTimeout/setInterval on a clock that moves only when the test says. */
export class FakeTimers {
  /**
   * @param {object} [options]
   * @param {number} [options.start] what the clock reads at first (1000 unless told)
   */
  constructor({ start = 1000 } = {}) {
    this.time = start;
    this.tasks = new Set();
  }

  now() {
    return this.time;
  }

  setTimeout(fn, ms) {
    const task = { fn, at: this.time + ms, every: null };
    this.tasks.add(task);
    return task;
  }

  setInterval(fn, ms) {
    const task = { fn, at: this.time + ms, every: ms };
    this.tasks.add(task);
    return task;
  }

  clearTimeout(task) {
    this.tasks.delete(task);
  }

  clearInterval(task) {
    this.tasks.delete(task);
  }

  /** The delays of the pending one-shot timers, from now. */
  delays() {
    return [...this.tasks].filter((t) => t.every === null).map((t) => t.at - this.time);
  }

  /** Move the clock, running every task that falls due, in time order. */
  advance(ms) {
    const end = this.time + ms;
    for (let runs = 0; ; runs += 1) {
      if (runs > 10000) throw new Error("a timer keeps re-arming itself without the clock moving");
      const due = [...this.tasks].filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.time = due.at;
      if (due.every === null) this.tasks.delete(due);
      else due.at += due.every;
      due.fn();
    }
    this.time = end;
  }
}

/** sessionStorage in a Map; values are stored as strings, as browsers do. */
export class FakeStorage {
  /** @param {Object<string, string>} [entries] what it holds at first */
  constructor(entries = {}) {
    this.data = new Map(Object.entries(entries));
  }

  getItem(key) {
    return this.data.has(key) ? this.data.get(key) : null;
  }

  setItem(key, value) {
    this.data.set(key, String(value));
  }

  removeItem(key) {
    this.data.delete(key);
  }
}

/** A view that records every call the client makes. */
export function fakeView() {
  const view = {
    calls: [], shown: new Map(), pending: new Map(), errors: [], states: [], typing: [], older: [], counts: [], seen: [],
  };
  view.renderMessage = (message, { pending }) => {
    view.calls.push(["renderMessage", message.id ?? message.client_id, pending]);
    if (pending) view.pending.set(message.client_id, message);
    else {
      view.pending.delete(message.client_id);
      view.shown.set(message.id, message);
    }
  };
  view.removeMessage = (id) => view.shown.delete(id);
  view.showError = (detail, clientId, code) => view.errors.push({ detail, clientId, code });
  view.setState = (state, code) => view.states.push([state, code]);
  view.showTyping = (names) => view.typing.push(names);
  view.setOlder = (visible) => view.older.push(visible);
  view.setPresence = (users) => (view.presence = users.map((u) => u.id));
  view.addPresence = (user) => view.presence.includes(user.id) || view.presence.push(user.id);
  view.removePresence = (user) => (view.presence = view.presence.filter((id) => id !== user.id));
  view.setPresenceCount = (count) => view.counts.push(count);
  view.markSeen = (user, lastRead) => view.seen.push([user.id, lastRead]);
  return view;
}

/** A staff console's view that records every queue, staff list, state and error it is shown. */
export function fakeConsoleView() {
  const view = { states: [], queues: [], staff: [], errors: [] };
  view.setState = (state, code) => view.states.push([state, code]);
  view.renderQueue = (entries, changed) => view.queues.push({ ids: entries.map((e) => e.id), changed, entries });
  view.renderStaff = (rows) => view.staff.push(rows);
  view.showError = (text) => view.errors.push(text);
  return view;
}
