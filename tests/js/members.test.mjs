// Unit tests of the members panel (members.js): node --test tests/js/ (Node 20, no packages).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { MembersPanel, ROLES, mountMembers, panelState } from "../../django_livechat/static/django_livechat/js/members.js";

const JS = new URL("../../django_livechat/static/django_livechat/js/", import.meta.url);
const SOURCE = readFileSync(new URL("members.js", JS), "utf8");
const PANEL = readFileSync(new URL("../../django_livechat/templates/django_livechat/includes/members.html", import.meta.url), "utf8");

/** Just the DOM an element of the panel needs: children, text, attributes, events. */
class FakeElement {
  constructor(tag, doc) {
    this.tagName = tag;
    this.ownerDocument = doc;
    this.children = [];
    this.textContent = "";
    this.hidden = false;
    this.dataset = {};
    this.attributes = {};
    this.listeners = {};
    this.value = "";
    const classes = new Set();
    this.classList = { toggle: (name, on) => (on ? classes.add(name) : classes.delete(name)), contains: (name) => classes.has(name) };
  }
  append(...nodes) {
    this.children.push(...nodes.filter((node) => typeof node !== "string"));
  }
  replaceChildren(...nodes) {
    this.children = [];
    this.append(...nodes);
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  getAttribute(name) {
    return this.attributes[name] ?? null;
  }
  addEventListener(type, fn) {
    this.listeners[type] = fn;
  }
  contains() {
    return false;
  }
  querySelector(selector) {
    return (this.parts && this.parts[selector]) || null;
  }
}

const STRINGS = {
  "role-owner": "owner", "role-moderator": "moderator", "role-member": "member", you: "(you)", remove: "Remove",
  "remove-label": "Remove %(name)s", "role-label": "Role of %(name)s", "remove-confirm": "Remove %(name)s?",
  "leave-confirm": "Leave?", failed: "The change could not be saved.", "members-count": "Members (%(n)s)",
};

function makePanel() {
  const doc = { createElement: (tag) => new FakeElement(tag, doc), activeElement: null };
  const panel = new FakeElement("section", doc);
  for (const [name, text] of Object.entries(STRINGS)) panel.setAttribute(`data-i18n-${name}`, text);
  Object.assign(panel.dataset, { membersUrl: "/chat/rooms/team/members/", usersUrl: "/chat/users/", leftUrl: "/chat/", csrfToken: "tok" });
  panel.hidden = true;
  const titleInput = new FakeElement("input", doc);
  const rename = new FakeElement("form", doc);
  rename.parts = { '[name="title"]': titleInput };
  panel.parts = {
    "[data-livechat-member-list]": new FakeElement("ul", doc),
    "[data-livechat-members-count]": new FakeElement("h3", doc),
    "[data-livechat-members-error]": new FakeElement("p", doc),
    "[data-livechat-member-add]": new FakeElement("form", doc),
    "[data-livechat-user-suggestions]": new FakeElement("datalist", doc),
    "[data-livechat-rename]": rename,
    "[data-livechat-leave]": new FakeElement("button", doc),
  };
  return { panel, titleInput };
}

const response = (status, body) => ({ ok: status >= 200 && status < 300, status, json: async () => body });

function recorder(answers) {
  const calls = [];
  const fetch = async (url, options = {}) => {
    calls.push({ url, options });
    const answer = answers.shift();
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { calls, fetch };
}

const team = (you, members = null) => ({
  title: "Team",
  kind: "private",
  members: members || [
    { id: 1, username: "ann", name: "Ann", role: "owner" },
    { id: 2, username: "mem", name: "Mem", role: "member" },
  ],
  you,
});
const OWNER = { id: 1, role: "owner", can_manage: true, can_moderate: true };
const MEMBER = { id: 2, role: "member", can_manage: false, can_moderate: false };

test("the panel shows each control to whom the server allows it", () => {
  assert.deepEqual(
    (({ manage, rename, leave }) => ({ manage, rename, leave }))(panelState(team(OWNER))),
    { manage: true, rename: true, leave: true },
  );
  assert.deepEqual(
    (({ manage, rename, leave }) => ({ manage, rename, leave }))(panelState(team(MEMBER))),
    { manage: false, rename: false, leave: true },
  );
  const staff = { id: 9, role: "", can_manage: true, can_moderate: true };
  assert.equal(panelState(team(staff)).leave, false); // no member: nothing to leave
  const direct = panelState({ ...team(OWNER), kind: "direct" });
  assert.deepEqual([direct.manage, direct.rename, direct.leave], [false, false, false]);
  assert.deepEqual(panelState(team(MEMBER)).members.map((m) => m.you), [false, true]);
});

test("a member sees names and translated roles, a manager a select and a remove button", () => {
  const { panel, titleInput } = makePanel();
  const view = new MembersPanel(panel, { fetch: async () => null });
  view.render(team(MEMBER));
  assert.equal(panel.hidden, false);
  const list = panel.parts["[data-livechat-member-list]"];
  assert.deepEqual(list.children.map((li) => li.children[0].textContent), ["Ann", "Mem (you)"]);
  assert.deepEqual(list.children.map((li) => li.children[1].textContent), ["owner", "member"]);
  assert.equal(panel.parts["[data-livechat-member-add]"].hidden, true);
  assert.equal(panel.parts["[data-livechat-leave]"].hidden, false);
  assert.equal(panel.parts["[data-livechat-members-count]"].textContent, "Members (2)");
  view.render(team(OWNER));
  const [select, remove] = list.children[1].children.slice(1);
  assert.equal(select.tagName, "select");
  assert.deepEqual(select.children.map((o) => [o.value, o.textContent, o.selected]), [
    ["member", "member", true],
    ["moderator", "moderator", false],
    ["owner", "owner", false],
  ]);
  assert.equal(remove.textContent, "Remove");
  assert.equal(remove.getAttribute("aria-label"), "Remove Mem");
  assert.equal(titleInput.value, "Team");
  assert.deepEqual(ROLES, ["member", "moderator", "owner"]);
});

test("a change posts the action with the CSRF token and renders the answer", async () => {
  const { panel } = makePanel();
  const { calls, fetch } = recorder([response(200, team(OWNER, [{ id: 1, username: "ann", name: "Ann", role: "owner" }]))]);
  const view = new MembersPanel(panel, { fetch, confirm: () => true });
  view.render(team(OWNER));
  panel.parts["[data-livechat-member-list]"].children[1].children[2].listeners.click();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "/chat/rooms/team/members/");
  assert.equal(calls[0].options.method, "POST");
  assert.equal(calls[0].options.body.toString(), "action=remove&user=2&csrfmiddlewaretoken=tok");
  assert.equal(panel.parts["[data-livechat-member-list]"].children.length, 1);
});

test("a refused change shows the server's detail; a lost one the panel's own words", async () => {
  const { panel } = makePanel();
  const { fetch } = recorder([response(403, { type: "error", code: "forbidden", detail: "You may not." }), new Error("offline")]);
  const view = new MembersPanel(panel, { fetch });
  assert.equal(await view.change({ action: "rename", title: "X" }), false);
  const error = panel.parts["[data-livechat-members-error]"];
  assert.deepEqual([error.textContent, error.hidden], ["You may not.", false]);
  assert.equal(await view.change({ action: "rename", title: "X" }), false);
  assert.equal(error.textContent, "The change could not be saved.");
});

test("leaving goes to the room list; a refused members fetch hides the panel", async () => {
  const { panel } = makePanel();
  const gone = [];
  const { calls, fetch } = recorder([response(200, { left: true }), response(404, { type: "error" })]);
  const view = new MembersPanel(panel, { fetch, confirm: () => true, go: (url) => gone.push(url) });
  view.render(team(MEMBER));
  panel.parts["[data-livechat-leave]"].listeners.click();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls[0].options.body.get("action"), "leave");
  assert.deepEqual(gone, ["/chat/"]);
  await view.refresh();
  assert.equal(panel.hidden, true);
});

