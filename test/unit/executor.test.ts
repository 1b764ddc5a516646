import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  type ActionDefinition,
  ActionFailure,
  type ActionRequest,
  type ActionResult,
} from "../../src/actions/types.ts";
import {
  classifyFailure,
  createExecutor,
  createKeyedLimiter,
  type Delivery,
  type ExecutorOptions,
} from "../../src/executor/index.ts";
import type { Logger } from "../../src/ports/logger.ts";
import { testDeliveryObserver, testEnvironment, testObserver } from "../support/actions.ts";
import { fakeClock } from "../support/clock.ts";
import { insert } from "../support/events.ts";

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Lets pending promise callbacks (and one macrotask) run. */
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

const testSchema = v.strictObject({
  type: v.literal("test"),
  destination: v.string(),
  token: v.optional(v.string()),
});
type TestConfig = v.InferOutput<typeof testSchema>;
type Run = (request: ActionRequest<TestConfig>) => Promise<ActionResult>;

function setup(run: Run, options: Partial<ExecutorOptions> = {}) {
  const clock = fakeClock();
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = {
    log: (level, message, fields = {}) => lines.push({ level, message, fields }),
  };
  const requests: ActionRequest<TestConfig>[] = [];
  const definition: ActionDefinition<TestConfig> = {
    type: "log",
    schema: testSchema,
    // "own": no per-destination limit (as builtin jobs), only the global one.
    destination: (config) => (config.destination === "own" ? null : `test:${config.destination}`),
    run: (request) => {
      requests.push(request);
      return run(request);
    },
  };
  const executor = createExecutor({
    registry: { get: (type) => (type === "test" ? (definition as ActionDefinition) : undefined) },
    environment: testEnvironment({ clock, logger }),
    random: () => 0.5,
    ...options,
  });
  return { executor, clock, lines, requests };
}

const event = insert({ id: 42, status: "paid" });
let ids = 0;
function delivery(fields: Partial<Delivery> & { destination?: string } = {}): Delivery {
  const { destination = "a", ...rest } = fields;
  return {
    id: `delivery-${++ids}`,
    event,
    observer: testDeliveryObserver,
    action: { type: "test", destination },
    attempt: 1,
    ...rest,
  };
}

const ok: Run = async () => ({ message: "HTTP 204", httpStatus: 204 });

