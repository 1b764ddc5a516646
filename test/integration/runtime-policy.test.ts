/**
 * The action policy at execution time, in the real runtime against PostgreSQL: observers written
 * straight into the table (never checked by the API) that name the server's own variables, or a
 * variable their tenant was not given, dead-letter at once with SECRET_NOT_ALLOWED. The variable
 * is never read, nothing is sent, and its value appears in no log row, dead letter, delivery row
 * or log line. An observer naming an opened variable still delivers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import type { Logger } from "../../src/ports/logger.ts";
import { createObserverRuntime, type ObserverRuntime } from "../../src/runtime/index.ts";
import { testEnvironment } from "../support/actions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually, insertObserver, webhook } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";

const receiver = useReceiver(() => ({ status: 204 }));
const ADMIN_TOKEN = "admin-token-value-that-must-never-leave";
const DATABASE_URL = "postgres://observers:db-password-never-shown@db.internal:5432/app";
const SLACK_PATH = "/services/T000/B000/slack-token-never-shown";
const VALUES = [ADMIN_TOKEN, "db-password-never-shown", "slack-token-never-shown"];

const reads: string[] = [];
const lines: string[] = [];
let db: TestDatabase;
let runtime: ObserverRuntime | undefined;

beforeAll(async () => {
  db = await createTestDatabase("runtime_policy");
  await createOrdersTable(db.sql);
});
afterAll(async () => {
  await runtime?.stop();
  await db?.drop();
});

describe("an observer stored before the policy", () => {
  it("fails permanently with SECRET_NOT_ALLOWED and its value is nowhere", async () => {
    const env = new Proxy<Record<string, string>>(
      {
        OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN,
        DATABASE_URL,
        OBSERVERS_SECRET_SLACK: `${receiver.url}${SLACK_PATH}`,
        OBSERVERS_SECRET_HOOK: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      },
      {
        get(target, name) {
          if (typeof name === "string") reads.push(name);
          return Reflect.get(target, name);
        },
      },
    );
    const logger: Logger = {
      log(level, message, fields) {
        lines.push(JSON.stringify({ level, message, ...fields }));
      },
    };
    const hook = `${receiver.url}/hook`;
    const refused = {
      admin: await insertObserver(db.sql, {
        name: "reads-the-admin-token",
        actions: [webhook(hook, { signing_secret_env: "OBSERVERS_ADMIN_TOKEN" })],
      }),
      database: await insertObserver(db.sql, {
        name: "reads-the-database-url",
        fk_customer_org: 7,
        actions: [
          {
            type: "email",
            provider: "resend",
            base_url: receiver.url,
            api_key_env: "DATABASE_URL",
            to: "ops@example.com",
            from: "shop@example.com",
            subject: "Order",
            body_template: "{{ id }}",
          },
        ],
      }),
      // A global secret is still out of reach for a tenant's observer.
      tenant: await insertObserver(db.sql, {
        name: "tenant-reads-a-global-secret",
        fk_customer_org: 7,
        actions: [{ type: "slack", webhook_url_env: "OBSERVERS_SECRET_SLACK" }],
      }),
    };
    const allowed = await insertObserver(db.sql, {
      name: "reads-an-opened-secret",
      actions: [webhook(hook, { signing_secret_env: "OBSERVERS_SECRET_HOOK" })],
    });

    runtime = createObserverRuntime({
      sql: db.client,
      environment: testEnvironment({ env, logger, policy: DEFAULT_ACTION_POLICY }),
      listenerId: "policy",
      pollIntervalMs: 200,
      leaseMs: 5_000,
      shutdownTimeoutMs: 2_000,
    });
    await runtime.start();
    await db.sql`INSERT INTO orders (status, total, org) VALUES ('new', 42, 7)`;

    const [delivered] = await receiver.waitFor(1);
    expect(delivered?.path).toBe("/hook");
    expect(delivered?.headers["webhook-signature"]).toMatch(/^v1,/);
    const dead = await eventually(async () => {
      const rows = await db.sql<{ observer: string; error_code: string; error_message: string }[]>`
        SELECT o.id::text AS observer, q.error_code, q.error_message
        FROM core.tb_observer_dlq q JOIN core.tb_observer o ON o.pk_observer = q.fk_observer`;
      return rows.length >= 3 ? rows : undefined;
    }, "three dead letters");
    expect(new Map(dead.map((row) => [row.observer, row.error_code]))).toEqual(
      new Map([
        [refused.admin, "SECRET_NOT_ALLOWED"],
        [refused.database, "SECRET_NOT_ALLOWED"],
        [refused.tenant, "SECRET_NOT_ALLOWED"],
      ]),
    );
    const messages = dead.map((row) => row.error_message).join("\n");
    expect(messages).toContain("OBSERVERS_ADMIN_TOKEN is part of the server's own configuration");
    expect(messages).toContain("DATABASE_URL is part of the server's own configuration");
    expect(messages).toContain("tenant 7");
    await eventually(async () => {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM core.tb_observer_delivery`;
      return row?.n === 0 ? true : undefined;
    }, "every delivery settled");
    await runtime.stop();
    runtime = undefined;

    // Refused on one attempt, not retried: a permanent failure.
    const attempts = await db.sql<{ observer: string; n: number }[]>`
      SELECT o.id::text AS observer, count(*)::int AS n FROM core.tb_observer_log l
      JOIN core.tb_observer o ON o.pk_observer = l.fk_observer GROUP BY o.id`;
    expect(new Map(attempts.map((row) => [row.observer, row.n]))).toEqual(
      new Map([
        [refused.admin, 1],
        [refused.database, 1],
        [refused.tenant, 1],
        [allowed, 1],
      ]),
    );
    // Only the opened variable was read; the refused ones never were.
    expect(reads.filter((name) => /^(OBSERVERS_|DATABASE_URL)/.test(name))).toEqual([
      "OBSERVERS_SECRET_HOOK",
    ]);
    expect(receiver.requests).toHaveLength(1);
    const [stored] = await db.sql<{ text: string }[]>`
      SELECT concat_ws(E'\n',
        (SELECT json_agg(l)::text FROM core.tb_observer_log l),
        (SELECT json_agg(q)::text FROM core.tb_observer_dlq q),
        (SELECT json_agg(d)::text FROM core.tb_observer_delivery d)) AS text`;
    const everything = `${stored?.text}\n${lines.join("\n")}`;
    for (const value of VALUES) expect(everything).not.toContain(value);
  });
});
