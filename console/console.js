// The fraiseql-observers console: a plain ES module, no framework, no build step (served by the
// API from src/api/console-assets.generated.ts, see scripts/generate-console-assets.ts).
// Every view is built with DOM methods: data only ever becomes text nodes or attribute values,
// never HTML, so a hostile entity type, name or payload cannot run script. Routes live in the
// URL's hash (#/observers, #/changes/<event id>, ...), so the page works under any mount prefix.

const ROOT = new URL(document.body.dataset.apiRoot || "./", document.baseURI);
const TOKEN_KEY = "fraiseql-observers.token";
const PAGE = 50;
const EVENT_TYPES = ["INSERT", "UPDATE", "DELETE", "CUSTOM"];

// ---------------------------------------------------------------------------------------------
// DOM

/** An element: `props` are attributes (`on*` are listeners), `children` nodes or text. */
function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A table of `rows`: `columns` are `[heading, (row) => cell]`. */
function table(caption, columns, rows) {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map(([heading]) => h("th", { scope: "col" }, heading)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: columns.length }, "Nothing yet."))
        : rows.map((row) =>
            h(
              "tr",
              {},
              columns.map(([, cell]) => h("td", {}, cell(row))),
            ),
          ),
    ),
  );
}

/** `content` and, when the list has more than one page, buttons to move between them. */
function paged(page, load, content) {
  if (page.total_pages <= 1) return content;
  return h(
    "div",
    {},
    content,
    h(
      "nav",
      { class: "row", "aria-label": "Pages" },
      h(
        "button",
        { type: "button", disabled: page.page <= 1, onclick: () => load(page.page - 1) },
        "Previous page",
      ),
      h("span", {}, `Page ${page.page} of ${page.total_pages}`),
      h(
        "button",
        {
          type: "button",
          disabled: page.page >= page.total_pages,
          onclick: () => load(page.page + 1),
        },
        "Next page",
      ),
    ),
  );
}

/** A labelled form field; `control` gets the id. */
function field(label, control, hint) {
  const id = `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  const hintNode = hint ? h("small", { id: `${id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintNode);
}

