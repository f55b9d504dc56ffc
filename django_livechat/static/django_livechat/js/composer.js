/**
 * The composer of includes/conversation.html and the actions on its messages, shared by the
 * room page, the support widget and the staff console: Enter sends; a reply shows "Replying to
 * ..." above the box and sends `reply_to`; an edit puts the message's body in the box and sends
 * `edit`; files are uploaded (`livechat:attachments`) and sent as `attachments`; a message's
 * buttons reply, react (chips and a picker) and edit, and its quote scrolls to the original.
 * Text reaches the page through textContent only; strings are the root's `data-i18n-*`.
 */

import { translate } from "./i18n.js";
import { PICKER_EMOJI, editRules, editUntil, excerpt, humanSize } from "./message_state.js";

/** The slug placeholder of `data-attachments-url-pattern`. */
export const SLUG_PLACEHOLDER = "__slug__";

/**
 * Upload one file (multipart, field `file`, with Django's CSRF token).
 * @param {{url: string, file: Blob & {name?: string}, csrfToken: string, fetch: typeof fetch, signal?: AbortSignal}} options
 * @returns {Promise<{ok: true, attachment: object}|{ok: false, code: string, detail: string}>}
 *   `detail` is the server's sentence, "" when it gave none (the caller says it its own way)
 */
export async function uploadFile({ url, file, csrfToken, fetch: fetchFn, signal }) {
  const body = new FormData();
  body.append("file", file, file.name);
  let response;
  try {
    response = await fetchFn(url, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken || "", Accept: "application/json" },
      signal,
    });
  } catch (error) {
    return { ok: false, code: error && error.name === "AbortError" ? "aborted" : "network", detail: "" };
  }
  const data = await response.json().catch(() => null);
  if (response.ok && data && Number.isSafeInteger(data.id)) return { ok: true, attachment: data };
  return {
    ok: false,
    code: (data && typeof data.code === "string" && data.code) || `http_${response.status}`,
    detail: (data && typeof data.detail === "string" && data.detail) || "",
  };
}

/**
 * The URL files of a room are uploaded to: the form's `data-attachments-url`, else its
 * `data-attachments-url-pattern` with the room's slug (the widget's and the console's room is
 * known only once connected); "" when neither.
 */
export function attachmentsUrl(dataset, slug) {
  if (dataset.attachmentsUrl) return dataset.attachmentsUrl;
  const pattern = dataset.attachmentsUrlPattern;
  return pattern && slug ? pattern.replace(SLUG_PLACEHOLDER, encodeURIComponent(slug)) : "";
}

/**
 * The upload limits of the page, from the form's data attributes (`data-attachment-max-bytes`,
 * `data-attachments-per-message`: ATTACHMENT_MAX_BYTES and ATTACHMENTS_PER_MESSAGE); Infinity
 * for one the page does not give.
 * @param {DOMStringMap|object} dataset
 * @returns {{maxBytes: number, perMessage: number}}
 */
export function uploadLimits(dataset) {
  const positive = (value) => (Number(value) > 0 ? Number(value) : Infinity);
  return { maxBytes: positive(dataset.attachmentMaxBytes), perMessage: positive(dataset.attachmentsPerMessage) };
}

/**
 * Why a file is refused before it is uploaded (the server checks again, and is the truth):
 * over the size limit, or beyond the number of files of one message.
 * @param {{size: number}} file
 * @param {number} kept how many files the next message carries already (uploading or uploaded)
 * @param {{maxBytes: number, perMessage: number}} limits uploadLimits
 * @returns {null|{name: "file-too-large"|"too-many-files", values: object}} the string to say
 */
export function refusal(file, kept, limits) {
  if (kept >= limits.perMessage) return { name: "too-many-files", values: { n: limits.perMessage } };
  if (Number(file.size) > limits.maxBytes) return { name: "file-too-large", values: { name: file.name, size: humanSize(limits.maxBytes) } };
  return null;
}

