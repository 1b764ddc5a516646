/**
 * The contract every runtime keeps (docs/api.md and docs/delivery.md; DESIGN
 * sections 5 and 6), written once and run against each target (bun.test.ts, deno.test.ts,
 * workers.test.ts): a real PostgreSQL database of its own, a real webhook receiver on 127.0.0.1,
 * observers created through the API and rows inserted by another connection. Every wait polls
 * and calls `target.tick()` on each round (see target.ts): nothing sleeps blindly.
 */
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectConsoleServed } from "../support/console-check.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { expectDocsServed } from "../support/docs-check.ts";
import {
  attemptUpgrade,
  connectLive,
  type LiveClient,
  type LiveMessage,
} from "../support/live-client.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { type ReceivedRequest, useReceiver } from "../support/receiver.ts";
import type { ContractTarget, StartTarget } from "./target.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/** How long any one wait may take (a cron-driven target needs a few ticks). */
const WAIT_MS = 20_000;
/** A test may wait twice, and a wait that fails should report itself, not the test's timeout. */
const TEST_MS = 3 * WAIT_MS;

/** A dead letter as `GET /api/observers/dlq` lists it (the fields the suite reads). */
interface DeadLetter {
  id: string;
  observer_id: string | null;
  delivery_id: string;
  attempts: number;
  max_attempts: number;
  response_status_code: number | null;
  status: string;
}

interface Page<T> {
  data: T[];
  total_count: number;
}

/** The end of a runtime's output, enough to see why a wait failed. */
function tail(output: string, chars = 6_000): string {
  return output.length > chars ? `...${output.slice(-chars)}` : output;
}

/** The headers of a received webhook as the standardwebhooks package wants them. */
function webhookHeaders(request: ReceivedRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
    const value = request.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  return headers;
}

/**
 * Defines `describe(name)`: one target started by `start` on a fresh database for the whole
 * block, stopped afterwards.
 */