function select(name, options, value) {
  return h(
    "select",
    { name },
    options.map(([optionValue, text]) =>
      h("option", { value: optionValue, selected: optionValue === value }, text),
    ),
  );
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const text = (value) => (value === null || value === undefined || value === "" ? "—" : value);
const explainLink = (eventId) =>
  h("a", { href: `#/changes/${encodeURIComponent(eventId)}` }, "Explain");

/** A status message region; `show(text, kind)` replaces its text. */
function notice() {
  const region = h("p", { class: "notice", role: "status", "aria-live": "polite" });
  region.show = (message, kind = "info") => {
    region.className = `notice ${kind}`;
    region.textContent = message;
  };
  return region;
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

/** Calls the API at `path` (relative to its root) with the signed-in key. */
async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token()}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(new URL(path, ROOT), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) {
    signOut("The key was refused: sign in again.");
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** What went wrong, for people: a 403 says the key may not, a 400 lists each issue. */
function problemView(error) {
  if (!(error instanceof ApiError)) {
    return h("div", { class: "notice error", role: "alert" }, `Failed: ${error.message}`);
  }
  const heading =
    error.status === 403
      ? `This key may not do this (403): ${error.message}`
      : `${error.problem?.code ?? "Error"} (${error.status}): ${error.message}`;
  const issues = Array.isArray(error.problem?.issues) ? error.problem.issues : [];
  return h(
    "div",
    { class: "notice error", role: "alert" },
    h("p", {}, heading),
    issues.length > 0 &&
      h(
        "ul",
        {},
        issues.map((issue) =>
          h("li", {}, issue.path ? `${issue.path}: ` : "", String(issue.message ?? "")),
        ),
      ),
  );
}

/** Runs `load` and puts what it builds in `target`, or the problem. */
async function fill(target, load) {
  target.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    target.replaceChildren(await load());
  } catch (error) {
    target.replaceChildren(problemView(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Shell

const main = h("main", { id: "main", tabindex: "-1" });
const PAGES = [
  ["observers", "Observers"],
  ["deliveries", "Deliveries"],
  ["dead-letters", "Dead letters"],
  ["live", "Live"],
  ["changes", "Changes"],
  ["jobs", "Jobs"],
  ["keys", "Keys"],
];
const nav = h(
  "nav",
  { "aria-label": "Console" },
  h(
    "ul",
    {},
    PAGES.map(([route, label]) =>
      h("li", {}, h("a", { href: `#/${route}`, "data-route": route }, label)),
    ),
  ),
);
const header = h(
  "header",
  {},
  h(
    "a",
    {
      class: "skip",
      href: "#main",
      onclick: (event) => {
        event.preventDefault();
        main.focus();
      },
    },
    "Skip to content",
  ),
  h("p", { class: "brand" }, "fraiseql-observers"),
  nav,
  h("button", { type: "button", onclick: () => signOut("Signed out.") }, "Sign out"),
);
let leave = () => {};

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  leave();
  leave = () => {};
  showSignIn(message);
}

function showSignIn(message) {
  const input = h("input", {
    name: "token",
    type: "password",
    autocomplete: "off",
    required: true,
  });
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        render();
      },
    },
    h("h1", {}, "fraiseql-observers console"),
    message ? h("p", { class: "notice", role: "status" }, message) : null,
    field("API key or admin token", input, "Kept in this tab's session storage only."),
    h("button", { type: "submit" }, "Sign in"),
  );
  document.body.replaceChildren(h("main", { id: "main" }, form));
  input.focus();
}

function route() {
  const [name = "observers", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: name || "observers", arg: rest.map(decodeURIComponent).join("/") };
}

function render() {
  if (!token()) return showSignIn();
  if (!document.body.contains(main)) document.body.replaceChildren(header, main);
  leave();
  leave = () => {};
  const { name, arg } = route();
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.route === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = VIEWS[name] ?? VIEWS.observers;
  const heading = h("h1", { tabindex: "-1" });
  const body = h("div");
  main.replaceChildren(heading, body);
  view(heading, body, arg);
  heading.focus();
}

// ---------------------------------------------------------------------------------------------
// Observers

function observersView(heading, body) {
  heading.textContent = "Observers";
  const status = notice();
  const list = h("div");
  let current = 1;
  const load = (at = current) =>
    fill(list, async () => {
      current = at;
      const [page, stats] = await Promise.all([
        api("GET", `api/observers?page=${at}&page_size=${PAGE}`),
        api("GET", "api/observers/stats"),
      ]);
      const statsById = new Map(stats.map((s) => [s.observer_id, s]));
      const toggle = (o) =>
        h(
          "button",
          {
            type: "button",
            "aria-label": `${o.enabled ? "Disable" : "Enable"} ${o.name}`,
            onclick: async () => {
              try {
                await api("POST", `api/observers/${o.id}/${o.enabled ? "disable" : "enable"}`);
                status.show(`${o.name} ${o.enabled ? "disabled" : "enabled"}.`);
                load();
              } catch (error) {
                list.prepend(problemView(error));
              }
            },
          },
          o.enabled ? "Disable" : "Enable",
        );
      return paged(
        page,
        load,
        table(
          "Observers, with their executions",
          [
            ["Name", (o) => h("a", { href: `#/observers/${encodeURIComponent(o.id)}` }, o.name)],
            ["Entity", (o) => text(o.entity_type)],
            ["Event", eventCell],
            ["Enabled", (o) => (o.enabled ? (o.paused ? "paused" : "yes") : "no")],
            ["Executions", (o) => statsById.get(o.id)?.total_executions ?? 0],
            ["Failed", (o) => statsById.get(o.id)?.failed_executions ?? 0],
            ["Success", (o) => text(statsById.get(o.id)?.success_rate_pct ?? null)],
            ["Last run", (o) => when(statsById.get(o.id)?.last_execution_at)],
            ["", toggle],
          ],
          page.data,
        ),
      );
    });
  body.append(
    h("p", {}, h("a", { href: "#/observers/new", class: "button" }, "New observer")),
    status,
    list,
  );
  load();
}

const SAMPLE_ACTIONS = JSON.stringify(
  [{ type: "webhook", url: "https://example.com/hook" }],
  null,
  2,
);

function observerView(heading, body, id) {
  const creating = id === "new";
  heading.textContent = creating ? "New observer" : "Observer";
  fill(body, async () => {
    const observer = creating ? null : await api("GET", `api/observers/${encodeURIComponent(id)}`);
    if (observer) heading.textContent = `Observer ${observer.name}`;
    const form = observerForm(observer);
    // Deliveries waiting for a failing or disabled destination (docs/delivery.md), and why.
    const held = observer?.held ?? [];
    if (held.length === 0) return form;
    return h(
      "div",
      {},
      h(
        "ul",
        { class: "warnings", role: "status" },
        held.map((x) =>
          h(
            "li",
            {},
            x.disabled
              ? `${x.deliveries} deliveries held: ${x.destination} is disabled (${x.disabled_reason ?? "no reason recorded"}); reset it with POST api/observers/destinations/${x.id}/reset.`
              : `${x.deliveries} deliveries waiting: ${x.destination}'s circuit is open (next probe ${x.next_probe_at ?? "soon"}).`,
          ),
        ),
      ),
      form,
    );
  });
}

function observerForm(observer) {
  const actionsText = observer ? JSON.stringify(observer.actions, null, 2) : SAMPLE_ACTIONS;
  const inputs = {
    name: h("input", { name: "name", required: true, value: observer?.name ?? "" }),
    description: h("input", { name: "description", value: observer?.description ?? "" }),
    entity_type: h("input", { name: "entity_type", value: observer?.entity_type ?? "" }),
    event_type: select(
      "event_type",
      [["", "Any"], ...EVENT_TYPES.map((t) => [t, t]), [SCHEDULE, "SCHEDULE (on a cron schedule)"]],
      observer?.event_type ?? "",
    ),
    schedule: h("input", {
      name: "schedule",
      spellcheck: "false",
      value: observer?.schedule ?? "",
    }),
    timezone: h("input", { name: "timezone", value: observer?.timezone ?? "" }),
    condition: h("textarea", {
      name: "condition_expression",
      rows: 3,
      spellcheck: "false",
      value: observer?.condition_expression ?? "",
    }),
    actions: h("textarea", { name: "actions", rows: 8, spellcheck: "false", value: actionsText }),
    enabled: h("input", { name: "enabled", type: "checkbox", checked: observer?.enabled ?? true }),
    ordering: select(
      "ordering",
      [
        ["unordered", "Unordered (fastest)"],
        ["per_entity", "Per entity (commit order for each entity)"],
      ],
      observer?.ordering ?? "unordered",
    ),
  };
  const validity = h("div", { class: "validity", "aria-live": "polite" });
  const result = h("div");
  let timer;
  const validate = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const condition = inputs.condition.value;
      if (condition.trim() === "")
        return validity.replaceChildren("No condition: every change matches.");
      try {
        const answer = await api("POST", "api/observers/validate", {
          condition_expression: condition,
        });
        inputs.condition.setAttribute("aria-invalid", String(!answer.valid));
        validity.replaceChildren(
          answer.valid
            ? h("span", { class: "ok" }, "Condition is valid.")
            : h(
                "ul",
                { class: "bad" },
                answer.issues.map((issue) =>
                  h("li", {}, `At ${issue.position + 1}: ${issue.message}`),
                ),
              ),
        );
      } catch (error) {
        validity.replaceChildren(problemView(error));
      }
    }, 250);
  };
  inputs.condition.addEventListener("input", validate);
  const conditionField = field(
    "Condition",
    inputs.condition,
    "The condition DSL, e.g. total > 100",
  );
  conditionField.append(validity);

  const save = async (event) => {
    event.preventDefault();
    const body = {
      name: inputs.name.value,
      description: inputs.description.value || null,
      entity_type: inputs.entity_type.value || null,
      event_type: inputs.event_type.value || null,
      condition_expression: inputs.condition.value.trim() || null,
      enabled: inputs.enabled.checked,
      ordering: inputs.ordering.value,
      ...scheduleBody(inputs),
    };
    // Stored actions come back with secrets redacted: send them only when edited.
    if (!observer || inputs.actions.value !== actionsText) {
      try {
        body.actions = JSON.parse(inputs.actions.value);
      } catch {
        result.replaceChildren(
          h("p", { class: "notice error", role: "alert" }, "Actions must be a JSON array."),
        );
        return;
      }
    }
    try {
      const saved = observer
        ? await api("PATCH", `api/observers/${observer.id}`, body)
        : await api("POST", "api/observers", body);
      const warnings = saved.warnings ?? [];
      result.replaceChildren(
        h("p", { class: "notice ok", role: "status" }, "Saved."),
        warnings.length > 0 &&
          h(
            "ul",
            { class: "warnings" },
            warnings.map((w) => h("li", {}, `${w.path}: ${w.message}`)),
          ),
      );
      if (!observer) location.hash = `#/observers/${encodeURIComponent(saved.id)}`;
    } catch (error) {
      result.replaceChildren(problemView(error));
    }
  };
  const scheduleRow = scheduleFields(inputs, conditionField);
  const form = h(
    "form",
    { onsubmit: save, class: "stack" },
    field("Name", inputs.name),
    field("Description", inputs.description),
    h(
      "div",
      { class: "row" },
      field("Entity type", inputs.entity_type, "Empty: every entity"),
      field("Event type", inputs.event_type),
    ),
    conditionField,
    scheduleRow,
    field(
      "Actions (JSON)",
      inputs.actions,
      [
        observer ? "Secrets show as [REDACTED]: leave them, or replace the whole list. " : "",
        ACTION_TIME_HINT,
      ].join(""),
    ),
    field(
      "Delivery order",
      inputs.ordering,
      "Per entity: a retrying delivery holds back later ones of the same entity",
    ),
    h("div", { class: "check" }, inputs.enabled, h("label", { for: "enabled-box" }, "Enabled")),
    h("button", { type: "submit" }, observer ? "Save changes" : "Create observer"),
    result,
  );
  inputs.enabled.id = "enabled-box";
  if (inputs.condition.value) validate();
  return h(
    "div",
    {},
    observer ? pausePanel(observer) : null,
    form,
    observer ? testPanel(observer, inputs.condition) : null,
    observer ? oneOffPanel(observer) : null,
  );
}

