
"use strict";
/*
 * The gatekey console: plain DOM code against the same HTTP API that curl uses.
 * The access token lives in a variable only; the refresh token in sessionStorage
 * (this tab, gone when it closes) so that a reload keeps you logged in. Nothing
 * here turns strings into markup: the page's CSP enforces Trusted Types with no policy.
 */
(() => {
  const API_BASE = location.pathname.replace(/\/console\/?$/, "");
  const REFRESH_STORAGE_KEY = "gatekey.console.refresh";
  const SCREENS = { keys: "API keys", sessions: "Sessions", bots: "Bots" };

  const state = { access: null, refresh: null, user: null, screen: null };
  let refreshing = null;

  const $ = (id) => document.getElementById(id);

  /* ---------- DOM helpers ---------- */

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name === "onclick") el.addEventListener("click", value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function when(iso, empty) {
    if (!iso) return h("span", { className: "dim", text: empty });
    const date = new Date(iso);
    const label = Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
    return h("time", { datetime: iso, title: iso, text: label });
  }

  function cell(label, content, className) {
    return h("td", { role: "cell", "data-label": label, className }, content);
  }

  function actionButton(text, label, onclick, extraClass) {
    return h("button", {
      type: "button",
      className: `button small${extraClass ? " " + extraClass : ""}`,
      "aria-label": label,
      text,
      onclick,
    });
  }

  function actionsCell(...buttons) {
    return h("td", { role: "cell", className: "actions-cell" }, h("div", { className: "actions" }, buttons));
  }

  /** Replaces a table's rows; a focused row button keeps focus on its new twin. */
  function replaceRows(body, rows) {
    const active = document.activeElement;
    const label = active && body.contains(active) ? active.getAttribute("aria-label") : null;
    body.replaceChildren(...rows);
    if (label === null) return;
    const twin = [...body.querySelectorAll("button")].find((button) => button.getAttribute("aria-label") === label);
    const target = twin || currentHeading();
    if (target) target.focus();
  }

  let announceTimer = null;
  function announce(message) {
    const region = $("announcer");
    region.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => {
      region.textContent = message;
      announceTimer = setTimeout(() => (region.textContent = ""), 3000);
    }, 60);
  }

  /* ---------- the API ---------- */

  class ApiError extends Error {
    constructor(status, entries, retryAfter) {
      const first = entries[0] || {};
      super(first.detail || `HTTP ${status}`);
      this.status = status;
      this.code = first.code || (status ? `http_${status}` : "network");
      this.entries = entries;
      this.retryAfter = retryAfter;
    }
  }

  /** Thrown once the session is gone and the login screen is back: nothing more to show. */
  class SessionEnded extends Error {}

  async function call(method, path, options) {
    const { body, credential, auth = true, retried = false } = options || {};
    const headers = { Accept: "application/json" };
    const token = auth ? state.access : credential;
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API_BASE + path, init);
    } catch {
      throw new ApiError(0, [{ code: "network", detail: "" }], null);
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (response.ok) return data;
    const entries = data && Array.isArray(data.errors) ? data.errors : [];
    if (auth && response.status === 401) {
      if (!retried && (await refreshAccess())) return call(method, path, { body, auth, retried: true });
      endSession("Your session has ended. Please log in again.");
      throw new SessionEnded();
    }
    const first = entries[0] || {};
    const retryAfter =
      Number(response.headers.get("Retry-After")) || (first.extra && Number(first.extra.retry_after)) || null;
    throw new ApiError(response.status, entries, retryAfter);
  }

  /** One refresh at a time; true when a new access token is in hand. */
  function refreshAccess() {
    if (!refreshing) {
      refreshing = (async () => {
        if (!state.refresh) return false;
        try {
          const data = await call("GET", "/auth/refresh-token", { auth: false, credential: state.refresh });
          state.access = data.access_token;
          return true;
        } catch {
          return false;
        }
      })().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  function keepRefreshToken(token) {
    state.refresh = token;
    try {
      if (token) sessionStorage.setItem(REFRESH_STORAGE_KEY, token);
      else sessionStorage.removeItem(REFRESH_STORAGE_KEY);
    } catch {
      /* storage disabled: the token stays in memory only */
    }
  }

  function storedRefreshToken() {
    try {
      return sessionStorage.getItem(REFRESH_STORAGE_KEY);
    } catch {
      return null;
    }
  }

  /* ---------- errors in plain words ---------- */

  const CODE_MESSAGES = {
    network: "Could not reach the gatekey API. Check your connection and try again.",
    not_authenticated: "Please log in first.",
    invalid_token: "Your session has ended. Please log in again.",
    invalid_credentials: "Invalid email or password.",
    permission_denied: "Only account admins can do this.",
    not_found: "This no longer exists; it may have been deleted elsewhere. The list has been refreshed.",
    handle_taken: "You already have a key with this handle. Choose another handle.",
    email_taken: "A user with this email already exists in this account.",
    service_unavailable: "The service is temporarily unavailable. Try again in a moment.",
  };
  const FIELD_NAMES = {
    handle: "Handle",
    alias: "Name",
    type: "Type",
    expires_at: "Expiration date",
    expires_in_days: "Expires",
    grace_seconds: "Grace period",
    name: "Bot name",
    email: "Email",
    password: "Password",
    account_id: "Account ID",
  };
  const FIELD_MESSAGES = {
    handle: "use 1 to 64 letters, digits, dots, dashes or underscores.",
    alias: "use at most 128 characters.",
    expires_at: "choose a date in the future.",
    expires_in_days: "choose between 1 and 36500 days.",
    grace_seconds: "enter a number of seconds from 0 to 86400.",
    name: "use 1 to 64 characters.",
    email: "enter an email address, such as ada@example.com.",
    password: "enter your password.",
  };
  /* which form control shows the error of an API field */
  const FIELD_CONTROLS = { expires_in_days: "expiry", expires_at: "expiry_date" };

  function waitText(seconds) {
    if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
    const minutes = Math.ceil(seconds / 60);
    return `${minutes} minutes`;
  }

  function describe(error) {
    if (!(error instanceof ApiError)) {
      return [`Something went wrong in the console: ${error && error.message ? error.message : error}`];
    }
    if (error.code === "throttled") {
      const wait = error.retryAfter ? `in ${waitText(error.retryAfter)}` : "later";
      return [`Too many failed attempts for this email. Try again ${wait}.`];
    }
    if (error.status === 400 && error.entries.some((entry) => entry.attr)) {
      const lines = [];
      for (const entry of error.entries) {
        if (entry.attr === "account_id" && entry.code === "required") {
          lines.push("This email belongs to several accounts. Enter the account ID to log in to.");
          const ids = entry.extra && entry.extra.account_ids;
          if (Array.isArray(ids) && ids.length) lines.push(`Your accounts: ${ids.join(", ")}`);
          continue;
        }
        const field = FIELD_NAMES[entry.attr] || entry.attr || "Request";
        lines.push(`${field}: ${FIELD_MESSAGES[entry.attr] || entry.detail || "this value is not accepted."}`);
      }
      return lines;
    }
    if (CODE_MESSAGES[error.code]) return [CODE_MESSAGES[error.code]];
    if (error.entries[0] && error.entries[0].detail) return [String(error.entries[0].detail)];
    if (error.status >= 500) {
      return [`The server could not complete the request (error ${error.status}). Try again in a moment.`];
    }
    return [`The request failed (error ${error.status}).`];
  }

  function clearError(box, form) {
    box.hidden = true;
    box.replaceChildren();
    if (form) form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function showError(box, error, form) {
    const lines = describe(error);
    box.replaceChildren(lines.length === 1 ? lines[0] : h("ul", null, lines.map((line) => h("li", { text: line }))));
    box.hidden = false;
    if (form && error instanceof ApiError) {
      let first = null;
      for (const entry of error.entries) {
        const name = FIELD_CONTROLS[entry.attr] || entry.attr;
        const control = name && form.elements.namedItem(name);
        if (control && control.setAttribute) {
          control.setAttribute("aria-invalid", "true");
          first = first || control;
        }
      }
      if (first) first.focus();
    }
  }

  const busy = new WeakSet();

  /** Runs an action for a form or button, showing its API error in `box`. */
  async function attempt(box, action, owner, form) {
    if (owner && busy.has(owner)) return undefined;
    if (owner) {
      busy.add(owner);
      owner.setAttribute("aria-busy", "true");
    }
    clearError(box, form);
    try {
      return await action();
    } catch (error) {
      if (error instanceof SessionEnded) return undefined;
      showError(box, error, form);
      if (error instanceof ApiError && error.code === "not_found") reloadScreen();
      return undefined;
    } finally {
      if (owner) {
        busy.delete(owner);
        owner.removeAttribute("aria-busy");
      }
    }
  }

  /* ---------- copy ---------- */

  function selectContents(source) {
    if (typeof source.select === "function") {
      source.focus();
      source.select();
      return;
    }
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  async function copyFrom(source, button) {
    const text = typeof source.value === "string" ? source.value : source.textContent;
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch {
        copied = false;
      }
    }
    if (!copied) {
      selectContents(source);
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    if (!copied) {
      selectContents(source);
      announce("Copying is blocked here: the text is selected, press Ctrl+C (or ⌘C) to copy it.");
      return;
    }
    announce("Copied");
    if (button) {
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(() => {
        button.textContent = "Copy";
        button.classList.remove("copied");
      }, 2000);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = $(button.getAttribute("data-copy"));
    if (source) copyFrom(source, button);
  });

  /* ---------- secrets shown after create, show, rotate, regenerate ---------- */

  /** "Key ID (kid)" gives "key ID": the button reads "Copy key ID". */
  function copyName(label) {
    const name = label.replace(/ \(.*\)$/, "");
    return name.charAt(0).toLowerCase() + name.slice(1);
  }

  function showSecret(prefix, title, note, fields) {
    $(`${prefix}-secret-title`).textContent = title;
    $(`${prefix}-secret-note`).textContent = note;
    $(`${prefix}-secret-fields`).replaceChildren(
      ...fields.map(([label, value], index) => {
        const id = `${prefix}-secret-${index}`;
        return h(
          "div",
          { className: "field" },
          h("label", { for: id, text: label }),
          h(
            "div",
            { className: "copy-row" },
            h("input", { id, type: "text", readonly: true, value, spellcheck: "false", autocomplete: "off" }),
            h("button", {
              type: "button",
              className: "copy-button",
              "data-copy": id,
              "aria-label": `Copy ${copyName(label)}`,
              text: "Copy",
            })
          )
        );
      })
    );
    const panel = $(`${prefix}-secret`);
    panel.hidden = false;
    panel.focus();
  }

  function hideSecret(prefix) {
    $(`${prefix}-secret`).hidden = true;
    $(`${prefix}-secret-fields`).replaceChildren();
  }

  function keyFields(key) {
    const fields = key.type === "jwt" ? [["Key ID (kid)", key.kid], ["Secret", key.secret]] : [["Token", key.token]];
    return [...fields, ["Account ID", key.account_id]];
  }

  /* ---------- dialogs ---------- */

  let dialogOpener = null;

  function openDialog(dialog, opener) {
    dialogOpener = opener || document.activeElement;
    const box = dialog.querySelector(".error");
    if (box) clearError(box, dialog.querySelector("form"));
    dialog.showModal();
  }

  function closeDialogs() {
    document.querySelectorAll("dialog[open]").forEach((dialog) => dialog.close());
  }

  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.addEventListener("close", () => {
      const opener = dialogOpener;
      dialogOpener = null;
      const active = document.activeElement;
      /* an action that showed its result (a new token) has already moved focus there */
      if (!state.user || (active && active !== document.body && !dialog.contains(active))) return;
      const target = opener && opener.isConnected ? opener : currentHeading();
      if (target) target.focus();
    });
    dialog.querySelectorAll("[data-close]").forEach((button) => button.addEventListener("click", () => dialog.close()));
  }

  let confirmAction = null;

  function confirmThen(opener, title, text, buttonText, action) {
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-button").textContent = buttonText;
    confirmAction = action;
    openDialog($("confirm-dialog"), opener);
  }

  $("confirm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    attempt(
      $("confirm-error"),
      async () => {
        const action = confirmAction;
        if (action) await action();
        confirmAction = null;
        $("confirm-dialog").close();
      },
      form,
      form
    );
  });

  /* ---------- account menu ---------- */

  const nav = $("user-nav");
  const menu = $("menu");
  const menuButton = $("menu-button");
  let openedByHover = false;
  let hoverTimer = null;

  function menuItems() {
    return [...menu.querySelectorAll("li:not([hidden]) a, li:not([hidden]) button")];
  }

  function setMenu(open, focusItem) {
    menu.hidden = !open;
    menuButton.setAttribute("aria-expanded", String(open));
    if (!open) openedByHover = false;
    if (open && focusItem) {
      const items = menuItems();
      (focusItem === "last" ? items[items.length - 1] : items[0]).focus();
    }
  }

  menuButton.addEventListener("click", () => {
    if (!menu.hidden && openedByHover) {
      openedByHover = false;
      return;
    }
    setMenu(menu.hidden);
  });
  menuButton.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      setMenu(true, event.key === "ArrowUp" ? "last" : "first");
    }
  });
  menu.addEventListener("keydown", (event) => {
    const items = menuItems();
    const index = items.indexOf(document.activeElement);
    let next = null;
    if (event.key === "ArrowDown") next = items[(index + 1) % items.length];
    else if (event.key === "ArrowUp") next = items[(index - 1 + items.length) % items.length];
    else if (event.key === "Home") next = items[0];
    else if (event.key === "End") next = items[items.length - 1];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });
  nav.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !menu.hidden) {
      setMenu(false);
      menuButton.focus();
    }
  });
  nav.addEventListener("focusout", (event) => {
    if (!nav.contains(event.relatedTarget)) setMenu(false);
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !nav.contains(event.target)) setMenu(false);
  });
  nav.addEventListener("mouseenter", () => {
    clearTimeout(hoverTimer);
    if (menu.hidden) {
      setMenu(true);
      openedByHover = true;
    }
  });
  nav.addEventListener("mouseleave", () => {
    if (!openedByHover) return;
    hoverTimer = setTimeout(() => {
      if (openedByHover && !nav.contains(document.activeElement)) setMenu(false);
    }, 250);
  });
  menu.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-screen]");
    if (!link) return;
    setMenu(false);
    if (link.hash === location.hash) {
      event.preventDefault();
      route();
    }
  });
  $("logout-button").addEventListener("click", () => {
    setMenu(false);
    logout();
  });

  /* ---------- screens ---------- */

  function isAdmin() {
    return Boolean(state.user && state.user.role === "admin");
  }

  function currentHeading() {
    return state.screen ? $(`${state.screen}-title`) : $("login-title");
  }

  function route() {
    if (!state.user) return;
    let name = location.hash.replace(/^#/, "");
    if (!(name in SCREENS) || (name === "bots" && !isAdmin())) name = "keys";
    showScreen(name);
  }

  function showScreen(name) {
    state.screen = name;
    $("screen-login").hidden = true;
    for (const screen of Object.keys(SCREENS)) $(`screen-${screen}`).hidden = screen !== name;
    for (const link of menu.querySelectorAll("a[data-screen]")) {
      if (link.dataset.screen === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${SCREENS[name]} · gatekey console`;
    $(`${name}-title`).focus();
    reloadScreen();
  }

  function reloadScreen() {
    if (state.screen === "keys") loadKeys();
    else if (state.screen === "sessions") loadSessions();
    else if (state.screen === "bots") loadBots();
  }

  function showLogin(notice) {
    state.screen = null;
    closeDialogs();
    $("booting").hidden = true;
    nav.hidden = true;
    setMenu(false);
    $("account-bar").hidden = true;
    for (const screen of Object.keys(SCREENS)) $(`screen-${screen}`).hidden = true;
    hideSecret("keys");
    hideSecret("bots");
    $("screen-login").hidden = false;
    const noticeBox = $("login-notice");
    noticeBox.textContent = notice || "";
    noticeBox.hidden = !notice;
    document.title = "Log in · gatekey console";
    $("login-email").focus();
  }

  function startApp(user) {
    state.user = user;
    $("booting").hidden = true;
    $("user-email").textContent = user.email || user.id;
    $("account-id").textContent = user.account_id;
    $("role-badge").hidden = !isAdmin();
    $("menu-bots").hidden = !isAdmin();
    nav.hidden = false;
    $("account-bar").hidden = false;
    clearError($("login-error"), $("login-form"));
    route();
  }

  function endSession(notice) {
    state.access = null;
    state.user = null;
    keepRefreshToken(null);
    showLogin(notice);
  }

  window.addEventListener("hashchange", route);

  /* ---------- login and logout ---------- */

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const body = { email: String(data.get("email")).trim(), password: String(data.get("password")) };
    const account = String(data.get("account_id") || "").trim();
    if (account) body.account_id = account;
    $("login-notice").hidden = true;
    attempt(
      $("login-error"),
      async () => {
        try {
          const result = await call("POST", "/auth/login", { auth: false, body });
          state.access = result.access_token;
          keepRefreshToken(result.refresh_token);
          $("login-password").value = "";
          startApp(result.user);
        } catch (error) {
          if (error instanceof ApiError && error.code === "invalid_credentials") {
            $("login-password").value = "";
            $("login-password").focus();
          }
          throw error;
        }
      },
      form,
      form
    );
  });

  async function logout() {
    try {
      await call("POST", "/auth/logout", { retried: true });
    } catch {
      /* the session is being dropped here anyway */
    }
    endSession("You are logged out.");
  }

  /* ---------- API keys ---------- */

  const keyPath = (handle) => `/user/keys/${encodeURIComponent(handle)}`;

  /** "Loading…" in place of a table that has no rows yet. */
  function showLoading(name) {
    if ($(`${name}-body`).rows.length > 0) return;
    $(`${name}-table`).hidden = true;
    $(`${name}-empty`).textContent = "Loading…";
    $(`${name}-empty`).hidden = false;
  }

  function showRows(name, count, emptyText) {
    $(`${name}-empty`).textContent = emptyText;
    $(`${name}-empty`).hidden = count > 0;
    $(`${name}-table`).hidden = count === 0;
  }

  function loadKeys() {
    const table = $("keys-table");
    showLoading("keys");
    return attempt($("keys-error"), async () => {
      table.setAttribute("aria-busy", "true");
      try {
        const data = await call("GET", "/user/keys");
        renderKeys(data.keys || []);
      } finally {
        table.removeAttribute("aria-busy");
      }
    });
  }

  function expiryCell(iso) {
    if (!iso) return h("span", { text: "Never" });
    const expired = new Date(iso).getTime() <= Date.now();
    return h("span", null, when(iso), expired ? h("span", { className: "dim", text: " (expired)" }) : null);
  }

  function renderKeys(keys) {
    showRows("keys", keys.length, "No keys yet. Create one with the form.");
    replaceRows(
      $("keys-body"),
      keys.map((key) =>
        h(
          "tr",
          { role: "row", "data-handle": key.handle },
          cell("Handle", h("span", { className: "mono nowrap", text: key.handle })),
          cell("Name", key.alias ? key.alias : h("span", { className: "dim", text: "—" })),
          cell("Type", key.type === "jwt" ? "JWT secret" : "Token"),
          cell("Created", when(key.created_at, "—")),
          cell("Expires", expiryCell(key.expires_at)),
          cell("Last used", when(key.last_used_at, "Never")),
          actionsCell(
            actionButton("Show", `Show key ${key.handle}`, (event) => showKey(key, event.currentTarget)),
            actionButton("Rename", `Rename key ${key.handle}`, (event) => openRename(key, event.currentTarget)),
            actionButton("Rotate", `Rotate key ${key.handle}`, (event) => openRotate(key, event.currentTarget)),
            actionButton("Delete", `Delete key ${key.handle}`, (event) => confirmDeleteKey(key, event.currentTarget), "link-danger")
          )
        )
      )
    );
  }

  function showKey(key, button) {
    return attempt(
      $("keys-error"),
      async () => {
        const full = await call("GET", keyPath(key.handle));
        showSecret(
          "keys",
          `Key “${full.handle}”`,
          key.type === "jwt"
            ? "Sign HS256 JWTs with this secret and put the kid in their header. Keep the secret private."
            : "Send this token as Authorization: Bearer <token>. Anyone holding it can call the API as you.",
          keyFields(full)
        );
      },
      button
    );
  }

  function localDateString(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  /** The end of the chosen day in the user's time zone, as ISO 8601 UTC. */
  function endOfDay(value) {
    const [year, month, day] = value.split("-").map(Number);
    return new Date(year, month - 1, day, 23, 59, 59).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  function syncExpiryDate() {
    const custom = $("key-expiry").value === "date";
    const input = $("key-expiry-date");
    $("key-expiry-date-field").hidden = !custom;
    input.required = custom;
    input.min = localDateString(new Date());
  }

  $("key-expiry").addEventListener("change", () => {
    syncExpiryDate();
    if ($("key-expiry").value === "date") $("key-expiry-date").focus();
  });

  $("key-create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const body = { handle: String(data.get("handle")).trim(), type: String(data.get("type") || "token") };
    const alias = String(data.get("alias") || "").trim();
    if (alias) body.alias = alias;
    const expiry = String(data.get("expiry"));
    if (expiry === "date") body.expires_at = endOfDay(String(data.get("expiry_date")));
    else if (expiry !== "never") body.expires_in_days = Number(expiry);
    attempt(
      $("key-create-error"),
      async () => {
        const key = await call("POST", "/user/keys", { body });
        form.reset();
        syncExpiryDate();
        showSecret(
          "keys",
          `Key “${key.handle}” created`,
          "Copy it now and keep it somewhere safe. You can show it again later with the Show button in the key's row.",
          keyFields(key)
        );
        await loadKeys();
      },
      form,
      form
    );
  });

  $("keys-secret-done").addEventListener("click", () => {
    hideSecret("keys");
    $("keys-title").focus();
  });
  $("keys-reload").addEventListener("click", () => loadKeys());

  let renaming = null;
  function openRename(key, opener) {
    renaming = key;
    $("rename-title").textContent = `Rename key “${key.handle}”`;
    $("rename-alias").value = key.alias || "";
    openDialog($("rename-dialog"), opener);
  }

  $("rename-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const alias = $("rename-alias").value.trim();
    attempt(
      $("rename-error"),
      async () => {
        await call("PATCH", keyPath(renaming.handle), { body: { alias: alias || null } });
        $("rename-dialog").close();
        announce(`Key ${renaming.handle} renamed`);
        await loadKeys();
      },
      form,
      form
    );
  });

  let rotating = null;
  function openRotate(key, opener) {
    rotating = key;
    $("rotate-title").textContent = `Rotate key “${key.handle}”`;
    $("rotate-grace").value = "0";
    openDialog($("rotate-dialog"), opener);
  }

  $("rotate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const grace = Number($("rotate-grace").value);
    attempt(
      $("rotate-error"),
      async () => {
        const key = await call("POST", `${keyPath(rotating.handle)}/rotate`, { body: { grace_seconds: grace } });
        dialogOpener = null;
        $("rotate-dialog").close();
        showSecret(
          "keys",
          `Key “${key.handle}” rotated`,
          grace > 0
            ? `The previous one keeps working for ${waitText(grace)} at most. Copy the new one now; Show displays it again.`
            : "The previous one is revoked. Copy the new one now; Show displays it again.",
          keyFields(key)
        );
        await loadKeys();
      },
      form,
      form
    );
  });

  function confirmDeleteKey(key, opener) {
    confirmThen(
      opener,
      `Delete key “${key.handle}”?`,
      "Scripts that use its token lose access (within the authorizer cache time, 60 seconds by default). This cannot be undone.",
      "Delete key",
      async () => {
        await call("DELETE", keyPath(key.handle));
        if (($("keys-secret-title").textContent || "").includes(`“${key.handle}”`)) hideSecret("keys");
        announce(`Key ${key.handle} deleted`);
        await loadKeys();
      }
    );
  }

  /* ---------- sessions ---------- */

  function loadSessions() {
    return attempt($("sessions-error"), async () => {
      const data = await call("GET", "/user/sessions");
      renderSessions(data.sessions || []);
    });
  }

  const BROWSERS = [
    ["Edge", /Edg\/(\d+)/],
    ["Firefox", /Firefox\/(\d+)/],
    ["Chrome", /Chrom(?:e|ium)\/(\d+)/],
    ["Safari", /Version\/(\d+)\S* .*Safari/],
  ];

  /** "Chrome 131 on Linux" from a User-Agent; the raw string is shown below it. */
  function device(userAgent) {
    if (!userAgent) return "Unknown program";
    let browser = userAgent.split(/[\s/]/)[0];
    for (const [name, pattern] of BROWSERS) {
      const found = pattern.exec(userAgent);
      if (found) {
        browser = `${name} ${found[1]}`;
        break;
      }
    }
    const system =
      (/Windows/.test(userAgent) && "Windows") ||
      (/Android/.test(userAgent) && "Android") ||
      (/iPhone|iPad/.test(userAgent) && "iOS") ||
      (/Mac OS X/.test(userAgent) && "macOS") ||
      (/Linux/.test(userAgent) && "Linux") ||
      "";
    return system ? `${browser} on ${system}` : browser;
  }

  function renderSessions(sessions) {
    replaceRows(
      $("sessions-body"),
      sessions.map((session) =>
        h(
          "tr",
          { role: "row", "data-session": session.id, className: session.current ? "current" : null },
          cell(
            "Device",
            h(
              "div",
              { className: "ua" },
              h("div", null, h("strong", { text: device(session.user_agent) }), " ", session.current ? h("span", { className: "badge current", text: "This session" }) : null),
              h("div", { className: "dim mono", text: session.user_agent || "" })
            )
          ),
          cell("Started", when(session.created_at, "—")),
          cell("Last used", when(session.last_used_at, "—")),
          cell("Ends if unused", when(session.expires_at, "—")),
          actionsCell(
            session.current
              ? actionButton("End this session", "End this session and log out", (event) => confirmEndCurrent(session, event.currentTarget), "link-danger")
              : actionButton("End", `End session on ${device(session.user_agent)} started ${session.created_at}`, (event) => endSessionRow(session, event.currentTarget), "link-danger")
          )
        )
      )
    );
  }

  function endSessionRow(session, button) {
    return attempt(
      $("sessions-error"),
      async () => {
        await call("DELETE", `/user/sessions/${encodeURIComponent(session.id)}`);
        announce("Session ended");
        await loadSessions();
        $("sessions-title").focus();
      },
      button
    );
  }

  function confirmEndCurrent(session, opener) {
    confirmThen(opener, "End this session?", "You will be logged out of this browser.", "End session and log out", async () => {
      await call("DELETE", `/user/sessions/${encodeURIComponent(session.id)}`);
      endSession("You ended this session and are logged out.");
    });
  }

  $("sessions-reload").addEventListener("click", () => loadSessions());

  /* ---------- bots ---------- */

  const botPath = (id) => `/account/bots/${encodeURIComponent(id)}`;

  function loadBots() {
    showLoading("bots");
    return attempt($("bots-error"), async () => {
      const data = await call("GET", "/account/bots");
      renderBots(data.bots || []);
    });
  }

  function renderBots(bots) {
    showRows("bots", bots.length, "No bots yet.");
    replaceRows(
      $("bots-body"),
      bots.map((bot) =>
        h(
          "tr",
          { role: "row", "data-bot": bot.id },
          cell("Name", h("strong", { text: bot.name || "(unnamed)" }), "nowrap"),
          cell("Bot ID", h("span", { className: "mono", text: bot.id })),
          cell("Created", when(bot.created_at, "—")),
          actionsCell(
            actionButton("Regenerate token", `Regenerate token of bot ${bot.name}`, (event) => confirmRegenerate(bot, event.currentTarget)),
            actionButton("Delete", `Delete bot ${bot.name}`, (event) => confirmDeleteBot(bot, event.currentTarget), "link-danger")
          )
        )
      )
    );
  }

  function showBotToken(result, title, note) {
    showSecret("bots", title, note, [
      ["Token", result.token],
      ["Bot ID", result.bot.id],
      ["Account ID", result.bot.account_id],
    ]);
  }

  $("bot-create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = $("bot-name").value.trim();
    attempt(
      $("bot-create-error"),
      async () => {
        const result = await call("POST", "/account/bots", { body: { name } });
        form.reset();
        showBotToken(
          result,
          `Bot “${result.bot.name}” created`,
          "Copy its token now. It is not shown again: if it is lost, regenerate it."
        );
        await loadBots();
      },
      form,
      form
    );
  });

  function confirmRegenerate(bot, opener) {
    confirmThen(
      opener,
      `Regenerate the token of “${bot.name}”?`,
      "Its current token stops working (within the authorizer cache time, 60 seconds by default). Update the programs that use it.",
      "Regenerate token",
      async () => {
        const result = await call("POST", `${botPath(bot.id)}/token`);
        dialogOpener = null;
        $("confirm-dialog").close();
        showBotToken(result, `New token for “${bot.name}”`, "Copy it now. The previous token is revoked.");
      }
    );
  }

  function confirmDeleteBot(bot, opener) {
    confirmThen(
      opener,
      `Delete bot “${bot.name}”?`,
      "The bot and all its keys are deleted, and its token stops working.",
      "Delete bot",
      async () => {
        await call("DELETE", botPath(bot.id));
        hideSecret("bots");
        announce(`Bot ${bot.name} deleted`);
        await loadBots();
      }
    );
  }

  $("bots-secret-done").addEventListener("click", () => {
    hideSecret("bots");
    $("bots-title").focus();
  });
  $("bots-reload").addEventListener("click", () => loadBots());

  /* ---------- start ---------- */

  async function boot() {
    syncExpiryDate();
    const refresh = storedRefreshToken();
    if (!refresh) {
      showLogin();
      return;
    }
    state.refresh = refresh;
    if (!(await refreshAccess())) {
      endSession("Your session has ended. Please log in again.");
      return;
    }
    try {
      startApp(await call("GET", "/user"));
    } catch (error) {
      if (!(error instanceof SessionEnded)) endSession(describe(error)[0]);
    }
  }

  boot();
})();
