/**
 * The members panel of a room page (`includes/members.html`): who the members are and their
 * roles, and, for those the server allows, adding members, changing roles, removing, renaming
 * the room and leaving it. Everything goes through the HTTP endpoint `livechat:members`
 * (`data-members-url`), which checks every change; the room's socket says when to fetch again
 * (`members` frame) and the new title (`renamed`). Text comes from `data-i18n-<name>`
 * attributes of the panel and is set with `textContent` only.
 */

import { translate } from "./i18n.js";

/** The roles of members, in the order the panel offers them. */
export const ROLES = ["member", "moderator", "owner"];
/** Milliseconds of quiet typing before users are suggested. */
export const SUGGEST_DELAY_MS = 250;

/**
 * What the panel shows of the members JSON: which controls, and each member's row.
 * @param {{kind: string, members: Array<{id: number, username: string, name: string, role: string}>,
 *   you: {id: number|null, role: string, can_manage: boolean, can_moderate: boolean}}} data
 */
export function panelState(data) {
  const you = data.you || {};
  const fixed = data.kind === "direct" || data.kind === "support";
  return {
    manage: Boolean(you.can_manage) && !fixed,
    rename: Boolean(you.can_moderate) && !fixed,
    leave: Boolean(you.role) && !fixed,
    members: (data.members || []).map((member) => ({ ...member, you: member.id === you.id })),
  };
}