/**
 * Pause or resume delivery: paused, changes are matched and their deliveries held until resume
 * (disable skips them instead).
 */
function pausePanel(observer) {
  let paused = observer.paused;
  let since = observer.paused_at;
  const state = h("p", { "aria-live": "polite" });
  const button = h("button", { type: "button" });
  const out = h("div");
  const render = () => {
    state.textContent = paused
      ? `Paused since ${when(since)}: changes are matched and their deliveries held.`
      : "Delivering.";
    button.textContent = paused ? "Resume" : "Pause";
    button.setAttribute("aria-label", `${paused ? "Resume" : "Pause"} ${observer.name}`);
  };
  button.onclick = async () => {
    try {
      const r = await api("POST", `api/observers/${observer.id}/${paused ? "resume" : "pause"}`);
      paused = r.paused;
      since = r.paused_at;
      out.replaceChildren();
      render();
    } catch (error) {
      out.replaceChildren(problemView(error));
    }
  };
  render();
  return h(
    "section",
    { "aria-labelledby": "pause-heading", class: "panel" },
    h("h2", { id: "pause-heading" }, "Delivery"),
    state,
    button,
    out,
  );
}

/** Backtest the draft condition over recent changes, or test it against one stored change. */
function testPanel(observer, condition) {
  const hours = h("input", { name: "hours", type: "number", min: 1, max: 744, value: 24 });
  const eventId = h("input", { name: "event_id", placeholder: "an event id from Changes" });
  const out = h("div", { "aria-live": "polite" });
  const draft = () => condition.value.trim() || null;
  const backtest = async (event) => {
    event.preventDefault();
    const since = new Date(Date.now() - Number(hours.value) * 3_600_000).toISOString();
    await fill(out, async () => {
      const r = await api("POST", `api/observers/${observer.id}/backtest`, {
        since,
        condition_expression: draft(),
      });
      return h(
        "div",
        {},
        h(
          "p",
          { class: "result" },
          `Would have fired for ${r.fired} of ${r.considered} changes (${r.errors} errors${r.truncated ? ", truncated" : ""}).`,
        ),
        table(
          "Samples",
          [
            ["Time", (s) => when(s.created_at)],
            ["Entity", (s) => `${s.entity_type} ${text(s.entity_id)}`],
            ["Event", (s) => s.event_type],
            ["", (s) => explainLink(s.event_id)],
          ],
          r.samples,
        ),
      );
    });
  };
  const test = async (event) => {
    event.preventDefault();
    await fill(out, async () => {
      const r = await api("POST", `api/observers/${observer.id}/test`, {
        event_id: eventId.value.trim(),
        condition_expression: draft(),
      });
      return h(
        "div",
        {},
        h(
          "p",
          { class: "result" },
          r.fired ? "Fires: " : `Does not fire (${r.reason}): `,
          r.detail,
        ),
        r.condition?.root ? conditionTree(r.condition.root) : null,
      );
    });
  };
  return h(
    "section",
    { "aria-labelledby": "test-heading", class: "panel" },
    h("h2", { id: "test-heading" }, "Test the condition above"),
    h(
      "form",
      { onsubmit: backtest, class: "row" },
      field("Hours back", hours),
      h("button", { type: "submit" }, "Backtest"),
    ),
    h(
      "form",
      { onsubmit: test, class: "row" },
      field("Event id", eventId),
      h("button", { type: "submit" }, "Test against change"),
    ),
    out,
  );
}