export function contractSuite(name: string, start: StartTarget): void {
  describe(`the ${name} runtime keeps the contract`, () => {
    // `/fail...` answers 500 while `failing` is set; everything else 204.
    let failing = true;
    const receiver = useReceiver((request) =>
      request.path.startsWith("/fail") && failing ? { status: 500, body: "down" } : { status: 204 },
    );
    let db: TestDatabase;
    let target: ContractTarget;
    const observers: string[] = [];
    const clients: LiveClient[] = [];

    beforeAll(async () => {
      db = await createTestDatabase(`contract_${name}`);
      await createOrdersTable(db.sql);
      target = await start(db);
      // A cron-driven target records where it starts reading on its first run.
      await target.tick();
    }, 120_000);

    afterAll(async () => {
      try {
        await target?.stop();
      } finally {
        await db?.drop();
      }
    }, 60_000);

    afterEach(async () => {
      failing = true;
      for (const client of clients.splice(0)) await client.close();
      for (const id of observers.splice(0)) {
        const response = await api(`/api/observers/${id}`, { method: "DELETE" });
        expect(response.status, `DELETE observer ${id}`).toBe(204);
      }
    });

    /** `fetch` against the target's API with the admin token (JSON bodies). */
    function api(path: string, init: RequestInit = {}): Promise<Response> {
      const headers = new Headers(init.headers);
      headers.set("authorization", `Bearer ${target.adminToken}`);
      if (init.body) headers.set("content-type", "application/json");
      return fetch(`${target.apiUrl}${path}`, { ...init, headers });
    }

    async function json<T>(response: Response, status: number, what: string): Promise<T> {
      const text = await response.text();
      expect(response.status, `${what}: ${text}`).toBe(status);
      return JSON.parse(text) as T;
    }

    /** Polls `check` (a value other than undefined ends the wait), ticking the target each round. */
    function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined) {
      return eventually(
        async () => {
          await target.tick();
          return check();
        },
        `${what} (${target.name})`,
        WAIT_MS,
      ).catch((error: unknown) => {
        throw new Error(
          `${String(error)}\n--- ${target.name} printed last:\n${tail(target.output())}`,
        );
      });
    }

    /** Creates an observer through the API; deleted through the API after the test. */
    async function createObserver(body: Record<string, unknown>): Promise<string> {
      const created = await json<{ id: string }>(
        await api("/api/observers", { method: "POST", body: JSON.stringify(body) }),
        201,
        "POST /api/observers",
      );
      observers.push(created.id);
      return created.id;
    }

    /** The receiver's requests to paths starting with `prefix`. */
    const received = (prefix: string) => receiver.requests.filter((r) => r.path.startsWith(prefix));

    async function deadLetters(observerId: string): Promise<DeadLetter[]> {
      const page = await json<Page<DeadLetter>>(
        await api(`/api/observers/dlq?observer_id=${observerId}`),
        200,
        "GET /api/observers/dlq",
      );
      return page.data;
    }

    function live(params: Record<string, string>): LiveClient {
      const client = connectLive(target.wsUrl, {
        token: target.adminToken,
        auth: "query",
        params,
      });
      clients.push(client);
      return client;
    }

    it(
      "answers its health without a token, as JSON with the lag",
      async () => {
        const response = await fetch(`${target.apiUrl}/api/observers/runtime/health`);
        expect(response.headers.get("content-type")).toContain("json");
        const health = (await response.json()) as Record<string, unknown>;
        expect(health).toMatchObject({
          running: expect.any(Boolean),
          lag: {
            pending_changes: expect.any(Number),
            due_deliveries: expect.any(Number),
            oldest_pending_ms: expect.any(Number),
          },
        });
        // 200 exactly when running, 503 otherwise: whatever a runtime means by running.
        expect(response.status).toBe(health.running ? 200 : 503);
      },
      TEST_MS,
    );

    it(
      "serves its docs from the package at /api/observers/docs and /docs, links relative",
      async () => {
        // The ready servers set rootDocs; the assets come out of the runtime's own bundle.
        await expectDocsServed(fetch, `${target.apiUrl}/api/observers/docs`, target.apiUrl);
        await expectDocsServed(fetch, `${target.apiUrl}/docs/`, target.apiUrl);
      },
      TEST_MS,
    );

    it(
      "serves its console from the package at /api/observers/console and /console",
      async () => {
        // The ready servers set rootDocs; the assets come out of the runtime's own bundle.
        const api = target.apiUrl;
        await expectConsoleServed(fetch, `${api}/api/observers/console`, api);
        await expectConsoleServed(fetch, `${api}/console`, api);
      },
      TEST_MS,
    );

    it(
      "refuses requests and WebSocket upgrades without a token: 401 UNAUTHORIZED",
      async () => {
        const list = await fetch(`${target.apiUrl}/api/observers`);
        expect(list.status).toBe(401);
        expect(list.headers.get("content-type")).toContain("application/problem+json");
        expect(await list.json()).toMatchObject({ status: 401, code: "UNAUTHORIZED" });

        const upgrade = await attemptUpgrade(target.wsUrl, { token: null });
        expect(upgrade.status).toBe(401);
        expect(upgrade.headers["content-type"]).toContain("application/problem+json");
        expect(JSON.parse(upgrade.body)).toMatchObject({ status: 401, code: "UNAUTHORIZED" });

        const refused = connectLive(target.wsUrl, { token: null });
        clients.push(refused);
        await expect(refused.opened).rejects.toThrow();
        expect(refused.messages).toEqual([]);
      },
      TEST_MS,
    );

    it(
      "delivers an inserted row as a signed webhook to an observer created through the API",
      async () => {
        const observerId = await createObserver({
          name: "contract-webhook",
          entity_type: "Order",
          event_type: "INSERT",
          condition_expression: "status == 'contract-webhook'",
          actions: [{ type: "webhook", url: `${receiver.url}/hook`, signing_secret: SECRET }],
        });
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-webhook', 42)`;
        const [request] = await until("the webhook", () => {
          const hooks = received("/hook");
          return hooks.length > 0 ? hooks : undefined;
        });
        if (!request) throw new Error("unreachable");
        const headers = webhookHeaders(request);
        expect(headers["webhook-id"]).toBeTruthy();
        expect(headers["webhook-timestamp"]).toMatch(/^\d+$/);
        expect(headers["webhook-signature"]).toMatch(/^v1,/);
        // Throws unless the signature verifies over the exact body, id and timestamp.
        const verified = new Webhook(SECRET).verify(request.text, headers);
        expect(verified).toMatchObject({
          entity_type: "Order",
          event_type: "INSERT",
          observer: { id: observerId, name: "contract-webhook" },
          after: { status: "contract-webhook", total: 42 },
        });
        expect(() => new Webhook(SECRET).verify(`${request.text} `, headers)).toThrow();
      },
      TEST_MS,
    );

    it(
      "retries a failing webhook, dead-letters it, and replays it under the same webhook-id",
      async () => {
        const observerId = await createObserver({
          name: "contract-dlq",
          entity_type: "Order",
          event_type: "INSERT",
          condition_expression: "status == 'contract-dlq'",
          actions: [{ type: "webhook", url: `${receiver.url}/fail`, signing_secret: SECRET }],
          retry_config: {
            max_attempts: 2,
            backoff_strategy: "fixed",
            initial_delay_ms: 10,
            max_delay_ms: 10,
          },
        });
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-dlq', 7)`;
        const [dead] = await until("the dead letter", async () => {
          const items = await deadLetters(observerId);
          return items.length > 0 ? items : undefined;
        });
        if (!dead) throw new Error("unreachable");
        const attempts = received("/fail");
        expect(attempts).toHaveLength(2);
        const ids = attempts.map((r) => r.headers["webhook-id"]);
        expect(ids[0]).toBeTruthy();
        expect(ids[1]).toBe(ids[0]);
        expect(dead).toMatchObject({
          observer_id: observerId,
          delivery_id: ids[0],
          attempts: 2,
          max_attempts: 2,
          response_status_code: 500,
          status: "pending",
        });

        // Fix the target, then replay: one more delivery, same id, and the dead letter is gone.
        failing = false;
        const retried = await api(`/api/observers/dlq/${dead.id}/retry`, { method: "POST" });
        expect(retried.status, await retried.text()).toBe(202);
        await until("the replay to succeed", async () => {
          if (received("/fail").length < 3) return undefined;
          return (await deadLetters(observerId)).length === 0 ? true : undefined;
        });
        const all = received("/fail");
        expect(all).toHaveLength(3);
        const replay = all[2] as ReceivedRequest;
        expect(replay.headers["webhook-id"]).toBe(ids[0]);
        expect(new Webhook(SECRET).verify(replay.text, webhookHeaders(replay))).toMatchObject({
          after: { status: "contract-dlq" },
        });
      },
      TEST_MS,
    );

    it(
      "holds a paused observer's deliveries (created, not sent) and delivers them on resume",
      async () => {
        const observerId = await createObserver({
          name: "contract-pause",
          entity_type: "Order",
          event_type: "INSERT",
          condition_expression: "status == 'contract-pause'",
          actions: [{ type: "webhook", url: `${receiver.url}/pause` }],
        });
        const paused = await json<{ paused: boolean }>(
          await api(`/api/observers/${observerId}/pause`, { method: "POST" }),
          200,
          "POST pause",
        );
        expect(paused.paused).toBe(true);
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-pause', 1)`;
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-pause', 2)`;
        // Matched and created, then held by the claims: nothing reaches the receiver.
        await until("two held deliveries", async () => {
          const rows = await db.sql<{ held: boolean | null }[]>`
            SELECT d.held FROM core.tb_observer_delivery d
            JOIN core.tb_observer o ON o.pk_observer = d.fk_observer
            WHERE o.id = ${observerId}::uuid`;
          return rows.length === 2 && rows.every((r) => r.held) ? true : undefined;
        });
        await target.tick();
        expect(received("/pause")).toHaveLength(0);

        const resumed = await json<{ paused: boolean }>(
          await api(`/api/observers/${observerId}/resume`, { method: "POST" }),
          200,
          "POST resume",
        );
        expect(resumed.paused).toBe(false);
        await until("the held webhooks", () => (received("/pause").length >= 2 ? true : undefined));
        const totals = received("/pause").map(
          (r) => (JSON.parse(r.text) as { after: { total: number } }).after.total,
        );
        expect(totals.sort()).toEqual([1, 2]);
      },
      TEST_MS,
    );

    it(
      "replays a time range: a dry run counts, a replay delivers again under new webhook-ids",
      async () => {
        const observerId = await createObserver({
          name: "contract-replay",
          entity_type: "Order",
          event_type: "INSERT",
          condition_expression: "status == 'contract-replay'",
          actions: [{ type: "webhook", url: `${receiver.url}/replay` }],
        });
        const [start] = await db.sql<{ at: string }[]>`SELECT now()::text AS at`;
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-replay', 1)`;
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-replay-not', 2)`;
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-replay', 3)`;
        await until("the live webhooks", () =>
          received("/replay").length >= 2 ? true : undefined,
        );
        const [end] = await db.sql<
          { at: string }[]
        >`SELECT (now() + interval '1 second')::text AS at`;
        const range = {
          since: new Date(start?.at ?? "").toISOString(),
          until: new Date(end?.at ?? "").toISOString(),
        };
        const dry = await json<Record<string, unknown>>(
          await api(`/api/observers/${observerId}/replay`, {
            method: "POST",
            body: JSON.stringify({ ...range, dry_run: true }),
          }),
          200,
          "POST replay (dry run)",
        );
        expect(dry).toEqual({ dry_run: true, ...range, considered: 3, matched: 2, deliveries: 2 });
        // A dry run creates nothing.
        const listed = await json<Page<unknown>>(
          await api(`/api/observers/${observerId}/replays`),
          200,
          "GET replays",
        );
        expect(listed.data).toEqual([]);

        const replay = await json<{ id: string; status: string }>(
          await api(`/api/observers/${observerId}/replay`, {
            method: "POST",
            body: JSON.stringify(range),
          }),
          202,
          "POST replay",
        );
        expect(replay.status).toBe("running");
        const done = await until("the replay to end", async () => {
          const progress = await json<{ status: string }>(
            await api(`/api/observers/replays/${replay.id}`),
            200,
            "GET replay",
          );
          return progress.status === "running" ? undefined : progress;
        });
        expect(done).toMatchObject({ status: "done", scanned: 3, matched: 2, created: 2 });
        await until("the replayed webhooks", () =>
          received("/replay").length >= 4 ? true : undefined,
        );
        const hooks = received("/replay");
        expect(hooks).toHaveLength(4);
        const ids = new Set(hooks.map((r) => r.headers["webhook-id"]));
        expect(ids.size).toBe(4);
      },
      TEST_MS,
    );

    it(
      "streams an inserted row to a live WebSocket subscriber after ready",
      async () => {
        const client = live({ entity_type: "Order", event_type: "INSERT", payload: "full" });
        await client.opened;
        await until("ready", () => client.of("ready")[0]);
        await db.sql`INSERT INTO orders (status, total) VALUES ('contract-live', 3)`;
        const isMine = (m: LiveMessage) =>
          m.type === "change" &&
          (m.after as { status?: string } | null)?.status === "contract-live";
        const change = await until("the change message", () => client.messages.find(isMine));
        expect(change).toMatchObject({
          type: "change",
          entity_type: "Order",
          event_type: "INSERT",
          cursor: expect.any(String),
          event_id: expect.any(String),
          after: { status: "contract-live", total: 3 },
        });
        // Sent after ready, never before.
        const ready = client.messages.findIndex((m) => m.type === "ready");
        expect(client.messages.indexOf(change)).toBeGreaterThan(ready);
      },
      TEST_MS,
    );
  });
}