describe("createExecutor: outcomes", () => {
  it("runs a success to done, with the validated config and a bare observer ref", async () => {
    const { executor, clock, requests } = setup(async () => {
      clock.advance(25);
      return { message: "HTTP 200", httpStatus: 200, responseExcerpt: "ok" };
    });
    const started = clock.now();
    const outcome = await executor.execute(
      delivery({
        observer: { ...testDeliveryObserver, timeout_ms: 5000, retry_config: { max_attempts: 3 } },
      }),
    );
    expect(outcome).toMatchObject({
      attempt: 1,
      maxAttempts: 3,
      status: "success",
      disposition: "done",
      nextAttempt: null,
      nextAttemptAt: null,
      startedAt: started,
      durationMs: 25,
      httpStatus: 200,
      errorCode: null,
      message: "HTTP 200",
      responseExcerpt: "ok",
    });
    expect(requests[0]?.config).toEqual({ type: "test", destination: "a" });
    expect(requests[0]?.observer).toEqual({ id: testObserver.id, name: testObserver.name });
    expect(requests[0]?.maxAttempts).toBe(3);
    expect(clock.pending).toBe(0); // the timeout timer was cleared
  });

  it("schedules a transient failure after the backoff (default policy: 5 attempts, exponential)", async () => {
    const { executor, clock } = setup(async () => {
      throw new ActionFailure("transient", "HTTP_STATUS", "HTTP 503", { httpStatus: 503 });
    });
    const outcome = await executor.execute(delivery({ attempt: 2 }));
    expect(outcome).toMatchObject({
      status: "failed",
      disposition: "retry",
      attempt: 2,
      maxAttempts: 5,
      nextAttempt: 3,
      nextAttemptAt: clock.now() + 500, // floor(0.5 * 500 * 2^1)
      httpStatus: 503,
      errorCode: "HTTP_STATUS",
      errorMessage: "HTTP 503",
    });
  });

  it("honours Retry-After when it is longer than the backoff", async () => {
    const { executor, clock } = setup(async () => {
      throw new ActionFailure("transient", "HTTP_STATUS", "HTTP 429", {
        httpStatus: 429,
        retryAfterMs: 60_000,
        responseExcerpt: "slow down",
      });
    });
    const outcome = await executor.execute(delivery());
    expect(outcome.nextAttemptAt).toBe(clock.now() + 60_000);
    expect(outcome.responseExcerpt).toBe("slow down");
  });

  it("dead-letters a permanent failure at once", async () => {
    const { executor } = setup(async () => {
      throw new ActionFailure("permanent", "HTTP_STATUS", "HTTP 404", { httpStatus: 404 });
    });
    const outcome = await executor.execute(delivery());
    expect(outcome).toMatchObject({
      status: "failed",
      disposition: "dead_letter",
      nextAttempt: null,
    });
  });

  it("counts the first try in max_attempts", async () => {
    const { executor } = setup(async () => {
      throw new TypeError("fetch failed");
    });
    const observer = (max: number) => ({
      ...testDeliveryObserver,
      retry_config: { max_attempts: max },
    });
    const once = await executor.execute(delivery({ observer: observer(1) }));
    expect(once).toMatchObject({
      disposition: "dead_letter",
      errorCode: "ACTION_ERROR",
      nextAttemptAt: null,
    });
    const second = await executor.execute(delivery({ observer: observer(3), attempt: 2 }));
    expect(second).toMatchObject({ disposition: "retry", nextAttempt: 3 });
    const last = await executor.execute(delivery({ observer: observer(3), attempt: 3 }));
    expect(last).toMatchObject({ disposition: "dead_letter", nextAttempt: null });
  });

  it("treats anything thrown that is not an ActionFailure as transient", async () => {
    for (const thrown of [new Error("boom"), "a string", 42, undefined, { odd: true }]) {
      const { executor } = setup(() => Promise.reject(thrown));
      const outcome = await executor.execute(delivery());
      expect(outcome).toMatchObject({
        status: "failed",
        disposition: "retry",
        errorCode: "ACTION_ERROR",
      });
    }
    const { executor } = setup(() => {
      throw new Error("thrown synchronously");
    });
    expect((await executor.execute(delivery())).errorMessage).toBe("Error: thrown synchronously");
  });
});