export class MembersPanel {
  /**
   * @param {HTMLElement} panel the `[data-livechat-members]` element
   * @param {object} [options]
   * @param {typeof fetch} [options.fetch]
   * @param {(text: string) => boolean} [options.confirm]
   * @param {(url: string) => void} [options.go] leaves the page for a URL
   * @param {{setTimeout: Function, clearTimeout: Function}} [options.timers]
   * @param {HTMLElement|null} [options.title] the element that shows the room's title
   */
  constructor(panel, options = {}) {
    this.panel = panel;
    this.fetch = options.fetch || ((...args) => globalThis.fetch(...args));
    this.confirm = options.confirm || ((text) => globalThis.confirm(text));
    this.go = options.go || ((url) => globalThis.location.assign(url));
    this.timers = options.timers || { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h) };
    this.title = options.title || null;
    const find = (selector) => panel.querySelector(selector);
    this.list = find("[data-livechat-member-list]");
    this.count = find("[data-livechat-members-count]");
    this.error = find("[data-livechat-members-error]");
    this.addForm = find("[data-livechat-member-add]");
    this.suggestions = find("[data-livechat-user-suggestions]");
    this.renameForm = find("[data-livechat-rename]");
    this.leaveButton = find("[data-livechat-leave]");
    this.suggestTimer = null;
    this.loading = null; // the fetch under way: a second refresh waits for it, then fetches again
    this.again = false;
    this.bind();
  }

  text(name, values = {}) {
    return translate(this.panel, name, values);
  }

  bind() {
    if (this.addForm) {
      this.addForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const data = new FormData(this.addForm);
        this.change({ action: "add", user: String(data.get("user") || ""), role: String(data.get("role") || "member") }).then(
          (ok) => ok && this.addForm.reset(),
        );
      });
      const input = this.addForm.querySelector('[name="user"]');
      if (input) input.addEventListener("input", () => this.suggestLater(input.value));
    }
    if (this.renameForm) {
      this.renameForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const title = String(new FormData(this.renameForm).get("title") || "");
        this.change({ action: "rename", title });
      });
    }
    if (this.leaveButton) {
      this.leaveButton.addEventListener("click", () => {
        if (this.confirm(this.text("leave-confirm"))) this.change({ action: "leave" });
      });
    }
  }

  /** Fetch the members again (coalesced: one fetch at a time, and one more if asked meanwhile). */
  async refresh() {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load();
    try {
      await this.loading;
    } finally {
      this.loading = null;
    }
    if (this.again) {
      this.again = false;
      await this.refresh();
    }
  }

  async load() {
    let response;
    try {
      response = await this.fetch(this.panel.dataset.membersUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch {
      return; // offline: the next welcome fetches again
    }
    if (!response.ok) {
      this.panel.hidden = true; // no longer one who may enter (the socket closes too)
      return;
    }
    this.render(await response.json());
  }

  /** Post a change; the answer is the fresh members JSON (or, for leave, `{left}`). */
  async change(fields) {
    const body = new URLSearchParams({ ...fields, csrfmiddlewaretoken: this.panel.dataset.csrfToken || "" });
    let response;
    let data = null;
    try {
      response = await this.fetch(this.panel.dataset.membersUrl, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      data = await response.json();
    } catch {
      response = null;
    }
    if (!response || !response.ok) {
      this.showError((data && data.detail) || this.text("failed"));
      return false;
    }
    this.showError("");
    if ("left" in data) {
      this.go(this.panel.dataset.leftUrl);
      return true;
    }
    this.render(data);
    return true;
  }

  showError(text) {
    if (!this.error) return;
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  render(data) {
    const state = panelState(data);
    this.panel.hidden = false;
    if (this.count) this.count.textContent = this.text("members-count", { n: state.members.length });
    if (this.addForm) this.addForm.hidden = !state.manage;
    if (this.renameForm) this.renameForm.hidden = !state.rename;
    if (this.leaveButton) this.leaveButton.hidden = !state.leave;
    if (data.title && this.renameForm && !this.renameForm.contains(this.panel.ownerDocument.activeElement)) {
      this.renameForm.querySelector('[name="title"]').value = data.title;
    }
    this.list.replaceChildren(...state.members.map((member) => this.row(member, state.manage)));
  }

  /** One member's `<li>`: name, role (a select for managers), remove button. */
  row(member, manage) {
    const doc = this.panel.ownerDocument;
    const li = doc.createElement("li");
    li.dataset.user = String(member.id);
    li.dataset.role = member.role;
    li.classList.toggle("livechat-you", member.you);
    const name = doc.createElement("span");
    name.className = "livechat-member-name";
    name.textContent = member.you ? `${member.name} ${this.text("you")}` : member.name;
    name.title = member.username;
    li.append(name, " ");
    if (!manage) {
      const role = doc.createElement("span");
      role.className = "livechat-badge livechat-member-role";
      role.textContent = this.text(`role-${member.role}`);
      li.append(role);
      return li;
    }
    const select = doc.createElement("select");
    select.setAttribute("aria-label", this.text("role-label", { name: member.name }));
    for (const role of ROLES) {
      const option = doc.createElement("option");
      option.value = role;
      option.textContent = this.text(`role-${role}`);
      option.selected = role === member.role;
      select.append(option);
    }
    select.addEventListener("change", () => this.change({ action: "role", user: String(member.id), role: select.value }));
    const remove = doc.createElement("button");
    remove.type = "button";
    remove.className = "livechat-member-remove";
    remove.textContent = this.text("remove");
    remove.setAttribute("aria-label", this.text("remove-label", { name: member.name }));
    remove.addEventListener("click", () => {
      if (this.confirm(this.text("remove-confirm", { name: member.name }))) {
        this.change({ action: "remove", user: String(member.id) });
      }
    });
    li.append(select, " ", remove);
    return li;
  }

  suggestLater(text) {
    this.timers.clearTimeout(this.suggestTimer);
    this.suggestTimer = this.timers.setTimeout(() => this.suggest(text), SUGGEST_DELAY_MS);
  }

  /** Fill the datalist with the users matching `text` (livechat:users). */
  async suggest(text) {
    if (!this.suggestions || !this.panel.dataset.usersUrl) return;
    const url = `${this.panel.dataset.usersUrl}?q=${encodeURIComponent(text.trim())}`;
    let data;
    try {
      const response = await this.fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      data = await response.json();
    } catch {
      return;
    }
    const doc = this.panel.ownerDocument;
    this.suggestions.replaceChildren(
      ...(data.users || []).map((user) => {
        const option = doc.createElement("option");
        option.value = user.username;
        option.label = user.name === user.username ? user.name : `${user.name} (${user.username})`;
        return option;
      }),
    );
  }

  /** The room has a new title. */
  renamed(title) {
    if (this.title) this.title.textContent = title;
  }
}

/**
 * Mount the members panel of a room element, if it has one, on its client: it fetches the
 * members on every welcome (a reconnect may have missed changes) and on `members` frames.
 * @param {HTMLElement} root the `[data-livechat-room]` element
 * @param {{on: Function}} client its LiveChatClient
 * @returns {MembersPanel|null}
 */
export function mountMembers(root, client) {
  const element = root.querySelector("[data-livechat-members]");
  const title = root.querySelector("[data-livechat-title]");
  const panel = element ? new MembersPanel(element, { title }) : null;
  client.on("welcome", () => panel && panel.refresh());
  client.on("members", () => panel && panel.refresh());
  client.on("renamed", (frame) => {
    if (panel) panel.renamed(frame.title);
    else if (title) title.textContent = frame.title;
  });
  return panel;
}