/** A condition's explain tree as nested lists: each sub-expression and what it came to. */
function conditionTree(step) {
  return h(
    "ul",
    { class: "tree" },
    h(
      "li",
      {},
      h("code", {}, step.text),
      " → ",
      h("strong", { class: `outcome-${step.outcome}` }, step.outcome),
      step.error ? ` (${step.error})` : "",
      step.hint ? ` — ${step.hint}` : "",
      (step.children ?? []).map(conditionTree),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Deliveries and dead letters

function deliveriesView(heading, body) {
  heading.textContent = "Deliveries";
  const status = select(
    "status",
    [
      ["", "Any status"],
      ...["success", "failed", "timeout", "skipped", "cancelled", "pending", "running"].map((s) => [
        s,
        s,
      ]),
    ],
    "",
  );
  const list = h("div");
  let current = 1;
  const load = (at = current) =>
    fill(list, async () => {
      current = at;
      const query = status.value ? `&status=${encodeURIComponent(status.value)}` : "";
      const [page, observers] = await Promise.all([
        api("GET", `api/observers/logs?page=${at}&page_size=${PAGE}${query}`),
        api("GET", "api/observers?page_size=100"),
      ]);
      const names = new Map(observers.data.map((o) => [o.id, o.name]));
      return paged(
        page,
        load,
        table(
          "Attempts, newest first",
          [
            ["Time", (l) => when(l.created_at)],
            ["Observer", (l) => text(names.get(l.observer_id) ?? l.observer_id)],
            ["Action", (l) => text(l.action_type)],
            ["Status", (l) => h("span", { class: `status-${l.status}` }, l.status)],
            ["Attempt", (l) => `${l.attempt_number}/${l.max_attempts}`],
            ["HTTP", (l) => text(l.response_status_code)],
            ["Error", (l) => (l.error_code ? `${l.error_code}: ${l.error_message ?? ""}` : "—")],
            ["Change", (l) => explainLink(l.event_id)],
          ],
          page.data,
        ),
      );
    });
  status.addEventListener("change", () => load(1));
  body.append(
    h(
      "div",
      { class: "row" },
      field("Status", status),
      h("button", { type: "button", onclick: () => load() }, "Refresh"),
    ),
    list,
  );
  load();
}

function deadLettersView(heading, body) {
  heading.textContent = "Dead letters";
  const status = notice();
  const list = h("div");
  const selected = new Set();
  const retry = async (ids) => {
    let queued = 0;
    for (const id of ids) {
      try {
        await api("POST", `api/observers/dlq/${id}/retry`);
        queued++;
      } catch (error) {
        list.prepend(problemView(error));
      }
    }
    status.show(`Retry queued for ${queued} dead letter${queued === 1 ? "" : "s"}.`, "ok");
    load();
  };
  const retryAll = async () => {
    try {
      const r = await api("POST", "api/observers/dlq/retry-all", {});
      status.show(r.message, "ok");
      load();
    } catch (error) {
      list.prepend(problemView(error));
    }
  };
  let current = 1;
  const load = (at = current) =>
    fill(list, async () => {
      current = at;
      selected.clear();
      const page = await api("GET", `api/observers/dlq?page=${at}&page_size=${PAGE}`);
      return paged(
        page,
        load,
        table(
          `Dead letters (${page.total_count})`,
          [
            [
              "Select",
              (d) =>
                h("input", {
                  type: "checkbox",
                  "aria-label": `Select dead letter of ${d.observer_name}, ${d.entity_type} ${d.entity_id ?? ""}`,
                  onchange: (event) =>
                    event.target.checked ? selected.add(d.id) : selected.delete(d.id),
                }),
            ],
            ["Failed", (d) => when(d.last_attempt_at)],
            ["Observer", (d) => d.observer_name],
            ["Action", (d) => d.action_type],
            ["Entity", (d) => `${d.entity_type} ${text(d.entity_id)}`],
            ["HTTP", (d) => text(d.response_status_code)],
            ["Error", (d) => `${text(d.error_code)}: ${d.error_message ?? ""}`],
            ["Status", (d) => d.status],
            [
              "",
              (d) =>
                h(
                  "button",
                  {
                    type: "button",
                    "aria-label": `Retry ${d.observer_name}, ${d.entity_type} ${d.entity_id ?? ""}`,
                    onclick: () => retry([d.id]),
                  },
                  "Retry",
                ),
            ],
          ],
          page.data,
        ),
      );
    });
  body.append(
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", onclick: () => retry([...selected]) }, "Retry selected"),
      h("button", { type: "button", onclick: retryAll }, "Retry all"),
      h("button", { type: "button", onclick: () => load() }, "Refresh"),
    ),
    status,
    list,
  );
  load();
}

// ---------------------------------------------------------------------------------------------
// Live

function liveView(heading, body) {
  heading.textContent = "Live";
  const state = notice();
  const feed = h("ol", { class: "feed", "aria-label": "Live messages, newest first" });
  const filters = {
    entity_type: h("input", { name: "entity_type" }),
    event_type: select("event_type", [["", "Any"], ...EVENT_TYPES.map((t) => [t, t])], ""),
  };
  let socket = null;
  let cursor = null;
  const connect = (resume) => {
    socket?.close();
    const url = new URL("api/observers/ws", ROOT);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", token());
    for (const [name, input] of Object.entries(filters)) {
      if (input.value) url.searchParams.set(name, input.value);
    }
    // Resuming: what was missed first, then live messages, no gap and no duplicate.
    if (resume && cursor) url.searchParams.set("since", cursor);
    else {
      cursor = null;
      feed.replaceChildren();
    }
    const current = new WebSocket(url);
    socket = current;
    state.show("Connecting…");
    current.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "ready") {
        state.show("Connected: new changes and deliveries appear below.", "ok");
        return;
      }
      if (message.type !== "change" && message.type !== "execution") return;
      cursor = message.cursor;
      feed.prepend(liveItem(message));
      while (feed.children.length > 200) feed.lastElementChild.remove();
    });
    current.addEventListener("close", (event) => {
      if (socket !== current) return;
      const reason = event.reason ? `: ${event.reason}` : "";
      state.show(`Disconnected (${event.code}${reason}). Reconnect to resume.`, "error");
    });
  };
  leave = () => {
    const open = socket;
    socket = null;
    open?.close();
  };
  body.append(
    h(
      "form",
      {
        class: "row",
        onsubmit: (event) => {
          event.preventDefault();
          connect(false);
        },
      },
      field("Entity type", filters.entity_type),
      field("Event type", filters.event_type),
      h("button", { type: "submit" }, "Apply filters"),
      h("button", { type: "button", onclick: () => connect(true) }, "Reconnect"),
    ),
    state,
    feed,
  );
  connect(false);
}