describe("createExecutor: configuration errors", () => {
  it("dead-letters an invalid action config with the issues, without running it", async () => {
    const { executor, requests } = setup(ok);
    const outcome = await executor.execute(delivery({ action: { type: "test", destination: 7 } }));
    expect(outcome).toMatchObject({
      status: "failed",
      disposition: "dead_letter",
      errorCode: "INVALID_ACTION_CONFIG",
    });
    expect(outcome.errorMessage).toMatch(/^action\.destination: /);
    for (const action of [null, "test", { destination: "a" }]) {
      const bad = await executor.execute(delivery({ action }));
      expect(bad).toMatchObject({ disposition: "dead_letter", errorCode: "INVALID_ACTION_CONFIG" });
    }
    expect(requests).toHaveLength(0);
  });

  it("dead-letters an unknown action type", async () => {
    const { executor } = setup(ok);
    const outcome = await executor.execute(delivery({ action: { type: "carrier-pigeon" } }));
    expect(outcome).toMatchObject({ disposition: "dead_letter", errorCode: "UNKNOWN_ACTION_TYPE" });
    expect(outcome.errorMessage).toContain('"carrier-pigeon"');
  });

  it("dead-letters an invalid retry_config", async () => {
    const { executor } = setup(ok);
    const observer = { ...testDeliveryObserver, retry_config: { max_attempts: 0 } };
    const outcome = await executor.execute(delivery({ observer }));
    expect(outcome).toMatchObject({
      disposition: "dead_letter",
      errorCode: "INVALID_RETRY_CONFIG",
    });
    expect(outcome.errorMessage).toMatch(/^retry_config\.max_attempts: /);
  });

  it("validates each action object once", async () => {
    let validations = 0;
    const counting = createExecutor({
      registry: {
        get: () => ({
          type: "log",
          schema: v.pipe(
            v.unknown(),
            v.transform((value) => {
              validations++;
              return value;
            }),
          ),
          destination: () => "x",
          run: ok as ActionDefinition["run"],
        }),
      },
      environment: testEnvironment({ clock: fakeClock() }),
    });
    const action = { type: "test", destination: "a" };
    await counting.executeAll([delivery({ action }), delivery({ action }), delivery({ action })]);
    expect(validations).toBe(1);
  });

  it("never rejects, even when destination() or the logger throws", async () => {
    const clock = fakeClock();
    const executor = createExecutor({
      registry: {
        get: () => ({
          type: "log",
          schema: v.unknown(),
          destination: () => {
            throw new Error("no origin");
          },
          run: ok as ActionDefinition["run"],
        }),
      },
      environment: testEnvironment({
        clock,
        logger: {
          log() {
            throw new Error("log sink down");
          },
        },
      }),
    });
    const outcome = await executor.execute(delivery());
    expect(outcome).toMatchObject({
      status: "failed",
      disposition: "retry",
      errorCode: "ACTION_ERROR",
    });
  });

  it("keeps the outcome when the log sink throws", async () => {
    const { executor } = setup(
      async () => {
        throw new ActionFailure("permanent", "HTTP_STATUS", "HTTP 410");
      },
      {
        environment: testEnvironment({
          clock: fakeClock(),
          logger: {
            log: () => {
              throw new Error("down");
            },
          },
        }),
      },
    );
    expect(await executor.execute(delivery())).toMatchObject({
      disposition: "dead_letter",
      errorCode: "HTTP_STATUS",
    });
  });
});

describe("createExecutor: timeouts and shutdown", () => {
  it("times out on the injected clock and aborts the action's signal", async () => {
    let signal: AbortSignal | undefined;
    const { executor, clock } = setup(
      (request) =>
        new Promise((_, reject) => {
          signal = request.signal;
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
        }),
    );
    const pending = executor.execute(
      delivery({ observer: { ...testDeliveryObserver, timeout_ms: 1000 } }),
    );
    let settled = false;
    void pending.then(() => {
      settled = true;
    });
    await flush();
    clock.advance(999);
    await flush();
    expect(settled).toBe(false);
    clock.advance(1);
    const outcome = await pending;
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toMatchObject({ name: "TimeoutError" });
    expect(outcome).toMatchObject({
      status: "timeout",
      disposition: "retry",
      errorCode: "TIMEOUT",
      durationMs: 1000,
      nextAttempt: 2,
    });
    expect(executor.active).toBe(0);
  });

  it("returns at the timeout even when the action ignores its signal", async () => {
    const never = deferred<ActionResult>();
    const { executor, clock } = setup(() => never.promise, { defaultTimeoutMs: 50 });
    const pending = executor.execute(delivery());
    await flush();
    clock.advance(50);
    expect(await pending).toMatchObject({ status: "timeout", errorCode: "TIMEOUT" });
  });

  it("cancels a running attempt at shutdown: retried now, with the same attempt number", async () => {
    const shutdown = new AbortController();
    let signal: AbortSignal | undefined;
    const { executor, clock } = setup(
      (request) => {
        signal = request.signal;
        return new Promise(() => {});
      },
      { signal: shutdown.signal },
    );
    const pending = executor.execute(delivery({ attempt: 3 }));
    await flush();
    shutdown.abort();
    const outcome = await pending;
    expect(signal?.aborted).toBe(true);
    expect(outcome).toMatchObject({
      status: "cancelled",
      disposition: "retry",
      attempt: 3,
      nextAttempt: 3,
      nextAttemptAt: clock.now(),
      errorCode: "CANCELLED",
    });
    expect(clock.pending).toBe(0);
  });

  it("runs nothing once shut down, and cancels attempts still waiting for a slot", async () => {
    const shutdown = new AbortController();
    const gate = deferred<ActionResult>();
    const { executor, requests } = setup(() => gate.promise, {
      signal: shutdown.signal,
      perDestination: 1,
    });
    const first = executor.execute(delivery());
    const waiting = executor.execute(delivery());
    await flush();
    expect([executor.active, executor.queued]).toEqual([1, 1]);
    shutdown.abort();
    expect(await waiting).toMatchObject({ status: "cancelled", nextAttempt: 1 });
    expect(await first).toMatchObject({ status: "cancelled" });
    expect(await executor.execute(delivery())).toMatchObject({ status: "cancelled" });
    expect(requests).toHaveLength(1);
    expect([executor.active, executor.queued]).toEqual([0, 0]);
  });
});