/** Django's CSRF token: the page's, else the `csrftoken` cookie. */
export function csrfToken(dataset, cookie = typeof document !== "undefined" ? document.cookie : "") {
  if (dataset.csrfToken) return dataset.csrfToken;
  const match = /(?:^|;\s*)csrftoken=([^;]+)/.exec(cookie || "");
  return match ? decodeURIComponent(match[1]) : "";
}

/** The composer of one conversation, and the actions on its messages. */
export class Composer {
  /**
   * @param {HTMLElement} root the element with the strings (`data-i18n-*`) around the conversation
   * @param {() => object|null} client the LiveChatClient of the moment (the console switches rooms)
   * @param {(body: string, extras: {replyTo: number|null, attachments: number[]}) => unknown} post
   *   sends a message; what it returns (or resolves to) is falsy when nothing was sent
   */
  constructor(root, client, post) {
    this.root = root;
    this.client = client;
    this.post = post;
    const find = (selector) => root.querySelector(selector);
    this.form = find("[data-livechat-form]");
    this.input = find("[data-livechat-input]");
    this.list = find("[data-livechat-messages]");
    this.bar = find("[data-livechat-composing]");
    this.barText = find("[data-livechat-composing-text]");
    this.barCancel = find("[data-livechat-composing-cancel]");
    this.uploadList = find("[data-livechat-uploads]");
    this.attach = find("[data-livechat-attach]");
    this.fileInput = find("[data-livechat-file]");
    this.editRules = editRules(this.list && this.list.dataset); // EDIT_WINDOW, EDIT_BY_MODERATORS
    this.limits = uploadLimits(this.form ? this.form.dataset : {});
    /** null, or what the next send is: `{kind: "reply", id}` or `{kind: "edit", id, draft}`. */
    this.mode = null;
    /** @type {{file: File, state: string, id?: number, error?: string, done: Promise<void>, abort: AbortController, row: HTMLElement}[]} */
    this.uploads = [];
    this.picker = null;
  }

  text(name, values) {
    return translate(this.root, name, values);
  }