/** One live message as a list item. */
function liveItem(message) {
  return message.type === "change"
    ? h(
        "li",
        { class: "change" },
        h("time", { datetime: message.created_at }, when(message.created_at)),
        ` ${message.event_type} ${message.entity_type} ${text(message.entity_id)} `,
        explainLink(message.event_id),
      )
    : h(
        "li",
        { class: "execution" },
        h("time", { datetime: message.created_at }, when(message.created_at)),
        ` ${text(message.observer_name)} ${text(message.action_type)}: `,
        h("span", { class: `status-${message.status}` }, message.status),
        ` (attempt ${message.attempt})`,
      );
}

// ---------------------------------------------------------------------------------------------
// Changes and explanations

function changesView(heading, body, eventId) {
  if (eventId) return explanationView(heading, body, eventId);
  heading.textContent = "Changes";
  const inputs = {
    entity_type: h("input", { name: "entity_type" }),
    event_type: select("event_type", [["", "Any"], ...EVENT_TYPES.map((t) => [t, t])], ""),
    entity_id: h("input", { name: "entity_id" }),
    since: h("input", { name: "since", type: "datetime-local" }),
    until: h("input", { name: "until", type: "datetime-local" }),
  };
  const list = h("div");
  const rows = [];
  let cursor = null;
  const more = h("button", { type: "button", hidden: true }, "Older changes");
  const load = async (append) => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    for (const [name, input] of Object.entries(inputs)) {
      if (!input.value) continue;
      query.set(
        name,
        input.type === "datetime-local" ? new Date(input.value).toISOString() : input.value,
      );
    }
    if (append && cursor) query.set("cursor", cursor);
    if (!append) rows.length = 0;
    await fill(list, async () => {
      const page = await api("GET", `api/observers/changes?${query}`);
      rows.push(...page.data);
      cursor = page.next_cursor;
      more.hidden = cursor === null;
      return table(
        "Captured changes, newest first",
        [
          ["Time", (c) => h("time", { datetime: c.created_at }, when(c.created_at))],
          ["Entity type", (c) => c.entity_type],
          ["Entity id", (c) => text(c.entity_id)],
          ["Event", (c) => c.event_type],
          ["Tenant", (c) => text(c.fk_customer_org)],
          ["Event id", (c) => h("code", {}, c.event_id)],
          ["", (c) => explainLink(c.event_id)],
        ],
        rows,
      );
    });
  };
  more.addEventListener("click", () => load(true));
  const form = h(
    "form",
    {
      class: "row filters",
      onsubmit: (event) => {
        event.preventDefault();
        load(false);
      },
    },
    field("Entity type", inputs.entity_type),
    field("Event type", inputs.event_type),
    field("Entity id", inputs.entity_id),
    field("From", inputs.since),
    field("To", inputs.until),
    h("button", { type: "submit" }, "Filter"),
  );
  body.append(form, list, more);
  load(false);
}

