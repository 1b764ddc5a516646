/**
 * The builtin jobs' doorbell (src/jobs/doorbell.ts) over a SQL port whose statements finish when
 * the test says: every ring wakes the local runner at once; at most one `pg_notify` is in flight,
 * and rings while it is owe exactly one more; a failed notify is logged and later rings still go.
 */
import { describe, expect, it } from "vitest";
import { createJobDoorbell, JOBS_NOTIFY_CHANNEL } from "../../src/jobs/doorbell.ts";
import type { Logger } from "../../src/ports/logger.ts";
import type { SqlExecutor } from "../../src/ports/sql.ts";

interface Sent {
  text: string;
  params: readonly unknown[] | undefined;
  finish: (error?: Error) => void;
}

function controlledSql(): { sql: SqlExecutor; sent: Sent[] } {
  const sent: Sent[] = [];
  const sql: SqlExecutor = {
    query: <Row extends object>(text: string, params?: readonly unknown[]) =>
      new Promise<Row[]>((resolve, reject) => {
        sent.push({
          text,
          params,
          finish: (error) => (error ? reject(error) : resolve([])),
        });
      }),
  };
  return { sql, sent };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("the jobs doorbell", () => {
  it("wakes the local runner on every ring and keeps one notify in flight, owing one more", async () => {
    const { sql, sent } = controlledSql();
    const doorbell = createJobDoorbell({ sql, id: "process-a" });
    let wakes = 0;
    const undo = doorbell.onRing(() => wakes++);

    doorbell.ring();
    expect(wakes).toBe(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.text).toBe("SELECT pg_notify($1, $2)");
    expect(sent[0]?.params).toEqual([JOBS_NOTIFY_CHANNEL, "process-a"]);

    // 50 enqueues while the first notify is in flight: woken 50 times, no other statement yet.
    for (let i = 0; i < 50; i++) doorbell.ring();
    expect(wakes).toBe(51);
    expect(sent).toHaveLength(1);

    let idle = false;
    const waited = doorbell.idle().then(() => {
      idle = true;
    });
    sent[0]?.finish();
    await settle();
    // Exactly one more, for all 50.
    expect(sent).toHaveLength(2);
    expect(idle).toBe(false);
    sent[1]?.finish();
    await waited;
    expect(idle).toBe(true);
    expect(sent).toHaveLength(2);

    // Idle again: the next ring sends at once.
    doorbell.ring();
    expect(sent).toHaveLength(3);
    sent[2]?.finish();
    await doorbell.idle();

    undo();
    doorbell.ring();
    expect(wakes).toBe(52);
    sent[3]?.finish();
    await doorbell.idle();
  });

  it("logs a failed notify without throwing, and rings again afterwards", async () => {
    const { sql, sent } = controlledSql();
    const logged: { level: string; message: string }[] = [];
    const logger: Logger = { log: (level, message) => logged.push({ level, message }) };
    const doorbell = createJobDoorbell({ sql, logger });
    expect(doorbell.id).toMatch(/^[0-9a-f-]{36}$/);
    doorbell.ring();
    doorbell.ring();
    sent[0]?.finish(new Error("connection lost"));
    await settle();
    expect(logged).toEqual([
      { level: "warn", message: "jobs: notifying other processes failed; they poll" },
    ]);
    // The owed ring still goes.
    expect(sent).toHaveLength(2);
    sent[1]?.finish();
    await doorbell.idle();
    expect(sent).toHaveLength(2);
  });
});