  bind() {
    if (!this.form || !this.input) return;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && (this.mode || this.picker)) {
        event.preventDefault();
        event.stopPropagation(); // not the widget's Escape (closing the panel)
        if (this.picker) this.closePicker();
        else this.cancel();
        return;
      }
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      this.form.requestSubmit();
    });
    this.input.addEventListener("input", () => this.client() && this.client().typed());
    if (this.barCancel) this.barCancel.addEventListener("click", () => this.cancel());
    if (this.attach && this.fileInput) {
      this.attach.addEventListener("click", () => this.fileInput.click());
      this.fileInput.addEventListener("change", () => {
        this.addFiles([...this.fileInput.files]);
        this.fileInput.value = "";
      });
    }
    if (this.list) {
      this.list.addEventListener("click", (event) => this.onListClick(event));
      this.list.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && this.picker) {
          event.stopPropagation();
          const opener = this.picker.opener;
          this.closePicker();
          opener.focus();
        }
      });
    }
    document.addEventListener("click", (event) => {
      if (this.picker && !this.picker.element.contains(event.target) && event.target !== this.picker.opener) this.closePicker();
    });
  }

  /** Send what the box holds: an edit, or a message (with its reply and files). */
  async submit() {
    const body = this.input.value;
    if (this.mode && this.mode.kind === "edit") {
      const client = this.client();
      if (client && client.edit(this.mode.id, body)) {
        this.input.value = this.mode.draft;
        this.setMode(null);
      }
      return;
    }
    this.input.value = "";
    await Promise.all(this.uploads.map((upload) => upload.done));
    const ready = this.uploads.filter((upload) => upload.state === "done");
    const replyTo = this.mode && this.mode.kind === "reply" ? this.mode.id : null;
    const sent = await this.post(body, { replyTo, attachments: ready.map((upload) => upload.id) });
    if (!sent) {
      if (!this.input.value) this.input.value = body; // not sent: give it back
      return;
    }
    for (const upload of ready) this.removeUpload(upload);
    if (replyTo !== null) this.setMode(null);
  }

  /** Answer `message`: the next send carries `reply_to`. */
  reply(message) {
    if (this.mode && this.mode.kind === "edit") this.cancel();
    this.setMode({ kind: "reply", id: message.id, message });
    this.input.focus();
  }

  /**
   * Edit `message` (one's own, or with EDIT_BY_MODERATORS anyone's, for moderators) in the box;
   * Enter sends `edit`, Escape gives the draft back.
   */
  edit(message) {
    const draft = this.mode && this.mode.kind === "edit" ? this.mode.draft : this.input.value;
    this.setMode({ kind: "edit", id: message.id, draft, message });
    this.input.value = message.body || "";
    this.input.focus();
  }

  /** Leave reply or edit mode (an edit gives the draft back). */
  cancel() {
    if (this.mode && this.mode.kind === "edit") this.input.value = this.mode.draft;
    this.setMode(null);
  }

  /** Forget the reply, the edit, the files and the picker (the console opened another room). */
  reset() {
    this.cancel();
    this.closePicker();
    for (const upload of [...this.uploads]) this.removeUpload(upload);
  }

  setMode(mode) {
    this.mode = mode;
    if (this.form) this.form.dataset.mode = mode ? mode.kind : "";
    if (!this.bar) return;
    this.bar.hidden = !mode;
    if (!mode) return;
    if (mode.kind === "edit") {
      const client = this.client();
      const author = mode.message && mode.message.author;
      const other = author && !(client && client.you && author.id === client.you.id);
      this.barText.textContent = other ? this.text("editing-other", { name: author.name }) : this.text("editing");
      this.barCancel.setAttribute("aria-label", this.text("cancel-edit"));
    } else {
      const author = mode.message.author ? mode.message.author.name : "";
      this.barText.textContent = this.text("replying-to", { name: author, excerpt: excerpt(mode.message.body) });
      this.barCancel.setAttribute("aria-label", this.text("cancel-reply"));
    }
  }

  // -- attachments --------------------------------------------------------------------------

  /**
   * Upload files at once; they are sent with the next message. A file over the page's size
   * limit, or beyond its number of files per message, is refused here, with the reason, and
   * not uploaded.
   */
  addFiles(files) {
    const client = this.client();
    const room = client && client.room ? client.room.slug : "";
    const url = attachmentsUrl(this.form.dataset, room);
    for (const file of files) {
      const kept = this.uploads.filter((u) => u.state === "uploading" || u.state === "done").length;
      const refused = refusal(file, kept, this.limits);
      const upload = { file, state: "uploading", abort: new AbortController(), row: this.uploadRow(file) };
      this.uploads.push(upload);
      if (refused || !url) {
        this.failUpload(upload, refused ? this.text(refused.name, refused.values) : "");
        upload.done = Promise.resolve();
        continue;
      }
      upload.done = uploadFile({
        url,
        file,
        csrfToken: csrfToken(this.form.dataset),
        fetch: (...args) => globalThis.fetch(...args),
        signal: upload.abort.signal,
      }).then((result) => {
        if (result.ok) {
          upload.state = "done";
          upload.id = result.attachment.id;
          upload.row.dataset.state = "done";
          upload.row.querySelector("[data-upload-status]").textContent = "";
        } else if (result.code !== "aborted") {
          this.failUpload(upload, result.detail);
        }
      });
    }
    this.showUploads();
  }

  failUpload(upload, detail) {
    upload.state = "failed";
    upload.row.dataset.state = "failed";
    const status = upload.row.querySelector("[data-upload-status]");
    status.textContent = detail || this.text("upload-failed");
    status.setAttribute("role", "alert");
  }

  uploadRow(file) {
    const row = document.createElement("li");
    row.className = "livechat-upload";
    row.dataset.state = "uploading";
    const name = document.createElement("span");
    name.className = "livechat-upload-name";
    name.textContent = `${file.name} (${humanSize(file.size)})`;
    const status = document.createElement("span");
    status.className = "livechat-upload-status";
    status.dataset.uploadStatus = "";
    status.textContent = this.text("uploading");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "livechat-upload-remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", this.text("remove-upload", { name: file.name }));
    remove.addEventListener("click", () => {
      const upload = this.uploads.find((u) => u.row === row);
      if (upload) this.removeUpload(upload);
      this.input.focus();
    });
    row.append(name, " ", status, " ", remove);
    if (this.uploadList) this.uploadList.appendChild(row);
    return row;
  }

  removeUpload(upload) {
    upload.abort.abort();
    upload.state = "removed";
    upload.row.remove();
    this.uploads = this.uploads.filter((u) => u !== upload);
    this.showUploads();
  }

  showUploads() {
    if (this.uploadList) this.uploadList.hidden = this.uploads.length === 0;
  }

  // -- the messages' actions ----------------------------------------------------------------

  onListClick(event) {
    const target = event.target instanceof Element ? event.target : null;
    const item = target && target.closest("li[data-id]");
    if (!item || !item.dataset.id) return;
    const message = item.livechatMessage;
    const id = Number(item.dataset.id);
    const client = this.client();
    const control = target.closest("button");
    if (!control || !message || !client) return;
    if (control.matches('[data-field="quote"]')) {
      client.reveal(Number(control.dataset.replyTo));
    } else if (control.matches('[data-action="reply"]')) {
      this.reply(message);
    } else if (control.matches('[data-action="edit"]')) {
      if (editUntil(message, client.you, this.editRules) > Date.now()) this.edit(message);
      else control.hidden = true;
    } else if (control.matches('[data-action="react"]')) {
      if (this.picker && this.picker.opener === control) this.closePicker();
      else this.openPicker(item, control);
    } else if (control.dataset.emoji) {
      const mine = (message.reactions || []).some((r) => r.emoji === control.dataset.emoji && r.mine);
      client.react(id, control.dataset.emoji, !mine);
      if (this.picker && this.picker.element.contains(control)) {
        const opener = this.picker.opener;
        this.closePicker();
        opener.focus();
      }
    }
  }

  /** The picker of common emoji, under a message's "add a reaction" button. */
  openPicker(item, opener) {
    this.closePicker();
    const element = document.createElement("div");
    element.className = "livechat-picker";
    element.setAttribute("role", "group");
    element.setAttribute("aria-label", this.text("react"));
    for (const emoji of PICKER_EMOJI) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "livechat-picker-emoji";
      button.dataset.emoji = emoji;
      button.textContent = emoji;
      button.setAttribute("aria-label", this.text("react-with", { emoji }));
      element.appendChild(button);
    }
    opener.after(element);
    opener.setAttribute("aria-expanded", "true");
    this.picker = { element, opener };
    element.firstElementChild.focus();
  }

  closePicker() {
    if (!this.picker) return;
    this.picker.opener.setAttribute("aria-expanded", "false");
    this.picker.element.remove();
    this.picker = null;
  }
}

/**
 * Wire the composer, "load older" and the message actions of includes/conversation.html to a
 * client: Enter sends, Shift+Enter (and Enter while an input method composes) is a newline.
 * @param {HTMLElement} root the element around the conversation (with its strings)
 * @param {() => object|null} client the client of the moment (the console switches rooms)
 * @param {(body: string, extras: object) => unknown} [post] sends a message: by default the
 *   client's `post`; what it returns (or resolves to) is falsy when nothing was sent, and the
 *   text then stays in the box
 * @returns {Composer|null}
 */
export function bindComposer(root, client, post = (body, extras) => client() && client().post(body, extras)) {
  const older = root.querySelector("[data-livechat-older]");
  if (older) older.addEventListener("click", () => client() && client().loadOlder());
  const composer = new Composer(root, client, post);
  if (!composer.form || !composer.input) return null;
  composer.bind();
  return composer;
}