test("refreshes asked for during a fetch make one more fetch, not one each", async () => {
  const { panel } = makePanel();
  const { calls, fetch } = recorder([response(200, team(MEMBER)), response(200, team(MEMBER))]);
  const view = new MembersPanel(panel, { fetch });
  await Promise.all([view.refresh(), view.refresh(), view.refresh()]);
  assert.equal(calls.length, 2);
  assert.equal(calls[0].options.method, undefined); // a GET
});

test("mountMembers refetches on welcome and members frames, and shows a new title", async () => {
  const { panel } = makePanel();
  const title = new FakeElement("h2", null);
  const root = { querySelector: (selector) => ({ "[data-livechat-members]": panel, "[data-livechat-title]": title })[selector] || null };
  const handlers = {};
  const client = { on: (type, fn) => (handlers[type] = fn) };
  const original = globalThis.fetch;
  let fetched = 0;
  globalThis.fetch = async () => {
    fetched += 1;
    return response(200, team(MEMBER));
  };
  try {
    mountMembers(root, client);
    await handlers.welcome({ type: "welcome" });
    await handlers.members({ type: "members", room: "team" });
    handlers.renamed({ type: "renamed", room: "team", title: "Design" });
  } finally {
    globalThis.fetch = original;
  }
  assert.equal(fetched, 2);
  assert.equal(title.textContent, "Design");
});

test("every string and element members.js looks for is in members.html", () => {
  const names = new Set([...SOURCE.matchAll(/this\.text\("([\w-]+)"/g)].map((m) => m[1]));
  for (const role of ROLES) names.add(`role-${role}`);
  assert.ok(names.size > 8);
  for (const name of names) assert.match(PANEL, new RegExp(`data-i18n-${name}=`), name);
  for (const m of SOURCE.matchAll(/find\("\[(data-livechat-[\w-]+)\]"\)/g)) assert.ok(PANEL.includes(m[1]), m[1]);
  for (const attr of ["data-members-url", "data-users-url", "data-left-url", "data-csrf-token"]) assert.ok(PANEL.includes(attr), attr);
});
