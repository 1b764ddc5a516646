/**
 * on_dead_letter against a real PostgreSQL and real receivers (docs/delivery.md): a dead-lettered
 * delivery runs the observer's on_dead_letter actions once, with the failure in the event (default
 * body and templates); a failing on_dead_letter action is dead-lettered itself and runs nothing
 * again (no loop); replaying the dead letter and failing again reports again under a new id.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { getDeadLetter } from "../../src/store/dead-letters.ts";
import { retryDeadLetter } from "../../src/store/dlq-replay.ts";
import { explainStoredEvent } from "../../src/store/inspect.ts";
import { listLogs } from "../../src/store/logs.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

let db: TestDatabase;
let runtime: ObserverRuntime | undefined;
const receivers: Receiver[] = [];

beforeAll(async () => {
  db = await createTestDatabase("on_dead_letter");
  await createOrdersTable(db.sql);
});
afterAll(() => db?.drop());
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await db.sql`UPDATE core.tb_observer SET deleted_at = now() WHERE deleted_at IS NULL`;
});

async function receiver(status: number): Promise<Receiver> {
  const r = await startReceiver(() => ({ status }));
  receivers.push(r);
  return r;
}

async function start(): Promise<void> {
  runtime = createObserverRuntime({
    sql: db.client,
    environment: testEnvironment(),
    pollIntervalMs: 50,
    leaseMs: 10_000,
    shutdownTimeoutMs: 500,
  });
  await runtime.start();
}

async function observerWithAlerts(name: string, target: string, alerts: unknown[]) {
  const id = await insertObserver(db.sql, {
    name,
    retry_config: { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 20 },
    actions: [webhook(target)],
  });
  await db.sql`UPDATE core.tb_observer SET on_dead_letter = ${JSON.stringify(alerts)}::text::jsonb
    WHERE id = ${id}::uuid`;
  return id;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("on_dead_letter", () => {
  it("runs once per dead letter with the failure in the event, and a failing one does not loop", async () => {
    const failing = await receiver(503);
    const onCall = await receiver(204);
    const chat = await receiver(400);
    const id = await observerWithAlerts("alerting", `${failing.url}/hook`, [
      webhook(`${onCall.url}/page`),
      webhook(`${chat.url}/chat`, {
        body_template:
          '{"text": "{{ dead_letter.observer.name }}: {{ dead_letter.error_code }} after {{ dead_letter.attempts }} attempts on order {{ after.id }}"}',
      }),
    ]);
    await start();
    await db.sql`INSERT INTO orders (total) VALUES (42)`;

    const [page] = await onCall.waitFor(1);
    await chat.waitFor(1);
    const body = JSON.parse(page?.text ?? "{}");
    const [dead] = await db.sql<{ id: string; delivery_id: string }[]>`
      SELECT id::text AS id, delivery_id::text AS delivery_id FROM core.tb_observer_dlq
      WHERE dead_letter IS NULL`;
    expect(body.dead_letter).toMatchObject({
      dead_letter_id: dead?.id,
      observer: { id, name: "alerting" },
      action_index: 0,
      action_type: "webhook",
      delivery_id: dead?.delivery_id,
      attempts: 2,
      max_attempts: 2,
      error_code: "HTTP_STATUS",
      http_status: 503,
    });
    expect(body.after).toMatchObject({ total: 42 });
    expect(body.entity_type).toBe("Order");
    expect(page?.headers["webhook-id"]).not.toBe(dead?.delivery_id);
    expect(JSON.parse(chat.requests[0]?.text ?? "{}")).toEqual({
      text: expect.stringMatching(/^alerting: HTTP_STATUS after 2 attempts on order \d+$/),
    });

    // The chat action failed for good: dead-lettered itself, and nothing runs again.
    await eventually(async () => {
      const [n] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM core.tb_observer_dlq WHERE dead_letter IS NOT NULL`;
      return n?.n === 1 ? true : undefined;
    }, "the failed on_dead_letter action dead-lettered");
    await sleep(300);
    expect(onCall.requests).toHaveLength(1);
    expect(chat.requests).toHaveLength(1);
    const [left] = await db.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
    expect(left?.n).toBe(0);

    // Replaying the original dead letter, failing again: reported again, under a new webhook-id.
    expect(await retryDeadLetter(db.client, dead?.id ?? "")).toBe(true);
    runtime?.wake();
    await onCall.waitFor(2);
    expect(onCall.requests[1]?.headers["webhook-id"]).not.toBe(page?.headers["webhook-id"]);
    // Replaying the failed on_dead_letter action runs that action again, with its failure.
    const [alertDead] = await db.sql<{ id: string }[]>`
      SELECT id::text AS id FROM core.tb_observer_dlq WHERE dead_letter IS NOT NULL`;
    expect(await getDeadLetter(db.client, alertDead?.id ?? "")).toMatchObject({
      on_dead_letter: true,
      reports: dead?.id,
      action_index: 1,
    });
    expect(await getDeadLetter(db.client, dead?.id ?? "")).toMatchObject({
      on_dead_letter: false,
      reports: null,
    });
    chat.reply(() => ({ status: 204 }));
    expect(await retryDeadLetter(db.client, alertDead?.id ?? "")).toBe(true);
    runtime?.wake();
    await eventually(() => (chat.requests.length >= 3 ? true : undefined), "the replayed chat");
    for (const request of chat.requests) {
      expect(JSON.parse(request.text).text).toMatch(/^alerting: HTTP_STATUS/);
    }
  });

  it("marks its attempts in the logs and the explanation: action 0 of on_dead_letter is not action 0", async () => {
    const refusing = await receiver(400);
    const onCall = await receiver(204);
    const id = await observerWithAlerts("marked", `${refusing.url}/hook`, [
      webhook(`${onCall.url}/page`),
    ]);
    await start();
    await db.sql`INSERT INTO orders (total) VALUES (7)`;
    await onCall.waitFor(1);
    const rows = await eventually(async () => {
      const page = await listLogs(db.client, { observerId: id, page: 1, pageSize: 10 });
      return page.data.length === 2 ? page.data : undefined;
    }, "both attempts logged");
    // Both are action_index 0: one of actions (refused), one of on_dead_letter (delivered).
    expect(rows.map((r) => [r.action_index, r.status, r.on_dead_letter]).sort()).toEqual([
      [0, "failed", false],
      [0, "success", true],
    ]);
    const [logged] = await db.sql<{ event_id: string }[]>`
      SELECT event_id::text AS event_id FROM core.tb_observer_log l
      JOIN core.tb_observer o ON o.pk_observer = l.fk_observer WHERE o.id = ${id}::uuid LIMIT 1`;
    const explained = await explainStoredEvent(db.client, logged?.event_id ?? "", {});
    const outcomes = explained.observers.find((o) => o.observer_id === id)?.outcomes ?? [];
    expect(outcomes.map((o) => [o.status, o.on_dead_letter]).sort()).toEqual([
      ["failed", false],
      ["success", true],
    ]);
  });
});
