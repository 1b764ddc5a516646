/** The reader's side of capture's doorbell (src/runtime/capture-doorbell.ts), on a fake clock and SQL. */
import { describe, expect, it } from "vitest";
import type { SqlExecutor } from "../../src/ports/sql.ts";
import { createCaptureDoorbell } from "../../src/runtime/capture-doorbell.ts";
import { fakeClock } from "../support/clock.ts";

const silent = { log() {} };

/** SQL that records each statement and answers the doorbell's three kinds. */
function fakeSql(answers: { ended: () => boolean; fail?: boolean }) {
  const statements: string[] = [];
  const sql: SqlExecutor = {
    async query<T>(text: string): Promise<T[]> {
      if (answers.fail) throw new Error("function core.fn_capture_arm() does not exist");
      statements.push(
        text.includes("fn_capture_quiet")
          ? "quiet"
          : text.includes("fn_capture_arm")
            ? "arm"
            : "check",
      );
      if (text.includes("fn_capture_arm")) return [{ marker: "1000" }] as T[];
      return [{ ended: answers.ended() }] as T[];
    },
  } as SqlExecutor;
  return { sql, statements };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function setUp(answers: { ended: () => boolean; fail?: boolean } = { ended: () => true }) {
  const clock = fakeClock();
  const { sql, statements } = fakeSql(answers);
  let wakes = 0;
  const doorbell = createCaptureDoorbell({
    sql,
    clock,
    logger: silent,
    pollIntervalMs: 1_000,
    wake: () => {
      wakes++;
    },
  });
  return { clock, doorbell, statements, wakes: () => wakes };
}

describe("the capture doorbell, reader side", () => {
  it("stays ringing for changes now and then, with no statement of its own", async () => {
    const { clock, doorbell, statements } = setUp();
    for (let i = 0; i < 10; i++) {
      doorbell.settle(true);
      doorbell.settle(false);
      clock.advance(50);
    }
    await settle();
    expect(doorbell.state.mode).toBe("ringing");
    expect(statements).toEqual([]);
  });

  it("goes quiet on a burst, reads on its own meanwhile, renews its lease, then arms and waits out racing writers", async () => {
    let ended = false;
    const { clock, doorbell, statements, wakes } = setUp({ ended: () => ended });
    doorbell.settle(true);
    clock.advance(1);
    doorbell.settle(true);
    await settle();
    expect(doorbell.state.mode).toBe("quiet");
    expect(statements).toEqual(["quiet"]);
    // Lingering: it wakes the reader 1 ms after a round that found changes.
    clock.advance(1);
    expect(wakes()).toBe(1);
    for (let i = 0; i < 600; i++) {
      doorbell.settle(true);
      clock.advance(1);
    }
    await settle();
    // Busy for 600 ms: the 1 s lease was renewed once (at half of it).
    expect(statements).toEqual(["quiet", "quiet"]);
    // Three empty rounds in a row (looking again at 1, 2 and 4 ms), then the arm.
    for (const wait of [1, 2, 4]) {
      doorbell.settle(false);
      const before = wakes();
      clock.advance(wait);
      expect(wakes()).toBe(before + 1);
    }
    doorbell.settle(false);
    await settle();
    expect(statements.at(-1)).toBe("arm");
    expect(doorbell.state).toEqual({ mode: "ringing", awaiting: true });
    // A writer from before the arm still runs: it looks again later, and once more after it ended.
    doorbell.settle(false);
    await settle();
    expect(statements.at(-1)).toBe("check");
    const waiting = wakes();
    clock.advance(2);
    expect(wakes()).toBe(waiting + 1);
    ended = true;
    doorbell.settle(false);
    await settle();
    expect(doorbell.state).toEqual({ mode: "ringing", awaiting: false });
    expect(wakes()).toBe(waiting + 2);
    const count = statements.length;
    doorbell.settle(false);
    await settle();
    expect(statements).toHaveLength(count);
  });

  it("goes quiet at once after a round that read several changes (a reader slower than its writers)", async () => {
    const { doorbell, statements } = setUp();
    doorbell.settle(1);
    await settle();
    expect(doorbell.state.mode).toBe("ringing");
    doorbell.settle(5);
    await settle();
    expect(doorbell.state.mode).toBe("quiet");
    expect(statements).toEqual(["quiet"]);
  });

  it("falls back to notifications on every commit when its SQL is missing", async () => {
    const { clock, doorbell, statements } = setUp({ ended: () => true, fail: true });
    doorbell.settle(true);
    clock.advance(1);
    doorbell.settle(true);
    await settle();
    await settle();
    expect(doorbell.state.mode).toBe("ringing");
    doorbell.settle(true);
    clock.advance(1);
    doorbell.settle(true);
    await settle();
    expect(statements).toEqual([]);
    expect(doorbell.state.mode).toBe("ringing");
  });

  it("arms again when stopped while quiet", async () => {
    const { clock, doorbell, statements } = setUp();
    doorbell.settle(true);
    clock.advance(1);
    doorbell.settle(true);
    await doorbell.stop();
    expect(statements).toEqual(["quiet", "arm"]);
  });
});
