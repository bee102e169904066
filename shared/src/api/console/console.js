// The Ferry console: plain DOM, no framework. Every value from the API is put into the page as
// text (textContent, attributes), never as markup. It calls the API under api/v2.0 beside
// this page with the credentials the login form keeps in sessionStorage, as HTTP Basic.
"use strict";

(function () {
  const API = new URL("api/v2.0", document.baseURI).pathname;
  const AUTH_KEY = "ferry.console.auth";
  const USER_KEY = "ferry.console.user";
  const main = document.getElementById("main");
  const errors = document.getElementById("errors");
  const status = document.getElementById("status");
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const logoutButton = document.getElementById("logout");

  // Timers of the page shown, cleared when the route changes.
  let timers = [];
  // Bumped on each route change: an answer for a page no longer shown is dropped.
  let generation = 0;
  // The route whose heading took the focus.
  let focusedFor = -1;

  // --- DOM helpers -------------------------------------------------------------------------

  // el("td", {class: "num"}, "text", child): attributes set one by one, children as text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else if (key === "text") {
        node.textContent = String(value);
      } else if (value === true) {
        node.setAttribute(key, "");
      } else {
        node.setAttribute(key, String(value));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let ids = 0;
  function uid(prefix) {
    ids += 1;
    return `${prefix}-${ids}`;
  }

  // A labelled field: the control gets an id and the label points at it.
  function field(label, control, hint) {
    const id = control.id || uid("f");
    control.id = id;
    const parts = [el("label", { for: id }, label), control];
    if (hint) {
      const hintId = `${id}-hint`;
      control.setAttribute("aria-describedby", hintId);
      parts.push(el("span", { class: "hint", id: hintId }, hint));
    }
    return el("div", { class: "field" }, parts);
  }

  function checkbox(label, checked, attrs) {
    const id = uid("c");
    const input = el("input", Object.assign({ type: "checkbox", id }, attrs || {}));
    input.checked = Boolean(checked);
    return { input, node: el("div", { class: "check" }, input, el("label", { for: id }, label)) };
  }

  function select(options, value, attrs) {
    const node = el("select", attrs || {});
    for (const option of options) {
      const [val, text] = Array.isArray(option) ? option : [option, option];
      const opt = el("option", { value: val }, text);
      if (String(val) === String(value ?? "")) opt.selected = true;
      node.append(opt);
    }
    return node;
  }

  function button(text, onclick, attrs) {
    return el("button", Object.assign({ type: "button", onclick }, attrs || {}), text);
  }

  function table(caption, headers, rows) {
    return el(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
      el(
        "table",
        {},
        el("caption", {}, caption),
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)
      )
    );
  }

  function badge(text, kind) {
    return el("span", { class: `badge ${kind || text}` }, text);
  }

  function when(time) {
    if (!time) return "";
    const date = new Date(time);
    if (Number.isNaN(date.getTime()) || date.getTime() <= 0) return "";
    return date.toLocaleString();
  }

  function duration(start, end) {
    const from = start ? new Date(start).getTime() : NaN;
    if (Number.isNaN(from)) return "";
    const to = end ? new Date(end).getTime() : Date.now();
    let seconds = Math.max(0, Math.round((to - from) / 1000));
    const h = Math.floor(seconds / 3600);
    seconds -= h * 3600;
    const m = Math.floor(seconds / 60);
    const s = seconds - m * 60;
    if (h) return `${h}h ${m}m ${s}s`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }

  // --- Messages ------------------------------------------------------------------------------

  function showError(message) {
    errors.textContent = message;
  }

  function clearError() {
    errors.textContent = "";
  }

  function announce(message) {
    status.textContent = "";
    // A new text node each time, so that a repeated message is read again.
    window.setTimeout(() => {
      status.textContent = message;
    }, 50);
  }

  function notice(message) {
    return el("p", { class: "notice", role: "status" }, message);
  }

  // --- The API -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function credentials() {
    return sessionStorage.getItem(AUTH_KEY);
  }

  function basic(user, password) {
    // btoa takes Latin-1: encode UTF-8 first so that any password can be sent.
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return `Basic ${btoa(binary)}`;
  }

  async function errorMessage(response) {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && Array.isArray(body.errors) && body.errors.length) {
        return body.errors.map((e) => e.message || e.code).join("; ");
      }
      if (body && body.message) return body.message;
    } catch (_) {
      // Not JSON: the text itself.
    }
    return text || `${response.status} ${response.statusText}`;
  }

  // One call to the API: JSON in and out (or text with {text: true}); a 401 goes back to the
  // login form with the API's message.
  async function api(method, path, body, options) {
    const opts = options || {};
    const headers = { Accept: opts.text ? "text/plain" : "application/json" };
    const auth = opts.auth || credentials();
    if (auth) headers.Authorization = auth;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    if (response.status === 401 && !opts.auth) {
      const message = await errorMessage(response);
      logout(`Please log in again: ${message}`);
      throw new ApiError(401, message);
    }
    if (!response.ok) {
      throw new ApiError(response.status, await errorMessage(response));
    }
    const total = response.headers.get("X-Total-Count");
    const location = response.headers.get("Location");
    let data = null;
    if (opts.text) {
      data = await response.text();
    } else {
      const text = await response.text();
      data = text ? JSON.parse(text) : null;
    }
    return { data, total: total === null ? null : Number(total), location };
  }

  // The id at the end of a Location header.
  function createdId(location) {
    const match = /\/(\d+)$/.exec(location || "");
    return match ? Number(match[1]) : null;
  }

  // Every item of a paged list (page_size 100), up to `limit` items.
  async function all(path, limit) {
    const items = [];
    const max = limit || 1000;
    const sep = path.includes("?") ? "&" : "?";
    for (let page = 1; items.length < max; page += 1) {
      const { data, total } = await api("GET", `${path}${sep}page=${page}&page_size=100`);
      items.push(...(data || []));
      if (!data || data.length < 100 || (total !== null && items.length >= total)) break;
    }
    return items;
  }

  // Runs an action for a button: disabled while it runs, its failure shown.
  async function act(control, action) {
    clearError();
    if (control) control.disabled = true;
    try {
      await action();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError(e.message || String(e));
    } finally {
      if (control && control.isConnected) control.disabled = false;
    }
  }

  // --- Login -----------------------------------------------------------------------------------

  function logout(message) {
    sessionStorage.removeItem(AUTH_KEY);
    sessionStorage.removeItem(USER_KEY);
    if (location.hash && !location.hash.startsWith("#/login")) {
      sessionStorage.setItem("ferry.console.after", location.hash);
    }
    renderLogin(message);
  }

  function renderLogin(message) {
    stopTimers();
    generation += 1;
    nav.hidden = true;
    who.hidden = true;
    logoutButton.hidden = true;
    const user = el("input", { type: "text", name: "user", autocomplete: "username", required: true });
    user.value = "admin";
    const password = el("input", {
      type: "password",
      name: "password",
      autocomplete: "current-password",
      required: true,
    });
    const submit = el("button", { type: "submit" }, "Log in");
    const form = el(
      "form",
      { class: "panel login", "aria-labelledby": "login-title" },
      el("h1", { id: "login-title" }, "Log in to Ferry"),
      field("User", user, "admin, or a robot account: robot$name"),
      field("Password", password),
      submit
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(submit, async () => {
        const auth = basic(user.value.trim(), password.value);
        try {
          await api("GET", "/registries?page=1&page_size=1", undefined, { auth });
        } catch (e) {
          // A robot without registry rights is still logged in; a wrong password is not.
          if (!(e instanceof ApiError) || e.status === 401 || e.status === 429) {
            throw new Error(`Login failed: ${e.message}`);
          }
        }
        sessionStorage.setItem(AUTH_KEY, auth);
        sessionStorage.setItem(USER_KEY, user.value.trim());
        const after = sessionStorage.getItem("ferry.console.after");
        sessionStorage.removeItem("ferry.console.after");
        announce("Logged in");
        const here = location.hash && location.hash !== "#/login" ? location.hash : "";
        const target = after || here || "#/registries";
        if (location.hash === target) route();
        else location.hash = target;
      });
    });
    main.replaceChildren(form);
    if (message) showError(message);
    user.focus();
  }

  logoutButton.addEventListener("click", () => {
    clearError();
    logout();
    announce("Logged out");
  });

  // --- Routing ---------------------------------------------------------------------------------

  function stopTimers() {
    for (const t of timers) window.clearTimeout(t);
    timers = [];
  }

  function later(ms, fn) {
    timers.push(window.setTimeout(fn, ms));
  }

  function parseHash() {
    const hash = location.hash.replace(/^#\/?/, "");
    const [path, query] = hash.split("?");
    return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query || "") };
  }

  function route() {
    stopTimers();
    generation += 1;
    clearError();
    if (!credentials()) {
      renderLogin();
      return;
    }
    nav.hidden = false;
    who.hidden = false;
    logoutButton.hidden = false;
    who.textContent = `Signed in as ${sessionStorage.getItem(USER_KEY) || ""}`;
    const { parts, params } = parseHash();
    const page = parts[0] || "registries";
    for (const link of nav.querySelectorAll("a")) {
      if (link.dataset.page === page) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const mine = generation;
    const view = {
      registries: () => registriesPage(mine),
      policies: () =>
        parts[1] === "new"
          ? policyWizard(mine, null)
          : parts[1] && parts[2] === "edit"
            ? policyWizard(mine, Number(parts[1]))
            : policiesPage(mine),
      executions: () =>
        parts[1] && parts[2] === "tasks" && parts[3] && parts[4] === "log"
          ? taskLogPage(mine, Number(parts[1]), Number(parts[3]))
          : parts[1]
            ? tasksPage(mine, Number(parts[1]), params)
            : executionsPage(mine, params),
    }[page];
    if (!view) {
      main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "There is no such page."));
      return;
    }
    main.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    view().catch((e) => {
      if (mine !== generation) return;
      if (!(e instanceof ApiError && e.status === 401)) {
        showError(e.message || String(e));
        if (main.textContent === "Loading…") main.replaceChildren();
      }
    });
  }

  function current(mine) {
    return mine === generation;
  }

  function heading(text) {
    const h = el("h1", { tabindex: "-1" }, text);
    return h;
  }

  function show(mine, ...children) {
    if (!current(mine)) return false;
    main.replaceChildren(...children.flat().filter(Boolean));
    // A page's first showing takes the focus to its heading (when it was on nothing); its
    // refreshes leave the focus alone.
    const h = main.querySelector("h1");
    if (h && focusedFor !== mine) {
      focusedFor = mine;
      if (document.activeElement === document.body || !document.activeElement) h.focus({ preventScroll: true });
    }
    return true;
  }

  // --- Registries ------------------------------------------------------------------------------

  let adapterInfos = null;
  async function infos() {
    if (!adapterInfos) adapterInfos = (await api("GET", "/replication/adapterinfos")).data || {};
    return adapterInfos;
  }

  async function registriesPage(mine) {
    const registries = await all("/registries");
    const formSlot = el("div", {});
    const rows = registries.map((r) => {
      const health = r.health || {};
      const statusCell = el(
        "td",
        {},
        badge(r.status || "unknown"),
        health.reason ? el("div", { class: "muted wrap" }, health.reason) : null,
        health.checked_time ? el("div", { class: "muted" }, `checked ${when(health.checked_time)}`) : null
      );
      const test = button("Test connection", () =>
        act(test, async () => {
          await api("POST", "/registries/ping", { id: r.id });
          announce(`${r.name}: the connection works`);
          result.textContent = "Connection OK";
        }).then(() => {
          if (errors.textContent) result.textContent = "Connection failed";
        }),
        { class: "small secondary", "aria-label": `Test connection to ${r.name}` }
      );
      const result = el("span", { class: "muted", role: "status" });
      const edit = button("Edit", () => registryForm(formSlot, r), {
        class: "small secondary",
        "aria-label": `Edit ${r.name}`,
      });
      return el(
        "tr",
        { "data-registry": r.name },
        el("td", {}, r.name, r.description ? el("div", { class: "muted" }, r.description) : null),
        el("td", {}, r.type || ""),
        el("td", { class: "wrap" }, r.url),
        statusCell,
        el("td", {}, el("div", { class: "actions" }, test, edit, result))
      );
    });
    const add = button("Add registry", () => registryForm(formSlot, null));
    show(
      mine,
      heading("Registries"),
      el("div", { class: "toolbar" }, add),
      formSlot,
      registries.length
        ? table(`Registries: ${registries.length}`, ["Name", "Type", "URL", "Status", "Actions"], rows)
        : el("p", {}, "No registry yet.")
    );
  }

  // The create or edit form, its fields from the kind's adapter info.
  async function registryForm(slot, registry) {
    clearError();
    const kinds = await infos();
    const editing = Boolean(registry);
    const names = Object.keys(kinds).sort();
    const kind = select(names, registry ? registry.type : "docker-registry", { name: "type", disabled: editing });
    const name = el("input", { type: "text", name: "name", required: true, maxlength: "255" });
    const description = el("input", { type: "text", name: "description" });
    const url = el("input", { type: "url", name: "url", required: true, list: uid("endpoints") });
    const endpoints = el("datalist", { id: url.getAttribute("list") });
    const credentialType = select(
      [
        ["basic", "basic"],
        ["oauth", "oauth"],
        ["secret", "secret"],
      ],
      registry && registry.credential ? registry.credential.type : "basic",
      { name: "credential_type" }
    );
    const accessKey = el("input", { type: "text", name: "access_key", autocomplete: "off" });
    const secretInput = el("input", { type: "password", name: "access_secret", autocomplete: "new-password" });
    const secretFile = el("textarea", { name: "access_secret", rows: "4" });
    const secretSlot = el("div", {});
    const insecure = checkbox("Skip TLS verification (insecure)", registry && registry.insecure, { name: "insecure" });
    if (registry) {
      name.value = registry.name;
      description.value = registry.description || "";
      url.value = registry.url;
      accessKey.value = (registry.credential && registry.credential.access_key) || "";
    }
    let secret = secretInput;
    const keyField = field("Access key (user or key id)", accessKey);
    function applyKind() {
      const info = kinds[kind.value] || {};
      const ep = info.endpoint_pattern || {};
      const cp = info.credential_pattern || {};
      endpoints.replaceChildren(...(ep.endpoints || []).map((e) => el("option", { value: e.value }, e.key)));
      if (!editing && ep.endpoint_type === "EndpointPatternTypeFix" && ep.endpoints && ep.endpoints[0]) {
        url.value = ep.endpoints[0].value;
      }
      keyField.querySelector("label").textContent = cp.access_key_data
        ? `Access key (${cp.access_key_data})`
        : "Access key (user or key id)";
      if (cp.access_key_type === "AccessKeyTypeFix") {
        accessKey.value = cp.access_key_data || "";
        accessKey.readOnly = true;
      } else {
        accessKey.readOnly = false;
      }
      secret = cp.access_secret_type === "AccessSecretTypeFile" ? secretFile : secretInput;
      const secretLabel = cp.access_secret_data ? `Access secret (${cp.access_secret_data})` : "Access secret (password or token)";
      secretSlot.replaceChildren(
        field(secretLabel, secret, editing ? "Leave empty to keep the stored secret." : null)
      );
    }
    kind.addEventListener("change", applyKind);
    const submit = el("button", { type: "submit" }, editing ? "Save registry" : "Add registry");
    const cancel = button("Cancel", () => slot.replaceChildren(), { class: "secondary" });
    const title = editing ? `Edit registry ${registry.name}` : "Add a registry";
    const titleId = uid("t");
    const form = el(
      "form",
      { class: "panel", "aria-labelledby": titleId },
      el("h2", { id: titleId }, title),
      field("Kind", kind, editing ? "A registry's kind cannot change." : null),
      field("Name", name),
      field("Description", description),
      field("URL", url, "The registry's endpoint, e.g. https://registry.example.com"),
      endpoints,
      field("Credential type", credentialType),
      keyField,
      secretSlot,
      insecure.node,
      el("div", { class: "actions" }, submit, cancel)
    );
    applyKind();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(submit, async () => {
        const secretValue = secret.value;
        if (editing) {
          // Harbor's RegistryUpdate; an empty secret keeps the stored one.
          const update = {
            name: name.value.trim(),
            description: description.value,
            url: url.value.trim(),
            credential_type: credentialType.value,
            access_key: accessKey.value,
            insecure: insecure.input.checked,
          };
          if (secretValue) update.access_secret = secretValue;
          await api("PUT", `/registries/${registry.id}`, update);
          announce(`Registry ${update.name} saved`);
        } else {
          const body = {
            name: name.value.trim(),
            description: description.value,
            type: kind.value,
            url: url.value.trim(),
            insecure: insecure.input.checked,
          };
          if (accessKey.value || secretValue) {
            body.credential = { type: credentialType.value, access_key: accessKey.value, access_secret: secretValue };
          }
          await api("POST", "/registries", body);
          announce(`Registry ${body.name} added`);
        }
        route();
      });
    });
    slot.replaceChildren(form);
    (editing ? name : kind).focus();
  }

  // --- Policies --------------------------------------------------------------------------------

  function triggerText(trigger) {
    if (!trigger) return "manual";
    const cron = trigger.trigger_settings && trigger.trigger_settings.cron;
    return cron ? `${trigger.type} (${cron})` : trigger.type;
  }

  function registryName(r) {
    if (!r || !r.id) return "home registry";
    return r.name || `registry ${r.id}`;
  }

  async function policiesPage(mine) {
    const policies = await all("/replication/policies");
    const rows = policies.map((p) => {
      const run = button(
        "Run now",
        () =>
          act(run, async () => {
            const { location: loc } = await api("POST", "/replication/executions", { policy_id: p.id });
            announce(`Execution ${createdId(loc) || ""} of ${p.name} started`);
            location.hash = `#/executions?policy_id=${p.id}`;
          }),
        { class: "small", "aria-label": `Run ${p.name} now` }
      );
      return el(
        "tr",
        { "data-policy": p.name },
        el("td", {}, p.name, p.description ? el("div", { class: "muted" }, p.description) : null),
        el("td", {}, registryName(p.src_registry)),
        el("td", {}, registryName(p.dest_registry), p.dest_namespace ? el("div", { class: "muted" }, `→ ${p.dest_namespace}`) : null),
        el("td", {}, triggerText(p.trigger)),
        el("td", {}, p.enabled ? "yes" : "no"),
        el(
          "td",
          {},
          el(
            "div",
            { class: "actions" },
            run,
            el("a", { class: "button small secondary", href: `#/policies/${p.id}/edit`, "aria-label": `Edit ${p.name}` }, "Edit"),
            el("a", { class: "button small secondary", href: `#/executions?policy_id=${p.id}`, "aria-label": `Executions of ${p.name}` }, "Executions")
          )
        )
      );
    });
    show(
      mine,
      heading("Replication policies"),
      el("div", { class: "toolbar" }, el("a", { class: "button", href: "#/policies/new" }, "New policy")),
      policies.length
        ? table(`Policies: ${policies.length}`, ["Name", "Source", "Destination", "Trigger", "Enabled", "Actions"], rows)
        : el("p", {}, "No policy yet.")
    );
  }

  const CRON_PRESETS = [
    ["0 0 * * * *", "Every hour"],
    ["0 0 */6 * * *", "Every 6 hours"],
    ["0 0 2 * * *", "Daily at 02:00"],
    ["0 30 3 * * 1", "Mondays at 03:30"],
    ["0 0 0 1 * *", "Monthly, on the 1st"],
  ];
  const CRON_FIELDS = ["second", "minute", "hour", "day of month", "month", "day of week"];

  // The name/tag/label/resource filters as rows.
  function filterRow(filter, onRemove) {
    const type = select(["name", "tag", "label", "resource"], filter ? filter.type : "name", { name: "filter_type" });
    const value = el("input", { type: "text", name: "filter_value" });
    const resource = select(["image", "chart", "artifact"], filter && filter.type === "resource" ? filter.value : "image", {
      name: "filter_resource",
    });
    const decoration = select(
      [
        ["matches", "matches"],
        ["excludes", "excludes"],
      ],
      (filter && filter.decoration) || "matches",
      { name: "filter_decoration" }
    );
    if (filter && filter.type !== "resource") {
      value.value = Array.isArray(filter.value) ? filter.value.join(", ") : String(filter.value ?? "");
    }
    const valueField = field("Value", value);
    const resourceField = field("Artifact type", resource);
    const hint = el("span", { class: "hint" });
    valueField.append(hint);
    function sync() {
      const isResource = type.value === "resource";
      valueField.hidden = isResource;
      resourceField.hidden = !isResource;
      hint.textContent = {
        name: "Repository pattern, e.g. library/** ({a,b}, *, ** and ? work)",
        tag: "Tag pattern, e.g. v1.* or latest",
        label: "Label names, separated by commas",
        resource: "",
      }[type.value];
    }
    type.addEventListener("change", sync);
    sync();
    const row = el(
      "div",
      { class: "filter-row" },
      field("Filter type", type),
      el("div", {}, valueField, resourceField),
      field("Decoration", decoration),
      button("Remove", onRemove, { class: "small danger", "aria-label": "Remove this filter" })
    );
    row.read = () => {
      if (type.value === "resource") return { type: "resource", value: resource.value, decoration: decoration.value };
      const text = value.value.trim();
      if (!text) return null;
      if (type.value === "label") {
        return {
          type: "label",
          value: text.split(",").map((s) => s.trim()).filter(Boolean),
          decoration: decoration.value,
        };
      }
      return { type: type.value, value: text, decoration: decoration.value };
    };
    return row;
  }

  async function policyWizard(mine, id) {
    const [registries, existing] = await Promise.all([
      all("/registries"),
      id ? api("GET", `/replication/policies/${id}`).then((r) => r.data) : Promise.resolve(null),
    ]);
    if (!current(mine)) return;
    let policyId = id;
    const policy = existing || { enabled: true, filters: [], trigger: { type: "manual" } };
    // An empty side is the home registry (the stack's HomeRegistryId), as in the API.
    const registryOptions = [["", "Home registry (HomeRegistryId)"], ...registries.map((r) => [r.id, `${r.name} (${r.url})`])];

    // Step 1: what and where.
    const name = el("input", { type: "text", name: "name", required: true });
    name.value = policy.name || "";
    const description = el("input", { type: "text", name: "description" });
    description.value = policy.description || "";
    const src = select(registryOptions, policy.src_registry ? policy.src_registry.id : "", { name: "src_registry" });
    const dest = select(registryOptions, policy.dest_registry ? policy.dest_registry.id : "", { name: "dest_registry" });
    const namespace = el("input", { type: "text", name: "dest_namespace" });
    namespace.value = policy.dest_namespace || "";

    // Step 2: filters.
    const filterList = el("div", {});
    function addFilter(filter) {
      const row = filterRow(filter, () => {
        row.remove();
        announce("Filter removed");
      });
      filterList.append(row);
      return row;
    }
    for (const f of policy.filters || []) {
      if (["name", "tag", "label", "resource"].includes(f.type)) addFilter(f);
    }
    const otherFilters = (policy.filters || []).filter((f) => !["name", "tag", "label", "resource"].includes(f.type));
    const addFilterButton = button("Add filter", () => {
      const row = addFilter(null);
      row.querySelector("select").focus();
    }, { class: "secondary" });

    // Step 3: trigger.
    const triggerType = (policy.trigger && policy.trigger.type) || "manual";
    const triggerName = uid("trigger");
    const radios = ["manual", "scheduled", "event_based"].map((t) => {
      const rid = uid("r");
      const input = el("input", { type: "radio", name: triggerName, value: t, id: rid });
      input.checked = t === triggerType;
      return { input, node: el("div", { class: "check" }, input, el("label", { for: rid }, t.replace("_", "-"))) };
    });
    const cron = el("input", { type: "text", name: "cron", spellcheck: "false" });
    cron.value = (policy.trigger && policy.trigger.trigger_settings && policy.trigger.trigger_settings.cron) || "0 0 * * * *";
    const cronParts = el("dl", { class: "cron-fields" });
    const cronCheck = el("span", { class: "hint", "aria-live": "polite" });
    function syncCron() {
      const fields = cron.value.trim().split(/\s+/).filter(Boolean);
      cronParts.replaceChildren(
        ...CRON_FIELDS.map((label, i) => el("div", {}, el("dt", {}, label), el("dd", {}, fields[i] || "—")))
      );
      if (fields.length !== 6) cronCheck.textContent = `Harbor's cron has 6 fields; this has ${fields.length}.`;
      else if (!/^\d+$/.test(fields[0])) cronCheck.textContent = "The seconds field must be one number, such as 0.";
      else if (fields[1] === "*") cronCheck.textContent = "The minutes field must not be *: at most once a minute.";
      else cronCheck.textContent = "Six fields: second minute hour day-of-month month day-of-week.";
    }
    cron.addEventListener("input", syncCron);
    const presets = el(
      "div",
      { class: "actions", role: "group", "aria-label": "Cron presets" },
      CRON_PRESETS.map(([expr, label]) =>
        button(label, () => {
          cron.value = expr;
          syncCron();
          announce(`Cron set to ${expr}`);
        }, { class: "small secondary" })
      )
    );
    const cronBox = el("div", {}, field("Cron (Harbor's 6 fields)", cron), cronCheck, cronParts, presets);
    function syncTrigger() {
      cronBox.hidden = !radios[1].input.checked;
    }
    for (const r of radios) r.input.addEventListener("change", syncTrigger);
    syncCron();
    syncTrigger();

    // Step 4: options.
    const override = checkbox("Override: replace artifacts the destination already has", policy.override, { name: "override" });
    const deletion = checkbox("Replicate deletions", policy.replicate_deletion || policy.deletion, { name: "deletion" });
    const enabled = checkbox("Enabled", policy.enabled !== false, { name: "enabled" });

    const steps = [
      { title: "Source and destination", body: [field("Name", name), field("Description", description), field("Source registry", src), field("Destination registry", dest, "Either side may be the home registry (HomeRegistryId), not both."), field("Destination namespace", namespace, "Optional: a path prefix at the destination, e.g. mirror")] },
      { title: "Filters", body: [el("p", { class: "muted" }, "Every filter must accept an artifact. No filter: everything."), filterList, addFilterButton] },
      { title: "Trigger", body: [el("fieldset", {}, el("legend", {}, "When it runs"), radios.map((r) => r.node)), cronBox] },
      { title: "Options", body: [override.node, deletion.node, enabled.node] },
    ];
    const stepList = el("ol", { class: "steps", "aria-label": "Steps" }, steps.map((s, i) => el("li", {}, `${i + 1}. ${s.title}`)));
    const sections = steps.map((s, i) => {
      const hid = uid("step");
      return el("fieldset", { "data-step": String(i + 1), "aria-labelledby": hid }, el("legend", { id: hid }, `Step ${i + 1} of ${steps.length}: ${s.title}`), s.body);
    });
    let step = 0;
    const back = button("Back", () => go(step - 1), { class: "secondary" });
    const next = button("Next", () => {
      if (step === 0 && !validFirst()) return;
      go(step + 1);
    });
    const save = el("button", { type: "submit" }, "Save policy");
    const preview = button("Save and preview", () => act(preview, previewPlan), { class: "secondary" });
    const planSlot = el("div", {});

    function validFirst() {
      for (const control of [name]) {
        if (!control.value.trim()) {
          showError(`${control.closest(".field").querySelector("label").textContent} is required.`);
          control.focus();
          return false;
        }
      }
      clearError();
      return true;
    }

    function go(to) {
      step = Math.max(0, Math.min(steps.length - 1, to));
      sections.forEach((s, i) => {
        s.hidden = i !== step;
      });
      stepList.querySelectorAll("li").forEach((li, i) => {
        if (i === step) li.setAttribute("aria-current", "step");
        else li.removeAttribute("aria-current");
      });
      back.disabled = step === 0;
      next.hidden = step === steps.length - 1;
      const first = sections[step].querySelector("input, select, textarea, button");
      if (first) first.focus();
      announce(`Step ${step + 1} of ${steps.length}: ${steps[step].title}`);
    }

    function body() {
      const filters = Array.from(filterList.children)
        .map((row) => row.read())
        .filter(Boolean)
        .concat(otherFilters);
      const chosen = radios.find((r) => r.input.checked).input.value;
      const trigger = chosen === "scheduled" ? { type: chosen, trigger_settings: { cron: cron.value.trim() } } : { type: chosen };
      // What the form does not show is kept as it was (an edit sends the whole policy back).
      const out = Object.assign({}, existing || {});
      delete out.read_only;
      Object.assign(out, {
        name: name.value.trim(),
        description: description.value,
        src_registry: src.value ? { id: Number(src.value) } : null,
        dest_registry: dest.value ? { id: Number(dest.value) } : null,
        dest_namespace: namespace.value.trim(),
        filters,
        trigger,
        override: override.input.checked,
        replicate_deletion: deletion.input.checked,
        deletion: deletion.input.checked,
        enabled: enabled.input.checked,
      });
      return out;
    }

    async function persist() {
      if (!validFirst()) {
        go(0);
        throw new Error("The policy needs a name.");
      }
      const payload = body();
      if (policyId) {
        await api("PUT", `/replication/policies/${policyId}`, payload);
      } else {
        const { location: loc } = await api("POST", "/replication/policies", payload);
        policyId = createdId(loc);
        // Later saves of this wizard update the policy it created.
        history.replaceState(null, "", `#/policies/${policyId}/edit`);
      }
      announce(`Policy ${payload.name} saved`);
      return policyId;
    }

    // A plan: a dry-run execution of the saved policy, its tasks listed when it ends.
    async function previewPlan() {
      const pid = await persist();
      planSlot.replaceChildren(el("p", { class: "muted", role: "status" }, "Planning…"));
      const { location: loc } = await api("POST", "/replication/executions", { policy_id: pid, dry_run: true });
      const executionId = createdId(loc);
      let execution = null;
      for (let i = 0; i < 300; i += 1) {
        execution = (await api("GET", `/replication/executions/${executionId}`)).data;
        if (execution.status !== "InProgress") break;
        await new Promise((resolve) => window.setTimeout(resolve, 1000));
        if (!planSlot.isConnected) return;
      }
      const tasks = await all(`/replication/executions/${executionId}/tasks`, 500);
      const rows = tasks.map((t) =>
        el("tr", {}, el("td", { class: "wrap" }, t.src_resource), el("td", { class: "wrap" }, t.dst_resource), el("td", {}, t.operation || ""), el("td", { class: "wrap" }, t.status_text || t.status))
      );
      planSlot.replaceChildren();
      append(planSlot, [
        el("h2", { id: "plan-title" }, `Plan (execution ${executionId}): ${execution.status}`),
        execution.status_text ? el("p", { class: "muted" }, execution.status_text) : null,
        tasks.length
          ? table(`Artifacts in the plan: ${tasks.length}`, ["Source", "Destination", "Operation", "What would happen"], rows)
          : el("p", {}, "The plan is empty: the filters select nothing.")
      ]);
      announce(`Plan ready: ${tasks.length} artifacts`);
    }

    const form = el(
      "form",
      { class: "panel wizard", "aria-labelledby": "wizard-title", novalidate: true },
      stepList,
      sections,
      el("div", { class: "actions" }, back, next, save, preview)
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(save, async () => {
        await persist();
        location.hash = "#/policies";
      });
    });
    if (!show(mine, heading(id ? `Edit policy ${policy.name}` : "New replication policy"), form, planSlot)) return;
    main.querySelector("h1").id = "wizard-title";
    go(0);
  }

  // --- Executions ------------------------------------------------------------------------------

  // The policies' names, read once for the page shown (its refreshes reuse them).
  let policyNames = null;

  function progress(e) {
    const total = Math.max(e.total || 0, 0);
    const parts = [
      ["succeed", e.succeed],
      ["failed", e.failed],
      ["stopped", e.stopped],
      ["in_progress", e.in_progress],
    ];
    const done = (e.succeed || 0) + (e.failed || 0) + (e.stopped || 0);
    const bar = el("div", {
      class: "progress",
      role: "progressbar",
      "aria-valuemin": "0",
      "aria-valuemax": String(total),
      "aria-valuenow": String(done),
      "aria-label": `Execution ${e.id} progress`,
    });
    for (const [kind, count] of parts) {
      if (!count || !total) continue;
      const span = el("span", { class: kind, title: `${kind.replace("_", " ")}: ${count}` });
      span.style.width = `${(100 * count) / total}%`;
      bar.append(span);
    }
    const text = `${done}/${total} done` + (e.failed ? `, ${e.failed} failed` : "") + (e.stopped ? `, ${e.stopped} stopped` : "") + (e.in_progress ? `, ${e.in_progress} running` : "");
    return el("div", {}, bar, el("div", { class: "muted" }, text));
  }

  async function executionsPage(mine, params) {
    const policyId = params.get("policy_id") || "";
    const page = Math.max(1, Number(params.get("page")) || 1);
    const pageSize = 20;
    const query = `page=${page}&page_size=${pageSize}` + (policyId ? `&policy_id=${encodeURIComponent(policyId)}` : "");
    if (!policyNames || policyNames.route !== mine) {
      // A caller who may not list policies still sees the executions, by policy id.
      const list = await all("/replication/policies").catch((e) => {
        if (e instanceof ApiError && e.status === 401) throw e;
        return [];
      });
      policyNames = { route: mine, list };
    }
    if (!current(mine)) return;
    const policies = policyNames.list;
    const listed = await api("GET", `/replication/executions?${query}`);
    const executions = listed.data || [];
    const names = new Map(policies.map((p) => [p.id, p.name]));
    const policySelect = select([["", "All policies"], ...policies.map((p) => [p.id, p.name])], policyId, { name: "policy_id" });
    policySelect.addEventListener("change", () => {
      location.hash = policySelect.value ? `#/executions?policy_id=${policySelect.value}` : "#/executions";
    });
    const rows = executions.map((e) => {
      const actions = el("div", { class: "actions" });
      actions.append(el("a", { class: "button small secondary", href: `#/executions/${e.id}`, "aria-label": `Tasks of execution ${e.id}` }, "Tasks"));
      if (e.status === "InProgress") {
        const stop = button("Stop", () =>
          act(stop, async () => {
            // Harbor's stopReplication: PUT on the execution, no body needed.
            await api("PUT", `/replication/executions/${e.id}`);
            announce(`Execution ${e.id} stopped`);
            route();
          }), { class: "small danger", "aria-label": `Stop execution ${e.id}` });
        actions.append(stop);
      } else if (e.failed > 0) {
        const retry = button("Retry failed", () =>
          act(retry, async () => {
            const { location: loc } = await api("POST", `/replication/executions/${e.id}/retry`);
            announce(`Retry started as execution ${createdId(loc) || ""}`);
            route();
          }), { class: "small secondary", "aria-label": `Retry the failed tasks of execution ${e.id}` });
        actions.append(retry);
      }
      return el(
        "tr",
        { "data-execution": String(e.id), "data-status": e.status },
        el("td", { class: "num" }, String(e.id)),
        el("td", {}, names.get(e.policy_id) || `policy ${e.policy_id}`, e.dry_run ? el("div", { class: "muted" }, "plan (dry run)") : null),
        el("td", {}, badge(e.status), e.status_text ? el("div", { class: "muted wrap" }, e.status_text) : null),
        el("td", {}, progress(e)),
        el("td", {}, duration(e.start_time, e.end_time), el("div", { class: "muted" }, when(e.start_time))),
        el("td", {}, e.trigger),
        el("td", {}, actions)
      );
    });
    const total = listed.total ?? executions.length;
    const pages = Math.max(1, Math.ceil(total / pageSize));
    const pageLink = (p, label) => {
      const q = new URLSearchParams();
      if (policyId) q.set("policy_id", policyId);
      q.set("page", String(p));
      return el("a", { class: "button small secondary", href: `#/executions?${q}` }, label);
    };
    const running = executions.some((e) => e.status === "InProgress");
    show(
      mine,
      heading("Executions"),
      el("div", { class: "toolbar" }, field("Policy", policySelect), el("span", { class: "muted", role: "status" }, running ? "Refreshing every 2 s while an execution runs" : "")),
      executions.length
        ? table(`Executions: ${total}`, ["ID", "Policy", "Status", "Progress", "Duration", "Trigger", "Actions"], rows)
        : el("p", {}, "No execution yet."),
      pages > 1
        ? el("nav", { class: "pager", "aria-label": "Pages" }, page > 1 ? pageLink(page - 1, "Previous") : null, el("span", {}, `Page ${page} of ${pages}`), page < pages ? pageLink(page + 1, "Next") : null)
        : null
    );
    if (running) {
      later(2000, () => {
        if (!current(mine)) return;
        // Focus stays on the control it was on, found again by its label.
        const active = document.activeElement;
        const label = active && main.contains(active) ? active.getAttribute("aria-label") || active.getAttribute("name") : null;
        executionsPage(mine, params)
          .then(() => {
            if (!label) return;
            for (const node of main.querySelectorAll("[aria-label], [name]")) {
              if (node.getAttribute("aria-label") === label || node.getAttribute("name") === label) {
                node.focus({ preventScroll: true });
                break;
              }
            }
          })
          .catch((e) => {
            if (current(mine) && !(e instanceof ApiError && e.status === 401)) showError(e.message);
          });
      });
    }
  }

  async function tasksPage(mine, executionId, params) {
    const page = Math.max(1, Number(params.get("page")) || 1);
    const statusFilter = params.get("status") || "";
    const search = params.get("q") || "";
    const pageSize = 25;
    const q = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
    if (statusFilter) q.set("status", statusFilter);
    // The API searches the execution's tasks (`q`, fuzzy on the source), not only this page.
    const needle = search.replace(/[,=~]/g, " ").trim();
    if (needle) q.set("q", `src_resource=~${needle}`);
    const [execution, listed] = await Promise.all([
      api("GET", `/replication/executions/${executionId}`).then((r) => r.data),
      api("GET", `/replication/executions/${executionId}/tasks?${q}`),
    ]);
    const tasks = listed.data || [];
    const statusSelect = select(
      [["", "All"], "Pending", "InProgress", "Succeed", "Failed", "Stopped"],
      statusFilter,
      { name: "status" }
    );
    const searchInput = el("input", { type: "search", name: "q", placeholder: "e.g. library/nginx" });
    searchInput.value = search;
    const apply = el("button", { type: "submit" }, "Apply");
    const filters = el(
      "form",
      { class: "inline toolbar", role: "search", "aria-label": "Filter tasks" },
      field("Status", statusSelect),
      field("Repository", searchInput, "Searches every task of the execution by its source"),
      apply
    );
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      if (statusSelect.value) next.set("status", statusSelect.value);
      if (searchInput.value.trim()) next.set("q", searchInput.value.trim());
      location.hash = `#/executions/${executionId}?${next}`;
    });
    const rows = tasks.map((t) =>
      el(
        "tr",
        { "data-task": String(t.id), "data-status": t.status },
        el("td", { class: "num" }, String(t.id)),
        el("td", { class: "wrap" }, t.src_resource),
        el("td", { class: "wrap" }, t.dst_resource),
        el("td", {}, t.resource_type || "", el("div", { class: "muted" }, t.operation || "")),
        el("td", {}, badge(t.status), t.status_text ? el("div", { class: "muted wrap" }, t.status_text) : null),
        el("td", {}, duration(t.start_time, t.end_time)),
        el("td", {}, el("a", { class: "button small secondary", href: `#/executions/${executionId}/tasks/${t.id}/log`, "aria-label": `Log of task ${t.id}` }, "Log"))
      )
    );
    const total = listed.total ?? tasks.length;
    const pages = Math.max(1, Math.ceil(total / pageSize));
    const pageLink = (p, label) => {
      const n = new URLSearchParams();
      if (statusFilter) n.set("status", statusFilter);
      if (search) n.set("q", search);
      n.set("page", String(p));
      return el("a", { class: "button small secondary", href: `#/executions/${executionId}?${n}` }, label);
    };
    const running = execution.status === "InProgress";
    show(
      mine,
      heading(`Execution ${executionId}`),
      el("p", {}, el("a", { href: `#/executions?policy_id=${execution.policy_id}` }, "← Executions of this policy")),
      el(
        "section",
        { class: "panel", "aria-label": "Summary" },
        el("div", {}, badge(execution.status), " ", execution.trigger, execution.dry_run ? " · plan (dry run)" : "", " · ", duration(execution.start_time, execution.end_time)),
        execution.status_text ? el("p", { class: "muted wrap" }, execution.status_text) : null,
        progress(execution)
      ),
      filters,
      tasks.length
        ? table(`Tasks: ${total}` + (needle ? `; ${tasks.length} on this page match` : ""), ["ID", "Source", "Destination", "Type", "Status", "Duration", "Log"], rows)
        : el("p", {}, "No task matches."),
      pages > 1
        ? el("nav", { class: "pager", "aria-label": "Pages" }, page > 1 ? pageLink(page - 1, "Previous") : null, el("span", {}, `Page ${page} of ${pages}`), page < pages ? pageLink(page + 1, "Next") : null)
        : null
    );
    if (running) {
      const refresh = () => {
        if (!current(mine)) return;
        // Not while someone is typing in the filters: a refresh would take their input away.
        if (filters.isConnected && filters.contains(document.activeElement)) {
          later(2000, refresh);
          return;
        }
        tasksPage(mine, executionId, params).catch((e) => current(mine) && showError(e.message));
      };
      later(2000, refresh);
    }
  }

  async function taskLogPage(mine, executionId, taskId) {
    const { data } = await api("GET", `/replication/executions/${executionId}/tasks/${taskId}/log`, undefined, { text: true });
    const pre = el("pre", { class: "log", tabindex: "0", "aria-label": `Log of task ${taskId}` });
    pre.textContent = data || "(the log is empty)";
    show(
      mine,
      heading(`Task ${taskId} of execution ${executionId}: log`),
      el("p", {}, el("a", { href: `#/executions/${executionId}` }, "← Tasks of this execution")),
      pre
    );
  }

  window.addEventListener("hashchange", route);
  route();
})();
