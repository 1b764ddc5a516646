/**
 * The console in a real headless Chromium (@sparticuz/chromium driven by puppeteer-core) against
 * the Bun ready server as users run it (`bun adapters/hosts/bun/main.ts`) on a real PostgreSQL:
 * sign in with a key, see an observer with its stats, edit a condition with live validation,
 * watch a change arrive on the Live page, replay a dead letter, open a change's explanation, see
 * a read key's 403 handled; create a SCHEDULE observer and schedule a one-off event from the
 * observer form; list jobs, cancel one, retry a failed one and cancel by filter; hostile data (an observer name, an entity type, an entity id) shows
 * as text and never runs. Screenshots of each page go to test-results/console/ (gitignored).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import chromium from "@sparticuz/chromium";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const ARTIFACTS = join(import.meta.dirname, "../../test-results/console");
const STEP_MS = 15_000;
/** Script that would set `window.__xss` if any of it ever ran. */
const HOSTILE_NAME = `<img src=x onerror="window.__xss='name'">paid orders`;
const HOSTILE_ENTITY = `<script>window.__xss='entity'</script><img src=x onerror="window.__xss='img'">`;
const HOSTILE_ID = `"><svg onload="window.__xss='id'">`;

let db: TestDatabase;
let server: ServerProcess;
let receiver: Receiver;
let browser: Browser;
let page: Page;
let failing = true;
const pageErrors: string[] = [];
let observerId = "";

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  db = await createTestDatabase("e2e_console");
  await createOrdersTable(db.sql);
  receiver = await startReceiver(() => (failing ? { status: 503, body: "down" } : { status: 204 }));
  server = await startServer({ DATABASE_URL: db.url, OBSERVERS_POLL_INTERVAL_MS: "100" });
  const created = await server.api("/api/observers", {
    method: "POST",
    body: JSON.stringify({
      name: HOSTILE_NAME,
      entity_type: "Order",
      event_type: "INSERT",
      condition_expression: "status == 'paid'",
      actions: [{ type: "webhook", url: `${receiver.url}/hook` }],
      retry_config: { max_attempts: 1 },
    }),
  });
  expect(created.status, await created.clone().text()).toBe(201);
  observerId = ((await created.json()) as { id: string }).id;
  // A hostile change straight into the log, as any producer could write it.
  await db.sql`INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id,
    object_data) VALUES (${HOSTILE_ENTITY}, 'INSERT', ${HOSTILE_ID}, '{"x": 1}'::jsonb)`;

  browser = await puppeteer.launch({
    args: chromium.args,
    executablePath: await chromium.executablePath(),
    headless: true,
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1366, height: 860 });
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("dialog", (dialog) => {
    // Only the console's own confirm() may open; anything else would be an injected script.
    const confirmed = ["Revoke the key", "Cancel every job"];
    if (dialog.type() === "confirm" && confirmed.some((m) => dialog.message().startsWith(m))) {
      void dialog.accept();
      return;
    }
    pageErrors.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await receiver?.close();
  await db?.drop();
});

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

/** Waits until some element matching `selector` has text containing `text`. */
async function waitForText(selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    (s, t) => [...document.querySelectorAll(s)].some((e) => e.textContent?.includes(t)),
    { timeout: STEP_MS },
    selector,
    text,
  );
}

/** Clicks the button or link matching `selector` whose text is `text`. */
async function click(selector: string, text: string): Promise<void> {
  await waitForText(selector, text);
  await page.evaluate(
    (s, t) => {
      const target = [...document.querySelectorAll<HTMLElement>(s)].find(
        (e) => e.textContent?.trim() === t,
      );
      if (!target) throw new Error(`no ${s} reading ${t}`);
      target.click();
    },
    selector,
    text,
  );
}

async function go(hash: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
}

async function signIn(token: string): Promise<void> {
  await page.waitForSelector("input[name=token]", { timeout: STEP_MS });
  await page.type("input[name=token]", token);
  await page.keyboard.press("Enter");
}

