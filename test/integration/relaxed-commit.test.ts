/**
 * The runtime's bookkeeping statements commit without waiting for their WAL flush
 * (src/store/relaxed-commit.ts); the API's writes do not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlExecutor } from "../../src/ports/sql.ts";
import { claimDeliveries } from "../../src/store/claims.ts";
import { writeIngest } from "../../src/store/deliveries.ts";
import { createObserver } from "../../src/store/observers.ts";
import { recordOutcomes } from "../../src/store/outcomes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { logOnlyRecord } from "../support/outcomes.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("relaxed");
});
afterAll(() => db?.drop());

/** `synchronous_commit` as the transaction stands after `statement` ran in it. */
async function settingAfter(statement: (tx: SqlExecutor) => Promise<unknown>): Promise<string> {
  return db.client.transaction(async (tx) => {
    await statement(tx);
    const [row] = await tx.query<{ synchronous_commit: string }>("SHOW synchronous_commit");
    return row?.synchronous_commit ?? "";
  });
}

const logOnly = logOnlyRecord({
  event_id: "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b",
  error_message: "test",
});

describe("relaxed commits", () => {
  it("apply to ingest writes, claims and outcome batches", async () => {
    const cursor = { transactionId: "0", changeLogId: "0" };
    await db.sql`INSERT INTO core.tb_observer_checkpoint (listener_id) VALUES ('relaxed')`;
    expect(
      await settingAfter((tx) =>
        writeIngest(tx, {
          listenerId: "relaxed",
          from: cursor,
          to: cursor,
          changes: 0,
          deliveries: [],
          owner: "test",
          leaseMs: 1_000,
        }),
      ),
    ).toBe("off");
    expect(await settingAfter((tx) => claimDeliveries(tx, "test", 10, 1_000))).toBe("off");
    expect(await settingAfter((tx) => recordOutcomes(tx, "test", [logOnly]))).toBe("off");
  });

  it("do not apply to the API's writes", async () => {
    const setting = await settingAfter((tx) =>
      createObserver(tx, {
        name: "synchronous",
        actions: [{ type: "log", message_template: "x" }],
      }),
    );
    expect(setting).toBe("on");
  });
});
