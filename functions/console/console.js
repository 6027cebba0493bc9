
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
  const SCREENS = {
    keys: "API keys",
    sessions: "Sessions",
    security: "Security",
    users: "Users",
    allkeys: "All keys",
    audit: "Audit log",
    bots: "Bots",
  };
  const ADMIN_SCREENS = new Set(["users", "allkeys", "audit", "bots"]);
  /* screens shown without a session */
  const PUBLIC_SCREENS = { login: "Log in", forgot: "Reset your password", reset: "Choose a password" };

  const state = { access: null, refresh: null, user: null, screen: null, users: null };
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

  const SVG_NS = "http://www.w3.org/2000/svg";

  /** An SVG element: geometry goes in attributes, colours come from console.css classes. */
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") el.textContent = value;
      else if (name === "className") el.setAttribute("class", value);
      else el.setAttribute(name, String(value));
    }
    for (const child of children.flat()) if (child) el.append(child);
    return el;
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  const secondsFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function when(iso, empty, format) {
    if (!iso) return h("span", { className: "dim", text: empty });
    const date = new Date(iso);
    const label = Number.isNaN(date.getTime()) ? iso : (format || dateFormat).format(date);
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

  /** A problem the console words itself, optionally marking one field of the form. */
  class FormProblem extends Error {
    constructor(message, field) {
      super(message);
      this.field = field || null;
    }
  }

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
    const refused = !entries.length || ["invalid_token", "not_authenticated"].includes(entries[0].code);
    if (auth && response.status === 401 && refused) {
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
    mfa_required: "Enter the code from your authenticator app.",
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
    new_password: "New password",
    current_password: "Current password",
    code: "Code",
    totp: "Code",
    recovery_code: "Recovery code",
    role: "Role",
    disabled: "Status",
    account_id: "Account ID",
    scopes: "Scopes",
    ratelimit: "Rate limit",
    credits: "Credits",
    meta: "Metadata",
    allowed_ips: "Allowed networks",
    max_key_lifetime_days: "Maximum key lifetime",
    key_idle_days: "Idle keys stop after",
  };
  const FIELD_MESSAGES = {
    handle: "use 1 to 64 letters, digits, dots, dashes or underscores.",
    alias: "use at most 128 characters.",
    expires_at: "choose a date in the future.",
    expires_in_days: "choose between 1 and 36500 days.",
    grace_seconds: "enter a number of seconds from 0 to 86400.",
    name: "use 1 to 64 characters.",
    email: "enter an email address, such as ada@example.com.",
  };
  /* which form control shows the error of an API field (first one the form has) */
  const FIELD_CONTROLS = {
    expires_in_days: ["expiry"],
    expires_at: ["expiry_date"],
    password: ["password", "new_password"],
    totp: ["totp", "code"],
    scopes: ["scopes_other"],
    ratelimit: ["ratelimit_limit"],
    credits: ["credits_remaining"],
  };

  function controlFor(form, attr) {
    for (const name of FIELD_CONTROLS[attr] || [attr]) {
      const control = name && form.elements.namedItem(name);
      if (control && control.setAttribute) return control;
    }
    return null;
  }

  /** "Rate limit" for `ratelimit` and for a part of it such as `ratelimit.limit`. */
  function fieldName(attr) {
    if (!attr) return null;
    return FIELD_NAMES[attr] || FIELD_NAMES[String(attr).split(".")[0]] || String(attr);
  }

  function waitText(seconds) {
    if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
    const minutes = Math.ceil(seconds / 60);
    return `${minutes} minutes`;
  }

  function describe(error) {
    if (error instanceof FormProblem) return [error.message];
    if (!(error instanceof ApiError)) {
      return [`Something went wrong in the console: ${error && error.message ? error.message : error}`];
    }
    if (error.code === "throttled") {
      const wait = error.retryAfter ? `in ${waitText(error.retryAfter)}` : "later";
      return [`Too many failed attempts for this email. Try again ${wait}.`];
    }
    const aboutFields = error.entries.some((entry) => entry.attr);
    if (error.status === 403 && aboutFields) {
      /* a refusal about a field (scopes or an expiry beyond the caller's): the API's words */
      return error.entries.map((entry) => {
        const field = fieldName(entry.attr);
        const detail = entry.detail || CODE_MESSAGES[entry.code] || "this is not allowed.";
        return field ? `${field}: ${detail}` : detail;
      });
    }
    if (error.status === 400 && aboutFields) {
      const lines = [];
      for (const entry of error.entries) {
        if (entry.attr === "account_id" && entry.code === "required") {
          lines.push("This email belongs to several accounts. Enter the account ID to log in to.");
          const ids = entry.extra && entry.extra.account_ids;
          if (Array.isArray(ids) && ids.length) lines.push(`Your accounts: ${ids.join(", ")}`);
          continue;
        }
        const field = fieldName(entry.attr) || "Request";
        /* pydantic's "Value error, " prefix says nothing to a reader */
        const detail = entry.detail ? String(entry.detail).replace(/^Value error, /, "") : null;
        lines.push(`${field}: ${FIELD_MESSAGES[entry.attr] || detail || "this value is not accepted."}`);
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
    if (!form) return;
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    form.querySelectorAll("[data-error-for]").forEach((el) => {
      el.hidden = true;
      el.replaceChildren();
    });
  }

  function errorAttrs(error) {
    if (error instanceof FormProblem) return [error.field];
    if (error instanceof ApiError) return error.entries.map((entry) => entry.attr);
    return [];
  }

  /** The box beside a field (`data-error-for`) when every problem is about that one field. */
  function fieldErrorBox(form, attrs) {
    const fields = new Set(attrs.map((attr) => (attr ? String(attr).split(".")[0] : null)));
    if (!form || fields.size !== 1) return null;
    const [field] = fields;
    if (!field) return null;
    return [...form.querySelectorAll("[data-error-for]")].find((el) => el.dataset.errorFor === field) || null;
  }

  function showError(box, error, form) {
    const lines = describe(error);
    const attrs = errorAttrs(error);
    const target = fieldErrorBox(form, attrs) || box;
    target.replaceChildren(lines.length === 1 ? lines[0] : h("ul", null, lines.map((line) => h("li", { text: line }))));
    target.hidden = false;
    if (!form) return;
    let first = null;
    for (const attr of attrs) {
      const control = attr ? controlFor(form, String(attr).split(".")[0]) : null;
      if (control) {
        control.setAttribute("aria-invalid", "true");
        first = first || control;
      }
    }
    if (first) first.focus();
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
    const hash = location.hash.replace(/^#/, "");
    if (hash.startsWith("reset=")) {
      openReset(hash.slice("reset=".length));
      return;
    }
    if (!state.user) {
      if (hash === "forgot") showForgot();
      else if (!$("screen-login").hidden && state.screen === null) return;
      else showLogin();
      return;
    }
    let name = hash;
    if (!(name in SCREENS) || (ADMIN_SCREENS.has(name) && !isAdmin())) name = "keys";
    showScreen(name);
  }

  function hideScreens() {
    for (const screen of [...Object.keys(SCREENS), ...Object.keys(PUBLIC_SCREENS)]) $(`screen-${screen}`).hidden = true;
    hideSecret("keys");
    hideSecret("bots");
    hideUsage();
    clearSecurity();
  }

  function showScreen(name) {
    state.screen = name;
    nav.hidden = false;
    $("account-bar").hidden = false;
    for (const screen of Object.keys(PUBLIC_SCREENS)) $(`screen-${screen}`).hidden = true;
    for (const screen of Object.keys(SCREENS)) $(`screen-${screen}`).hidden = screen !== name;
    /* what was shown once (recovery codes, a pending QR code) does not outlive the screen */
    if (name !== "security") clearSecurity();
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
    else if (state.screen === "security") loadSecurity();
    else if (state.screen === "users") loadUsers();
    else if (state.screen === "allkeys") openAllKeys();
    else if (state.screen === "audit") openAudit();
    else if (state.screen === "bots") loadBots();
  }

  /** A screen of the logged-out part: login, forgot password, choose a password. */
  function showPublic(name) {
    state.screen = null;
    closeDialogs();
    $("booting").hidden = true;
    nav.hidden = true;
    setMenu(false);
    $("account-bar").hidden = true;
    hideScreens();
    $(`screen-${name}`).hidden = false;
    document.title = `${PUBLIC_SCREENS[name]} · gatekey console`;
  }

  function showLogin(notice) {
    showPublic("login");
    showPasswordStep();
    const noticeBox = $("login-notice");
    noticeBox.textContent = notice || "";
    noticeBox.hidden = !notice;
    $("login-email").focus();
  }

  function applyRole() {
    $("role-badge").hidden = !isAdmin();
    for (const item of menu.querySelectorAll("[data-admin]")) item.hidden = !isAdmin();
  }

  function startApp(user) {
    state.user = user;
    $("booting").hidden = true;
    $("user-email").textContent = user.email || user.id;
    $("account-id").textContent = user.account_id;
    applyRole();
    clearError($("login-error"), $("login-form"));
    route();
  }

  function endSession(notice) {
    state.access = null;
    state.user = null;
    state.users = null;
    keepRefreshToken(null);
    showLogin(notice);
  }

  window.addEventListener("hashchange", route);

  /* ---------- login (with a second step when MFA is on) and logout ---------- */

  /** Email, password and account of a login that awaits its MFA code; memory only. */
  let pendingLogin = null;

  function showPasswordStep() {
    pendingLogin = null;
    $("mfa-form").hidden = true;
    $("mfa-form").reset();
    $("login-form").hidden = false;
  }

  function setRecoveryMode(recovery) {
    $("mfa-code-field").hidden = recovery;
    $("mfa-recovery-field").hidden = !recovery;
    $("mfa-code").required = !recovery;
    $("mfa-recovery").required = recovery;
    $("mfa-intro").textContent = recovery
      ? "Enter one of the recovery codes you saved when you turned on two-step verification."
      : "Enter the 6-digit code that your authenticator app shows for gatekey.";
    $("mfa-switch").textContent = recovery ? "Use a code from the app instead" : "Use a recovery code instead";
    $("mfa-switch").dataset.recovery = recovery ? "true" : "false";
    (recovery ? $("mfa-recovery") : $("mfa-code")).focus();
  }

  function showMfaStep(body) {
    pendingLogin = body;
    $("login-form").hidden = true;
    $("mfa-form").hidden = false;
    clearError($("login-error"), $("mfa-form"));
    setRecoveryMode(false);
  }

  function finishLogin(result) {
    state.access = result.access_token;
    keepRefreshToken(result.refresh_token);
    $("login-password").value = "";
    pendingLogin = null;
    $("mfa-form").reset();
    startApp(result.user);
  }

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
          finishLogin(await call("POST", "/auth/login", { auth: false, body }));
        } catch (error) {
          if (error instanceof ApiError && error.code === "mfa_required") {
            showMfaStep(body);
            return;
          }
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

  $("mfa-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!pendingLogin) {
      showLogin();
      return;
    }
    const recovery = $("mfa-switch").dataset.recovery === "true";
    const body = { ...pendingLogin };
    if (recovery) body.recovery_code = $("mfa-recovery").value.trim();
    else body.totp = $("mfa-code").value.replace(/\s+/g, "");
    attempt(
      $("login-error"),
      async () => {
        try {
          finishLogin(await call("POST", "/auth/login", { auth: false, body }));
        } catch (error) {
          if (error instanceof ApiError && (error.code === "invalid_credentials" || error.code === "mfa_required")) {
            const field = recovery ? $("mfa-recovery") : $("mfa-code");
            field.value = "";
            throw new FormProblem(
              recovery
                ? "This recovery code is not right, or it was already used."
                : "This code is not right, or it was already used. Wait for the next code and try again.",
              recovery ? "recovery_code" : "totp"
            );
          }
          throw error;
        }
      },
      form,
      form
    );
  });

  $("mfa-switch").addEventListener("click", () => {
    clearError($("login-error"), $("mfa-form"));
    setRecoveryMode($("mfa-switch").dataset.recovery !== "true");
  });
  $("mfa-back").addEventListener("click", () => {
    clearError($("login-error"), $("mfa-form"));
    showPasswordStep();
    $("login-password").value = "";
    $("login-password").focus();
  });

  /* ---------- forgot password, and the link that sets one ---------- */

  function showForgot() {
    showPublic("forgot");
    clearError($("forgot-error"), $("forgot-form"));
    $("forgot-notice").hidden = true;
    const email = $("login-email").value.trim();
    if (email && !$("forgot-email").value) $("forgot-email").value = email;
    $("forgot-email").focus();
  }

  $("forgot-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const body = { email: $("forgot-email").value.trim() };
    const account = $("forgot-account").value.trim();
    if (account) body.account_id = account;
    $("forgot-notice").hidden = true;
    attempt(
      $("forgot-error"),
      async () => {
        await call("POST", "/auth/password-reset", { auth: false, body });
        $("forgot-notice").textContent =
          `If ${body.email} has a gatekey account, an email with a link to choose a new password is on its way. The link works once, for 30 minutes.`;
        $("forgot-notice").hidden = false;
      },
      form,
      form
    );
  });

  /** The token of the reset (or invitation) link; memory only, gone from the address bar. */
  let resetToken = null;

  function openReset(token) {
    try {
      resetToken = decodeURIComponent(token);
    } catch {
      resetToken = token;
    }
    history.replaceState(null, "", location.pathname + location.search);
    showPublic("reset");
    $("reset-form").reset();
    clearError($("reset-error"), $("reset-form"));
    $("reset-password").focus();
  }

  /** Both copies of a new password must match before it is sent. */
  function newPassword(form, first, second) {
    const value = form.elements.namedItem(first).value;
    if (value !== form.elements.namedItem(second).value) {
      throw new FormProblem("The two new passwords are not the same. Type them again.", second);
    }
    return value;
  }

  $("reset-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    attempt(
      $("reset-error"),
      async () => {
        const password = newPassword(form, "new_password", "new_password_again");
        try {
          await call("POST", "/auth/password-reset/confirm", {
            auth: false,
            body: { token: resetToken, new_password: password },
          });
        } catch (error) {
          const aboutPassword =
            error instanceof ApiError && error.entries.some((entry) => ["password", "new_password"].includes(entry.attr));
          if (error instanceof ApiError && error.status >= 400 && error.status < 500 && !aboutPassword && error.code !== "throttled") {
            throw new FormProblem(
              "This link is not valid any more: it was already used, or it is older than 30 minutes. Ask for a new one with “Forgot your password?”."
            );
          }
          throw error;
        }
        resetToken = null;
        form.reset();
        endSession("Your password is set. Log in with it.");
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

  /* ---------- scopes (CONTRACT section 7) ---------- */

  /* the API's rule (gatekey.scopes): `*`, or resource:action where the action may be `*` */
  const SCOPE_PATTERN = /^(?:\*|[a-z0-9_-]+:(?:[a-z0-9_-]+|\*))$/;
  const SCOPE_RULE = "a scope is * or resource:action, of lowercase letters, digits, _ and - (the action may be *), such as orders:read.";

  /** The scopes a form's picker holds: ticked boxes and the typed ones, checked as the API checks them. */
  function chosenScopes(form) {
    const ticked = [...form.querySelectorAll('input[name="scope"]')].filter((box) => box.checked).map((box) => box.value);
    const typed = form.elements.namedItem("scopes_other").value.split(/[\s,]+/).filter(Boolean);
    const wrong = typed.filter((scope) => !SCOPE_PATTERN.test(scope));
    if (wrong.length) {
      const list = wrong.map((scope) => `“${scope}”`).join(", ");
      throw new FormProblem(`Scopes: ${list} ${wrong.length === 1 ? "is" : "are"} not valid; ${SCOPE_RULE}`, "scopes");
    }
    const scopes = [...new Set([...ticked, ...typed])].sort();
    if (!scopes.length) throw new FormProblem("Scopes: choose at least one scope.", "scopes");
    return scopes;
  }

  /** Sets a form's picker to `scopes`: the boxes it has are ticked, the rest are typed. */
  function fillScopes(form, scopes) {
    const boxes = [...form.querySelectorAll('input[name="scope"]')];
    const offered = new Set(boxes.map((box) => box.value));
    for (const box of boxes) box.checked = scopes.includes(box.value);
    form.elements.namedItem("scopes_other").value = scopes.filter((scope) => !offered.has(scope)).join(" ");
  }

  /** A credential's scopes for a table cell (`null`: the API did not say), with an optional button. */
  function scopesCell(scopes, unknownText, button) {
    if (!Array.isArray(scopes)) return cell("Scopes", h("span", { className: "dim", text: unknownText || "—" }));
    return cell(
      "Scopes",
      h(
        "div",
        { className: "scopes-cell" },
        h(
          "ul",
          { className: "scopes", "aria-label": `${scopes.length} scope${scopes.length === 1 ? "" : "s"}` },
          scopes.map((scope) => h("li", { className: "scope mono", text: scope }))
        ),
        button || null
      )
    );
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

  /* a key's `status` in the API's key views (CONTRACT section 11), in words, with why it does not work */
  const KEY_STATUSES = {
    active: ["Active", "The key works."],
    expired: ["Expired", "Past its expiry date: the key no longer works."],
    idle_expired: [
      "Idle expired",
      "Unused for longer than the account's idle limit (Key policy): the key no longer works until the limit is raised or lifted.",
    ],
    disabled: ["Disabled", "Its owner is disabled: the key does not work until they are enabled again."],
  };

  function statusCell(status) {
    const [label, title] = KEY_STATUSES[status] || [status || "—", null];
    return cell("Status", h("span", { className: `key-status status-${status}`, "data-status": status, title, text: label }));
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
          scopesCell(
            key.scopes || ["*"],
            null,
            actionButton("Change", `Change scopes of key ${key.handle}`, (event) => openScopes(key, event.currentTarget), "scopes-change")
          ),
          limitsCell(
            key,
            actionButton("Change", `Change limits of key ${key.handle}`, (event) => openLimits(key, event.currentTarget), "limits-change")
          ),
          cell("Created", when(key.created_at, "—")),
          cell("Expires", expiryCell(key.expires_at)),
          cell(
            "Last used",
            h(
              "div",
              { className: "scopes-cell" },
              when(key.last_used_at, "Never"),
              actionButton("Usage", `Usage of key ${key.handle}`, (event) => openUsage(key, event.currentTarget), "usage-open")
            )
          ),
          statusCell(key.status),
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
        body.scopes = chosenScopes(form);
        for (const [name, value] of Object.entries(chosenLimits(form, "key-limits"))) {
          if (value !== null) body[name] = value;
        }
        let key;
        try {
          key = await call("POST", "/user/keys", { body });
        } catch (error) {
          const aboutLimits = errorAttrs(error).some((attr) => LIMIT_FIELDS.includes(String(attr).split(".")[0]));
          if (aboutLimits) $("key-limits").open = true;
          throw error;
        }
        form.reset();
        $("key-limits").open = false;
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

  let rescoping = null;
  function openScopes(key, opener) {
    rescoping = key;
    $("scopes-title").textContent = `Scopes of key “${key.handle}”`;
    fillScopes($("scopes-form"), key.scopes || ["*"]);
    openDialog($("scopes-dialog"), opener);
  }

  $("scopes-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    attempt(
      $("scopes-error"),
      async () => {
        const scopes = chosenScopes(form);
        await call("PATCH", keyPath(rescoping.handle), { body: { scopes } });
        $("scopes-dialog").close();
        announce(`Scopes of key ${rescoping.handle} changed`);
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
        if (usage.handle === key.handle) hideUsage();
        announce(`Key ${key.handle} deleted`);
        await loadKeys();
      }
    );
  }

  /* ---------- key limits: rate limit, credits, metadata, networks (CONTRACT section 9) ---------- */

  const LIMIT_FIELDS = ["ratelimit", "credits", "meta", "allowed_ips"];
  const META_MAX_BYTES = 1024;
  const MAX_NETWORKS = 20;
  const NETWORK_PATTERN = /^(?:[0-9.]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(?:\/\d{1,3})?$/;
  const numberFormat = new Intl.NumberFormat();

  /** A whole number typed in a form, or null when the field is empty. */
  function wholeNumber(form, name, label, field) {
    const control = form.elements.namedItem(name);
    const text = control.value.trim();
    if (!text) return null;
    const value = Number(text);
    if (!Number.isInteger(value) || value < Number(control.min) || value > Number(control.max)) {
      const range = `${numberFormat.format(Number(control.min))} to ${numberFormat.format(Number(control.max))}`;
      throw new FormProblem(`${FIELD_NAMES[field]}: ${label} must be a whole number from ${range}.`, field);
    }
    return value;
  }

  /** The metadata textarea as an object: a flat JSON object, or null when empty. */
  function chosenMeta(form) {
    const text = form.elements.namedItem("meta").value.trim();
    if (!text) return null;
    const example = 'write an object such as {"plan": "pro", "tenant": 42}.';
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      throw new FormProblem(`Metadata: this is not valid JSON; ${example}`, "meta");
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new FormProblem(`Metadata: this is JSON but not an object; ${example}`, "meta");
    }
    const nested = Object.keys(value).filter((name) => value[name] === null || typeof value[name] === "object");
    if (nested.length) {
      const list = nested.map((name) => `“${name}”`).join(", ");
      throw new FormProblem(
        `Metadata: ${list} ${nested.length === 1 ? "holds" : "hold"} a list, an object or null; the object must be flat: each value text, a number, true or false.`,
        "meta"
      );
    }
    if (!Object.keys(value).length) return null;
    const bytes = new TextEncoder().encode(JSON.stringify(value)).length;
    if (bytes > META_MAX_BYTES) {
      throw new FormProblem(`Metadata: it takes ${bytes} bytes as JSON; at most ${META_MAX_BYTES} are allowed.`, "meta");
    }
    return value;
  }

  function chosenNetworks(form) {
    const lines = form.elements.namedItem("allowed_ips").value.split(/[\s,]+/).filter(Boolean);
    if (!lines.length) return null;
    const wrong = lines.filter((line) => !NETWORK_PATTERN.test(line));
    if (wrong.length) {
      const list = wrong.map((line) => `“${line}”`).join(", ");
      throw new FormProblem(
        `Allowed networks: ${list} ${wrong.length === 1 ? "is" : "are"} not an IPv4 or IPv6 network; write one per line, such as 203.0.113.0/24.`,
        "allowed_ips"
      );
    }
    if (lines.length > MAX_NETWORKS) {
      throw new FormProblem(`Allowed networks: at most ${MAX_NETWORKS}; there are ${lines.length}.`, "allowed_ips");
    }
    return [...new Set(lines)];
  }

  /** The four limit fields of a form as the API takes them; null is "none". */
  function chosenLimits(form, detailsId) {
    try {
      const limit = wholeNumber(form, "ratelimit_limit", "the number of requests", "ratelimit");
      const window = wholeNumber(form, "ratelimit_window", "the window", "ratelimit");
      if ((limit === null) !== (window === null)) {
        throw new FormProblem("Rate limit: give both the number of requests and the window in seconds, or neither.", "ratelimit");
      }
      const interval = form.elements.namedItem("credits_refill").value;
      const amount = wholeNumber(form, "credits_amount", "the refill", "credits");
      let remaining = wholeNumber(form, "credits_remaining", "what remains", "credits");
      if (interval && amount === null) throw new FormProblem("Credits: say how many credits a refill gives.", "credits");
      if (!interval && amount !== null) throw new FormProblem("Credits: choose when the refill happens, daily or monthly.", "credits");
      if (remaining === null && interval) remaining = amount;
      return {
        ratelimit: limit === null ? null : { limit, window_seconds: window },
        credits: remaining === null ? null : { remaining, refill: interval ? { interval, amount } : null },
        meta: chosenMeta(form),
        allowed_ips: chosenNetworks(form),
      };
    } catch (error) {
      /* a problem inside the collapsed group opens it, so its field can take focus */
      if (detailsId) $(detailsId).open = true;
      throw error;
    }
  }

  function fillLimits(form, key) {
    const value = (name, text) => (form.elements.namedItem(name).value = text === null || text === undefined ? "" : String(text));
    const ratelimit = key.ratelimit || {};
    const credits = key.credits || {};
    const refill = credits.refill || {};
    value("ratelimit_limit", ratelimit.limit);
    value("ratelimit_window", ratelimit.window_seconds);
    value("credits_remaining", credits.remaining);
    value("credits_refill", refill.interval || "");
    value("credits_amount", refill.amount);
    value("meta", key.meta && Object.keys(key.meta).length ? metaText(key.meta) : "");
    value("allowed_ips", (key.allowed_ips || []).join("\n"));
  }

  /** JSON with object keys sorted: two values are the same limit when these are equal. */
  function canonical(value) {
    if (value === undefined || value === null) return "null";
    if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
    if (typeof value === "object") {
      return `{${Object.keys(value)
        .sort()
        .map((name) => `${JSON.stringify(name)}:${canonical(value[name])}`)
        .join(",")}}`;
    }
    return JSON.stringify(value);
  }

  /** "per minute", "per 2 hours", "per 90 seconds" */
  function windowText(seconds) {
    for (const [size, unit] of [
      [86400, "day"],
      [3600, "hour"],
      [60, "minute"],
      [1, "second"],
    ]) {
      if (seconds % size === 0) {
        const count = seconds / size;
        return count === 1 ? `per ${unit}` : `per ${numberFormat.format(count)} ${unit}s`;
      }
    }
    return `per ${seconds} seconds`;
  }

  function ratelimitText(ratelimit) {
    return `${numberFormat.format(ratelimit.limit)} ${windowText(ratelimit.window_seconds)}`;
  }

  function creditsText(credits) {
    const left = `${numberFormat.format(credits.remaining)} left`;
    if (!credits.refill) return `${left}, no refill`;
    return `${left}, refilled to ${numberFormat.format(credits.refill.amount)} ${credits.refill.interval}`;
  }

  /** `{"plan": "pro", "tenant": 42}`: spaced, so that a narrow cell wraps it between entries. */
  function metaText(meta) {
    return `{${Object.entries(meta)
      .map(([name, value]) => `${JSON.stringify(name)}: ${JSON.stringify(value)}`)
      .join(", ")}}`;
  }

  /** The limits of a key for its row, with the button that changes them. */
  function limitsCell(key, button) {
    const entries = [];
    if (key.ratelimit) entries.push(["Rate limit", ratelimitText(key.ratelimit), "ratelimit"]);
    if (key.credits) entries.push(["Credits", creditsText(key.credits), "credits"]);
    if (key.allowed_ips && key.allowed_ips.length) entries.push(["Networks", key.allowed_ips.join(", "), "allowed_ips mono"]);
    if (key.meta && Object.keys(key.meta).length) entries.push(["Metadata", metaText(key.meta), "meta mono"]);
    const content = entries.length
      ? h(
          "dl",
          { className: "limits" },
          entries.map(([term, text, className]) => h("div", null, h("dt", { text: term }), h("dd", { className, text })))
        )
      : h("span", { className: "dim", text: "None" });
    return cell("Limits", h("div", { className: "limits-cell" }, content, button));
  }

  let limiting = null;
  function openLimits(key, opener) {
    limiting = key;
    $("limits-title").textContent = `Limits of key “${key.handle}”`;
    fillLimits($("limits-form"), key);
    openDialog($("limits-dialog"), opener);
  }

  $("limits-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    attempt(
      $("limits-error"),
      async () => {
        const chosen = chosenLimits(form);
        /* only what changed: an untouched credits field must not reset what is left */
        const body = {};
        for (const name of LIMIT_FIELDS) {
          if (canonical(chosen[name]) !== canonical(limiting[name])) body[name] = chosen[name];
        }
        const handle = limiting.handle;
        if (Object.keys(body).length) await call("PATCH", keyPath(handle), { body });
        $("limits-dialog").close();
        announce(Object.keys(body).length ? `Limits of key ${handle} changed` : `Limits of key ${handle} unchanged`);
        await loadKeys();
        if (usage.handle === handle) await loadUsage();
      },
      form,
      form
    );
  });

  /* ---------- key usage: the last 30 days as a bar chart ---------- */

  const USAGE_DAYS = 30;
  const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
  const shortDayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
  const usage = { handle: null };

  function dayLabel(date, format) {
    const parsed = new Date(`${date}T00:00:00Z`);
    return Number.isNaN(parsed.getTime()) ? date : (format || dayFormat).format(parsed);
  }

  function countText(count, word) {
    return `${numberFormat.format(count)} ${word}`;
  }

  /** The smallest of 1, 2, 5, 10, 20, 50, … at least `value`: the top of the scale. */
  function scaleTop(value) {
    if (value <= 5) return Math.max(value, 1);
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  function openUsage(key, opener) {
    usage.handle = key.handle;
    usage.opener = opener;
    $("keys-usage-title").textContent = `Usage of key “${key.handle}”, last ${USAGE_DAYS} days`;
    $("keys-usage-summary").textContent = "";
    $("keys-usage-figure").hidden = true;
    $("keys-usage-empty").textContent = "Loading…";
    $("keys-usage-empty").hidden = false;
    $("keys-usage").hidden = false;
    $("keys-usage").focus();
    return loadUsage();
  }

  function hideUsage() {
    usage.handle = null;
    $("keys-usage").hidden = true;
    $("keys-usage-chart").replaceChildren();
    clearError($("keys-usage-error"));
  }

  function loadUsage() {
    const handle = usage.handle;
    if (!handle) return undefined;
    return attempt(
      $("keys-usage-error"),
      async () => {
        const data = await call("GET", `${keyPath(handle)}/usage?days=${USAGE_DAYS}`);
        if (usage.handle === handle) renderUsage(data);
      },
      $("keys-usage-reload")
    );
  }

  function renderUsage(data) {
    const days = Array.isArray(data.days) ? data.days : [];
    const allowed = days.reduce((sum, day) => sum + (day.allowed || 0), 0);
    const refused = days.reduce((sum, day) => sum + (day.refused || 0), 0);
    const lastUsed = data.last_used_at ? ` Last used ${when(data.last_used_at, "").textContent}.` : "";
    const used = allowed + refused > 0;
    $("keys-usage-summary").textContent = used
      ? `${countText(allowed, "allowed")} and ${countText(refused, "refused")} in the last ${days.length} days (UTC).${lastUsed}`
      : "";
    $("keys-usage-empty").textContent = `No use yet: nothing was allowed or refused in the last ${days.length || USAGE_DAYS} days.${lastUsed}`;
    $("keys-usage-empty").hidden = used;
    $("keys-usage-figure").hidden = !used;
    $("keys-usage-chart").replaceChildren(...(used ? [usageChart(days)] : []));
  }

  /** Stacked bars, allowed below refused, one per day; each day is an image named by its counts. */
  function usageChart(days) {
    const left = 44;
    const top = 10;
    const plotHeight = 160;
    const slot = 20;
    const barWidth = 14;
    const width = left + days.length * slot + 6;
    const height = top + plotHeight + 26;
    const bottom = top + plotHeight;
    const highest = Math.max(...days.map((day) => (day.allowed || 0) + (day.refused || 0)));
    const scale = scaleTop(highest);
    const y = (count) => (count / scale) * plotHeight;
    const round = (number) => Math.round(number * 100) / 100;
    const ticks = [...new Set([0, scale / 2, scale])].filter((tick) => Number.isInteger(tick));
    const today = new Date().toISOString().slice(0, 10);
    const labelled = new Set([0, Math.floor((days.length - 1) / 2), days.length - 1]);

    const chart = svg(
      "svg",
      {
        viewBox: `0 0 ${width} ${height}`,
        role: "group",
        "aria-label": `Allowed and refused requests per day, ${dayLabel(days[0].date)} to ${dayLabel(days[days.length - 1].date)}`,
        "data-scale": scale,
        "data-plot-height": plotHeight,
      },
      ticks.map((tick) => {
        const at = round(bottom - y(tick));
        return svg(
          "g",
          { "aria-hidden": "true" },
          svg("line", { className: tick === 0 ? "baseline" : "grid", x1: left - 4, x2: width, y1: at, y2: at }),
          svg("text", { className: "axis-y", x: left - 8, y: at + 4, text: numberFormat.format(tick) })
        );
      })
    );
    days.forEach((day, index) => {
      const allowed = day.allowed || 0;
      const refused = day.refused || 0;
      const x = left + index * slot + (slot - barWidth) / 2;
      const allowedHeight = round(y(allowed));
      const refusedHeight = round(y(refused));
      const name = `${dayLabel(day.date)}${day.date === today ? " (today)" : ""}: ${countText(allowed, "allowed")}, ${countText(refused, "refused")}`;
      chart.append(
        svg(
          "g",
          {
            className: "usage-day",
            role: "img",
            "aria-label": name,
            "data-date": day.date,
            "data-allowed": allowed,
            "data-refused": refused,
          },
          svg("title", { text: name }),
          svg("rect", { className: "usage-hit", x: left + index * slot, y: top, width: slot, height: plotHeight }),
          svg("rect", { className: "usage-allowed", x, y: round(bottom - allowedHeight), width: barWidth, height: allowedHeight }),
          svg("rect", {
            className: "usage-refused",
            x,
            y: round(bottom - allowedHeight - refusedHeight),
            width: barWidth,
            height: refusedHeight,
          })
        )
      );
      if (labelled.has(index)) {
        const edge = index === 0 ? " start" : index === days.length - 1 ? " end" : "";
        const anchorX = index === 0 ? x : index === days.length - 1 ? x + barWidth : x + barWidth / 2;
        const text = day.date === today ? "Today" : dayLabel(day.date, shortDayFormat);
        chart.append(svg("text", { className: `axis-x${edge}`, x: anchorX, y: bottom + 18, "aria-hidden": "true", text }));
      }
    });
    return chart;
  }

  $("keys-usage-reload").addEventListener("click", () => loadUsage());
  $("keys-usage-close").addEventListener("click", () => {
    const opener = usage.opener;
    hideUsage();
    if (opener && opener.isConnected) opener.focus();
    else $("keys-title").focus();
  });

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
  /* GET /account/bots does not carry scopes; creation and regeneration do, and are kept here (this tab only) */
  const botScopes = new Map();

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
          scopesCell(bot.scopes || botScopes.get(bot.id) || null, "Not listed"),
          cell("Created", when(bot.created_at, "—")),
          actionsCell(
            actionButton("Regenerate token", `Regenerate token of bot ${bot.name}`, (event) => confirmRegenerate(bot, event.currentTarget)),
            actionButton("Delete", `Delete bot ${bot.name}`, (event) => confirmDeleteBot(bot, event.currentTarget), "link-danger")
          )
        )
      )
    );
    noteUnlistedScopes();
  }

  /** Says why a row shows no scopes, while one does not. */
  function noteUnlistedScopes() {
    $("bots-scopes-note").hidden = !$("bots-body").querySelector('td[data-label="Scopes"] .dim');
  }

  /** After a regeneration, the row shows the scopes the API just gave. */
  function renderBotScopes(bot) {
    const row = [...$("bots-body").rows].find((tr) => tr.dataset.bot === bot.id);
    const scopes = bot.scopes || botScopes.get(bot.id);
    if (row && scopes) row.querySelector('[data-label="Scopes"]').replaceWith(scopesCell(scopes));
    noteUnlistedScopes();
  }

  function showBotToken(result, title, note) {
    const scopes = result.bot.scopes;
    if (Array.isArray(scopes)) botScopes.set(result.bot.id, scopes);
    showSecret("bots", title, note, [
      ["Token", result.token],
      ["Bot ID", result.bot.id],
      ["Account ID", result.bot.account_id],
      ...(Array.isArray(scopes) ? [["Scopes", scopes.join(" ")]] : []),
    ]);
  }

  $("bot-create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = $("bot-name").value.trim();
    attempt(
      $("bot-create-error"),
      async () => {
        const scopes = chosenScopes(form);
        const result = await call("POST", "/account/bots", { body: { name, scopes } });
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
        renderBotScopes(result.bot);
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
        botScopes.delete(bot.id);
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

  /* ---------- security: password and two-step verification ---------- */

  /* the vendored encoder's default maps characters to bytes by dropping the high bits */
  if (typeof qrcode === "function" && qrcode.stringToBytesFuncs["UTF-8"]) {
    qrcode.stringToBytes = qrcode.stringToBytesFuncs["UTF-8"];
  }
  const QR_LEVEL = "M";
  const QR_SCALE = 5;
  const QR_QUIET = 4;

  /** Draws `text` as a QR code on the canvas: one filled square per dark module. */
  function drawQr(canvas, text) {
    const code = qrcode(0, QR_LEVEL);
    code.addData(text, "Byte");
    code.make();
    const count = code.getModuleCount();
    const size = (count + 2 * QR_QUIET) * QR_SCALE;
    canvas.width = size;
    canvas.height = size;
    const context = canvas.getContext("2d");
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, size, size);
    context.fillStyle = "#000000";
    for (let row = 0; row < count; row += 1) {
      for (let col = 0; col < count; col += 1) {
        if (code.isDark(row, col)) {
          context.fillRect((col + QR_QUIET) * QR_SCALE, (row + QR_QUIET) * QR_SCALE, QR_SCALE, QR_SCALE);
        }
      }
    }
  }

  function clearQr() {
    const canvas = $("mfa-qr");
    canvas.width = 1;
    canvas.height = 1;
    $("mfa-secret").value = "";
  }

  /** The password given to start a set-up, sent again to confirm it; memory only. */
  let setupPassword = null;

  /** Forgets what the Security screen showed once: the pending QR code and the recovery codes. */
  function clearSecurity() {
    setupPassword = null;
    clearQr();
    $("mfa-setup").hidden = true;
    $("recovery-codes").textContent = "";
    $("recovery-panel").hidden = true;
    $("password-notice").hidden = true;
    $("password-form").reset();
    $("mfa-confirm-form").reset();
    $("mfa-disable-form").reset();
    $("mfa-start-form").reset();
  }

  function renderMfa(on) {
    $("mfa-status").textContent = on ? "On" : "Off";
    $("mfa-status").classList.toggle("current", Boolean(on));
    const showingCodes = !$("recovery-panel").hidden;
    const settingUp = !$("mfa-setup").hidden;
    $("mfa-off").hidden = Boolean(on) || settingUp;
    $("mfa-on").hidden = !on || showingCodes;
  }

  function loadSecurity() {
    clearSecurity();
    clearError($("mfa-error"));
    clearError($("password-error"), $("password-form"));
    $("mfa-off").hidden = true;
    $("mfa-on").hidden = true;
    $("mfa-status").textContent = "";
    return attempt($("mfa-error"), async () => {
      const user = await call("GET", "/user");
      renderMfa(user.mfa);
    });
  }

  $("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    $("password-notice").hidden = true;
    attempt(
      $("password-error"),
      async () => {
        const body = {
          current_password: $("password-current").value,
          new_password: newPassword(form, "new_password", "new_password_again"),
        };
        try {
          await call("POST", "/user/password", { body });
        } catch (error) {
          if (error instanceof ApiError && error.code === "invalid_credentials") {
            $("password-current").value = "";
            throw new FormProblem("Your current password is not right.", "current_password");
          }
          throw error;
        }
        form.reset();
        $("password-notice").textContent = "Password changed. Your other sessions have ended; this one goes on.";
        $("password-notice").hidden = false;
        announce("Password changed");
      },
      form,
      form
    );
  });

  $("mfa-start-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const password = $("mfa-start-password").value;
    attempt(
      $("mfa-error"),
      async () => {
        let pending;
        try {
          pending = await call("POST", "/user/mfa/totp", { body: { password } });
        } catch (error) {
          if (error instanceof ApiError && error.code === "invalid_credentials") {
            $("mfa-start-password").value = "";
            throw new FormProblem("Your password is not right.", "password");
          }
          throw error;
        }
        setupPassword = password;
        form.reset();
        $("mfa-secret").value = pending.secret;
        drawQr($("mfa-qr"), pending.otpauth_uri);
        $("mfa-setup").hidden = false;
        $("mfa-off").hidden = true;
        $("mfa-confirm-code").focus();
      },
      form,
      form
    );
  });

  /** Back to the start of a set-up: the QR code and the password are forgotten. */
  function cancelSetup() {
    setupPassword = null;
    clearQr();
    $("mfa-confirm-form").reset();
    $("mfa-setup").hidden = true;
    renderMfa(false);
  }

  $("mfa-cancel").addEventListener("click", () => {
    clearError($("mfa-error"), $("mfa-confirm-form"));
    cancelSetup();
    $("mfa-start-password").focus();
  });

  $("mfa-confirm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const code = $("mfa-confirm-code").value.replace(/\s+/g, "");
    attempt(
      $("mfa-error"),
      async () => {
        let result;
        try {
          result = await call("POST", "/user/mfa/totp/confirm", { body: { code, password: setupPassword } });
        } catch (error) {
          if (error instanceof ApiError && error.code === "invalid_credentials") {
            cancelSetup();
            $("mfa-start-password").focus();
            throw new FormProblem("Your password changed meanwhile. Enter it and set up two-step verification again.");
          }
          const wrongCode = error instanceof ApiError && error.entries.some((entry) => entry.attr === "code");
          if (wrongCode) {
            $("mfa-confirm-code").value = "";
            throw new FormProblem(
              "This code is not right. Check that your phone's clock is set automatically, wait for the next code and try again.",
              "code"
            );
          }
          throw error;
        }
        form.reset();
        setupPassword = null;
        clearQr();
        $("mfa-setup").hidden = true;
        $("recovery-codes").textContent = (result.recovery_codes || []).join("\n");
        $("recovery-panel").hidden = false;
        renderMfa(true);
        $("recovery-panel").focus();
      },
      form,
      form
    );
  });

  $("recovery-done").addEventListener("click", () => {
    $("recovery-codes").textContent = "";
    $("recovery-panel").hidden = true;
    renderMfa(true);
    $("mfa-card-title").focus();
  });

  $("mfa-disable-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const body = { password: $("mfa-disable-password").value, code: $("mfa-disable-code").value.replace(/\s+/g, "") };
    attempt(
      $("mfa-error"),
      async () => {
        try {
          await call("DELETE", "/user/mfa", { body });
        } catch (error) {
          if (error instanceof ApiError && error.code === "invalid_credentials") {
            form.reset();
            throw new FormProblem("The password or the code is not right.", "password");
          }
          throw error;
        }
        form.reset();
        renderMfa(false);
        announce("Two-step verification is off");
        $("mfa-start-password").focus();
      },
      form,
      form
    );
  });

  /* ---------- account: users ---------- */

  const userPath = (id) => `/account/users/${encodeURIComponent(id)}`;

  function userName(user) {
    return user.email || user.name || user.id;
  }

  async function fetchUsers() {
    const data = await call("GET", "/account/users");
    state.users = new Map((data.users || []).map((user) => [user.id, user]));
    return data.users || [];
  }

  function loadUsers() {
    showLoading("users");
    return attempt($("users-error"), async () => renderUsers(await fetchUsers()));
  }

  function renderUsers(users) {
    showRows("users", users.length, "No users.");
    const me = state.user ? state.user.id : null;
    replaceRows(
      $("users-body"),
      users.map((user) => {
        const name = userName(user);
        const admin = user.role === "admin";
        return h(
          "tr",
          { role: "row", "data-user": user.id, className: user.disabled ? "muted-row" : null },
          cell(
            "Email",
            h(
              "div",
              null,
              h("strong", { text: name }),
              user.id === me ? h("span", { className: "badge current", text: "You" }) : null,
              user.is_bot ? h("span", { className: "badge", text: "Bot" }) : null
            )
          ),
          cell("Role", admin ? "Admin" : "Member"),
          cell("Status", user.disabled ? h("span", { className: "status-off", text: "Disabled" }) : "Active"),
          cell("Two-step", user.mfa ? "On" : h("span", { className: "dim", text: "Off" })),
          cell("Created", when(user.created_at, "—")),
          cell("Last login", when(user.last_login_at, "Never")),
          actionsCell(
            user.is_bot
              ? null
              : actionButton(
                  admin ? "Make member" : "Make admin",
                  admin ? `Make ${name} a member` : `Make ${name} an admin`,
                  (event) => changeRole(user, admin ? "member" : "admin", event.currentTarget)
                ),
            user.disabled
              ? actionButton("Enable", `Enable ${name}`, (event) => enableUser(user, event.currentTarget))
              : actionButton("Disable", `Disable ${name}`, (event) => confirmDisableUser(user, event.currentTarget), "link-danger"),
            user.mfa && user.id !== me
              ? actionButton("Reset MFA", `Reset two-step verification of ${name}`, (event) =>
                  confirmResetMfa(user, event.currentTarget)
                )
              : null,
            actionButton("Delete", `Delete user ${name}`, (event) => confirmDeleteUser(user, event.currentTarget), "link-danger")
          )
        );
      })
    );
  }

  /** After a change to one's own user: the role may have gone, and with it this screen. */
  async function refreshSelf(user) {
    if (!state.user || user.id !== state.user.id) return;
    state.user = { ...state.user, ...(await call("GET", "/user")) };
    applyRole();
    if (!isAdmin()) route();
  }

  function changeRole(user, role, button) {
    return attempt(
      $("users-error"),
      async () => {
        await call("PATCH", userPath(user.id), { body: { role } });
        announce(`${userName(user)} is now ${role === "admin" ? "an admin" : "a member"}`);
        await loadUsers();
        await refreshSelf(user);
      },
      button
    );
  }

  function enableUser(user, button) {
    return attempt(
      $("users-error"),
      async () => {
        await call("PATCH", userPath(user.id), { body: { disabled: false } });
        announce(`${userName(user)} enabled`);
        await loadUsers();
      },
      button
    );
  }

  function confirmDisableUser(user, opener) {
    confirmThen(
      opener,
      `Disable ${userName(user)}?`,
      "Their sessions, keys and tokens stop working at once, and they cannot log in, until you enable them again.",
      "Disable user",
      async () => {
        await call("PATCH", userPath(user.id), { body: { disabled: true } });
        announce(`${userName(user)} disabled`);
        await loadUsers();
        await refreshSelf(user);
      }
    );
  }

  /** For a member who lost their phone: their own "Turn off" needs a code they no longer have. */
  function confirmResetMfa(user, opener) {
    confirmThen(
      opener,
      `Reset two-step verification of ${userName(user)}?`,
      "Their authenticator app and recovery codes stop working and all their sessions end. They log in with their password alone, and can set up two-step verification again.",
      "Reset MFA",
      async () => {
        await call("DELETE", `${userPath(user.id)}/mfa`);
        announce(`Two-step verification of ${userName(user)} reset`);
        await loadUsers();
      }
    );
  }

  function confirmDeleteUser(user, opener) {
    confirmThen(
      opener,
      `Delete user ${userName(user)}?`,
      "The user, all their sessions and all their keys are deleted. This cannot be undone.",
      "Delete user",
      async () => {
        await call("DELETE", userPath(user.id));
        announce(`User ${userName(user)} deleted`);
        if (state.user && user.id === state.user.id) {
          endSession("Your user was deleted.");
          return;
        }
        await loadUsers();
      }
    );
  }

  $("invite-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const body = { email: $("invite-email").value.trim(), role: $("invite-role").value };
    $("users-notice").hidden = true;
    attempt(
      $("invite-error"),
      async () => {
        const result = await call("POST", "/account/users", { body });
        form.reset();
        const name = userName((result && result.user) || body);
        $("users-notice").textContent = `Invitation sent to ${name}: the email has a link to choose a password.`;
        $("users-notice").hidden = false;
        await loadUsers();
      },
      form,
      form
    );
  });
  $("users-reload").addEventListener("click", () => loadUsers());

  /* ---------- account: key policy and every key of the account (CONTRACT section 11) ---------- */

  const POLICY_FIELDS = ["max_key_lifetime_days", "key_idle_days"];
  /* the API's cursor for the next page of GET /account/keys; null on the last page */
  const allKeys = { cursor: null };

  function openAllKeys() {
    $("policy-notice").hidden = true;
    allKeys.cursor = null;
    loadPolicy();
    return loadAllKeys(false);
  }

  function loadPolicy() {
    return attempt($("policy-error"), async () => fillPolicy(await call("GET", "/account/policy")), null, $("policy-form"));
  }

  function fillPolicy(policy) {
    const form = $("policy-form");
    for (const name of POLICY_FIELDS) {
      const value = policy ? policy[name] : null;
      form.elements.namedItem(name).value = value === null || value === undefined ? "" : String(value);
    }
  }

  /** A number of days typed in the policy form, or null (no rule) when empty. */
  function policyDays(form, name) {
    const control = form.elements.namedItem(name);
    const text = control.value.trim();
    const range = `${numberFormat.format(Number(control.min))} to ${numberFormat.format(Number(control.max))}`;
    const problem = new FormProblem(`${FIELD_NAMES[name]}: enter a whole number of days from ${range}, or leave it empty for no limit.`, name);
    /* a number field reads "" for text it cannot parse, which must not pass for "no limit" */
    if (control.validity && control.validity.badInput) throw problem;
    if (!text) return null;
    const value = Number(text);
    if (!Number.isInteger(value) || value < Number(control.min) || value > Number(control.max)) throw problem;
    return value;
  }

  function policySummary(policy) {
    const lifetime = policy.max_key_lifetime_days;
    const idle = policy.key_idle_days;
    const days = (n) => `${numberFormat.format(n)} day${n === 1 ? "" : "s"}`;
    return [
      lifetime ? `New and rotated keys expire within ${days(lifetime)}.` : "Keys may live as long as their owners choose.",
      idle ? `Keys unused for ${days(idle)} stop working.` : "Unused keys never stop on their own.",
    ].join(" ");
  }

  $("policy-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const notice = $("policy-notice");
    notice.hidden = true;
    attempt(
      $("policy-error"),
      async () => {
        const body = {};
        for (const name of POLICY_FIELDS) body[name] = policyDays(form, name);
        const policy = await call("PUT", "/account/policy", { body });
        fillPolicy(policy);
        notice.textContent = `Policy saved. ${policySummary(policy)}`;
        notice.hidden = false;
        announce("Key policy saved");
        /* the idle rule applies to existing keys at once: their status may have changed */
        allKeys.cursor = null;
        await loadAllKeys(false);
      },
      form,
      form
    );
  });

  function loadAllKeys(more, owner) {
    if (!more) showLoading("allkeys");
    return attempt(
      $("allkeys-error"),
      async () => {
        const params = new URLSearchParams({ limit: $("allkeys-limit").value });
        if (more && allKeys.cursor) params.set("cursor", allKeys.cursor);
        const data = await call("GET", `/account/keys?${params}`);
        allKeys.cursor = data.cursor || null;
        renderAllKeys(data.keys || [], more);
      },
      owner
    );
  }

  function ownerName(owner) {
    if (!owner) return "—";
    return owner.email || owner.name || owner.user_id || "—";
  }

  function ownerCell(owner) {
    const me = state.user && owner && owner.user_id === state.user.id;
    return cell(
      "Owner",
      h(
        "div",
        { className: "owner" },
        h("span", { text: ownerName(owner) }),
        owner && owner.is_bot ? h("span", { className: "badge", text: "Bot" }) : null,
        me ? h("span", { className: "badge current", text: "You" }) : null
      )
    );
  }

  function keyTypeText(key) {
    if (key.bot_token) return "Bot token";
    return key.type === "jwt" ? "JWT secret" : "Token";
  }

  function allKeyRow(key) {
    const owner = ownerName(key.owner);
    return h(
      "tr",
      { role: "row", "data-key-id": key.key_id, "data-handle": key.handle },
      cell(
        "Key",
        h("div", null, h("span", { className: "mono nowrap", text: key.handle }), key.alias ? h("div", { className: "dim", text: key.alias }) : null)
      ),
      ownerCell(key.owner),
      cell("Type", keyTypeText(key)),
      scopesCell(key.scopes || ["*"]),
      cell("Expires", expiryCell(key.expires_at)),
      cell("Last used", when(key.last_used_at, "Never")),
      statusCell(key.status),
      actionsCell(
        actionButton("Revoke", `Revoke key ${key.handle} of ${owner}`, (event) => confirmRevokeKey(key, event.currentTarget), "link-danger")
      )
    );
  }

  function showAllKeysCount() {
    const count = $("allkeys-body").rows.length;
    showRows("allkeys", count, "This account has no keys or bot tokens.");
    $("allkeys-more").hidden = !allKeys.cursor;
    $("allkeys-count").textContent = count
      ? `${numberFormat.format(count)} key${count === 1 ? "" : "s"} shown${allKeys.cursor ? "; there are more" : ""}`
      : "";
  }

  function renderAllKeys(keys, more) {
    const body = $("allkeys-body");
    if (more) {
      const shown = new Set([...body.rows].map((row) => row.dataset.keyId));
      body.append(...keys.filter((key) => !shown.has(key.key_id)).map(allKeyRow));
    } else {
      replaceRows(body, keys.map(allKeyRow));
    }
    showAllKeysCount();
  }

  function confirmRevokeKey(key, opener) {
    const owner = ownerName(key.owner);
    confirmThen(
      opener,
      `Revoke key “${key.handle}” of ${owner}?`,
      "The key is deleted and its token stops working at once (within the authorizer cache time, 60 seconds by default). Its owner cannot undo this.",
      "Revoke key",
      async () => {
        await call("DELETE", `/account/keys/${encodeURIComponent(key.key_id)}`);
        const row = [...$("allkeys-body").rows].find((tr) => tr.dataset.keyId === key.key_id);
        if (row) row.remove();
        showAllKeysCount();
        announce(`Key ${key.handle} of ${owner} revoked`);
      }
    );
  }

  $("allkeys-more").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    if (!allKeys.cursor) return;
    const before = $("allkeys-body").rows.length;
    await loadAllKeys(true, button);
    /* the More button hides on the last page: go on from the first row it brought */
    if (button.hidden) {
      const first = $("allkeys-body").rows[before];
      const target = first ? first.querySelector("button") : null;
      (target || $("allkeys-list-title")).focus();
    }
  });
  $("allkeys-limit").addEventListener("change", () => {
    allKeys.cursor = null;
    loadAllKeys(false);
  });
  $("allkeys-reload").addEventListener("click", () => {
    allKeys.cursor = null;
    loadAllKeys(false);
  });

  /* ---------- account: audit log ---------- */

  /* the actions the API records (gatekey.audit.ACTIONS); an unknown one is refused with a 400 */
  const AUDIT_ACTIONS = [
    "login.success",
    "login.failure",
    "login.throttled",
    "mfa.enrolled",
    "mfa.disabled",
    "mfa.reset_by_admin",
    "password.changed",
    "password.reset_requested",
    "password.reset",
    "session.ended",
    "key.created",
    "key.updated",
    "key.rotated",
    "key.deleted",
    "key.expiry_warned",
    "key.leaked_revoked",
    "token.revoked",
    "bot.created",
    "bot.deleted",
    "bot.token_regenerated",
    "user.created",
    "user.updated",
    "user.deleted",
    "account.created",
    "account.policy_updated",
  ];
  const OUTCOMES = { success: "Success", failure: "Failure" };
  const TOKEN_TYPES = { session: "session", api_key: "API key", client_jwt: "client JWT" };

  /* cursors[i] opens page i (null for the newest); the filter is read when "Show events" is pressed */
  const audit = { cursors: [null], page: 0, next: null, query: { limit: "25" } };

  function fillSelect(select, options) {
    const value = select.value;
    const first = select.options[0];
    select.replaceChildren(first, ...options.map(([optionValue, label]) => h("option", { value: optionValue, text: label })));
    if ([...select.options].some((option) => option.value === value)) select.value = value;
  }

  async function openAudit() {
    showLoading("audit");
    fillSelect(
      $("audit-action"),
      AUDIT_ACTIONS.map((action) => [action, action])
    );
    const users = await attempt($("audit-error"), () => fetchUsers());
    if (users) {
      fillSelect(
        $("audit-user"),
        users.map((user) => [user.id, userName(user)]).sort((a, b) => a[1].localeCompare(b[1]))
      );
    }
    audit.query = auditFilter();
    audit.cursors = [null];
    audit.page = 0;
    return loadAudit();
  }

  function auditFilter() {
    return { limit: $("audit-limit").value, action: $("audit-action").value, user_id: $("audit-user").value };
  }

  function loadAudit() {
    showLoading("audit");
    return attempt($("audit-error"), async () => {
      const params = new URLSearchParams();
      for (const [name, value] of Object.entries(audit.query)) if (value) params.set(name, value);
      const cursor = audit.cursors[audit.page];
      if (cursor) params.set("cursor", cursor);
      const data = await call("GET", `/account/audit?${params}`);
      audit.next = data.cursor || null;
      renderAudit(data.events || []);
    });
  }

  function actorLabel(actor) {
    if (!actor || !actor.user_id) return h("span", { className: "dim", text: "—" });
    const known = state.users && state.users.get(actor.user_id);
    const how = [TOKEN_TYPES[actor.token_type] || actor.token_type, actor.key_handle].filter(Boolean).join(" ");
    return h(
      "div",
      null,
      h("div", { className: known ? null : "mono", text: known ? userName(known) : actor.user_id }),
      how ? h("div", { className: "dim", text: `with ${how}` }) : null
    );
  }

  function targetLabel(target) {
    if (!target || !target.type) return h("span", { className: "dim", text: "—" });
    const known = target.type === "user" && state.users && state.users.get(target.id);
    return h(
      "div",
      null,
      h("span", { className: "dim", text: `${target.type} ` }),
      h("span", { className: known ? null : "mono", text: known ? userName(known) : target.id || "" })
    );
  }

  function renderAudit(events) {
    const filtered = Boolean(audit.query.action || audit.query.user_id);
    showRows("audit", events.length, filtered ? "No events match this filter." : "No events yet.");
    replaceRows(
      $("audit-body"),
      events.map((event) =>
        h(
          "tr",
          { role: "row", "data-event": event.id, "data-action": event.action },
          cell("Time", when(event.at, "—", secondsFormat)),
          cell("Action", h("span", { className: "mono nowrap", text: event.action })),
          cell(
            "Outcome",
            h("span", { className: `outcome outcome-${event.outcome}`, text: OUTCOMES[event.outcome] || event.outcome || "—" })
          ),
          cell("By", actorLabel(event.actor)),
          cell("Target", targetLabel(event.target)),
          cell(
            "From",
            h(
              "div",
              { className: "ua" },
              h("div", { className: "mono", text: event.ip || "—" }),
              event.user_agent ? h("div", { className: "dim", title: event.user_agent, text: device(event.user_agent) }) : null
            )
          )
        )
      )
    );
    $("audit-page").textContent = audit.page > 0 || audit.next ? `Page ${audit.page + 1}` : "";
    $("audit-newer").disabled = audit.page === 0;
    $("audit-older").disabled = !audit.next;
  }

  $("audit-filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    audit.query = auditFilter();
    audit.cursors = [null];
    audit.page = 0;
    loadAudit();
  });

  $("audit-older").addEventListener("click", async () => {
    if (!audit.next) return;
    audit.cursors[audit.page + 1] = audit.next;
    audit.page += 1;
    await loadAudit();
    $("audit-list-title").focus();
  });

  $("audit-newer").addEventListener("click", async () => {
    if (audit.page === 0) return;
    audit.page -= 1;
    await loadAudit();
    $("audit-list-title").focus();
  });

  /* ---------- start ---------- */

  async function boot() {
    syncExpiryDate();
    const refresh = storedRefreshToken();
    if (!refresh || location.hash.startsWith("#reset=")) {
      route();
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