describe("createExecutor: concurrency", () => {
  it("does not let a hanging destination delay another", async () => {
    const hang = deferred<ActionResult>();
    const { executor } = setup(
      (request) => (request.config.destination === "a" ? hang.promise : ok(request)),
      { concurrency: 2, perDestination: 1 },
    );
    const a1 = executor.execute(delivery({ destination: "a" }));
    const a2 = executor.execute(delivery({ destination: "a" }));
    // a2 waits for a's slot without holding a global one, so b still finds one free.
    const b = await Promise.race([executor.execute(delivery({ destination: "b" })), flush()]);
    expect(b).toMatchObject({ status: "success" });
    expect([executor.active, executor.queued]).toEqual([1, 1]);
    hang.resolve({ message: "late" });
    expect((await Promise.all([a1, a2])).map((o) => o.status)).toEqual(["success", "success"]);
    expect([executor.active, executor.queued]).toEqual([0, 0]);
  });

  it("a null destination takes no per-destination slot, only global ones", async () => {
    const gate = deferred<ActionResult>();
    const { executor } = setup(() => gate.promise, { concurrency: 3, perDestination: 1 });
    const own = [1, 2, 3, 4].map(() => executor.execute(delivery({ destination: "own" })));
    await flush();
    // Three run at once despite perDestination 1; the fourth waits for a global slot.
    expect([executor.active, executor.queued]).toEqual([3, 1]);
    gate.resolve({ message: "done" });
    expect((await Promise.all(own)).map((o) => o.status)).toEqual([
      "success",
      "success",
      "success",
      "success",
    ]);
    expect([executor.active, executor.queued]).toEqual([0, 0]);
  });

  it("respects the global limit", async () => {
    const gate = deferred();
    let running = 0;
    let most = 0;
    const { executor } = setup(
      async () => {
        most = Math.max(most, ++running);
        await gate.promise;
        running--;
        return { message: "ok" };
      },
      { concurrency: 3, perDestination: 8 },
    );
    const all = executor.executeAll(
      Array.from({ length: 10 }, (_, i) => delivery({ destination: `d${i % 2}` })),
    );
    await flush();
    expect([executor.active, executor.queued]).toEqual([3, 7]);
    gate.resolve();
    expect((await all).every((o) => o.status === "success")).toBe(true);
    expect(most).toBe(3);
  });

  it("executeAll returns outcomes in input order", async () => {
    const gates = [deferred(), deferred(), deferred()];
    const { executor } = setup(async (request) => {
      const index = Number(request.config.destination);
      await gates[index]?.promise;
      return { message: `done ${index}` };
    });
    const all = executor.executeAll(
      ["0", "1", "2"].map((destination) => delivery({ destination })),
    );
    await flush();
    for (const gate of [...gates].reverse()) {
      gate.resolve();
      await flush();
    }
    expect((await all).map((o) => o.message)).toEqual(["done 0", "done 1", "done 2"]);
  });
});

describe("createExecutor: logging", () => {
  it("logs one line per failed attempt with names and codes, never config values", async () => {
    const { executor, lines } = setup(async () => {
      throw new ActionFailure("transient", "NETWORK_ERROR", "connection refused");
    });
    const d = delivery({ action: { type: "test", destination: "a", token: "s3cr3t-token" } });
    await executor.execute(d);
    await executor.execute(
      delivery({ observer: { ...testDeliveryObserver, retry_config: { max_attempts: 1 } } }),
    );
    expect(lines.map((l) => l.level)).toEqual(["warn", "error"]);
    expect(lines[0]?.fields).toMatchObject({
      observer: testObserver.name,
      delivery_id: d.id,
      code: "NETWORK_ERROR",
      disposition: "retry",
    });
    expect(JSON.stringify(lines)).not.toContain("s3cr3t-token");
  });

  it("logs nothing for a success", async () => {
    const { executor, lines } = setup(ok);
    await executor.execute(delivery());
    expect(lines).toEqual([]);
  });
});