function explanationView(heading, body, eventId) {
  heading.textContent = "Why each observer did or did not fire";
  fill(body, async () => {
    const x = await api("GET", `api/observers/events/${encodeURIComponent(eventId)}/explain`);
    const e = x.event;
    return h(
      "div",
      {},
      h(
        "dl",
        { class: "facts" },
        [
          ["Event id", e.event_id],
          ["Change", `${e.event_type} ${e.entity_type} ${text(e.entity_id)}`],
          ["Tenant", text(e.fk_customer_org)],
          ["Time", when(e.created_at)],
        ].map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
      ),
      x.observers.length === 0 ? h("p", {}, "No observer this key can see.") : null,
      x.observers.map((o) =>
        h(
          "section",
          { class: `panel ${o.fired ? "fired" : "not-fired"}` },
          h("h2", {}, o.name, " — ", o.fired ? "fired" : `did not fire (${o.reason})`),
          h("p", {}, o.detail),
          o.condition?.root ? conditionTree(o.condition.root) : null,
          o.outcomes.length > 0
            ? table(
                `Deliveries of ${o.name}`,
                [
                  ["Time", (r) => when(r.created_at)],
                  ["Action", (r) => text(r.action_type)],
                  ["Status", (r) => r.status],
                  ["Attempt", (r) => r.attempt_number],
                  [
                    "Error",
                    (r) => (r.error_code ? `${r.error_code}: ${r.error_message ?? ""}` : "—"),
                  ],
                ],
                o.outcomes,
              )
            : null,
        ),
      ),
      h("p", {}, h("a", { href: "#/changes" }, "Back to changes")),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Keys

function keysView(heading, body) {
  heading.textContent = "API keys";
  const status = notice();
  const list = h("div");
  const created = h("div", { "aria-live": "polite" });
  const inputs = {
    name: h("input", { name: "name", required: true }),
    scope: select(
      "scope",
      [
        ["read", "read"],
        ["admin", "admin"],
      ],
      "read",
    ),
    tenant: h("input", { name: "fk_customer_org", inputmode: "numeric", pattern: "[0-9]*" }),
  };
  let current = 1;
  const load = (at = current) =>
    fill(list, async () => {
      current = at;
      const page = await api("GET", `api/keys?page=${at}&page_size=${PAGE}`);
      return paged(
        page,
        load,
        table(
          "Keys (tokens are never shown again)",
          [
            ["Name", (k) => k.name],
            ["Scope", (k) => k.scope],
            ["Tenant", (k) => text(k.fk_customer_org)],
            ["Prefix", (k) => h("code", {}, k.token_prefix)],
            ["Created", (k) => when(k.created_at)],
            ["Last used", (k) => when(k.last_used_at)],
            [
              "",
              (k) =>
                h(
                  "button",
                  {
                    type: "button",
                    "aria-label": `Revoke ${k.name}`,
                    onclick: async () => {
                      if (!confirm(`Revoke the key ${k.name}? It stops working at once.`)) return;
                      try {
                        await api("DELETE", `api/keys/${k.id}`);
                        status.show(`Revoked ${k.name}.`, "ok");
                        load();
                      } catch (error) {
                        list.prepend(problemView(error));
                      }
                    },
                  },
                  "Revoke",
                ),
            ],
          ],
          page.data,
        ),
      );
    });
  const create = async (event) => {
    event.preventDefault();
    try {
      const key = await api("POST", "api/keys", {
        name: inputs.name.value,
        scope: inputs.scope.value,
        fk_customer_org: inputs.tenant.value ? inputs.tenant.value : null,
      });
      const shown = h("input", { readonly: true, value: key.token, class: "token" });
      created.replaceChildren(
        h(
          "div",
          { class: "notice ok", role: "status" },
          field("New key's token (shown once: copy it now)", shown),
        ),
      );
      load();
    } catch (error) {
      created.replaceChildren(problemView(error));
    }
  };
  body.append(
    h(
      "form",
      { onsubmit: create, class: "row" },
      field("Name", inputs.name),
      field("Scope", inputs.scope),
      field("Tenant (optional)", inputs.tenant),
      h("button", { type: "submit" }, "Create key"),
    ),
    created,
    status,
    h("p", {}, h("button", { type: "button", onclick: () => load() }, "Refresh keys")),
    list,
  );
  load();
}

// ---------------------------------------------------------------------------------------------
// Time: scheduled observers and one-off events (docs/time.md)

const SCHEDULE = "SCHEDULE";
const ACTION_TIME_HINT =
  'Any action may wait: "delay_ms": 60000, "run_at_template": "{{ after.remind_at }}", or "debounce": {"window_ms": 5000, "key_template": "{{ entity_id }}"} (docs/time.md).';

/** The observers list's Event cell: a scheduled observer's cron and time zone. */
function eventCell(o) {
  if (o.event_type !== SCHEDULE) return text(o.event_type);
  return h("span", {}, "SCHEDULE ", h("code", {}, o.schedule), ` (${o.timezone || "UTC"})`);
}

/**
 * The schedule and time zone fields of the observer form, shown for SCHEDULE only; the entity
 * type and the condition (which a schedule has not) are hidden then.
 */
function scheduleFields(inputs, conditionField) {
  const row = h(
    "div",
    { class: "row" },
    field(
      "Schedule (cron)",
      inputs.schedule,
      "5 fields (minute hour day month weekday), or 6 with seconds first: 0 3 * * *",
    ),
    field("Time zone", inputs.timezone, "IANA, such as Europe/Paris; empty: UTC"),
  );
  const sync = () => {
    const scheduled = inputs.event_type.value === SCHEDULE;
    row.hidden = !scheduled;
    inputs.schedule.required = scheduled;
    inputs.entity_type.closest(".field").hidden = scheduled;
    conditionField.hidden = scheduled;
  };
  inputs.event_type.addEventListener("change", sync);
  // Once the form is in the page (closest needs the field around the input).
  queueMicrotask(sync);
  return row;
}

/** The schedule fields of a save: a SCHEDULE observer watches no entity and has no condition. */
function scheduleBody(inputs) {
  if (inputs.event_type.value !== SCHEDULE) return { schedule: null, timezone: null };
  return {
    schedule: inputs.schedule.value.trim(),
    timezone: inputs.timezone.value.trim() || null,
    entity_type: null,
    condition_expression: null,
  };
}

/** Schedule a one-off event: the observer's actions run once at run_at with a payload. */
function oneOffPanel(observer) {
  const runAt = h("input", { name: "run_at", type: "datetime-local", required: true });
  const payload = h("textarea", { name: "payload", rows: 3, spellcheck: "false", value: "{}" });
  const out = h("div", { "aria-live": "polite" });
  const submit = async (event) => {
    event.preventDefault();
    let data;
    try {
      data = payload.value.trim() === "" ? null : JSON.parse(payload.value);
    } catch {
      out.replaceChildren(
        h("p", { class: "notice error", role: "alert" }, "The payload must be JSON."),
      );
      return;
    }
    await fill(out, async () => {
      const r = await api("POST", `api/observers/${observer.id}/schedule`, {
        run_at: new Date(runAt.value).toISOString(),
        payload: data,
      });
      return h(
        "p",
        { class: "notice ok", role: "status" },
        `Scheduled event ${r.id} for ${when(r.run_at)}: ${r.deliveries} deliver${r.deliveries === 1 ? "y" : "ies"}.`,
      );
    });
  };
  return h(
    "section",
    { "aria-labelledby": "one-off-heading", class: "panel" },
    h("h2", { id: "one-off-heading" }, "Schedule a one-off event"),
    h(
      "p",
      { class: "muted" },
      "Runs this observer's actions once at that time, with the payload as after.payload.",
    ),
    h(
      "form",
      { onsubmit: submit, class: "stack" },
      field("Run at (your local time)", runAt),
      field("Payload (JSON)", payload),
      h("button", { type: "submit" }, "Schedule event"),
    ),
    out,
    h(
      "p",
      {},
      h("a", { href: `#/jobs/${encodeURIComponent(observer.id)}` }, "Jobs of this observer"),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Jobs (docs/jobs.md)

const JOB_STATUSES = ["pending", "running", "succeeded", "failed", "cancelled", "handed_off"];

/** Jobs, filtered by task and status (and by observer when the route names one). */
function jobsView(heading, body, observerId) {
  heading.textContent = observerId ? "Jobs of an observer" : "Jobs";
  const status = notice();
  const list = h("div");
  const inputs = {
    task: h("input", { name: "task" }),
    status: select("status", [["", "Any status"], ...JOB_STATUSES.map((s) => [s, s])], ""),
  };
  const filter = () => {
    const chosen = {};
    if (inputs.task.value.trim()) chosen.task = inputs.task.value.trim();
    if (inputs.status.value) chosen.status = inputs.status.value;
    if (observerId) chosen.observer_id = observerId;
    return chosen;
  };
  const act = async (job, verb) => {
    try {
      await api("POST", `api/jobs/${job.id}/${verb}`);
      status.show(
        `Job ${job.task} ${verb === "cancel" ? "cancelled" : "queued to run again"}.`,
        "ok",
      );
      load();
    } catch (error) {
      list.prepend(problemView(error));
    }
  };
  const cancelMatching = async () => {
    const chosen = filter();
    if (chosen.status && chosen.status !== "pending" && chosen.status !== "running") {
      status.show("Only pending or running jobs can be cancelled: choose one of those statuses.");
      return;
    }
    const what = [
      chosen.task ? `of task ${chosen.task}` : "",
      chosen.status ? `that are ${chosen.status}` : "pending or running",
      observerId ? "of this observer" : "",
    ]
      .filter(Boolean)
      .join(", ");
    if (!confirm(`Cancel every job ${what} that this key can see?`)) return;
    try {
      const r = await api("POST", "api/jobs/cancel", chosen);
      status.show(`Cancelled ${r.cancelled} job${r.cancelled === 1 ? "" : "s"}.`, "ok");
      load(1);
    } catch (error) {
      list.prepend(problemView(error));
    }
  };
  const button = (job, verb, label) =>
    h(
      "button",
      {
        type: "button",
        "aria-label": `${label} job ${job.task} ${job.id.slice(0, 8)}`,
        onclick: () => act(job, verb),
      },
      label,
    );
  const controls = (job) => {
    if (job.queue !== "builtin") return "—";
    if (job.status === "pending" || job.status === "running")
      return button(job, "cancel", "Cancel");
    if (job.status === "failed" || job.status === "cancelled") return button(job, "retry", "Retry");
    return "—";
  };
  let current = 1;
  const load = (at = current) =>
    fill(list, async () => {
      current = at;
      const query = new URLSearchParams({ page: String(at), page_size: String(PAGE), ...filter() });
      const [page, observers] = await Promise.all([
        api("GET", `api/jobs?${query}`),
        api("GET", "api/observers?page_size=100"),
      ]);
      const names = new Map(observers.data.map((o) => [o.id, o.name]));
      const observerLink = (j) =>
        j.observer_id
          ? h(
              "a",
              { href: `#/observers/${encodeURIComponent(j.observer_id)}` },
              names.get(j.observer_id) ?? j.observer_id,
            )
          : "—";
      return paged(
        page,
        load,
        table(
          `Jobs, newest first (${page.total_count})`,
          [
            ["Task", (j) => h("code", {}, j.task)],
            ["Queue", (j) => j.queue],
            ["Status", (j) => h("span", { class: `status-${j.status}` }, j.status)],
            ["Observer", observerLink],
            ["Attempts", (j) => `${j.attempts}/${j.max_attempts ?? "default"}`],
            ["Last error", (j) => text(j.last_error)],
            ["Waiting because", (j) => text(j.waiting_reason)],
            ["Created", (j) => when(j.created_at)],
            ["Due", (j) => (j.status === "pending" ? when(j.run_at) : "—")],
            ["Finished", (j) => when(j.finished_at)],
            ["", controls],
          ],
          page.data,
        ),
      );
    });
  body.append(
    h(
      "form",
      {
        class: "row filters",
        onsubmit: (event) => {
          event.preventDefault();
          load(1);
        },
      },
      field("Task", inputs.task),
      field("Status", inputs.status),
      h("button", { type: "submit" }, "Filter"),
      h("button", { type: "button", onclick: cancelMatching }, "Cancel matching jobs"),
      h("button", { type: "button", onclick: () => load() }, "Refresh"),
    ),
    ...(observerId ? [h("p", {}, h("a", { href: "#/jobs" }, "All jobs"))] : []),
    status,
    list,
  );
  load();
}

const VIEWS = {
  observers: (heading, body, id) =>
    id ? observerView(heading, body, id) : observersView(heading, body),
  deliveries: deliveriesView,
  "dead-letters": deadLettersView,
  live: liveView,
  changes: changesView,
  jobs: jobsView,
  keys: keysView,
};

window.addEventListener("hashchange", render);
render();