/** Nothing hostile ran, and no element came out of the data. */
async function expectNoInjection(): Promise<void> {
  const injected = await page.evaluate(() => ({
    xss: (window as unknown as { __xss?: string }).__xss ?? null,
    elements: document.querySelectorAll("img, svg, main script").length,
  }));
  expect(injected).toEqual({ xss: null, elements: 0 });
  expect(pageErrors).toEqual([]);
}

describe("the console in Chromium, against the Bun ready server", () => {
  it(
    "signs in with a key and lists the observer, its hostile name shown as text",
    async () => {
      await page.goto(`${server.url}/console`);
      await shot("sign-in");
      await signIn(server.token);
      await waitForText("main table a", HOSTILE_NAME);
      // The key stays in this tab's session storage, nowhere else.
      expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
      expect(await page.evaluate(() => localStorage.length)).toBe(0);
      await expectNoInjection();
      await shot("observers");
      await click("main td button", "Disable");
      await waitForText("main td button", "Enable");
      expect((await (await server.api(`/api/observers/${observerId}`)).json()).enabled).toBe(false);
      await click("main td button", "Enable");
      await waitForText("main td button", "Disable");
      expect((await (await server.api(`/api/observers/${observerId}`)).json()).enabled).toBe(true);
    },
    STEP_MS * 2,
  );

  it(
    "validates a condition as it is typed",
    async () => {
      await go(`#/observers/${observerId}`);
      await page.waitForSelector("textarea[name=condition_expression]", { timeout: STEP_MS });
      await waitForText(".validity", "Condition is valid.");
      await page.click("textarea[name=condition_expression]", { count: 3 });
      await page.keyboard.press("End");
      await page.keyboard.type(" && total >");
      await waitForText(".validity li", "At ");
      expect(
        await page.$eval("textarea[name=condition_expression]", (e) =>
          e.getAttribute("aria-invalid"),
        ),
      ).toBe("true");
      await shot("observer-edit");
      // Pause and resume from the observer's page.
      await click("main section button", "Pause");
      await waitForText("main section p", "Paused since");
      expect((await (await server.api(`/api/observers/${observerId}`)).json()).paused).toBe(true);
      await click("main section button", "Resume");
      await waitForText("main section p", "Delivering.");
      expect((await (await server.api(`/api/observers/${observerId}`)).json()).paused).toBe(false);

      // A new observer, created from the form.
      await go("#/observers/new");
      await page.waitForSelector("input[name=name]", { timeout: STEP_MS });
      await page.type("input[name=name]", "console-made");
      await page.type("input[name=entity_type]", "Order");
      await page.type("textarea[name=condition_expression]", "total > 100");
      await waitForText(".validity", "Condition is valid.");
      await page.$eval("textarea[name=actions]", (e) => {
        (e as HTMLTextAreaElement).value = '[{"type": "log", "message_template": "{{ id }}"}]';
      });
      await click("main button", "Create observer");
      await waitForText("main h1", "Observer console-made");
      const listed = await server.api("/api/observers?entity_type=Order&page_size=100");
      const names = ((await listed.json()) as { data: { name: string }[] }).data.map((o) => o.name);
      expect(names).toContain("console-made");
    },
    STEP_MS * 2,
  );

  it(
    "shows a change arriving live, and the failed delivery",
    async () => {
      await go("#/live");
      await waitForText(".notice", "Connected");
      await db.sql`INSERT INTO orders (status, total) VALUES ('paid', 10)`;
      await waitForText(".feed li.change", "INSERT Order");
      await waitForText(".feed li.execution", "failed");
      await shot("live");
      // Reconnecting resumes after the last message: nothing twice.
      await click("main form button", "Reconnect");
      await waitForText(".notice", "Connected");
      await db.sql`INSERT INTO orders (status, total) VALUES ('new', 1)`;
      await page.waitForFunction(() => document.querySelectorAll(".feed li.change").length === 2, {
        timeout: STEP_MS,
      });
      const changes = await page.$$eval(".feed li.change a", (links) =>
        links.map((a) => a.getAttribute("href")),
      );
      expect(new Set(changes).size).toBe(2);
    },
    STEP_MS * 2,
  );

  it(
    "lists the delivery attempt with its status code and error",
    async () => {
      await go("#/deliveries");
      await waitForText("main td", "HTTP_STATUS: HTTP 503");
      await waitForText("main td", "failed");
      await shot("deliveries");
    },
    STEP_MS,
  );

  it(
    "lists the dead letter and replays it with Retry",
    async () => {
      await go("#/dead-letters");
      await waitForText("main td", "503");
      await shot("dead-letters");
      failing = false;
      const before = receiver.requests.length;
      await click("main td button", "Retry");
      await waitForText(".notice", "Retry queued for 1 dead letter.");
      const deadline = Date.now() + STEP_MS;
      while (receiver.requests.length === before && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(receiver.requests.length).toBeGreaterThan(before);
      // Replayed successfully: the queue empties.
      const emptied = Date.now() + STEP_MS;
      for (;;) {
        await click("main button", "Refresh");
        await page.waitForSelector("main table", { timeout: STEP_MS });
        const first = await page.$eval("main tbody td", (e) => e.textContent);
        if (first === "Nothing yet.") break;
        if (Date.now() > emptied) throw new Error("the dead letter is still queued");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await shot("dead-letters-replayed");
    },
    STEP_MS * 3,
  );

  it(
    "lists changes, hostile ones as text, and opens a change's explanation",
    async () => {
      await go("#/changes");
      await waitForText("main td", "Order");
      await waitForText("main td", HOSTILE_ENTITY);
      await waitForText("main td", HOSTILE_ID);
      await expectNoInjection();
      await shot("changes");
      // The paid order's change (order 1): its row's Explain link.
      await page.evaluate(() => {
        const row = [...document.querySelectorAll("main tbody tr")].find(
          (r) => r.children[1]?.textContent === "Order" && r.children[2]?.textContent === "1",
        );
        row?.querySelector<HTMLAnchorElement>("a")?.click();
      });
      await waitForText("main h2", `${HOSTILE_NAME} — fired`);
      await waitForText("main td", "success");
      await expectNoInjection();
      await shot("explanation");
    },
    STEP_MS * 2,
  );

  it(
    "backtests an observer over recent changes and tests it against one change",
    async () => {
      await go(`#/observers/${observerId}`);
      await page.waitForSelector("input[name=hours]", { timeout: STEP_MS });
      await click("main button", "Backtest");
      // Orders 1 (paid) and 2 (new) were inserted: it fires for the paid one.
      await waitForText(".result", "Would have fired for 1 of 2 changes");
      const listed = await server.api("/api/observers/changes?entity_type=Order&entity_id=1");
      const [change] = ((await listed.json()) as { data: { event_id: string }[] }).data;
      await page.type("input[name=event_id]", change?.event_id ?? "");
      await click("main button", "Test against change");
      await waitForText(".result", "Fires: ");
      await waitForText(".tree", "status == 'paid'");
      await shot("observer-test");
    },
    STEP_MS * 2,
  );

  it(
    "creates a key, shows its token once, and revokes it",
    async () => {
      await go("#/keys");
      await page.waitForSelector("main form input[name=name]", { timeout: STEP_MS });
      await page.type("main form input[name=name]", "ci-reader");
      await page.select("main form select[name=scope]", "read");
      await click("main form button", "Create key");
      await page.waitForSelector("input.token", { timeout: STEP_MS });
      const token = await page.$eval("input.token", (e) => (e as HTMLInputElement).value);
      const shown = await fetch(`${server.url}/api/observers`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(shown.status).toBe(200);
      await waitForText("main td", "ci-reader");
      await shot("keys");
      await page.click('main td button[aria-label="Revoke ci-reader"]');
      await waitForText(".notice", "Revoked ci-reader.");
      const revoked = await fetch(`${server.url}/api/observers`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(revoked.status).toBe(401);

      // Past one page (50), the list pages.
      await Promise.all(
        Array.from({ length: 51 }, (_, i) =>
          insertApiKey(db.client, { name: `bulk-${i}`, scope: "read" }),
        ),
      );
      await click("main button", "Refresh keys");
      await waitForText("main nav span", "Page 1 of 2");
      await click("main nav button", "Next page");
      await waitForText("main nav span", "Page 2 of 2");
    },
    STEP_MS * 2,
  );

  it(
    "creates a SCHEDULE observer from the form, lists its schedule, and schedules a one-off event",
    async () => {
      await go("#/observers/new");
      await page.waitForSelector("input[name=name]", { timeout: STEP_MS });
      const hidden = (selector: string) =>
        page.$eval(selector, (e) => !(e as HTMLElement).checkVisibility());
      expect(await hidden("input[name=schedule]")).toBe(true);
      expect(await hidden("input[name=entity_type]")).toBe(false);
      await page.type("input[name=name]", "nightly-console");
      await page.select("select[name=event_type]", "SCHEDULE");
      // A schedule watches no entity and has no condition: those fields give way to its own.
      expect(await hidden("input[name=schedule]")).toBe(false);
      expect(await hidden("input[name=entity_type]")).toBe(true);
      expect(await hidden("textarea[name=condition_expression]")).toBe(true);
      await page.type("input[name=schedule]", "0 3 * * *");
      await page.type("input[name=timezone]", "Europe/Paris");
      await page.$eval("textarea[name=actions]", (e) => {
        (e as HTMLTextAreaElement).value =
          '[{"type": "log", "message_template": "tick", "delay_ms": 1000}]';
      });
      await shot("observer-schedule");
      await click("main button", "Create observer");
      await waitForText("main h1", "Observer nightly-console");
      const listed = await server.api("/api/observers?page_size=100");
      const made = ((await listed.json()) as { data: Record<string, unknown>[] }).data.find(
        (o) => o.name === "nightly-console",
      );
      expect(made).toMatchObject({
        event_type: "SCHEDULE",
        schedule: "0 3 * * *",
        timezone: "Europe/Paris",
        entity_type: null,
        condition_expression: null,
      });
      expect(await page.$eval("input[name=schedule]", (e) => (e as HTMLInputElement).value)).toBe(
        "0 3 * * *",
      );

      // A one-off event an hour from now, with a payload.
      await page.$eval("input[name=run_at]", (e) => {
        const at = new Date(Date.now() + 3_600_000);
        at.setMinutes(at.getMinutes() - at.getTimezoneOffset());
        (e as HTMLInputElement).value = at.toISOString().slice(0, 16);
      });
      await page.$eval("textarea[name=payload]", (e) => {
        (e as HTMLTextAreaElement).value = '{"note": "renew"}';
      });
      await click("main button", "Schedule event");
      await waitForText(".notice", "1 delivery");
      const [event] = await db.sql`SELECT e.payload FROM core.tb_observer_event e
        JOIN core.tb_observer o ON o.pk_observer = e.fk_observer
        WHERE o.id = ${String(made?.id)}::uuid AND e.kind = 'one_off'`;
      expect(event?.payload).toEqual({ note: "renew" });
      await shot("observer-one-off");

      await go("#/observers");
      await waitForText("main td code", "0 3 * * *");
      await waitForText("main td", "(Europe/Paris)");
    },
    STEP_MS * 2,
  );

  it(
    "lists jobs with why they wait, cancels one, retries a failed one, cancels by filter, and pages",
    async () => {
      // No process registers `console-report`: its jobs wait, visibly.
      const created = await server.api("/api/observers", {
        method: "POST",
        body: JSON.stringify({
          name: "reports",
          entity_type: "Order",
          event_type: "INSERT",
          actions: [{ type: "job", task: "console-report" }],
        }),
      });
      expect(created.status, await created.clone().text()).toBe(201);
      await db.sql`INSERT INTO orders (status, total) VALUES ('new', 1), ('new', 2), ('new', 3)`;
      const jobs = async (query: string) =>
        (
          (await (await server.api(`/api/jobs?${query}`)).json()) as {
            data: { id: string; status: string; attempts: number }[];
          }
        ).data;
      const deadline = Date.now() + STEP_MS;
      while ((await jobs("task=console-report")).length < 3) {
        if (Date.now() > deadline) throw new Error("the three jobs were not enqueued");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const [first, , third] = await jobs("task=console-report");
      // One ran out of attempts (as a handler failing every time leaves it).
      await db.sql`UPDATE core.tb_job SET status = 'failed', attempts = 5, finished_at = now(),
        last_error = 'Error: the report service is down' WHERE id = ${String(third?.id)}::uuid`;

      await go("#/jobs");
      await waitForText("main td", "no live process has registered task console-report");
      await waitForText("main td", "Error: the report service is down");
      await waitForText("main td a", "reports");
      await shot("jobs");
      const label = (verb: string, id = "") => `${verb} job console-report ${id.slice(0, 8)}`;
      const press = async (aria: string) => {
        const selector = `main td button[aria-label="${aria}"]`;
        await page.waitForSelector(selector, { timeout: STEP_MS });
        await page.click(selector);
      };
      await press(label("Cancel", first?.id));
      await waitForText(".notice", "Job console-report cancelled.");
      expect((await jobs("status=cancelled")).map((j) => j.id)).toEqual([first?.id]);

      await press(label("Retry", third?.id));
      await waitForText(".notice", "Job console-report queued to run again.");
      const retried = (await jobs("task=console-report")).find((j) => j.id === third?.id);
      expect(retried).toMatchObject({ status: "pending", attempts: 0 });

      // Cancel by filter, after a confirm: the two pending ones.
      await page.type("main form input[name=task]", "console-report");
      await page.select("main form select[name=status]", "pending");
      await click("main form button", "Filter");
      await click("main form button", "Cancel matching jobs");
      await waitForText(".notice", "Cancelled 2 jobs.");
      expect(await jobs("task=console-report&status=pending")).toEqual([]);
      expect(await jobs("task=console-report&status=cancelled")).toHaveLength(3);
      await shot("jobs-cancelled");

      // Past one page (50), the list pages; with no filter, every task's.
      await db.sql`INSERT INTO core.tb_job (task, payload, status, finished_at)
        SELECT 'bulk-' || i, '{}', 'succeeded', now() FROM generate_series(1, 50) AS i`;
      await page.select("main form select[name=status]", "");
      await page.$eval("main form input[name=task]", (e) => {
        (e as HTMLInputElement).value = "";
      });
      await click("main form button", "Filter");
      await waitForText("main nav span", "Page 1 of 2");
      await click("main nav button", "Next page");
      await waitForText("main nav span", "Page 2 of 2");
      await waitForText("main td code", "console-report");
    },
    STEP_MS * 2,
  );

  it(
    "answers a read key's forbidden page with the reason, not a broken page",
    async () => {
      const created = await server.api("/api/keys", {
        method: "POST",
        body: JSON.stringify({ name: "reader", scope: "read", fk_customer_org: 7 }),
      });
      const { token } = (await created.json()) as { token: string };
      await click("header button", "Sign out");
      await signIn(token);
      await go("#/keys");
      await waitForText("[role=alert]", "This key may not do this (403)");
      // Its tenant has no observer: the list is empty, not another tenant's.
      await go("#/observers");
      await waitForText("main td", "Nothing yet.");
      await shot("read-key");
      // Jobs too: its tenant's only (none), and a cancel is refused with the reason.
      await go("#/jobs");
      await waitForText("main td", "Nothing yet.");
      await click("main form button", "Cancel matching jobs");
      await waitForText("[role=alert]", "This key may not do this (403)");
      await expectNoInjection();
    },
    STEP_MS * 2,
  );
});