describe("classifyFailure", () => {
  const table: [string, unknown, Record<string, unknown>][] = [
    [
      "ActionFailure (transient)",
      new ActionFailure("transient", "HTTP_STATUS", "HTTP 503", {
        httpStatus: 503,
        retryAfterMs: 2000,
      }),
      {
        status: "failed",
        kind: "transient",
        code: "HTTP_STATUS",
        httpStatus: 503,
        retryAfterMs: 2000,
      },
    ],
    [
      "ActionFailure (permanent)",
      new ActionFailure("permanent", "TARGET_FORBIDDEN", "private address"),
      { status: "failed", kind: "permanent", code: "TARGET_FORBIDDEN", httpStatus: null },
    ],
    [
      "TypeError with a cause",
      new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 10.0.0.1:443") }),
      {
        kind: "transient",
        code: "ACTION_ERROR",
        message: "TypeError: fetch failed (connect ECONNREFUSED 10.0.0.1:443)",
      },
    ],
    ["a string", "boom", { kind: "transient", code: "ACTION_ERROR", message: "boom" }],
    ["undefined", undefined, { kind: "transient", code: "ACTION_ERROR" }],
    [
      "a DOMException",
      new DOMException("gone", "AbortError"),
      { kind: "transient", code: "ACTION_ERROR" },
    ],
  ];
  it.each(table)("%s", (_name, thrown, expected) => {
    expect(classifyFailure(thrown)).toMatchObject(expected);
  });

  it("prefers the executor's own abort over what was thrown", () => {
    const reason = new DOMException("aborted", "AbortError");
    expect(classifyFailure(reason, { by: "timeout", afterMs: 30_000 })).toMatchObject({
      status: "timeout",
      kind: "transient",
      code: "TIMEOUT",
    });
    expect(classifyFailure(reason, { by: "shutdown" })).toMatchObject({
      status: "cancelled",
      kind: "cancelled",
      code: "CANCELLED",
    });
  });

  it("bounds messages and keeps only the origin of URLs (webhook URLs can be secrets)", () => {
    const long = classifyFailure(new Error("x".repeat(10_000)));
    expect(long.message.length).toBeLessThanOrEqual(1000);
    const leaky = classifyFailure(
      new TypeError("Failed to parse URL from https://hooks.slack.com/services/T000/B000/XXXX?x=1"),
    );
    expect(leaky.message).toBe("TypeError: Failed to parse URL from https://hooks.slack.com/…");
    expect(classifyFailure("see https://user:pw@example.com").message).toBe(
      "see https://example.com",
    );
  });
});

describe("createKeyedLimiter", () => {
  it("drops idle keys, releases once, and gives up a queued slot on abort", async () => {
    const limiter = createKeyedLimiter({ limit: 2, perKey: 1 });
    const first = await limiter.acquire("a");
    const controller = new AbortController();
    const queued = limiter.acquire("a", controller.signal);
    expect([limiter.active, limiter.queued, limiter.keys]).toEqual([1, 1, 1]);
    controller.abort();
    expect(await queued).toBeNull();
    first?.();
    first?.();
    expect([limiter.active, limiter.queued, limiter.keys]).toEqual([0, 0, 0]);
    const again = await limiter.acquire("a");
    expect(limiter.active).toBe(1);
    again?.();
    expect(limiter.keys).toBe(0);
  });

  it("refuses nonsensical limits", () => {
    expect(() => createKeyedLimiter({ limit: 0, perKey: 1 })).toThrow(RangeError);
    expect(() => createKeyedLimiter({ limit: 1, perKey: 1.5 })).toThrow(RangeError);
  });
});
